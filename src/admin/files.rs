//! Files the admin API writes: atomic replacement, and template paths that cannot escape.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use rand::RngCore;

/// Replaces `path` with `bytes` atomically: a temporary file beside it, fsync, rename, fsync of
/// the folder. A reader sees the old file or the new one, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut suffix = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut suffix);
    let temp = dir.join(format!(".{name}.{}.tmp", hex::encode(suffix)));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// `relative` under `root`, if it names a file there: plain components only (no `..`, no root,
/// no hidden files), and no symbolic link on the way out of `root`.
pub fn resolve(root: &Path, relative: &str) -> Option<PathBuf> {
    if relative.is_empty() || relative.contains('\0') || relative.contains('\\') {
        return None;
    }
    let mut path = root.to_path_buf();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part) if !part.to_string_lossy().starts_with('.') => path.push(part),
            _ => return None,
        }
    }
    // The deepest existing folder on the way must still be inside the root.
    let root_real = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut existing = path.parent()?.to_path_buf();
    while !existing.exists() {
        existing = existing.parent()?.to_path_buf();
    }
    let existing_real = std::fs::canonicalize(&existing).ok()?;
    if !existing_real.starts_with(&root_real) && root.exists() {
        return None;
    }
    if path.is_symlink() {
        return None;
    }
    Some(path)
}

/// Every file under `root` (relative paths, sorted); none if `root` does not exist.
pub fn list(root: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    if root.is_dir() {
        walk(root, root, &mut out)?;
    }
    out.sort();
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(root, &entry.path(), out)?;
        } else if kind.is_file() {
            if let Ok(rel) = entry.path().strip_prefix(root) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_paths_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("templates");
        std::fs::create_dir_all(&root).unwrap();
        assert!(resolve(&root, "messages/sms.en.hbs").is_some());
        for bad in [
            "../platform.yml",
            "/etc/passwd",
            "a/../../x",
            "",
            ".hidden",
            "a\\..\\b",
        ] {
            assert!(resolve(&root, bad).is_none(), "{bad}");
        }
        std::os::unix::fs::symlink(dir.path(), root.join("out")).unwrap();
        assert!(resolve(&root, "out/platform.yml").is_none());
    }

    #[test]
    fn an_atomic_write_replaces_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("platform.yml");
        std::fs::write(&f, "old").unwrap();
        write_atomically(&f, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
