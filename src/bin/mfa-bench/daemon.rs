//! The daemon under test: its platform.yml (pointed at the fakes), spawning it on a free port,
//! waiting for its first answer, stopping it.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::scenarios::{FirstFactor, SmsMode};

/// The api key of every standalone daemon the suite starts.
pub const API_KEY: &str = "bench-api-key-7c1e93";

/// The three deployments the suite measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Deployment {
    StandaloneSingle,
    ProxySingle,
    ProxyChallengeVerify,
}

impl Deployment {
    pub const ALL: [Deployment; 3] = [
        Deployment::StandaloneSingle,
        Deployment::ProxySingle,
        Deployment::ProxyChallengeVerify,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Deployment::StandaloneSingle => "standalone single",
            Deployment::ProxySingle => "proxy single",
            Deployment::ProxyChallengeVerify => "proxy challenge-verify",
        }
    }

    pub fn first_factor(self) -> FirstFactor {
        match self {
            Deployment::StandaloneSingle => FirstFactor::Standalone {
                api_key: API_KEY.into(),
            },
            _ => FirstFactor::Proxy,
        }
    }

    pub fn mode(self) -> SmsMode {
        match self {
            Deployment::ProxyChallengeVerify => SmsMode::ChallengeVerify,
            _ => SmsMode::Single,
        }
    }

    /// HTTP exchanges of one login, counting the daemon's calls to the fakes.
    pub fn login_exchanges(self) -> u32 {
        match self.first_factor() {
            FirstFactor::Standalone { .. } => 1,
            FirstFactor::Proxy => 2,
        }
    }

    /// HTTP exchanges of one whole flow: login (1, or 2 with the upstream), challenge (2: the
    /// daemon calls the provider), the code fetch from the fake provider (1, single mode only),
    /// verify (1, or 2 when the provider checks the code).
    pub fn flow_exchanges(self) -> u32 {
        self.login_exchanges()
            + 2
            + match self.mode() {
                SmsMode::Single => 1 + 1,
                SmsMode::ChallengeVerify => 2,
            }
    }
}

/// The single endpoint's body template; `revision` marks the text (hot-reload test).
pub fn single_body(revision: Option<u32>) -> String {
    match revision {
        None => r#"{"to":"{{ phone }}","text":"{{ message }}"}"#.to_string(),
        Some(n) => format!(r#"{{"to":"{{{{ phone }}}}","text":"rev {n}: {{{{ message }}}}"}}"#),
    }
}

/// platform.yml for `deployment`, listening on `port`, storage in `storage`.
pub fn config_yaml(
    deployment: Deployment,
    port: u16,
    storage: &Path,
    provider: &str,
    upstream: &str,
    revision: Option<u32>,
) -> String {
    let endpoints = match deployment.mode() {
        SmsMode::Single => json!({
            "single": {
                "url": format!("{provider}/sms"),
                "method": "POST",
                "headers": {"content-type": "application/json"},
                "body": single_body(revision),
            }
        }),
        SmsMode::ChallengeVerify => json!({
            "challenge": {
                "url": format!("{provider}/challenge"),
                "method": "POST",
                "headers": {"content-type": "application/json"},
                "body": r#"{"phone_number":"{{ phone }}"}"#,
            },
            "verify": {
                "url": format!("{provider}/verify"),
                "method": "POST",
                "headers": {"content-type": "application/json"},
                "body": r#"{"phone_number":"{{ phone }}","code":"{{ code }}"}"#,
                "success": {"json_path": "status", "equals": "approved"},
            }
        }),
    };
    let mut config = json!({
        "server": {"listen": format!("127.0.0.1:{port}")},
        "storage": {"path": storage.to_str().expect("a UTF-8 temporary path")},
        "mfa": {
            "mode": match deployment.mode() {
                SmsMode::Single => "single",
                SmsMode::ChallengeVerify => "challenge-verify",
            },
            "sessions": {"ttl_seconds": 1800},
            "attempts": {
                "per_session": 100,
                "free_failures": 1000,
                "base_seconds": 1,
                "max_seconds": 900,
                "window_seconds": 86400,
            },
            "send_limits": {
                "min_interval_seconds": 0,
                "per_user_per_hour": 10000,
                "per_destination_per_day": 100000,
            },
            "endpoints": endpoints,
        },
    });
    match deployment.first_factor() {
        FirstFactor::Proxy => {
            config["upstream"] = json!({
                "login": {"url": format!("{upstream}/{{{{ username }}}}/auth/login"), "method": "POST"},
                "access_check": {
                    "url": format!("{upstream}/{{{{ username }}}}/access-info"),
                    "method": "GET",
                    "headers": {"authorization": "{{ token }}"},
                    "accept": {"json_path": "type", "equals": "personal"},
                },
            });
        }
        FirstFactor::Standalone { .. } => {
            config["api_keys"] = json!([{
                "name": "bench",
                "key_sha256": hex::encode(Sha256::digest(API_KEY.as_bytes())),
            }]);
        }
    }
    to_yaml(&config)
}

pub fn to_yaml(config: &Value) -> String {
    serde_yaml::to_string(config).expect("a configuration serialises to YAML")
}

/// Writes `text` to `path` atomically (a temporary file beside it, then a rename).
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("yml.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A daemon process started by the tool.
pub struct Daemon {
    child: std::process::Child,
    pub pid: u32,
    pub port: u16,
    pub deployment: Deployment,
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub storage: PathBuf,
    /// Spawn to the first answer (any HTTP status).
    pub cold_start: Duration,
}

impl Daemon {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Writes platform.yml into `dir` (storage in `dir/store`), spawns `binary serve` with
    /// `RUST_LOG=warn` (its log in `dir/daemon.log`), and waits for its first answer.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        deployment: Deployment,
        provider: &str,
        upstream: &str,
    ) -> Result<Daemon, String> {
        Daemon::start_with_storage(binary, dir, deployment, provider, upstream, None).await
    }

    /// [`Daemon::start`] with these `storage` keys over the default ones (e.g. `backend:
    /// postgres`, `url`, `secret`).
    pub async fn start_with_storage(
        binary: &Path,
        dir: &Path,
        deployment: Deployment,
        provider: &str,
        upstream: &str,
        storage_keys: Option<&Value>,
    ) -> Result<Daemon, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let storage = dir.join("store");
        let port = free_port();
        let config_path = dir.join("platform.yml");
        let mut yaml = config_yaml(deployment, port, &storage, provider, upstream, None);
        if let Some(Value::Object(keys)) = storage_keys {
            let mut config: Value = serde_yaml::from_str(&yaml).map_err(|e| e.to_string())?;
            if let Some(section) = config["storage"].as_object_mut() {
                section.extend(keys.clone());
            }
            yaml = to_yaml(&config);
        }
        std::fs::write(&config_path, yaml).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("daemon.log")).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut child = std::process::Command::new(binary)
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("start {}: {e}", binary.display()))?;
        let pid = child.id();
        let ready = tokio::task::spawn_blocking(move || first_answer(port, started))
            .await
            .map_err(|e| e.to_string())?;
        let cold_start = match ready {
            Some(elapsed) => elapsed,
            None => {
                let status = child.try_wait().ok().flatten();
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
                return Err(format!(
                    "the daemon did not answer on 127.0.0.1:{port} within 15 s (exit status {status:?}); its log:\n{log}"
                ));
            }
        };
        Ok(Daemon {
            child,
            pid,
            port,
            deployment,
            dir: dir.to_path_buf(),
            config_path,
            storage,
            cold_start,
        })
    }

    /// SIGTERM (the daemon flushes and exits), then SIGKILL after 10 s.
    pub async fn stop(mut self) {
        crate::cpu::stop_child(&mut self.child, self.pid, Duration::from_secs(10)).await;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }
}

impl Drop for Daemon {
    /// A daemon is never left behind (a no-op once it has exited).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls 127.0.0.1:`port` with `GET / HTTP/1.1` every 200 µs until an HTTP status line comes
/// back; the time since `started`, or `None` after 15 s.
fn first_answer(port: u16, started: Instant) -> Option<Duration> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    while started.elapsed() < Duration::from_secs(15) {
        if let Ok(mut stream) = TcpStream::connect(address) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let request = "GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n";
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut head = [0u8; 12];
                if stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 ") {
                    return Some(started.elapsed());
                }
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    None
}

/// A directory of its own under the system's temporary folder, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> std::io::Result<TempDir> {
        let path =
            std::env::temp_dir().join(format!("mfa-bench-{label}-{}", crate::fresh_prefix()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
