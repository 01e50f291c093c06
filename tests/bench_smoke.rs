//! The load tool keeps working: `mfa-bench smoke` runs a few hundred flows (and logins) against
//! its own fakes and the daemon binary it spawns (standalone single, proxy challenge-verify),
//! and fails on any error. Nothing here looks at timings.

use std::process::Command;

#[test]
fn mfa_bench_smoke_run_has_no_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_mfa-bench"))
        .args([
            "smoke",
            "--flows",
            "200",
            "--daemon",
            env!("CARGO_BIN_EXE_mfa-bridge"),
        ])
        .output()
        .expect("run mfa-bench smoke");
    assert!(
        output.status.success(),
        "mfa-bench smoke failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    for deployment in ["standalone single", "proxy challenge-verify"] {
        assert!(
            stdout.contains(&format!("{deployment}: flow")),
            "the smoke run reports the flows of {deployment}:\n{stdout}"
        );
    }
}

/// The targets' verdicts, from the suite's own source (std only).
#[path = "../src/bin/mfa-bench/suite/verdict.rs"]
#[allow(dead_code)]
mod verdict;

use verdict::{Goal, Row, Verdict, SEE_ANALYSIS};

#[test]
fn a_target_passes_at_its_bound_and_fails_beyond_it() {
    assert_eq!(Goal::AtMost(200.0).judge(Some(200.0)), Verdict::Pass);
    assert_eq!(Goal::AtMost(200.0).judge(Some(730.0)), Verdict::Fail);
    assert_eq!(Goal::AtLeast(0.35).judge(Some(0.35)), Verdict::Pass);
    assert_eq!(Goal::AtLeast(0.35).judge(Some(0.14)), Verdict::Fail);
    assert_eq!(Goal::AtLeast(10.0).judge(Some(12.5)), Verdict::Pass);
}

#[test]
fn a_target_without_a_figure_is_not_measured_rather_than_failed() {
    assert_eq!(Goal::AtMost(48.0).judge(None), Verdict::NotMeasured);
    assert_eq!(
        Goal::AtMost(48.0).judge(Some(f64::NAN)),
        Verdict::NotMeasured
    );
    assert_eq!(Goal::Shown.judge(Some(73.0)), Verdict::Shown);
}

#[test]
fn a_failing_row_says_why_or_points_to_the_analysis() {
    let row = |median| {
        Row::judged(
            "daemon CPU per flow",
            Some(16),
            median,
            "x".into(),
            Goal::AtMost(200.0),
            Goal::AtMost(200.0).text("µs"),
        )
    };
    let failing = row(Some(730.0)).markdown();
    assert!(failing.contains("**FAIL**") && failing.contains(SEE_ANALYSIS));
    assert!(failing.contains("≤ 200 µs"), "{failing}");
    let explained = row(Some(730.0)).because("the disk").markdown();
    assert!(explained.contains("the disk") && !explained.contains(SEE_ANALYSIS));
    let passing = row(Some(150.0)).because("unused").markdown();
    assert!(passing.contains("**PASS**") && !passing.contains("unused"));
}

#[test]
fn the_tally_counts_passes_among_the_judged_rows_only() {
    let rows = [
        Row::judged(
            "a",
            None,
            Some(1.0),
            "1".into(),
            Goal::AtMost(2.0),
            "≤ 2".into(),
        ),
        Row::judged(
            "b",
            None,
            Some(3.0),
            "3".into(),
            Goal::AtMost(2.0),
            "≤ 2".into(),
        ),
        Row::judged("c", None, None, "–".into(), Goal::AtMost(2.0), "≤ 2".into()),
        Row::judged(
            "d",
            None,
            Some(9.0),
            "9".into(),
            Goal::Shown,
            "shown".into(),
        ),
    ];
    let table = verdict::table(&rows);
    assert!(
        table.contains("1 of 2 targets pass; 1 not measured in this run."),
        "{table}"
    );
}

/// A temporary folder of the test's own.
fn temp_dir(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bench-smoke-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

#[test]
fn mfa_bench_fsync_reports_ordered_percentiles_of_every_write() {
    let dir = temp_dir("fsync");
    let output = Command::new(env!("CARGO_BIN_EXE_mfa-bench"))
        .args(["fsync", "--writes", "20", "--dir"])
        .arg(&dir)
        .output()
        .expect("run mfa-bench fsync");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("20 writes of 4096 bytes"), "{stdout}");
    let figure = |name: &str| -> f64 {
        let after = stdout.split(&format!("{name} ")).nth(1).expect(name);
        after
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect(name)
    };
    let (p50, p99, max) = (figure("p50"), figure("p99"), figure("max"));
    assert!(p50 <= p99 && p99 <= max, "{stdout}");
    assert_eq!(
        std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(1),
        0,
        "the probe file is removed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A whole suite, as short as it goes, against the debug daemon: the file it writes has every
/// section and every target row (figures from a debug build mean nothing; none is looked at).
#[test]
fn the_suite_writes_every_section_and_every_target_row() {
    let dir = temp_dir("suite");
    let out = dir.join("BENCHMARKS.md");
    let output = Command::new(env!("CARGO_BIN_EXE_mfa-bench"))
        .args([
            "suite",
            "--allow-debug",
            "--daemon",
            env!("CARGO_BIN_EXE_mfa-bridge"),
        ])
        .args([
            "--runs",
            "1",
            "--duration",
            "0.2",
            "--warmup",
            "0",
            "--concurrency",
            "16",
        ])
        .args([
            "--users",
            "16",
            "--pending",
            "100",
            "--rewrites",
            "1",
            "--cold-starts",
            "1",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run mfa-bench suite");
    assert!(
        output.status.success(),
        "mfa-bench suite failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let md = std::fs::read_to_string(&out).expect("the suite writes its file");
    let _ = std::fs::remove_dir_all(&dir);
    for section in [
        "## Machine and command",
        "| fsync of 4 KiB writes in the data directory's file system",
        "## Ceiling",
        "## Login",
        "## Full flow (",
        "## Full flow with `storage.durability: periodic` (c=64)",
        "## Several instances on PostgreSQL",
        "## Pending sessions",
        "## Hot reload under load",
        "## Cold start",
        "## Targets (issue 16)",
    ] {
        assert!(md.contains(section), "BENCHMARKS.md has {section:?}:\n{md}");
    }
    for row in [
        "| daemon CPU per flow, proxy single | 16 |",
        "| daemon CPU per flow, proxy single (stretch) | 16 |",
        "| daemon CPU per login, standalone single | 16 |",
        "| flow, standalone single: flows/s ÷ (ceiling ÷ 5) | 16 |",
        "| flow, proxy single: flows/s ÷ (ceiling ÷ 6) | 16 |",
        "| flow, proxy challenge-verify: flows/s ÷ (ceiling ÷ 6) | 16 |",
        "| flows per daemon core ÷ the peer's, proxy single | 16 |",
        "| flow p99, standalone single, `durability: periodic` | 64 |",
        "| flow p99, proxy single, `durability: periodic` | 64 |",
        "| flow p99, standalone single, strict durability | 64 |",
        "| RSS with 100 pending sessions (on disk) | 64 |",
        "| RSS with 1000000 pending sessions (on disk) | 64 | – | ≤ 96 MiB | not measured |",
        "| cold start to the first answer | – |",
    ] {
        assert!(md.contains(row), "the targets table has {row:?}:\n{md}");
    }
    let targets = md.split("## Targets (issue 16)").nth(1).unwrap_or_default();
    let judged = targets
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| ") && !l.starts_with("| target"))
        .collect::<Vec<_>>();
    for line in &judged {
        assert!(
            ["**PASS**", "**FAIL**", "not measured", "| – |"]
                .iter()
                .any(|v| line.contains(v)),
            "every target row has a result: {line}"
        );
    }
}
