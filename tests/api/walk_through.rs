//! The README's walk-through, pasted as is into `sh` against the binary on the shipped
//! platform.yml: it works, and it works again when pasted a second time.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use regex::Regex;

/// The shell commands of the README's "Walk-through" section.
fn walk_through() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let section = readme
        .split("\n## Walk-through")
        .nth(1)
        .expect("README.md has a Walk-through section");
    let start = section.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = start
        + section[start..]
            .find("\n```")
            .expect("the end of the block");
    section[start..end].to_string()
}

/// The binary on the shipped platform.yml in `folder` (its ports chosen by the system), and
/// its public port.
fn serve_shipped_configuration(folder: &Path) -> (Child, u16) {
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("platform.yml"))
            .expect("read the shipped platform.yml");
    assert!(
        shipped.contains("listen: 127.0.0.1:7000") && shipped.contains("listen: 127.0.0.1:7001")
    );
    let config = shipped
        .replace("listen: 127.0.0.1:7000", "listen: 127.0.0.1:0")
        .replace("listen: 127.0.0.1:7001", "listen: 127.0.0.1:0");
    std::fs::write(folder.join("platform.yml"), config).expect("write platform.yml");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_mfa-bridge"))
        .arg("serve")
        .current_dir(folder)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mfa-bridge serve");
    let listening = Regex::new(r" listening on http://127\.0\.0\.1:([0-9]+)$").unwrap();
    let mut stderr = BufReader::new(daemon.stderr.take().expect("stderr"));
    let mut log = Vec::new();
    let port = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = daemon.kill();
            panic!("the daemon stopped before listening:\n{}", log.join(""));
        }
        let public = !line.contains("admin listening");
        if let Some(c) = listening.captures(line.trim_end()).filter(|_| public) {
            break c[1].parse().expect("a port");
        }
        log.push(line);
    };
    // Keep reading, so that the daemon never blocks on a full pipe.
    std::thread::spawn(move || for _ in stderr.lines() {});
    (daemon, port)
}

/// `date +%s`, as the walk-through reads it.
fn unix_second() -> String {
    let out = Command::new("date").arg("+%s").output().expect("run date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn run(script: &str, folder: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(folder)
        .output()
        .expect("run the walk-through with sh");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_readme_walk_through_works_and_works_again_when_pasted_a_second_time() {
    let folder = tempfile::tempdir().unwrap();
    let (mut daemon, port) = serve_shipped_configuration(folder.path());
    let script = walk_through().replace("localhost:7000", &format!("localhost:{port}"));
    let verified = Regex::new(r#"^\{"username":"(alice-[0-9]+)","verified":true\}$"#).unwrap();

    let mut users = Vec::new();
    for pass in 1..=2 {
        if pass == 2 {
            // The walk-through names its user after the second it runs in.
            let first = unix_second();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while unix_second() == first && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        let output = run(&script, folder.path());
        let lines: Vec<&str> = output.lines().collect();
        let failed = !output.contains("\"recoveryCodes\"")
            || output.contains("\"error\"")
            || lines.iter().filter(|l| l.contains("\"mfaToken\"")).count() != 2;
        let user = lines
            .last()
            .and_then(|l| verified.captures(l))
            .map(|c| c[1].to_string());
        if failed || user.is_none() {
            let _ = daemon.kill();
            panic!("pass {pass} of the walk-through failed; it printed:\n{output}");
        }
        users.extend(user);
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_ne!(users[0], users[1], "a new user at each pass");
}
