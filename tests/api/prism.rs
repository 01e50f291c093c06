//! Prism (Stoplight's mock server, `@stoplight/prism-cli`, pinned in tests/conformance/) serving
//! a provider's own OpenAPI description (tests/conformance/specs/), and [`Front`], a recording
//! loopback server that a test puts between the daemon and Prism.
//!
//! Prism answers a request the description allows with the description's example (201/200) and
//! refuses one it does not allow: 422 for a missing or invalid field (body, path parameter,
//! enum), 401 without the credentials of the operation's security scheme, 415 for a content
//! type the operation does not take. It does not check formats it does not know
//! (`phone-number`) or unknown fields. It is run without `--errors`: that flag adds nothing on
//! requests (422 and 401 come without it) and turns a response that breaks its own schema into
//! a 500, which the Vonage descriptions' own example answers do (`oneOf`).
//!
//! Measured with prism-cli 5.14.2 on two cores (most of it is Node.js loading Prism: `prism
//! --version` alone takes 1.2 to 2.7 s): on an idle machine a Prism answers 1.2 to 1.4 s after
//! its start (Twilio's 1.8 MB description: 1.6 to 2.4 s), four started at once all answer
//! within 3.8 to 5.2 s; while other builds and tests load the machine, 2.2 to 4.3 s alone and
//! 9 to 13 s for four at once. `-p 0` works: Prism listens on a free port and prints it
//! (`Prism is listening on http://127.0.0.1:PORT`), so there is no port to guess and no start
//! to retry.
//!
//! Each description's Prism is started once per test binary ([`Prism::shared`]): the first
//! test that needs one starts at once all those the run needs (all four unless the run is
//! filtered), and each test waits for its own. A Prism runs under a small `sh` watchdog whose
//! standard input is a pipe from this process: when the pipe closes (the [`Prism`] is dropped,
//! or the test binary exits, however it ends) the watchdog stops Prism, so no `node` process
//! outlives the tests.
//!
//! Nothing here leaves 127.0.0.1: Prism listens on loopback and is sent nothing but the daemon's
//! requests. (Vonage's SMS description declares a delivery-receipt callback to the URL of a
//! request's `callback` field: a request with such a field would make Prism call it. The presets
//! send none.)

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::{mpsc, Arc, Mutex, OnceLock, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Router,
};
use regex::Regex;
use serde_json::Value;

use crate::fakes::Recorded;
use crate::helpers::strip_ansi;

/// Twilio REST API 2010-04-01 (Programmable Messaging).
pub const TWILIO_API: &str = "twilio_api_v2010.json";
/// Twilio Verify v2.
pub const TWILIO_VERIFY: &str = "twilio_verify_v2.json";
/// Vonage (Nexmo) SMS API.
pub const VONAGE_SMS: &str = "vonage_sms.yml";
/// Vonage (Nexmo) Verify API v1.
pub const VONAGE_VERIFY: &str = "vonage_verify.yml";

/// The descriptions of tests/conformance/specs/, each with the preset whose conformance tests
/// use it (they are named `conformance::{preset}_...`, dashes as underscores). Other presets on
/// the same description (`twilio-whatsapp`, `twilio-verify-voice`, ...) share its Prism; a run
/// filtered to one of them alone starts it when its first test asks.
pub const SPECS: [(&str, &str); 4] = [
    (TWILIO_API, "twilio_sms"),
    (TWILIO_VERIFY, "twilio_verify"),
    (VONAGE_SMS, "vonage_sms"),
    (VONAGE_VERIFY, "vonage_verify"),
];

/// How long a Prism may take to answer after its start (up to 13 s measured for four at once on
/// a loaded two-core machine).
const START_WITHIN: Duration = Duration::from_secs(90);

const NOT_INSTALLED: &str = concat!(
    "Prism is not installed (tests/conformance/node_modules/.bin/prism is missing): ",
    "run ./scripts/test, which installs it, or: npm ci --prefix tests/conformance"
);

/// Runs Prism (`"$@"`) and stops it once the watchdog's standard input, a pipe from the test
/// binary, reaches its end; exits when Prism does, saying so. (The reader of the pipe gets it
/// as fd 3: an asynchronous command's own standard input is /dev/null.)
const WATCHDOG: &str = r#"exec 3<&0
"$@" </dev/null & prism=$!
echo "watchdog: prism pid $prism" >&2
{ read -r _ <&3 || true; kill "$prism" 2>/dev/null; } >/dev/null 2>&1 &
wait "$prism"
echo "watchdog: prism exited with status $?" >&2"#;

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// A running Prism, stopped when dropped.
pub struct Prism {
    spec: String,
    /// `http://127.0.0.1:PORT`
    origin: String,
    /// The path of the description's server URL (`/sms` for `https://rest.nexmo.com/sms`), which
    /// Prism's routes leave out; empty when the server URL has none.
    server_path: String,
    /// Everything Prism and its watchdog printed, ANSI colours removed.
    output: Arc<Mutex<Vec<String>>>,
    watchdog: Watchdog,
}

impl Prism {
    /// Starts Prism on `spec` (a file of tests/conformance/specs/) on a free loopback port and
    /// waits until it answers; panics with its output if it does not within [`START_WITHIN`].
    pub fn start(spec: &str) -> Prism {
        Starting::spawn(spec)
            .and_then(|starting| starting.wait(START_WITHIN))
            .unwrap_or_else(|problem| panic!("{problem}"))
    }

    /// The Prism of `spec` (one of [`SPECS`]) shared by the whole test binary: the first call
    /// starts at once every Prism of [`SPECS`] that the run may need (see [`needed_specs`]),
    /// each call waits until its own answers. Fails the test with Prism's output when it cannot
    /// start.
    pub async fn shared(spec: &'static str) -> &'static Prism {
        let outcome = tokio::task::spawn_blocking(move || shared_blocking(spec))
            .await
            .expect("the task that starts Prism");
        outcome.unwrap_or_else(|problem| panic!("{problem}"))
    }

    /// `http://127.0.0.1:PORT`, where Prism itself listens. Its routes are the description's
    /// paths without [`Prism::server_path`]; [`Prism::front`] serves them with it.
    pub fn base_url(&self) -> String {
        self.origin.clone()
    }

    /// The path of the description's server URL, which Prism leaves out of its routes.
    pub fn server_path(&self) -> &str {
        &self.server_path
    }

    /// What Prism has printed so far (one line per request it served, with the reasons of each
    /// refusal).
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join("\n")
    }

    /// The process id of Prism's `node` process.
    pub fn pid(&self) -> u32 {
        self.watchdog.prism_pid.unwrap_or_else(|| {
            panic!(
                "the watchdog of Prism on {} did not say its pid; output:\n{}",
                self.spec,
                self.output()
            )
        })
    }

    /// A [`Front`] to this Prism, on the caller's runtime.
    pub async fn front(&self) -> Front {
        Front::start(self).await
    }

    /// Sends `request` (e.g. one the daemon sent, from [`Front::requests`]) to Prism by hand,
    /// after `changes`: `request.path` is a path of the real API (with the server path).
    pub async fn replay(&self, request: &Recorded, changes: &[Change]) -> PrismAnswer {
        let client = forwarding_client();
        forward(
            &client,
            &self.origin,
            &self.server_path,
            request,
            &changes.iter().collect::<Vec<_>>(),
        )
        .await
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        self.watchdog.stop();
    }
}

/// The `sh` watchdog running Prism: closing `stdin` stops Prism.
struct Watchdog {
    child: Child,
    stdin: Option<ChildStdin>,
    prism_pid: Option<u32>,
}

impl Watchdog {
    /// Closes the pipe, waits (10 s at most) for the watchdog to stop Prism and exit; past
    /// that, kills both.
    fn stop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(pid) = self.prism_pid {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Prism process started, not yet known to answer.
struct Starting {
    spec: String,
    server_path: String,
    watchdog: Watchdog,
    output: Arc<Mutex<Vec<String>>>,
    /// The port from `Prism is listening on http://127.0.0.1:PORT`, and Prism's pid from the
    /// watchdog; closed when both output streams end (the process is gone).
    events: mpsc::Receiver<Event>,
    started: Instant,
}

enum Event {
    Listening(u16),
    Pid(u32),
}

impl Starting {
    fn spawn(spec: &str) -> Result<Starting, String> {
        let dir = conformance_dir();
        let prism = dir.join("node_modules/.bin/prism");
        if !prism.exists() {
            return Err(NOT_INSTALLED.to_string());
        }
        let spec_path = dir.join("specs").join(spec);
        let server_path = server_path(&spec_path)?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("prism-watchdog")
            .arg(&prism)
            .arg("mock")
            .arg(&spec_path)
            .args(["-h", "127.0.0.1", "-p", "0"])
            .current_dir(&dir)
            .env("FORCE_COLOR", "0")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not run sh to start Prism on {spec}: {e}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let output = Arc::new(Mutex::new(Vec::new()));
        let (events_tx, events) = mpsc::channel();
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("piped stdout")),
            Box::new(child.stderr.take().expect("piped stderr")),
        ];
        for stream in streams {
            let output = output.clone();
            let events_tx = events_tx.clone();
            // Reads until the process ends, so that a full pipe never blocks Prism.
            std::thread::spawn(move || read_output(stream, &output, &events_tx));
        }
        Ok(Starting {
            spec: spec.to_string(),
            server_path,
            watchdog: Watchdog {
                child,
                stdin: Some(stdin),
                prism_pid: None,
            },
            output,
            events,
            started: Instant::now(),
        })
    }

    /// Waits until Prism listens and accepts a connection, `within` its start.
    fn wait(mut self, within: Duration) -> Result<Prism, String> {
        let deadline = self.started + within;
        let mut port = None;
        while port.is_none() || self.watchdog.prism_pid.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Listening(p)) => port = Some(p),
                Ok(Event::Pid(pid)) => self.watchdog.prism_pid = Some(pid),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(self.failure(&format!("it did not listen within {within:?}")))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(self.failure("it exited before it listened"))
                }
            }
        }
        let port = port.expect("a port");
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_err() {
            if Instant::now() >= deadline {
                return Err(self.failure(&format!(
                    "port {port} did not accept a connection within {within:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "prism: {} answers on 127.0.0.1:{port}, {:.1} s after its start",
            self.spec,
            self.started.elapsed().as_secs_f64()
        );
        let Starting {
            spec,
            server_path,
            watchdog,
            output,
            ..
        } = self;
        Ok(Prism {
            spec,
            origin: format!("http://127.0.0.1:{port}"),
            server_path,
            output,
            watchdog,
        })
    }

    /// Stops the process and describes why it failed, with everything it printed.
    fn failure(mut self, why: &str) -> String {
        self.watchdog.stop();
        let output = self
            .output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join("\n");
        format!(
            "Prism on tests/conformance/specs/{}: {why}. Its output:\n{output}",
            self.spec
        )
    }
}

fn read_output(stream: impl Read, output: &Mutex<Vec<String>>, events: &mpsc::Sender<Event>) {
    let listening = Regex::new(r"listening on http://127\.0\.0\.1:(\d+)").expect("a regex");
    let pid = Regex::new(r"^watchdog: prism pid (\d+)$").expect("a regex");
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        let line = strip_ansi(&line);
        if let Some(port) = listening.captures(&line).and_then(|c| c[1].parse().ok()) {
            let _ = events.send(Event::Listening(port));
        }
        if let Some(p) = pid.captures(&line).and_then(|c| c[1].parse().ok()) {
            let _ = events.send(Event::Pid(p));
        }
        output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }
}

/// The path of the first server URL of the description at `spec_path` (`/sms` for
/// `https://rest.nexmo.com/sms`), empty when it has none.
fn server_path(spec_path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(spec_path)
        .map_err(|e| format!("cannot read {}: {e}", spec_path.display()))?;
    let description: Value = if spec_path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    } else {
        serde_yaml::from_str(&text).map_err(|e| e.to_string())
    }
    .map_err(|e| format!("{} is not a description: {e}", spec_path.display()))?;
    let url = description["servers"][0]["url"].as_str().unwrap_or("");
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    Ok(path.trim_end_matches('/').to_string())
}

enum Shared {
    Starting(Box<Starting>),
    Ready(&'static Prism),
    Failed(String),
}

/// One slot per description of [`SPECS`]; `None` until a test needs it.
static SHARED: OnceLock<HashMap<&'static str, Mutex<Option<Shared>>>> = OnceLock::new();

fn spawn_shared(spec: &str) -> Shared {
    match Starting::spawn(spec) {
        Ok(starting) => Shared::Starting(Box::new(starting)),
        Err(problem) => Shared::Failed(problem),
    }
}

/// The descriptions this run of the test binary may need: all of [`SPECS`] without a test name
/// filter; with filters, those whose preset's tests a filter may select (the filter names the
/// preset, or is a part of `conformance::{preset}_`). Only an optimisation: a Prism not
/// started here starts when a test asks for it.
fn needed_specs() -> Vec<&'static str> {
    const WITH_VALUE: [&str; 7] = [
        "--test-threads",
        "--skip",
        "--logfile",
        "--format",
        "--color",
        "--shuffle-seed",
        "-Z",
    ];
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if WITH_VALUE.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            filters.push(arg);
        }
    }
    SPECS
        .iter()
        .filter(|(_, preset)| {
            let prefix = format!("conformance::{preset}_");
            filters.is_empty()
                || filters
                    .iter()
                    .any(|f| f.contains(preset) || prefix.contains(f.as_str()))
        })
        .map(|(spec, _)| *spec)
        .collect()
}

fn shared_blocking(spec: &'static str) -> Result<&'static Prism, String> {
    let all = SHARED.get_or_init(|| {
        let needed = needed_specs();
        SPECS
            .iter()
            .map(|&(s, _)| (s, Mutex::new(needed.contains(&s).then(|| spawn_shared(s)))))
            .collect()
    });
    let slot = all
        .get(spec)
        .unwrap_or_else(|| panic!("{spec} is not one of prism::SPECS"));
    // Other tests of the same description wait here until it answers.
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    let state = slot.take().unwrap_or_else(|| spawn_shared(spec));
    let (state, outcome) = match state {
        Shared::Ready(prism) => (Shared::Ready(prism), Ok(prism)),
        Shared::Failed(problem) => (Shared::Failed(problem.clone()), Err(problem)),
        Shared::Starting(starting) => match starting.wait(START_WITHIN) {
            Ok(prism) => {
                // Never dropped: the watchdog stops it when the test binary exits.
                let prism: &'static Prism = Box::leak(Box::new(prism));
                (Shared::Ready(prism), Ok(prism))
            }
            Err(problem) => (Shared::Failed(problem.clone()), Err(problem)),
        },
    };
    *slot = Some(state);
    outcome
}

// ---------------------------------------------------------------------------------------------
// The front: what the daemon sends, as it sent it, and what Prism answered

/// A change a [`Front`] makes to a request before passing it to Prism (to prove that Prism
/// checks what it is meant to check).
#[derive(Clone, Debug)]
pub enum Change {
    /// Removes this field from an `application/x-www-form-urlencoded` body.
    RemoveFormField(&'static str),
    /// Gives this field of an `application/x-www-form-urlencoded` body this value (replacing
    /// it where it is, else adding it at the end).
    SetFormField(&'static str, &'static str),
    /// Removes this header (e.g. `authorization`).
    RemoveHeader(&'static str),
    /// Asks Prism for this named example of the description (`Prefer: example=NAME`).
    PreferExample(&'static str),
}

/// Prism's answer to one request.
#[derive(Clone, Debug)]
pub struct PrismAnswer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl PrismAnswer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Value::Null` when the body is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// One request the daemon sent through a [`Front`], and Prism's answer.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// As the daemon sent it (before any [`Change`]).
    pub request: Recorded,
    pub answer: PrismAnswer,
}

struct FrontShared {
    prism_origin: String,
    server_path: String,
    client: reqwest::Client,
    exchanges: Mutex<Vec<Exchange>>,
    /// (path as the daemon sends it, change)
    changes: Mutex<Vec<(String, Change)>>,
}

/// A loopback server on the test's runtime that passes each request to Prism (with the
/// description's server path taken off, as Prism routes without it) and Prism's answer back,
/// unchanged unless the test asked for a [`Change`]; it records both.
pub struct Front {
    addr: SocketAddr,
    shared: Arc<FrontShared>,
}

impl Front {
    async fn start(prism: &Prism) -> Front {
        let shared = Arc::new(FrontShared {
            prism_origin: prism.origin.clone(),
            server_path: prism.server_path.clone(),
            client: forwarding_client(),
            exchanges: Mutex::new(Vec::new()),
            changes: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the front on 127.0.0.1:0");
        let addr = listener.local_addr().expect("the front's address");
        let router = Router::new()
            .fallback(pass_to_prism)
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Front { addr, shared }
    }

    /// `http://127.0.0.1:PORT`: the `base_url` to give the preset.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, applies `change` to every request to `path` (a path of the real API, e.g.
    /// `/sms/json`) before Prism sees it.
    pub fn change(&self, path: &str, change: Change) {
        self.shared
            .changes
            .lock()
            .unwrap()
            .push((path.to_string(), change));
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.exchanges.lock().unwrap().clone()
    }

    /// The requests the daemon sent, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.exchanges().into_iter().map(|e| e.request).collect()
    }

    /// The last exchange; panics when there was none.
    pub fn last(&self) -> Exchange {
        self.exchanges()
            .pop()
            .expect("the daemon has sent nothing through the front")
    }
}

fn forwarding_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("build the forwarding client")
}

async fn pass_to_prism(State(shared): State<Arc<FrontShared>>, request: Request) -> Response {
    let recorded = Recorded::read(request).await;
    let changes: Vec<Change> = shared
        .changes
        .lock()
        .unwrap()
        .iter()
        .filter(|(path, _)| *path == recorded.path)
        .map(|(_, change)| change.clone())
        .collect();
    let answer = forward(
        &shared.client,
        &shared.prism_origin,
        &shared.server_path,
        &recorded,
        &changes.iter().collect::<Vec<_>>(),
    )
    .await;
    shared.exchanges.lock().unwrap().push(Exchange {
        request: recorded,
        answer: answer.clone(),
    });
    let mut response = (
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY),
        answer.body,
    )
        .into_response();
    for (name, value) in &answer.headers {
        if !is_hop_by_hop(name) {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    response
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host" | "content-length" | "connection" | "keep-alive" | "transfer-encoding" | "upgrade"
    )
}

/// Sends `request` to Prism at `origin`, its path without `server_path`, after `changes`. A
/// path outside `server_path`, or no answer, comes back as a 502 that says so.
async fn forward(
    client: &reqwest::Client,
    origin: &str,
    server_path: &str,
    request: &Recorded,
    changes: &[&Change],
) -> PrismAnswer {
    let refusal = |why: String| PrismAnswer {
        status: 502,
        headers: HeaderMap::new(),
        body: format!("{{\"front\": {}}}", Value::String(why)).into_bytes(),
    };
    let Some(path) = request
        .uri
        .strip_prefix(server_path)
        .filter(|rest| rest.starts_with('/'))
    else {
        return refusal(format!(
            "{} is not under the description's server path {server_path:?}",
            request.uri
        ));
    };
    let mut headers = request.headers.clone();
    let mut body = request.body.clone();
    for change in changes {
        match change {
            Change::RemoveFormField(field) => {
                let kept: Vec<(String, String)> = form_urlencoded::parse(&body)
                    .into_owned()
                    .filter(|(key, _)| key != field)
                    .collect();
                body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(kept)
                    .finish()
                    .into_bytes();
            }
            Change::SetFormField(field, value) => {
                let mut pairs: Vec<(String, String)> =
                    form_urlencoded::parse(&body).into_owned().collect();
                match pairs.iter_mut().find(|(key, _)| key == field) {
                    Some(pair) => pair.1 = value.to_string(),
                    None => pairs.push((field.to_string(), value.to_string())),
                }
                body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish()
                    .into_bytes();
            }
            Change::RemoveHeader(name) => {
                headers.remove(*name);
            }
            Change::PreferExample(example) => {
                headers.insert(
                    "prefer",
                    HeaderValue::from_str(&format!("example={example}")).expect("a header value"),
                );
            }
        }
    }
    let hop_by_hop: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_hop_by_hop(name))
        .cloned()
        .collect();
    for name in hop_by_hop {
        headers.remove(name);
    }
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("an HTTP method");
    let sent = client
        .request(method, format!("{origin}{path}"))
        .headers(headers)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default();
            PrismAnswer {
                status,
                headers,
                body,
            }
        }
        Err(e) => refusal(format!("Prism did not answer: {e}")),
    }
}

// ---------------------------------------------------------------------------------------------
// The harness itself

/// A dropped Prism leaves no process behind, and Prism refuses a request that breaks the
/// description (the check is live).
#[test]
fn a_prism_answers_by_the_description_and_is_gone_once_dropped() {
    let prism = Prism::start(VONAGE_SMS);
    assert_eq!(prism.server_path(), "/sms");
    let pid = prism.pid();
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "Prism runs as pid {pid}"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    // Prism routes on the description's paths without its server path (/sms): the front puts it
    // back.
    let (direct, with_server_path) = runtime.block_on(async {
        let client = forwarding_client();
        let post = |path: &str| {
            client
                .post(format!("{}{path}", prism.base_url()))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("api_key=abcd1234&api_secret=abcdef0123456789&from=AcmeInc&to=41791231212")
                .send()
        };
        let direct = post("/json").await.expect("an answer").status().as_u16();
        let with_server_path = post("/sms/json")
            .await
            .expect("an answer")
            .status()
            .as_u16();
        (direct, with_server_path)
    });
    assert_eq!((direct, with_server_path), (200, 404), "{}", prism.output());
    let missing_to = runtime.block_on(async {
        let request = Recorded {
            method: "POST".into(),
            uri: "/sms/json".into(),
            path: "/sms/json".into(),
            query: None,
            headers: HeaderMap::from_iter([(
                HeaderName::from_static("content-type"),
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )]),
            body: b"api_key=abcd1234&api_secret=abcdef0123456789&from=AcmeInc&text=hi".to_vec(),
        };
        prism.replay(&request, &[]).await
    });
    assert_eq!(
        missing_to.status,
        422,
        "Prism refuses a send without `to`: {}\n{}",
        missing_to.text(),
        prism.output()
    );
    drop(prism);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "Prism (pid {pid}) must be gone once dropped"
    );
}
