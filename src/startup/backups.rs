//! The `backup` and `restore` commands, as `main` runs them: a backup is asked of the running
//! daemon through its admin API (it holds the data directory locked); a restore writes into
//! the empty data directory of a configuration, the daemon stopped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use crate::admin::backup::download;
use crate::config::Config;
use crate::store::backup::restore as restore_into;

/// The environment variable `mfa-bridge backup` reads the admin token from (never a flag: a
/// command line is visible to every user of the machine).
pub const ADMIN_TOKEN_VAR: &str = "MFA_BRIDGE_ADMIN_TOKEN";

/// The admin API's address for a client on the same machine: an unspecified listen address
/// (`0.0.0.0`, `[::]`) is reached on loopback.
pub fn admin_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

/// `mfa-bridge backup --to DIR`: the admin API at `admin` (else the configuration's
/// `admin.listen`), the token from [`ADMIN_TOKEN_VAR`]. Answers what to print.
pub async fn backup(
    config: Option<&Config>,
    admin: Option<&str>,
    token: Option<&str>,
    to: &Path,
) -> Result<String, String> {
    let token = token.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        format!("set {ADMIN_TOKEN_VAR} to the admin token (the one whose SHA-256 is admin.token_sha256)")
    })?;
    let url = match (admin, config.and_then(|c| c.admin.as_ref())) {
        (Some(url), _) => url.to_string(),
        (None, Some(a)) => admin_url(a.listen),
        (None, None) => {
            return Err(
                "the configuration has no admin section: a backup is taken through the admin API (give --admin URL, or configure admin.listen)"
                    .into(),
            )
        }
    };
    let (path, records) = download(&url, token.trim(), to)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "backup of {records} records written to {}",
        path.display()
    ))
}

/// `mfa-bridge restore --from DIR`: into the configuration's `storage.path`, under its server
/// secret. Answers what to print.
pub async fn restore(config: &Config, from: &Path) -> Result<String, String> {
    if let crate::config::Backend::Postgres(_) = config.storage.backend {
        return Err(
            "storage.backend is postgres: mfa-bridge restore writes a sled data \
                    directory. Restore the database with PostgreSQL's own tools (pg_dump, \
                    pg_restore), or restore into a sled configuration first"
                .into(),
        );
    }
    let data_dir = &config.storage.path;
    std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let restored = restore_into(from, data_dir, config.storage.secret.as_ref())
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "restored {} records ({} enrolled users) into {}, from the backup made at {} by mfa-bridge {}",
        restored.records,
        restored.profiles,
        data_dir.display(),
        restored.header.created_at,
        restored.header.made_by
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_admin_address_is_reached_on_loopback() {
        assert_eq!(
            admin_url("0.0.0.0:8081".parse().unwrap()),
            "http://127.0.0.1:8081"
        );
        assert_eq!(admin_url("[::]:8081".parse().unwrap()), "http://[::1]:8081");
        assert_eq!(
            admin_url("10.1.2.3:9000".parse().unwrap()),
            "http://10.1.2.3:9000"
        );
    }
}
