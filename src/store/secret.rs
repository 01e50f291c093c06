//! The server secret that keys every stored hash.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::domain::Secret;

const FILE: &str = "server-secret";

/// Where the server secret comes from, when the configuration says (`storage.secret` or
/// `storage.secret_file`); otherwise it is the data directory's own file.
#[derive(Debug, Clone)]
pub enum SecretSetting {
    /// `storage.secret`: text, of which the key is the SHA-256.
    Text(Secret),
    /// `storage.secret_file`: a file holding the key itself as 64 hexadecimal characters, in
    /// the format of a data directory's `server-secret` (so a sled daemon's generated key can
    /// be given to the instances that take over its records).
    KeyFile(PathBuf),
}

impl SecretSetting {
    /// The 32-byte key.
    pub fn key(&self) -> std::io::Result<[u8; 32]> {
        match self {
            SecretSetting::Text(s) => Ok(Sha256::digest(s.expose().as_bytes()).into()),
            SecretSetting::KeyFile(path) => read_secret_file(path),
        }
    }

    /// Whether `other` is the same setting (for a reload, which cannot change it).
    pub fn same_as(&self, other: &SecretSetting) -> bool {
        match (self, other) {
            (SecretSetting::Text(a), SecretSetting::Text(b)) => a.expose() == b.expose(),
            (SecretSetting::KeyFile(a), SecretSetting::KeyFile(b)) => a == b,
            _ => false,
        }
    }
}

/// The configured secret, or the one in the data directory (created on first start with mode
/// 0600 from the OS CSPRNG). Either way 32 bytes come out.
pub fn server_secret(
    data_dir: &Path,
    configured: Option<&SecretSetting>,
) -> std::io::Result<[u8; 32]> {
    if let Some(s) = configured {
        return s.key();
    }
    let path = data_dir.join(FILE);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut file) => {
            let mut secret = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            file.write_all(hex::encode(secret).as_bytes())?;
            file.sync_all()?;
            tracing::info!(file = %path.display(), "generated a new server secret");
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_secret_file(&path),
        Err(e) => Err(e),
    }
}

/// The configured secret, or the one in the data directory if there is one: as
/// [`server_secret`], but creating nothing (for a restore, which must use the secret the backup
/// was made under).
pub fn server_secret_if_any(
    data_dir: &Path,
    configured: Option<&SecretSetting>,
) -> std::io::Result<Option<[u8; 32]>> {
    if let Some(s) = configured {
        return s.key().map(Some);
    }
    match read_secret_file(&data_dir.join(FILE)) {
        Ok(secret) => Ok(Some(secret)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_secret_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut text = String::new();
    std::fs::File::open(path)?.read_to_string(&mut text)?;
    let mut secret = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut secret).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not 64 hexadecimal characters", path.display()),
        )
    })?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_file_gives_the_key_a_data_directory_generated() {
        let dir = tempfile::tempdir().unwrap();
        let generated = server_secret(dir.path(), None).unwrap();
        let setting = SecretSetting::KeyFile(dir.path().join(FILE));
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(
            server_secret(elsewhere.path(), Some(&setting)).unwrap(),
            generated
        );
        assert!(!elsewhere.path().join(FILE).exists(), "nothing generated");
        let text = SecretSetting::Text(Secret::new(hex::encode(generated)));
        assert_ne!(
            text.key().unwrap(),
            generated,
            "text is hashed, a key file is not"
        );
    }

    #[test]
    fn the_generated_secret_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = server_secret(dir.path(), None).unwrap();
        let b = server_secret(dir.path(), None).unwrap();
        assert_eq!(a, b);
        let mode = std::fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
