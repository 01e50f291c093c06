//! Configuration parsing: arbitrary `platform.yml` text with `${ENV}` references, and the
//! environment they resolve in, through the one loading entry (`Snapshot::load`: parse,
//! validate, compile the templates).
//!
//! Input: the YAML text, NUL, `NAME=value` lines (the environment).
//!
//! The library (the compiled-in `templates/` and an empty folder over it) is read once: reading
//! it is not what this target tries, and the per-input work is the text's.

use std::cell::RefCell;

use mfa_bridge::config::Source;
use mfa_bridge::snapshot::Snapshot;

use crate::input::{env, fields};

pub struct Target {
    source: RefCell<Source>,
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
            source: RefCell::new(Source::text(String::new(), dir.path())),
            _dir: dir,
        }
    }

    pub fn run(&self, data: &[u8]) {
        let f = fields(data, 2);
        let vars = env(&f[1]);
        let lookup = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut source = self.source.borrow_mut();
        source.yaml.clone_from(&f[0]);
        let _ = Snapshot::load(&source, &lookup);
    }
}
