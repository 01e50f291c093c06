//! The host's `platform.yml` and `templates/` kept equal to the version that runs: written
//! atomically (temporary file, fsync, rename) when a version from the database is applied, so
//! that an admin edit on this host starts from what runs, a restart runs the same thing even
//! without the database, and an operator reading the file reads what is in force.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::config::{write_atomically, Library, Source};

/// The template files of a library that are not compiled in (the `templates/` folder's), by
/// path under `templates/`: what a version keeps of the library.
pub fn local_files(library: &Library) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in library.preset_names() {
        if let Some(file) = library.preset(&name).filter(|f| f.local) {
            out.insert(format!("providers/{name}.yml"), file.text.clone());
        }
    }
    for (name, file) in library.messages().filter(|(_, f)| f.local) {
        out.insert(format!("messages/{name}.hbs"), file.text.clone());
    }
    out
}

/// A version's files over the compiled-in ones, as `templates/` holding exactly them would be.
pub fn library_of(files: &BTreeMap<String, String>) -> Library {
    let mut library = Library::builtin();
    for (key, text) in files.iter().filter(|(key, _)| is_library_key(key)) {
        library.insert(key, format!("templates/{key}"), text.clone());
    }
    library
}

/// SHA-256 (hex) of a text and its local template files: the same digest
/// [`crate::snapshot::Snapshot::load`] gives, without compiling anything.
pub fn source_hash(source: &Source) -> String {
    let mut hash = Sha256::new();
    hash.update(source.yaml.as_bytes());
    hash.update(source.library.fingerprint());
    hex::encode(hash.finalize())
}

/// A path a library file may have: `providers/NAME.yml` or `messages/NAME.hbs`, NAME a plain,
/// visible file name. Anything else in a version (it came from the database) is ignored: it
/// could not name a template, and must not name another file of the host.
fn is_library_key(key: &str) -> bool {
    let plain = |name: &str| !name.is_empty() && !name.starts_with('.') && !name.contains('/');
    match key.split_once('/') {
        Some(("providers", name)) => name.ends_with(".yml") && plain(name),
        Some(("messages", name)) => name.ends_with(".hbs") && plain(name),
        _ => false,
    }
}

/// Writes `yaml` to `file` and `files` into `templates/` beside it (each only if it differs),
/// and removes the template files the library would read that are not in `files`.
pub fn write(file: &Path, yaml: &str, files: &BTreeMap<String, String>) -> std::io::Result<()> {
    if std::fs::read_to_string(file).ok().as_deref() != Some(yaml) {
        write_atomically(file, yaml.as_bytes())?;
    }
    let templates = file
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("templates");
    for (key, text) in files.iter().filter(|(key, _)| is_library_key(key)) {
        let path = templates.join(key);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::create_dir_all(templates.join(key.split('/').next().unwrap_or("")))?;
            write_atomically(&path, text.as_bytes())?;
        }
    }
    for folder in ["providers", "messages"] {
        let Ok(entries) = std::fs::read_dir(templates.join(folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            // The key the library reads this file under (`.yaml` presets count as `.yml`).
            let key = format!("{folder}/{}", name.replace(".yaml", ".yml"));
            let read = match folder {
                "providers" => name.ends_with(".yml") || name.ends_with(".yaml"),
                _ => name.ends_with(".hbs"),
            };
            let stale = read && !name.starts_with('.') && !files.contains_key(&key);
            if stale && entry.path().is_file() {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_a_version_leaves_exactly_its_files_and_the_same_hash_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("platform.yml");
        std::fs::create_dir_all(dir.path().join("templates/messages")).unwrap();
        std::fs::write(dir.path().join("templates/messages/old.en.hbs"), "old").unwrap();
        std::fs::write(dir.path().join("templates/notes.txt"), "kept").unwrap();
        let files = BTreeMap::from([
            (
                "messages/sms.en.hbs".to_string(),
                "Code {{code}}".to_string(),
            ),
            ("providers/p.yml".to_string(), "x: 1\n".to_string()),
            ("../../evil.yml".to_string(), "no".to_string()),
        ]);
        write(&file, "a: 1\n", &files).unwrap();

        assert!(!dir.path().join("templates/messages/old.en.hbs").exists());
        assert!(dir.path().join("templates/notes.txt").exists());
        assert!(!dir.path().join("../evil.yml").exists());
        let on_disk = Source::read(&file).unwrap();
        assert_eq!(
            local_files(&on_disk.library),
            BTreeMap::from([
                (
                    "messages/sms.en.hbs".to_string(),
                    "Code {{code}}".to_string()
                ),
                ("providers/p.yml".to_string(), "x: 1\n".to_string()),
            ])
        );
        let version = Source {
            library: library_of(&files),
            ..Source::text("a: 1\n", dir.path())
        };
        assert_eq!(source_hash(&on_disk), source_hash(&version));
    }
}
