//! The peer's Node process: started through `scripts/peer-service-mfa run` (which writes its
//! configuration and execs node, so the child's pid is node's), polled until it answers, stopped
//! with SIGTERM.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use crate::daemon::free_port;

/// How long the peer may take to answer its first request (Node loading its modules on a busy
/// machine).
const START_TIME_OUT: Duration = Duration::from_secs(30);

/// The script that prepares and runs the peer: in this source tree, or else in the current
/// directory's `scripts/`.
pub fn script() -> PathBuf {
    let beside_the_sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/peer-service-mfa");
    if beside_the_sources.is_file() {
        beside_the_sources
    } else {
        PathBuf::from("scripts/peer-service-mfa")
    }
}

pub struct PeerProcess {
    child: std::process::Child,
    pub pid: u32,
    pub port: u16,
    log: PathBuf,
}

impl PeerProcess {
    /// Starts the peer prepared in `prepared` on a free port, its core at `core` and its SMS
    /// endpoint at `provider`; its output goes to `dir/peer.log`.
    pub async fn start(
        prepared: &Path,
        dir: &Path,
        core: &str,
        provider: &str,
    ) -> Result<PeerProcess, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let port = free_port();
        let log = dir.join("peer.log");
        let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let script = script();
        let mut child = std::process::Command::new("bash")
            .arg(&script)
            .arg("run")
            .arg("--out")
            .arg(prepared)
            .args(["--port", &port.to_string(), "--core", core])
            .args(["--provider", provider])
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("start {}: {e}", script.display()))?;
        let pid = child.id();
        let ready = tokio::task::spawn_blocking(move || answers(port))
            .await
            .map_err(|e| e.to_string())?;
        if !ready {
            let status = child.try_wait().ok().flatten();
            let _ = child.kill();
            let _ = child.wait();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!(
                "the peer did not answer on 127.0.0.1:{port} within {} s (exit status {status:?}); its log:\n{text}",
                START_TIME_OUT.as_secs()
            ));
        }
        Ok(PeerProcess {
            child,
            pid,
            port,
            log,
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM (node exits at once), then SIGKILL after 5 s.
    pub async fn stop(mut self) {
        crate::cpu::stop_child(&mut self.child, self.pid, Duration::from_secs(5)).await;
    }
}

impl Drop for PeerProcess {
    /// The peer is never left behind (a no-op once it has exited).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls 127.0.0.1:`port` with `GET /` every 20 ms until an HTTP status line comes back (the
/// peer answers 404); false after [`START_TIME_OUT`].
fn answers(port: u16) -> bool {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while started.elapsed() < START_TIME_OUT {
        if let Ok(mut stream) = TcpStream::connect(address) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let request = "GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n";
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut head = [0u8; 9];
                if stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
