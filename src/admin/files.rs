//! Files the admin API writes: template paths that cannot escape, and (from the configuration
//! layer) atomic replacement.

use std::path::{Component, Path, PathBuf};

pub use crate::config::write_atomically;

/// Why a template path is refused: each is the caller's mistake (a 4xx), never the daemon's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRefusal {
    /// Empty, or holding NUL or a backslash.
    Malformed,
    /// A component other than a plain name: `..`, `.`, a root, or a hidden name.
    NotPlain,
    /// A folder on the way is a symbolic link that leads out of the root.
    LeadsOut,
    /// The file itself is a symbolic link (even to a file inside).
    Link,
    /// The path names a folder, not a file.
    Folder,
    /// Something on the way to the file is a file, not a folder.
    ThroughAFile,
}

impl PathRefusal {
    /// What the answer says of the path.
    pub fn explain(self) -> &'static str {
        match self {
            PathRefusal::Malformed => "it is empty or holds a NUL or a backslash",
            PathRefusal::NotPlain => {
                "it must be plain names joined by '/' (no '..', no leading '/', no hidden names)"
            }
            PathRefusal::LeadsOut => "it leads out of templates/ through a symbolic link",
            PathRefusal::Link => "it names a symbolic link, not a file",
            PathRefusal::Folder => "it names a folder, not a file",
            PathRefusal::ThroughAFile => "a part of it that should be a folder is a file",
        }
    }
}

/// `relative` under `root`, if it names a file there (existing or not): plain components only
/// (no `..`, no root, no hidden files), no symbolic link on the way out of `root`, and neither a
/// link nor a folder itself.
pub fn resolve(root: &Path, relative: &str) -> Result<PathBuf, PathRefusal> {
    if relative.is_empty() || relative.contains('\0') || relative.contains('\\') {
        return Err(PathRefusal::Malformed);
    }
    let mut path = root.to_path_buf();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part) if !part.to_string_lossy().starts_with('.') => path.push(part),
            _ => return Err(PathRefusal::NotPlain),
        }
    }
    // The deepest existing folder on the way must still be inside the root.
    let root_real = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut existing = path.parent().ok_or(PathRefusal::NotPlain)?.to_path_buf();
    while std::fs::symlink_metadata(&existing).is_err() {
        existing = existing
            .parent()
            .ok_or(PathRefusal::NotPlain)?
            .to_path_buf();
    }
    match std::fs::canonicalize(&existing) {
        Ok(real) if real.starts_with(&root_real) || !root.exists() => {}
        Ok(_) => return Err(PathRefusal::LeadsOut),
        // A dangling link on the way.
        Err(_) => return Err(PathRefusal::LeadsOut),
    }
    if !existing.is_dir() {
        return Err(PathRefusal::ThroughAFile);
    }
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(PathRefusal::Link),
        Ok(meta) if meta.is_dir() => Err(PathRefusal::Folder),
        _ => Ok(path),
    }
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
        assert!(resolve(&root, "messages/sms.en.hbs").is_ok());
        for bad in [
            "../platform.yml",
            "/etc/passwd",
            "a/../../x",
            "",
            ".hidden",
            "a\\..\\b",
        ] {
            assert!(resolve(&root, bad).is_err(), "{bad}");
        }
        std::os::unix::fs::symlink(dir.path(), root.join("out")).unwrap();
        assert_eq!(
            resolve(&root, "out/platform.yml"),
            Err(PathRefusal::LeadsOut)
        );
        std::fs::write(root.join("a.hbs"), "x").unwrap();
        std::os::unix::fs::symlink(root.join("a.hbs"), root.join("b.hbs")).unwrap();
        assert_eq!(resolve(&root, "b.hbs"), Err(PathRefusal::Link));
        assert_eq!(
            resolve(&root, "a.hbs/c.hbs"),
            Err(PathRefusal::ThroughAFile)
        );
        std::fs::create_dir(root.join("messages")).unwrap();
        assert_eq!(resolve(&root, "messages"), Err(PathRefusal::Folder));
        assert!(resolve(&root, "messages/new/deeper.hbs").is_ok());
    }
}
