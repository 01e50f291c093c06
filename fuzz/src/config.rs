//! Configuration parsing: arbitrary `platform.yml` text with `${ENV}` references, and the
//! environment they resolve in, through the one loading entry (`Snapshot::load`: parse,
//! validate, compile the templates).
//!
//! Input: the YAML text, NUL, `NAME=value` lines (the environment).

use std::path::PathBuf;

use mfa_bridge::config::Source;
use mfa_bridge::snapshot::Snapshot;

use crate::input::{env, fields};

pub struct Target {
    base_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Default for Target {
    fn default() -> Self {
        Self::new()
    }
}

impl Target {
    /// An empty folder as the configuration's folder (no `templates/` in it).
    pub fn new() -> Target {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary folder: {e}"));
        Target {
            base_dir: dir.path().to_path_buf(),
            _dir: dir,
        }
    }

    pub fn run(&self, data: &[u8]) {
        let f = fields(data, 2);
        let vars = env(&f[1]);
        let lookup = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let _ = Snapshot::load(&Source::text(f[0].clone(), &self.base_dir), &lookup);
    }
}
