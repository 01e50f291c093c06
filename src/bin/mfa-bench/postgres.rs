//! A PostgreSQL server of the suite's own, from Debian's `postgresql` package: `initdb` in a
//! temporary folder (as the `postgres` user when the suite runs as root: PostgreSQL refuses
//! root), on a free loopback port, stopped at the end; and the CPU its processes use, from
//! /proc (the postmaster and every backend it forked).

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::Connection;

use crate::daemon::free_port;

pub struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_root: bool,
}

impl PgServer {
    /// `initdb` in `dir` and start the server. Its settings are PostgreSQL's defaults but
    /// `max_connections` (several pools) and `listen_addresses` (loopback only).
    pub fn start(dir: &Path) -> Result<PgServer, String> {
        let bin = bin_dir()?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if as_root {
            run(Command::new("chown").arg("postgres:postgres").arg(dir))?;
        }
        let server = PgServer {
            dir: dir.to_path_buf(),
            bin,
            port: free_port(),
            as_root,
        };
        run(server.pg("initdb").arg("-D").arg(dir.join("data")).args([
            "--auth=trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
        ]))?;
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            server.port,
            dir.display()
        );
        run(server
            .pg("pg_ctl")
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-w", "-t", "60", "-l"])
            .arg(dir.join("log"))
            .args(["-o", &options, "start"]))?;
        Ok(server)
    }

    /// A new, empty database; its URL.
    pub async fn database(&self, name: &str) -> Result<String, String> {
        let url = |db: &str| format!("postgres://postgres@127.0.0.1:{}/{db}", self.port);
        let mut admin = sqlx::PgConnection::connect(&url("postgres"))
            .await
            .map_err(|e| format!("connect to the bench's PostgreSQL: {e}"))?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .map_err(|e| format!("create database {name}: {e}"))?;
        admin.close().await.ok();
        Ok(url(name))
    }

    /// CPU seconds of the server so far: the postmaster and its children (backends,
    /// checkpointer, WAL writer, ...).
    pub fn cpu_seconds(&self) -> f64 {
        let Some(postmaster) = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().map(str::to_string))
        else {
            return 0.0;
        };
        let mut pids = vec![postmaster.clone()];
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let pid = entry.file_name().to_string_lossy().into_owned();
                let parent = std::fs::read_to_string(entry.path().join("stat"))
                    .ok()
                    .and_then(|s| {
                        let after = s.rfind(')').map(|i| s[i + 1..].to_string())?;
                        after.split_whitespace().nth(1).map(str::to_string)
                    });
                if parent.as_deref() == Some(postmaster.as_str()) {
                    pids.push(pid);
                }
            }
        }
        pids.iter()
            .map(|p| crate::cpu::process_cpu_seconds(p))
            .sum()
    }

    fn pg(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-m", "fast", "stop"])
            .output();
    }
}

/// Whether PostgreSQL is installed: checked before the suite starts, so that a missing package
/// does not end a suite after its other measurements.
pub fn installed() -> Result<(), String> {
    bin_dir().map(|_| ())
}

/// The newest `/usr/lib/postgresql/*/bin` that has `initdb`.
fn bin_dir() -> Result<PathBuf, String> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let version = e.file_name().to_str()?.parse().ok()?;
                    Some((version, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    found.retain(|(_, p)| p.join("initdb").exists());
    found.sort();
    found.pop().map(|(_, p)| p).ok_or_else(|| {
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install \
         postgresql (scripts/bench does), or leave it out (the suite without --postgres, \
         scripts/bench --no-postgres)"
            .to_string()
    })
}

fn run(command: &mut Command) -> Result<(), String> {
    let out = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
