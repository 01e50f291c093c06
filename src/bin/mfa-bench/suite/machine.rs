//! The machine the suite runs on (CPU, cores, memory, kernel, compiler, commit, date) and the
//! daemon binary it measures.

use std::path::{Path, PathBuf};

/// Refuses a binary that does not look like a release build.
pub fn check_binary(path: &Path, allow_debug: bool) -> Result<PathBuf, String> {
    let path = path.canonicalize().map_err(|e| {
        format!(
            "{}: {e} (build it first: cargo build --release --bins)",
            path.display()
        )
    })?;
    let looks_debug = path.components().any(|c| c.as_os_str() == "debug");
    if looks_debug && !allow_debug {
        return Err(format!(
            "{} looks like a debug build; build and pass a release one (cargo build --release --bins), or add --allow-debug",
            path.display()
        ));
    }
    if looks_debug {
        eprintln!(
            "warning: {} is a debug build: the figures mean little",
            path.display()
        );
    }
    Ok(path)
}

fn sh(command: &str, args: &[&str]) -> String {
    std::process::Command::new(command)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn machine() -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    let commit = sh("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = !sh(
        "git",
        &[
            "status",
            "--porcelain",
            "--",
            "src",
            ":!src/bin/mfa-bench",
            "Cargo.toml",
            "Cargo.lock",
        ],
    )
    .is_empty();
    vec![
        ("CPU".into(), model),
        (
            "cores (available to this process)".into(),
            cores.to_string(),
        ),
        ("memory".into(), memory),
        ("kernel".into(), kernel),
        ("rustc".into(), sh("rustc", &["--version"])),
        (
            "commit".into(),
            format!(
                "{commit}{}",
                if dirty {
                    " (with uncommitted changes to the daemon)"
                } else {
                    ""
                }
            ),
        ),
        ("date (UTC)".into(), sh("date", &["-u", "+%Y-%m-%d %H:%M"])),
    ]
}
