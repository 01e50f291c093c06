//! How long this disk takes to make a small write durable, which bounds what strict durability
//! can answer in: writes of 4 KiB appended to a file of a directory, each followed by `fsync`,
//! timed one by one.

use std::{fs::OpenOptions, io::Write, path::Path, time::Instant};

use serde::Serialize;

use crate::report::percentile;

/// Bytes of each write.
pub const WRITE_BYTES: usize = 4096;

/// Writes per measurement in the suite.
pub const WRITES: usize = 200;

/// Percentiles (nearest rank) of the write-then-fsync durations of one measurement.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Fsync {
    pub writes: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Fsync {
    /// The percentiles of `durations_ns`.
    pub fn of(mut durations_ns: Vec<u64>) -> Fsync {
        durations_ns.sort_unstable();
        let ms = |ns: u64| ns as f64 / 1e6;
        Fsync {
            writes: durations_ns.len(),
            p50_ms: ms(percentile(&durations_ns, 50.0)),
            p99_ms: ms(percentile(&durations_ns, 99.0)),
            max_ms: ms(durations_ns.last().copied().unwrap_or(0)),
        }
    }

    pub fn text(&self) -> String {
        format!(
            "{} writes of {WRITE_BYTES} bytes, each followed by fsync: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            self.writes, self.p50_ms, self.p99_ms, self.max_ms
        )
    }
}

/// `writes` appends of [`WRITE_BYTES`] to a new file in `dir`, each followed by `fsync`; the
/// file is removed afterwards. Blocking.
pub fn measure(dir: &Path, writes: usize) -> std::io::Result<Fsync> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("fsync-probe-{}", std::process::id()));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let block = [0x5au8; WRITE_BYTES];
    let mut durations_ns = Vec::with_capacity(writes);
    for _ in 0..writes {
        let started = Instant::now();
        file.write_all(&block)?;
        file.sync_all()?;
        durations_ns.push(started.elapsed().as_nanos() as u64);
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(Fsync::of(durations_ns))
}

/// The file system type of `dir` (`stat -f`), e.g. `ext2/ext3`, `tmpfs`, `overlayfs`.
pub fn file_system(dir: &Path) -> String {
    std::process::Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(dir)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_in_milliseconds() {
        let durations: Vec<u64> = (1..=200).rev().map(|i| i * 1_000_000).collect();
        let f = Fsync::of(durations);
        assert_eq!(f.writes, 200);
        assert_eq!((f.p50_ms, f.p99_ms, f.max_ms), (100.0, 198.0, 200.0));
    }

    #[test]
    fn no_write_gives_zeros() {
        assert_eq!(Fsync::of(Vec::new()), Fsync::default());
    }
}
