//! The previous versions of `platform.yml`, kept beside it: before the admin API replaces the
//! file, the file as it stands is copied to `platform.yml.2026-12-01T23-40-05Z.bak` (the time
//! of the write, UTC, on the daemon's clock), and only the newest `admin.config_backups` of
//! these copies are kept. A copy keeps the file's permissions (it holds what the file holds).

use std::io;
use std::path::{Path, PathBuf};

/// Copies `path` to a new backup named for `now` (seconds since the epoch) and answers it.
pub(super) fn keep(path: &Path, now: u64) -> io::Result<PathBuf> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = file_name(path)?;
    let stamp = stamp(now);
    let backup = (1..)
        .map(|n| match n {
            1 => dir.join(format!("{name}.{stamp}.bak")),
            n => dir.join(format!("{name}.{stamp}-{n}.bak")),
        })
        .find(|candidate| !candidate.exists())
        .ok_or_else(|| io::Error::other("no free backup name"))?;
    std::fs::copy(path, &backup)?;
    Ok(backup)
}

/// Removes the oldest backups of `path` beyond the newest `kept`.
pub(super) fn prune(path: &Path, kept: usize) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut existing = backups(dir, &file_name(path)?)?;
    existing.sort();
    let surplus = existing.len().saturating_sub(kept);
    for (_, old) in existing.into_iter().take(surplus) {
        std::fs::remove_file(old)?;
    }
    Ok(())
}

fn file_name(path: &Path) -> io::Result<String> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| io::Error::other(format!("{} names no file", path.display())))
}

/// The backups of the file `name` in `dir`, each with what orders it (its time, then its
/// number within that second).
fn backups(dir: &Path, name: &str) -> io::Result<Vec<((String, u32), PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(order) = order_of(&file, name) {
            found.push((order, entry.path()));
        }
    }
    Ok(found)
}

/// The order of `file` if it is a backup of `name`: `{name}.{stamp}.bak` or
/// `{name}.{stamp}-{n}.bak`.
fn order_of(file: &str, name: &str) -> Option<(String, u32)> {
    let middle = file
        .strip_prefix(name)?
        .strip_prefix('.')?
        .strip_suffix(".bak")?;
    let (stamp, n) = match middle.split_once("Z-") {
        Some((stamp, n)) => (format!("{stamp}Z"), n.parse().ok()?),
        None => (middle.to_string(), 1),
    };
    let shape = stamp.len() == 20
        && stamp.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 | 13 | 16 => b == b'-',
            10 => b == b'T',
            19 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    shape.then_some((stamp, n))
}

/// `now` (seconds since the epoch) as `2026-12-01T23-40-05Z`: UTC, no colon (a file name).
fn stamp(now: u64) -> String {
    let days = now / 86_400;
    let seconds = now % 86_400;
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_the_utc_time_without_colons() {
        assert_eq!(stamp(0), "1970-01-01T00-00-00Z");
        assert_eq!(stamp(951_782_400), "2000-02-29T00-00-00Z");
        assert_eq!(stamp(1_796_168_405), "2026-12-01T23-40-05Z");
        assert_eq!(stamp(4_107_542_399), "2100-02-28T23-59-59Z");
    }

    #[test]
    fn only_backups_of_the_file_are_recognised_and_ordered() {
        let name = "platform.yml";
        assert_eq!(
            order_of("platform.yml.2026-12-01T23-40-05Z.bak", name),
            Some(("2026-12-01T23-40-05Z".into(), 1))
        );
        assert_eq!(
            order_of("platform.yml.2026-12-01T23-40-05Z-3.bak", name),
            Some(("2026-12-01T23-40-05Z".into(), 3))
        );
        for other in [
            "platform.yml",
            "platform.yml.bak",
            "other.yml.2026-12-01T23-40-05Z.bak",
            "platform.yml.2026-12-01T23:40:05Z.bak",
            "platform.yml.mine.bak",
        ] {
            assert_eq!(order_of(other, name), None, "{other}");
        }
    }

    #[test]
    fn backups_are_kept_up_to_the_bound_newest_first() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("platform.yml");
        let mine = dir.path().join("platform.yml.mine.bak");
        std::fs::write(&mine, "the operator's own").expect("write");
        for (i, now) in [100, 100, 100, 200, 300].into_iter().enumerate() {
            std::fs::write(&path, format!("version {i}")).expect("write");
            keep(&path, now).expect("a backup");
            prune(&path, 3).expect("pruned");
        }
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "platform.yml",
                "platform.yml.1970-01-01T00-01-40Z-3.bak",
                "platform.yml.1970-01-01T00-03-20Z.bak",
                "platform.yml.1970-01-01T00-05-00Z.bak",
                "platform.yml.mine.bak",
            ]
        );
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).expect("read");
        assert_eq!(read("platform.yml.1970-01-01T00-01-40Z-3.bak"), "version 2");
        assert_eq!(read("platform.yml.1970-01-01T00-05-00Z.bak"), "version 4");
        prune(&path, 0).expect("pruned");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 2);
    }
}
