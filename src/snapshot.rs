//! One immutable snapshot of the configuration and its compiled templates. A request reads the
//! snapshot once, so no request mixes two configurations.

use std::path::Path;

use crate::config::{Config, ConfigErrors};
use crate::template::Templates;

#[derive(Debug)]
pub struct Snapshot {
    pub config: Config,
    pub templates: Templates,
}

impl Snapshot {
    /// Compiles the templates of a validated configuration.
    pub fn new(config: Config) -> Result<Snapshot, ConfigErrors> {
        let templates = Templates::compile(&config).map_err(ConfigErrors)?;
        Ok(Snapshot { config, templates })
    }

    /// Reads, validates and compiles `platform.yml`: every problem of the file at once.
    pub fn load(path: &Path) -> Result<Snapshot, ConfigErrors> {
        Snapshot::new(Config::load(path)?)
    }

    pub fn from_yaml_str(yaml: &str, base_dir: &Path) -> Result<Snapshot, ConfigErrors> {
        Snapshot::new(Config::from_yaml_str(yaml, base_dir)?)
    }
}
