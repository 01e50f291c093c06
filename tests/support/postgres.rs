//! A throwaway PostgreSQL server for tests, from Debian's `postgresql` package (which
//! `scripts/test` installs when missing): `initdb` in a temporary folder as the unprivileged
//! `postgres` user, on a random loopback port, stopped and removed at the end.
//!
//! [`fresh_database`] gives each test a database of its own on one server per test process
//! (started on first use, stopped at exit), or on the server `MFA_TEST_POSTGRES_URL` names.
//! [`TestServer::start`] gives a test a server of its own, for the tests that stop it.
//!
//! Shared by the unit tests of the library (`src/store/postgres`) and the black-box tests
//! (`tests/api`), which include this file by path.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use sqlx::Connection;

/// A PostgreSQL server in a folder of its own; stopped (`-m immediate`) and removed on drop.
pub struct TestServer {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// With TLS: the certificate of the authority that signed the server's (for
    /// `127.0.0.1`), which a client verifies it against (`sslrootcert`).
    tls: Option<PathBuf>,
}

impl TestServer {
    /// `initdb` and start a new server. Panics, saying what is missing, when PostgreSQL is not
    /// installed: a test never skips because a tool is absent.
    pub fn start() -> TestServer {
        TestServer::init(false)
    }

    /// A new server that also accepts TLS, with a certificate for `127.0.0.1` signed by an
    /// authority of its own ([`TestServer::certificate`]), made by `openssl`.
    pub fn start_with_tls() -> TestServer {
        TestServer::init(true)
    }

    /// The authority's certificate of a server started with TLS.
    pub fn certificate(&self) -> &Path {
        self.tls.as_deref().expect("a server started with TLS")
    }

    fn init(with_tls: bool) -> TestServer {
        let bin = bin_dir();
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mfa-test-pg-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the PostgreSQL folder");
        let as_root = is_root();
        if as_root {
            run(Command::new("chown").arg("postgres:postgres").arg(&dir));
        }
        let data = dir.join("data");
        run(as_postgres(as_root, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["--auth=trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]));
        let tls = with_tls.then(|| make_certificate(&dir, as_root));
        let server = TestServer {
            dir,
            bin,
            port: free_port(),
            tls,
        };
        server.start_again();
        server
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the server (again, after [`TestServer::stop_immediate`]) and waits until it
    /// accepts connections.
    pub fn start_again(&self) {
        // fsync off: the tests stop the server, never the machine, so what PostgreSQL has
        // written is in the kernel's cache either way; it saves seconds per test run.
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400",
            self.port,
            self.dir.display()
        );
        if self.tls.is_some() {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                self.dir.join("server.crt").display(),
                self.dir.join("server.key").display()
            ));
        }
        run(as_postgres(is_root(), &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-t", "60", "-l"])
            .arg(self.dir.join("log"))
            .args(["-o", &options, "start"]));
    }

    /// Stops the server as a crash would: no checkpoint, connections cut.
    pub fn stop_immediate(&self) {
        run(as_postgres(is_root(), &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-m", "immediate", "stop"]));
    }

    /// A new, empty database on this server; its URL.
    pub async fn fresh_database(&self) -> String {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "t{}_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the test PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        admin.close().await.ok();
        self.url(&name)
    }

    fn stop_quietly(&self) {
        let _ = as_postgres(is_root(), &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop_quietly();
    }
}

/// A new, empty database for one test, on this process's shared server (or on the server of
/// `MFA_TEST_POSTGRES_URL`, a URL of its `postgres` database); its URL.
pub async fn fresh_database() -> String {
    if let Ok(url) = std::env::var("MFA_TEST_POSTGRES_URL") {
        return on_external_server(&url).await;
    }
    shared().fresh_database().await
}

async fn on_external_server(url: &str) -> String {
    let name = format!("t{}_{}", std::process::id(), rand::random::<u32>());
    let mut admin = sqlx::PgConnection::connect(url)
        .await
        .expect("connect to MFA_TEST_POSTGRES_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let (base, _) = url.rsplit_once('/').expect("a URL with a database name");
    format!("{base}/{name}")
}

/// The server shared by the tests of this process: started on first use, stopped when the
/// process exits.
fn shared() -> &'static TestServer {
    static SHARED: OnceLock<TestServer> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());
    let _one = STARTING.lock().unwrap_or_else(|e| e.into_inner());
    SHARED.get_or_init(|| {
        extern "C" fn stop_at_exit() {
            if let Some(server) = SHARED.get() {
                server.stop_quietly();
            }
        }
        let server = TestServer::start();
        // SAFETY: registering a plain function with no arguments; it runs once at exit.
        unsafe { libc::atexit(stop_at_exit) };
        server
    })
}

/// A certificate authority of its own, and a certificate for `127.0.0.1` it signed with its
/// key in `dir` (the key private to the server's user, as PostgreSQL demands); the
/// authority's certificate, which a client verifies the server against.
fn make_certificate(dir: &Path, as_root: bool) -> PathBuf {
    let (ca, ca_key) = (dir.join("ca.crt"), dir.join("ca.key"));
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let new_key = [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
    ];
    run(Command::new("openssl")
        .args(new_key)
        .args(["-subj", "/CN=mfa-bridge test authority", "-keyout"])
        .arg(&ca_key)
        .arg("-out")
        .arg(&ca));
    run(Command::new("openssl")
        .args(new_key)
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-CA"])
        .arg(&ca)
        .arg("-CAkey")
        .arg(&ca_key)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod the key");
    if as_root {
        run(Command::new("chown")
            .arg("postgres:postgres")
            .arg(&key)
            .arg(&cert));
    }
    ca
}

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    found.retain(|p| p.join("initdb").exists());
    found.sort_by_key(|p| {
        p.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): \
             scripts/test installs it (apt-get install postgresql), or set MFA_TEST_POSTGRES_URL"
        )
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// PostgreSQL refuses to run as root: as root, the command runs as the `postgres` user.
fn as_postgres(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}
