//! CPU time and memory from /proc: a process's (utime + stime of /proc/PID/stat), the threads
//! of this process whose name starts with a prefix (/proc/self/task/TID/stat), VmRSS.

use std::sync::OnceLock;

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless told otherwise).
fn ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// (comm, utime + stime in ticks) from the text of a `stat` file.
fn parse_stat(text: &str) -> Option<(String, u64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    // Fields after the comm start at field 3 (state); utime and stime are fields 14 and 15.
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// CPU seconds (user + system) of process `pid` ("self" for this one), threads included.
pub fn process_cpu_seconds(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| parse_stat(&t))
        .map(|(_, ticks)| ticks as f64 / ticks_per_second())
        .unwrap_or(0.0)
}

/// CPU seconds of this process's threads whose name starts with `prefix` (names are cut to 15
/// bytes by the kernel).
pub fn threads_cpu_seconds(prefix: &str) -> f64 {
    let prefix = &prefix[..prefix.len().min(15)];
    let Ok(entries) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut ticks = 0;
    for entry in entries.flatten() {
        if let Some((comm, t)) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|t| parse_stat(&t))
        {
            if comm.starts_with(prefix) {
                ticks += t;
            }
        }
    }
    ticks as f64 / ticks_per_second()
}

/// (busy, steal) CPU seconds of the whole machine so far, all cores together (the `cpu` line of
/// /proc/stat: user, nice, system, irq, softirq are busy; idle and iowait are not).
pub fn machine_cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (0.0, 0.0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    let busy = at(0) + at(1) + at(2) + at(5) + at(6);
    (
        busy as f64 / ticks_per_second(),
        at(7) as f64 / ticks_per_second(),
    )
}

/// VmRSS of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// (apparent bytes, allocated bytes) of every file under `path`.
pub fn dir_size(path: &std::path::Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0, 0);
    let Ok(entries) = std::fs::read_dir(path) else {
        return total;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            let (a, b) = dir_size(&entry.path());
            total.0 += a;
            total.1 += b;
        } else {
            total.0 += meta.len();
            total.1 += meta.blocks() * 512;
        }
    }
    total
}

/// The CPU probe of a measurement against the process `pid`: the machine (busy and steal), the
/// load client's and the fakes' threads, and that process's time under `name` ("daemon", "peer").
pub fn process_probe(name: &'static str, pid: u32) -> crate::scenarios::Probe {
    std::sync::Arc::new(move || {
        let (busy, steal) = machine_cpu_seconds();
        std::collections::BTreeMap::from([
            ("machine".to_string(), busy),
            ("steal".to_string(), steal),
            (
                "client".to_string(),
                threads_cpu_seconds(crate::CLIENT_THREADS),
            ),
            (
                "fakes".to_string(),
                threads_cpu_seconds(crate::fakes::FAKES_THREADS),
            ),
            (name.to_string(), process_cpu_seconds(&pid.to_string())),
        ])
    })
}

/// Stops the child `pid`: SIGTERM, then SIGKILL once `grace` has passed.
pub async fn stop_child(child: &mut std::process::Child, pid: u32, grace: std::time::Duration) {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_a_stat_line_with_spaces_in_the_name() {
        let line = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 1 0 1 1 1";
        assert_eq!(super::parse_stat(line), Some(("a b) c".to_string(), 12)));
    }
}
