//! The template library: provider presets (`providers/NAME.yml`) and message texts
//! (`messages/CHANNEL.LANG.hbs`). The shipped files are compiled in; the `templates/` folder
//! beside `platform.yml` replaces a file of the same name or adds one.

use std::collections::BTreeMap;
use std::path::Path;

use super::walk::Problems;

include!(concat!(env!("OUT_DIR"), "/builtin_templates.rs"));

/// One file of the library.
#[derive(Debug, Clone)]
pub struct LibraryFile {
    /// Path as shown in problems: `templates/providers/twilio-sms.yml`.
    pub path: String,
    pub text: String,
    /// Read from the folder (true) or compiled in.
    pub local: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Library {
    /// By path under `templates/` (`providers/twilio-sms.yml`).
    files: BTreeMap<String, LibraryFile>,
}

impl Library {
    /// The compiled-in files only.
    pub fn builtin() -> Library {
        let mut lib = Library::default();
        for (path, text) in BUILTIN_TEMPLATES {
            lib.files.insert(
                path.to_string(),
                LibraryFile {
                    path: format!("templates/{path}"),
                    text: text.to_string(),
                    local: false,
                },
            );
        }
        lib
    }

    /// The compiled-in files, then those of `dir` (`templates/` beside `platform.yml`) over
    /// them; and the files that could not be read.
    pub fn read(dir: &Path) -> (Library, Vec<super::Problem>) {
        let mut p = Problems::default();
        let lib = Library::load(dir, &mut p);
        (lib, p.0)
    }

    /// A digest of the files read from the folder: changes when one of them does.
    pub fn fingerprint(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for (key, file) in self.files.iter().filter(|(_, f)| f.local) {
            hash.update((key.len() as u64).to_le_bytes());
            hash.update(key.as_bytes());
            hash.update((file.text.len() as u64).to_le_bytes());
            hash.update(file.text.as_bytes());
        }
        hash.finalize().into()
    }

    fn load(dir: &Path, p: &mut Problems) -> Library {
        let mut lib = Library::builtin();
        for folder in ["providers", "messages"] {
            let Ok(entries) = std::fs::read_dir(dir.join(folder)) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                let wanted = match folder {
                    "providers" => name.ends_with(".yml") || name.ends_with(".yaml"),
                    _ => name.ends_with(".hbs"),
                };
                if !wanted || name.starts_with('.') || !entry.path().is_file() {
                    continue;
                }
                let key = format!("{folder}/{}", name.replace(".yaml", ".yml"));
                let shown = format!("templates/{folder}/{name}");
                match std::fs::read_to_string(entry.path()) {
                    Ok(text) => lib.insert(&key, shown, text),
                    Err(e) => p.push(&shown, format!("cannot read: {e}")),
                }
            }
        }
        lib
    }

    /// Adds or replaces one file (`providers/x.yml`), as the folder would.
    pub fn insert(&mut self, key: &str, shown: String, text: String) {
        self.files.insert(
            key.to_string(),
            LibraryFile {
                path: shown,
                text,
                local: true,
            },
        );
    }

    /// Paths (under `templates/`) of the compiled-in files.
    pub fn builtin_paths() -> impl Iterator<Item = &'static str> {
        BUILTIN_TEMPLATES.iter().map(|(path, _)| *path)
    }

    /// A file by its path under `templates/`.
    pub fn get(&self, key: &str) -> Option<&LibraryFile> {
        self.files.get(key)
    }

    pub fn preset(&self, name: &str) -> Option<&LibraryFile> {
        self.files.get(&format!("providers/{name}.yml"))
    }

    pub fn preset_names(&self) -> Vec<String> {
        self.files
            .keys()
            .filter_map(|k| k.strip_prefix("providers/")?.strip_suffix(".yml"))
            .map(String::from)
            .collect()
    }

    /// Message files: (file name without `.hbs`, file).
    pub fn messages(&self) -> impl Iterator<Item = (&str, &LibraryFile)> {
        self.files
            .iter()
            .filter_map(|(k, f)| Some((k.strip_prefix("messages/")?.strip_suffix(".hbs")?, f)))
    }
}
