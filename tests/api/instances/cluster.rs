//! A cluster: several processes of the real binary (`mfa-bridge serve`) on one PostgreSQL
//! database, each with its own `platform.yml` and local folder but the same `storage.url` and
//! `storage.secret`, in front of one fake provider and one fake upstream; and a client that
//! spreads requests over the live instances round-robin, as a load balancer would.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use regex::Regex;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::fakes::{start_provider, start_upstream, FakeServer, GOOD_PASSWORD, PERSONAL_TOKEN};
use crate::helpers::{
    config_value, phone_for, strip_ansi, to_yaml, AppOptions, FirstFactor, TestResponse,
    ADMIN_TOKEN, API_KEY,
};

/// The `storage.secret` every instance of a cluster shares.
pub const SHARED_SECRET: &str = "a-secret-shared-by-every-instance-8c1f4e2a";

/// One daemon of the cluster.
struct Instance {
    /// `None` once killed.
    child: Mutex<Option<tokio::process::Child>>,
    port: u16,
    admin_port: Option<u16>,
    log: Arc<Mutex<Vec<String>>>,
}

pub struct Cluster {
    pub provider: FakeServer,
    /// Serves the daemons' upstream calls (proxy mode) as long as the cluster lives.
    _upstream: FakeServer,
    pub options: AppOptions,
    instances: Vec<Instance>,
    next: AtomicUsize,
    client: reqwest::Client,
    _dir: TempDir,
}

/// The `storage` section of an instance: PostgreSQL at `url`, the shared secret, and `path`
/// for what stays local (the outbox, backups).
pub fn postgres_storage(url: &str, path: &Path) -> Value {
    json!({
        "backend": "postgres",
        "url": url,
        "secret": SHARED_SECRET,
        "path": path.to_str().expect("a UTF-8 temporary path"),
    })
}

/// [`instance_yaml`], the server secret given as `storage.secret_file` (a key file, as a sled
/// data directory's `server-secret`) instead of [`SHARED_SECRET`].
pub fn instance_yaml_with_key_file(
    options: &AppOptions,
    url: &str,
    folder: &Path,
    fakes: (&str, &str),
    key_file: &Path,
) -> String {
    let storage = folder.join("store");
    std::fs::create_dir_all(&storage).expect("create an instance's folder");
    let mut config = config_value(options, &storage);
    let mut given = postgres_storage(url, &storage);
    let given = given.as_object_mut().expect("a mapping");
    given.remove("secret");
    given.insert("secret_file".into(), json!(key_file));
    config["storage"] = Value::Object(given.clone());
    to_yaml(&config, fakes.0, fakes.1)
}

/// `platform.yml` of an instance: `options` (URLs pointed at the fakes), storage on `url`.
pub fn instance_yaml(
    options: &AppOptions,
    url: &str,
    folder: &Path,
    fakes: (&str, &str),
) -> String {
    let storage = folder.join("store");
    std::fs::create_dir_all(&storage).expect("create an instance's folder");
    let mut config = config_value(options, &storage);
    config["storage"] = postgres_storage(url, &storage);
    to_yaml(&config, fakes.0, fakes.1)
}

impl Cluster {
    /// `n` daemons on a fresh database of the tests' shared PostgreSQL.
    pub async fn start(n: usize, options: AppOptions) -> Cluster {
        let url = crate::postgres::fresh_database().await;
        Cluster::start_on(n, options, url).await
    }

    /// `n` daemons on the database at `url`, started one after the other (the first applies
    /// the migrations).
    pub async fn start_on(n: usize, options: AppOptions, url: String) -> Cluster {
        Cluster::start_with(n, options, url, None).await
    }

    /// [`Cluster::start_on`], each daemon given the server secret as the key file `key_file`.
    pub async fn start_with_key_file(
        n: usize,
        options: AppOptions,
        url: String,
        key_file: &Path,
    ) -> Cluster {
        Cluster::start_with(n, options, url, Some(key_file)).await
    }

    async fn start_with(
        n: usize,
        options: AppOptions,
        url: String,
        key_file: Option<&Path>,
    ) -> Cluster {
        let provider = start_provider().await;
        let upstream = start_upstream().await;
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut instances = Vec::with_capacity(n);
        for i in 0..n {
            let folder = dir.path().join(format!("instance-{i}"));
            let fakes = (provider.base_url(), upstream.base_url());
            let yaml = match key_file {
                Some(k) => {
                    instance_yaml_with_key_file(&options, &url, &folder, (&fakes.0, &fakes.1), k)
                }
                None => instance_yaml(&options, &url, &folder, (&fakes.0, &fakes.1)),
            };
            let config = folder.join("platform.yml");
            std::fs::write(&config, yaml).expect("write platform.yml");
            instances.push(start_instance(&config, options.admin.is_some()).await);
        }
        Cluster {
            provider,
            _upstream: upstream,
            options,
            instances,
            next: AtomicUsize::new(0),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(64)
                .build()
                .expect("a client"),
            _dir: dir,
        }
    }

    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// `http://127.0.0.1:PORT` of instance `i`.
    pub fn address(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.instances[i].port)
    }

    /// The next live instance, round-robin.
    pub fn next_instance(&self) -> usize {
        let live: Vec<usize> = (0..self.len())
            .filter(|&i| self.instances[i].child.lock().unwrap().is_some())
            .collect();
        assert!(!live.is_empty(), "every instance of the cluster is down");
        live[self.next.fetch_add(1, Ordering::Relaxed) % live.len()]
    }

    /// Kills instance `i` with SIGKILL: no chance to finish or flush anything.
    pub async fn kill(&self, i: usize) {
        let child = self.instances[i].child.lock().unwrap().take();
        if let Some(mut child) = child {
            child.kill().await.expect("kill an instance");
        }
    }

    /// What every instance has printed, each under its number.
    pub fn logs(&self) -> String {
        self.instances
            .iter()
            .enumerate()
            .map(|(i, d)| format!("--- instance {i}:\n{}", d.log.lock().unwrap().join("\n")))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The `Authorization` of activate in this mode: a personal token or the api key.
    pub fn personal(&self) -> String {
        match self.options.first_factor {
            FirstFactor::Proxy => PERSONAL_TOKEN.to_string(),
            FirstFactor::Standalone => format!("Bearer {API_KEY}"),
        }
    }

    /// `POST path` to instance `i`; `Err` when no answer came (the instance is down).
    pub async fn try_post_to(
        &self,
        i: usize,
        path: &str,
        authorization: Option<&str>,
        body: &Value,
    ) -> Result<TestResponse, String> {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address(i)))
            .json(body);
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        match request.send().await {
            Ok(response) => Ok(TestResponse::read(response).await),
            Err(e) => Err(format!("POST {path} on instance {i}: {e}")),
        }
    }

    /// `POST path` to instance `i`, which must answer.
    pub async fn post_to(
        &self,
        i: usize,
        path: &str,
        authorization: Option<&str>,
        body: &Value,
    ) -> TestResponse {
        match self.try_post_to(i, path, authorization, body).await {
            Ok(r) => r,
            Err(e) => panic!("{e}\n{}", self.logs()),
        }
    }

    /// `POST path` to the next live instance.
    pub async fn post(
        &self,
        path: &str,
        authorization: Option<&str>,
        body: &Value,
    ) -> TestResponse {
        self.post_to(self.next_instance(), path, authorization, body)
            .await
    }

    /// The same `POST` sent `count` times at once, spread over the live instances; the answers
    /// in no particular order. At most 200 are in flight at a time (a load balancer's worth of
    /// connections, under the test process's open-files limit).
    pub async fn post_spread(
        &self,
        count: usize,
        path: &str,
        authorization: Option<&str>,
        body: &Value,
    ) -> Vec<TestResponse> {
        let bodies = vec![body.clone(); count];
        self.post_each(path, authorization, bodies).await
    }

    /// One `POST` per body, all at once, spread over the live instances.
    pub async fn post_each(
        &self,
        path: &str,
        authorization: Option<&str>,
        bodies: Vec<Value>,
    ) -> Vec<TestResponse> {
        let requests = bodies
            .into_iter()
            .map(|b| (path.to_string(), authorization.map(str::to_string), b))
            .collect();
        self.post_all(requests).await
    }

    /// Each `(path, authorization, body)` posted at once, spread over the live instances.
    pub async fn post_all(
        &self,
        requests: Vec<(String, Option<String>, Value)>,
    ) -> Vec<TestResponse> {
        let gate = Arc::new(tokio::sync::Semaphore::new(200));
        let mut tasks = tokio::task::JoinSet::new();
        for (path, authorization, body) in requests {
            let mut request = self
                .client
                .post(format!("{}{path}", self.address(self.next_instance())))
                .json(&body);
            if let Some(a) = authorization {
                request = request.header("authorization", a);
            }
            let gate = Arc::clone(&gate);
            tasks.spawn(async move {
                let _turn = gate.acquire_owned().await;
                match request.send().await {
                    Ok(response) => Ok(TestResponse::read(response).await),
                    Err(e) => Err(format!("{e:?}")),
                }
            });
        }
        let mut answers = Vec::new();
        while let Some(answer) = tasks.join_next().await {
            match answer.expect("a request task") {
                Ok(a) => answers.push(a),
                Err(e) => panic!("a concurrent request failed: {e}\n{}", self.logs()),
            }
        }
        answers
    }

    /// Login past the first factor (the good password, or the api key) on the next instance.
    pub async fn login(&self, username: &str) -> TestResponse {
        self.login_on(self.next_instance(), username).await
    }

    pub async fn login_on(&self, i: usize, username: &str) -> TestResponse {
        match self.try_login_on(i, username).await {
            Ok(r) => r,
            Err(e) => panic!("{e}\n{}", self.logs()),
        }
    }

    /// Login on instance `i`; `Err` when no answer came.
    pub async fn try_login_on(&self, i: usize, username: &str) -> Result<TestResponse, String> {
        let path = format!("/{username}/login");
        match self.options.first_factor {
            FirstFactor::Proxy => {
                let body =
                    json!({"username": username, "password": GOOD_PASSWORD, "appId": "test-app"});
                self.try_post_to(i, &path, None, &body).await
            }
            FirstFactor::Standalone => {
                let key = format!("Bearer {API_KEY}");
                self.try_post_to(i, &path, Some(&key), &json!({})).await
            }
        }
    }

    /// Activates `username` (its own phone) and confirms it with the code sent, each on the
    /// next instance; the recovery codes.
    pub async fn enroll(&self, username: &str) -> Vec<String> {
        let activation = self
            .post(
                &format!("/{username}/mfa/activate"),
                Some(&self.personal()),
                &json!({"phone": phone_for(username)}),
            )
            .await;
        let token = activation.mfa_token();
        let code = self.code_sent_to(username);
        self.post(
            &format!("/{username}/mfa/confirm"),
            Some(&token),
            &json!({"code": code}),
        )
        .await
        .recovery_codes()
    }

    /// Login and challenge of an enrolled user, on the next instances: its mfaToken and the
    /// code sent.
    pub async fn login_and_challenge(&self, username: &str) -> (String, String) {
        let token = self.login(username).await.mfa_token();
        self.post(
            &format!("/{username}/mfa/challenge"),
            Some(&token),
            &json!({}),
        )
        .await
        .assert_status(200);
        (token, self.code_sent_to(username))
    }

    /// The code of the last message the provider received for `username`'s phone.
    pub fn code_sent_to(&self, username: &str) -> String {
        let phone = phone_for(username);
        let code = Regex::new(r"Code ([0-9]+)").unwrap();
        self.provider
            .requests()
            .iter()
            .rev()
            .find(|r| r.decoded_uri().contains(&phone) || r.body_text().contains(&phone))
            .and_then(|r| code.captures(&r.body_text()).map(|c| c[1].to_string()))
            .unwrap_or_else(|| panic!("no code was sent to {username}'s phone"))
    }

    /// How many messages the provider received for `username`'s phone.
    pub fn sends_to(&self, username: &str) -> usize {
        let phone = phone_for(username);
        self.provider
            .requests()
            .iter()
            .filter(|r| r.body_text().contains(&phone))
            .count()
    }

    /// `method path` on instance `i`'s admin listener with the admin token.
    pub async fn admin(
        &self,
        i: usize,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> TestResponse {
        let port = self.instances[i]
            .admin_port
            .expect("a cluster started with AppOptions::with_admin");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = self
            .client
            .request(method, format!("http://127.0.0.1:{port}{path}"))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("admin {path} on instance {i}: {e}\n{}", self.logs()));
        TestResponse::read(response).await
    }
}

/// Starts `mfa-bridge serve --config CONFIG` and waits until it reports its listeners.
async fn start_instance(config: &PathBuf, expects_admin: bool) -> Instance {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mfa-bridge"));
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("start the mfa-bridge binary");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (ports_tx, mut ports_rx) = tokio::sync::mpsc::unbounded_channel::<(bool, u16)>();
    let listening = Regex::new(r"(admin )?listening on http://127\.0\.0\.1:(\d+)").unwrap();
    let streams: [Box<dyn tokio::io::AsyncRead + Unpin + Send>; 2] = [
        Box::new(child.stderr.take().expect("piped stderr")),
        Box::new(child.stdout.take().expect("piped stdout")),
    ];
    for stream in streams {
        let (log, ports_tx, listening) = (log.clone(), ports_tx.clone(), listening.clone());
        // Read to the end, so that a full pipe never blocks the daemon.
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = strip_ansi(&line);
                if let Some(c) = listening.captures(&line) {
                    if let Ok(port) = c[2].parse() {
                        let _ = ports_tx.send((c.get(1).is_some(), port));
                    }
                }
                log.lock().unwrap().push(line);
            }
        });
    }
    drop(ports_tx);
    let ports = async {
        let (mut port, mut admin_port) = (None, None);
        while port.is_none() || (expects_admin && admin_port.is_none()) {
            match ports_rx.recv().await {
                Some((true, p)) => admin_port = Some(p),
                Some((false, p)) => port = Some(p),
                None => break,
            }
        }
        (port, admin_port)
    };
    match tokio::time::timeout(Duration::from_secs(30), ports).await {
        Ok((Some(port), admin_port)) if !expects_admin || admin_port.is_some() => Instance {
            child: Mutex::new(Some(child)),
            port,
            admin_port,
            log,
        },
        _ => panic!(
            "an instance did not start ({:?}); its output:\n{}",
            child.try_wait(),
            log.lock().unwrap().join("\n")
        ),
    }
}
