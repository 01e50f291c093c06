//! The shared configuration over a real PostgreSQL (the tests' throwaway server): two instances,
//! each with its own `platform.yml` folder and reloader, on one database.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::clock::SystemClock;
use crate::config::process_env;
use crate::metrics::Metrics;
use crate::snapshot::SharedSnapshot;

use crate::test_postgres;

const SHIPPED: &str = include_str!("../../../platform.yml");

/// One daemon's side: its folder, reloader and shared configuration.
struct Instance {
    _dir: tempfile::TempDir,
    file: PathBuf,
    snapshot: SharedSnapshot,
    reloader: Arc<Reloader>,
    shared: Arc<SharedConfig>,
    listener: JoinHandle<()>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

async fn pool() -> PgPool {
    let url = test_postgres::fresh_database().await;
    let pool = PgPool::connect(&url).await.unwrap();
    sqlx::migrate!("./migrations").run(&pool).await.unwrap();
    pool
}

/// The shipped configuration listening on `port` (and the admin port after it).
fn yaml(port: u16) -> String {
    SHIPPED
        .replace(
            "listen: 127.0.0.1:7000",
            &format!("listen: 127.0.0.1:{port}"),
        )
        .replace(
            "listen: 127.0.0.1:7001",
            &format!("listen: 127.0.0.1:{}", port + 1),
        )
}

async fn instance(pool: &PgPool, port: u16) -> Instance {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("platform.yml");
    std::fs::write(&file, yaml(port)).unwrap();
    instance_on(pool, dir, file).await
}

/// An instance on the `platform.yml` at `file` (in `dir`, or in another instance's folder).
async fn instance_on(pool: &PgPool, dir: tempfile::TempDir, file: PathBuf) -> Instance {
    let env: Arc<EnvLookup> = Arc::new(process_env);
    let snapshot = Snapshot::load(&Source::read(&file).unwrap(), &process_env).unwrap();
    let snapshot = SharedSnapshot::new(snapshot);
    let reloader = Arc::new(Reloader::new(
        file.clone(),
        snapshot.clone(),
        Metrics::new().unwrap(),
        Arc::clone(&env),
    ));
    let (shared, listener) = start(
        pool.clone(),
        Arc::clone(&reloader),
        env,
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    Instance {
        _dir: dir,
        file,
        snapshot,
        reloader,
        shared,
        listener,
    }
}

impl Instance {
    /// An admin write, as the admin API makes it: under the lock, validated, published, written,
    /// applied.
    async fn edit(
        &self,
        change: impl Fn(&str) -> String + Send + 'static,
    ) -> Result<Version, SharedError> {
        let (file, reloader, shared) = (
            self.file.clone(),
            Arc::clone(&self.reloader),
            Arc::clone(&self.shared),
        );
        tokio::task::spawn_blocking(move || {
            let _writing = reloader.lock();
            let text = change(&std::fs::read_to_string(&file).unwrap());
            let source = Source::text(text.clone(), file.parent().unwrap());
            let snapshot = Snapshot::load(&source, &process_env).unwrap();
            let v = shared.publish(&source, "tester", "PUT /api/test")?;
            std::fs::write(&file, text).unwrap();
            reloader.apply(snapshot, 0);
            Ok(v)
        })
        .await
        .unwrap()
    }

    fn runs(&self, marker: &str) -> bool {
        self.snapshot.current().source.contains(marker)
    }

    fn file_text(&self) -> String {
        std::fs::read_to_string(&self.file).unwrap()
    }
}

fn marked(marker: &'static str) -> impl Fn(&str) -> String + Send + 'static {
    move |text| format!("{text}\n# {marker}\n")
}

/// How long these tests wait for a version to reach another instance. The promise (within a
/// second) is checked with three daemons on an idle machine by `tests/api/instances`; here a
/// loaded machine (a whole test suite at once) must not make a correct change fail.
pub(crate) const PROPAGATION: Duration = Duration::from_secs(10);

/// Waits (at most `within`) until `done`; how long it took.
async fn until(within: Duration, done: impl Fn() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if done() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_instance_imports_its_file_and_the_next_runs_that_version() {
    let pool = pool().await;
    let a = instance(&pool, 7200).await;
    let b = instance(&pool, 7300).await;

    let v1 = a.shared.running().unwrap();
    assert_eq!((v1.version, v1.note.as_str()), (1, "import"));
    assert!(v1.author.starts_with("file on "), "{}", v1.author);
    assert_eq!(b.shared.running().unwrap().version, 1);
    assert_eq!(a.shared.versions(10).await.unwrap().len(), 1);
    // Each keeps its own listen address.
    assert!(b.file_text().contains("listen: 127.0.0.1:7300"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_published_on_one_instance_runs_on_the_other() {
    let pool = pool().await;
    let a = instance(&pool, 7200).await;
    let b = instance(&pool, 7300).await;

    let v2 = a.edit(marked("marker-edited-on-a")).await.unwrap();

    assert_eq!((v2.version, v2.author.as_str()), (2, "tester"));
    let took = until(PROPAGATION, || b.runs("marker-edited-on-a")).await;
    assert!(took.is_some(), "b still runs {:?}", b.shared.running());
    assert_eq!(b.shared.running().unwrap().version, 2);
    let mirrored = b.file_text();
    assert!(mirrored.contains("# marker-edited-on-a"), "{mirrored}");
    assert!(mirrored.contains("listen: 127.0.0.1:7300"), "{mirrored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_on_a_version_that_is_no_longer_the_newest_is_refused() {
    let pool = pool().await;
    let a = instance(&pool, 7200).await;
    let b = instance(&pool, 7300).await;
    // b does not hear of a's edit before its own: its listener is stopped.
    b.listener.abort();

    a.edit(marked("marker-first")).await.unwrap();
    let refused = b.edit(marked("marker-second")).await;

    assert!(
        matches!(refused, Err(SharedError::Changed { newest: 2 })),
        "{refused:?}"
    );
    assert!(!b.runs("marker-second"));
    assert_eq!(a.shared.versions(10).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_is_a_new_version_equal_to_the_old_one_and_runs_everywhere() {
    let pool = pool().await;
    let a = instance(&pool, 7200).await;
    let b = instance(&pool, 7300).await;
    a.edit(marked("marker-two")).await.unwrap();
    until(Duration::from_secs(2), || b.runs("marker-two"))
        .await
        .unwrap();

    let shared = Arc::clone(&b.shared);
    let v3 = tokio::task::spawn_blocking(move || shared.rollback(1, "ops"))
        .await
        .unwrap()
        .unwrap();

    assert_eq!((v3.version, v3.note.as_str()), (3, "rollback to 1"));
    assert!(!b.runs("marker-two"));
    until(PROPAGATION, || !a.runs("marker-two"))
        .await
        .expect("a runs the rollback");
    let history = a.shared.versions(10).await.unwrap();
    let numbers: Vec<i64> = history.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [3, 2, 1], "newest first");
    assert_eq!(history[0].source_hash, history[2].source_hash);
    assert!(a
        .shared
        .version(2)
        .await
        .unwrap()
        .yaml
        .contains("# marker-two"));
    let missing = tokio::task::spawn_blocking({
        let shared = Arc::clone(&a.shared);
        move || shared.rollback(99, "ops")
    })
    .await
    .unwrap();
    assert!(
        matches!(missing, Err(SharedError::NotFound(99))),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_part_of_a_version_and_written_on_every_host() {
    let pool = pool().await;
    let a = instance(&pool, 7200).await;
    let b = instance(&pool, 7300).await;
    let message = "Your code: {{code}} (shared)";
    let (file, reloader, shared) = (
        a.file.clone(),
        Arc::clone(&a.reloader),
        Arc::clone(&a.shared),
    );
    tokio::task::spawn_blocking(move || {
        let _writing = reloader.lock();
        let base = file.parent().unwrap();
        let mut source = Source::read(&file).unwrap();
        source.library.insert(
            "messages/sms.en.hbs",
            "templates/messages/sms.en.hbs".into(),
            message.into(),
        );
        shared
            .publish(&source, "tester", "PUT /api/templates")
            .unwrap();
        std::fs::create_dir_all(base.join("templates/messages")).unwrap();
        std::fs::write(base.join("templates/messages/sms.en.hbs"), message).unwrap();
    })
    .await
    .unwrap();

    let on_b = b
        .file
        .parent()
        .unwrap()
        .join("templates/messages/sms.en.hbs");
    until(PROPAGATION, || {
        std::fs::read_to_string(&on_b).is_ok_and(|t| t == message)
    })
    .await
    .expect("the template reaches b");
    let v = b.shared.version(2).await.unwrap();
    assert_eq!(
        v.library.get("messages/sms.en.hbs").map(String::as_str),
        Some(message)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosts_file_edited_while_it_runs_is_published_to_the_others() {
    let pool = pool().await;
    let a = instance(&pool, 7200).await;
    let b = instance(&pool, 7300).await;

    std::fs::write(&a.file, format!("{}\n# marker-by-hand\n", a.file_text())).unwrap();

    until(listen::POLL * 3, || b.runs("marker-by-hand"))
        .await
        .expect("b runs the hand edit");
    let v = b.shared.running().unwrap();
    assert!(v.author.starts_with("file on "), "{v:?}");
    assert_eq!(v.note, "edited on the host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_started_on_an_older_file_runs_the_newest_version() {
    let pool = pool().await;
    let a = instance(&pool, 7200).await;
    a.edit(marked("marker-newest")).await.unwrap();

    // The file was written before version 2 (an mtime in the past): the database wins.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("platform.yml");
    std::fs::write(&file, yaml(7400)).unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let snapshot =
        SharedSnapshot::new(Snapshot::load(&Source::read(&file).unwrap(), &process_env).unwrap());
    let reloader = Arc::new(Reloader::new(
        file.clone(),
        snapshot.clone(),
        Metrics::new().unwrap(),
        Arc::new(process_env),
    ));
    let (shared, listener) = start(
        pool.clone(),
        reloader,
        Arc::new(process_env),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    listener.abort();

    assert_eq!(shared.running().unwrap().version, 2);
    assert!(snapshot.current().source.contains("# marker-newest"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("# marker-newest") && text.contains("listen: 127.0.0.1:7400"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_while_the_database_restarted_reaches_the_other_instance() {
    let server = test_postgres::TestServer::start();
    let pool = PgPool::connect(&server.fresh_database().await)
        .await
        .unwrap();
    sqlx::migrate!("./migrations").run(&pool).await.unwrap();
    let a = instance(&pool, 7200).await;
    let b = instance(&pool, 7300).await;

    server.stop_immediate();
    server.start_again();
    a.edit(marked("marker-after-restart")).await.unwrap();

    until(listen::POLL * 3, || b.runs("marker-after-restart"))
        .await
        .expect("b hears of the edit once its listener is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_does_not_load_on_a_host_leaves_its_file_running_and_unpublished() {
    let pool = pool().await;
    let a = instance(&pool, 7200).await;
    // Valid where MFA_TEST_NOWHERE_SET is set; not on this host.
    let text = a
        .file_text()
        .replace("app_name: mfa-bridge", "app_name: ${MFA_TEST_NOWHERE_SET}");
    assert_ne!(text, a.file_text());
    version::insert(
        &pool,
        &text,
        &Default::default(),
        "x",
        "elsewhere",
        "",
        Parent::Any,
    )
    .await
    .unwrap();
    a.listener.abort();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("platform.yml");
    std::fs::write(&file, yaml(7400)).unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let f = std::fs::File::options().write(true).open(&file).unwrap();
    f.set_modified(old).unwrap();
    let snapshot =
        SharedSnapshot::new(Snapshot::load(&Source::read(&file).unwrap(), &process_env).unwrap());
    let reloader = Arc::new(Reloader::new(
        file.clone(),
        snapshot.clone(),
        Metrics::new().unwrap(),
        Arc::new(process_env),
    ));
    let env: Arc<EnvLookup> = Arc::new(process_env);
    let (shared, listener) = start(pool.clone(), reloader, env, Arc::new(SystemClock))
        .await
        .unwrap();

    tokio::time::sleep(listen::POLL * 2).await;
    listener.abort();
    assert_eq!(shared.running(), None, "version 2 does not run here");
    assert!(snapshot.current().source.contains("app_name: mfa-bridge"));
    assert_eq!(
        shared.versions(10).await.unwrap().len(),
        2,
        "the host's file was not published over the version it could not load"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_one_folder_publish_an_edit_once() {
    let pool = pool().await;
    let a = instance(&pool, 7200).await;
    let b = instance_on(&pool, tempfile::tempdir().unwrap(), a.file.clone()).await;

    a.edit(marked("marker-one-folder")).await.unwrap();

    until(PROPAGATION, || b.runs("marker-one-folder"))
        .await
        .expect("b runs the edit");
    // Long enough for each to have seen the other's copy of the file.
    tokio::time::sleep(listen::POLL * 2).await;
    let versions = a.shared.versions(10).await.unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(b.shared.running().unwrap().version, 2);
}
