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
