//! The scenarios: enrolment (setup), login, flow, pending, ceiling; N workers at fixed
//! concurrency, each with its own keep-alive connection(s) and its own users.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use hyper::Method;
use serde_json::{json, Value};

use crate::{
    client::{encode_segment, Conn, NetError, Target},
    fakes::VALID_CODE,
    report::{Report, Samples},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    Login,
    Flow,
    Pending,
    Ceiling,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SmsMode {
    Single,
    ChallengeVerify,
}

/// How the first factor is presented.
#[derive(Clone, Debug)]
pub enum FirstFactor {
    /// `Authorization: Bearer KEY` on login and activate.
    Standalone { api_key: String },
    /// Login forwards `{"username", "password", "appId"}`; activate takes a personal token.
    Proxy,
}

/// The personal token given to activate in proxy mode (the fake upstream accepts any).
pub const PERSONAL_TOKEN: &str = "personal";

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub phone: String,
}

/// `count` users named `PREFIX-u{i}` with distinct phone numbers `+4179xxxxxxx`.
pub fn users(prefix: &str, count: usize) -> Vec<User> {
    (0..count)
        .map(|i| User {
            name: format!("{prefix}-u{i}"),
            phone: format!("+4179{:07}", i % 10_000_000),
        })
        .collect()
}

#[derive(Clone, Copy, Debug)]
pub enum Stop {
    Duration(Duration),
    Count(u64),
}

/// CPU seconds so far, per process or thread group.
pub type Probe = Arc<dyn Fn() -> BTreeMap<String, f64> + Send + Sync>;

#[derive(Clone)]
pub struct RunConfig {
    pub target: Target,
    /// Several daemons behind one load: worker `w` talks to `spread[w % len]` for its whole
    /// flow (as a load balancer with sticky connections), `target` when empty.
    pub spread: Vec<Target>,
    pub scenario: Scenario,
    pub concurrency: usize,
    pub stop: Stop,
    pub warmup: Duration,
    pub first_factor: FirstFactor,
    pub mode: SmsMode,
    pub provider: Option<Target>,
    /// Enrolled users; worker `w` uses users `w, w + c, w + 2c, ...` so that no two workers
    /// ever hold sessions of one user (single-mode codes are read back per phone number).
    pub users: Arc<Vec<User>>,
    pub timeout: Duration,
    pub probe: Option<Probe>,
}

/// The failure of one step: which route, what kind.
struct StepError {
    route: &'static str,
    kind: String,
}

fn net(route: &'static str) -> impl Fn(NetError) -> StepError {
    move |e| StepError {
        route,
        kind: e.to_string(),
    }
}

fn expect(route: &'static str, status: u16, want: u16) -> Result<(), StepError> {
    if status == want {
        Ok(())
    } else {
        Err(StepError {
            route,
            kind: format!("status {status}"),
        })
    }
}

fn bad_body(route: &'static str) -> StepError {
    StepError {
        route,
        kind: "unexpected body".into(),
    }
}

/// Per-worker state: connections, samples, errors.
struct Worker {
    conn: Conn,
    provider: Option<Conn>,
    samples: HashMap<&'static str, Samples>,
    errors: BTreeMap<String, u64>,
    ok: u64,
    failed: u64,
    /// Whether the current operation counts (started after the warm-up).
    measuring: bool,
}

impl Worker {
    fn record(&mut self, route: &'static str, started: Instant) {
        if self.measuring {
            self.samples
                .entry(route)
                .or_default()
                .0
                .push(started.elapsed().as_nanos() as u64);
        }
    }

    async fn timed(
        &mut self,
        route: &'static str,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<crate::client::Answer, StepError> {
        let started = Instant::now();
        let answer = self
            .conn
            .request(method, path, headers, body)
            .await
            .map_err(net(route))?;
        self.record(route, started);
        Ok(answer)
    }

    async fn login(&mut self, config: &RunConfig, user: &User) -> Result<String, StepError> {
        let path = format!("/{}/login", user.name);
        let answer = match &config.first_factor {
            FirstFactor::Standalone { api_key } => {
                let bearer = format!("Bearer {api_key}");
                self.timed(
                    "login",
                    Method::POST,
                    &path,
                    &[("authorization", &bearer)],
                    None,
                )
                .await?
            }
            FirstFactor::Proxy => {
                let body = json!({"username": user.name, "password": "bench-password", "appId": "mfa-bench"});
                self.timed(
                    "login",
                    Method::POST,
                    &path,
                    &[],
                    Some(Bytes::from(body.to_string())),
                )
                .await?
            }
        };
        expect("login", answer.status, 302)?;
        mfa_token(&answer.body).ok_or_else(|| bad_body("login"))
    }

    async fn flow(&mut self, config: &RunConfig, user: &User) -> Result<(), StepError> {
        let token = self.login(config, user).await?;
        let answer = self
            .timed(
                "challenge",
                Method::POST,
                &format!("/{}/mfa/challenge", user.name),
                &[("authorization", &token)],
                None,
            )
            .await?;
        expect("challenge", answer.status, 200)?;
        let code = match config.mode {
            SmsMode::ChallengeVerify => VALID_CODE.to_string(),
            SmsMode::Single => {
                let provider = self.provider.as_mut().expect("a provider connection");
                let started = Instant::now();
                let answer = provider
                    .request(
                        Method::GET,
                        &format!("/codes/{}", encode_segment(&user.phone)),
                        &[],
                        None,
                    )
                    .await
                    .map_err(net("code"))?;
                self.record("code", started);
                expect("code", answer.status, 200)?;
                String::from_utf8(answer.body.to_vec()).map_err(|_| bad_body("code"))?
            }
        };
        let answer = self
            .timed(
                "verify",
                Method::POST,
                &format!("/{}/mfa/verify", user.name),
                &[("authorization", &token)],
                Some(Bytes::from(format!(r#"{{"code":"{code}"}}"#))),
            )
            .await?;
        expect("verify", answer.status, 200)
    }

    async fn ceiling(&mut self) -> Result<(), StepError> {
        let answer = self.timed("get", Method::GET, "/", &[], None).await?;
        expect("get", answer.status, 200)
    }
}

fn mfa_token(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .get("mfaToken")?
        .as_str()
        .filter(|t| !t.is_empty())
        .map(String::from)
}

/// Runs the scenario; the report covers the window after the warm-up.
pub async fn run(config: RunConfig) -> Report {
    let config = Arc::new(config);
    let start = Instant::now();
    let warm_end = start + config.warmup;
    let claimed = Arc::new(AtomicU64::new(0));
    let needs_users = config.scenario != Scenario::Ceiling;
    assert!(
        !needs_users || config.users.len() >= config.concurrency,
        "at least as many users as workers"
    );
    let probe_start = config.probe.clone().map(|probe| {
        tokio::spawn(async move {
            tokio::time::sleep_until(warm_end.into()).await;
            (Instant::now(), probe())
        })
    });
    let mut handles = Vec::new();
    for w in 0..config.concurrency {
        let config = config.clone();
        let claimed = claimed.clone();
        handles.push(tokio::spawn(async move {
            let mut worker = Worker {
                conn: Conn::new(
                    match config.spread.len() {
                        0 => config.target.clone(),
                        n => config.spread[w % n].clone(),
                    },
                    config.timeout,
                ),
                provider: config
                    .provider
                    .clone()
                    .map(|p| Conn::new(p, config.timeout)),
                samples: HashMap::new(),
                errors: BTreeMap::new(),
                ok: 0,
                failed: 0,
                measuring: false,
            };
            let mine: Vec<&User> = if needs_users {
                config
                    .users
                    .iter()
                    .skip(w)
                    .step_by(config.concurrency)
                    .collect()
            } else {
                Vec::new()
            };
            let mut next = 0usize;
            let mut last_end = start;
            loop {
                let started = Instant::now();
                worker.measuring = started >= warm_end;
                match config.stop {
                    Stop::Duration(d) => {
                        if started >= warm_end + d {
                            break;
                        }
                    }
                    Stop::Count(n) => {
                        if worker.measuring && claimed.fetch_add(1, Ordering::Relaxed) >= n {
                            break;
                        }
                    }
                }
                let outcome = match config.scenario {
                    Scenario::Ceiling => worker.ceiling().await,
                    Scenario::Login | Scenario::Pending => {
                        let user = mine[next % mine.len()];
                        next += 1;
                        worker.login(&config, user).await.map(|_| ())
                    }
                    Scenario::Flow => {
                        let user = mine[next % mine.len()];
                        next += 1;
                        let outcome = worker.flow(&config, user).await;
                        if outcome.is_ok() {
                            worker.record("flow", started);
                        }
                        outcome
                    }
                };
                if worker.measuring {
                    last_end = Instant::now();
                    match outcome {
                        Ok(()) => worker.ok += 1,
                        Err(e) => {
                            worker.failed += 1;
                            *worker
                                .errors
                                .entry(format!("{}: {}", e.route, e.kind))
                                .or_default() += 1;
                        }
                    }
                }
            }
            (worker, last_end)
        }));
    }
    let mut samples: HashMap<&'static str, Samples> = HashMap::new();
    let mut errors = BTreeMap::new();
    let (mut ok, mut failed) = (0, 0);
    let mut last_end = warm_end;
    for handle in handles {
        let (worker, end) = handle.await.expect("a worker");
        last_end = last_end.max(end);
        ok += worker.ok;
        failed += worker.failed;
        for (route, s) in worker.samples {
            samples.entry(route).or_default().0.extend(s.0);
        }
        for (kind, n) in worker.errors {
            *errors.entry(kind).or_default() += n;
        }
    }
    let seconds = match config.stop {
        Stop::Duration(d) => d.as_secs_f64(),
        Stop::Count(_) => last_end.saturating_duration_since(warm_end).as_secs_f64(),
    };
    let mut cpu_us_per_op = BTreeMap::new();
    let mut cpu_cores = BTreeMap::new();
    if let (Some(probe), Some(first)) = (&config.probe, probe_start) {
        let (t0, before) = first.await.expect("the probe");
        let after = probe();
        let wall = t0.elapsed().as_secs_f64();
        let ops = (ok + failed).max(1) as f64;
        for (who, b) in before {
            let used = after.get(&who).copied().unwrap_or(b) - b;
            cpu_us_per_op.insert(who.clone(), used / ops * 1e6);
            cpu_cores.insert(who, used / wall.max(1e-9));
        }
    }
    let latency = samples
        .into_iter()
        .map(|(route, mut s)| (route.to_string(), s.summary()))
        .collect();
    Report {
        scenario: format!("{:?}", config.scenario).to_lowercase(),
        target: config.target.url(),
        concurrency: config.concurrency,
        unit: if config.scenario == Scenario::Flow {
            "flows".into()
        } else {
            "requests".into()
        },
        ok,
        failed,
        seconds,
        warmup_seconds: config.warmup.as_secs_f64(),
        per_second: ok as f64 / seconds.max(1e-9),
        latency,
        errors,
        cpu_us_per_op,
        cpu_cores,
    }
}

/// Enrols `users` (activate with their phone, read the code, confirm), `concurrency` at a time.
pub async fn enrol(
    target: &Target,
    first_factor: &FirstFactor,
    mode: SmsMode,
    provider: Option<&Target>,
    users: &[User],
    concurrency: usize,
) -> Result<(), String> {
    let users = Arc::new(users.to_vec());
    let next = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..concurrency.max(1) {
        let users = users.clone();
        let next = next.clone();
        let target = target.clone();
        let provider = provider.cloned();
        let first_factor = first_factor.clone();
        handles.push(tokio::spawn(async move {
            let timeout = Duration::from_secs(10);
            let mut conn = Conn::new(target, timeout);
            let mut provider = provider.map(|p| Conn::new(p, timeout));
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(user) = users.get(i) else {
                    return Ok::<(), String>(());
                };
                enrol_one(&mut conn, provider.as_mut(), &first_factor, mode, user)
                    .await
                    .map_err(|e| format!("enrolling {}: {e}", user.name))?;
            }
        }));
    }
    for handle in handles {
        handle.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

async fn enrol_one(
    conn: &mut Conn,
    provider: Option<&mut Conn>,
    first_factor: &FirstFactor,
    mode: SmsMode,
    user: &User,
) -> Result<(), String> {
    let auth = match first_factor {
        FirstFactor::Standalone { api_key } => format!("Bearer {api_key}"),
        FirstFactor::Proxy => PERSONAL_TOKEN.to_string(),
    };
    let body = json!({"phone": user.phone});
    let answer = conn
        .request(
            Method::POST,
            &format!("/{}/mfa/activate", user.name),
            &[("authorization", &auth)],
            Some(Bytes::from(body.to_string())),
        )
        .await
        .map_err(|e| format!("activate: {e}"))?;
    if answer.status != 302 {
        return Err(format!(
            "activate answered {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ));
    }
    let token = mfa_token(&answer.body).ok_or("activate: no mfaToken")?;
    let code = match mode {
        SmsMode::ChallengeVerify => VALID_CODE.to_string(),
        SmsMode::Single => {
            let provider = provider.ok_or("single mode needs --provider (the fake provider)")?;
            let answer = provider
                .request(
                    Method::GET,
                    &format!("/codes/{}", encode_segment(&user.phone)),
                    &[],
                    None,
                )
                .await
                .map_err(|e| format!("code fetch: {e}"))?;
            if answer.status != 200 {
                return Err(format!("the fake provider has no code ({})", answer.status));
            }
            String::from_utf8_lossy(&answer.body).into_owned()
        }
    };
    let answer = conn
        .request(
            Method::POST,
            &format!("/{}/mfa/confirm", user.name),
            &[("authorization", &token)],
            Some(Bytes::from(format!(r#"{{"code":"{code}"}}"#))),
        )
        .await
        .map_err(|e| format!("confirm: {e}"))?;
    if answer.status != 200 {
        return Err(format!(
            "confirm answered {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ));
    }
    Ok(())
}
