//! The measurements of one run beside the throughput tables: many pending sessions, hot reload
//! under load, cold starts, the full flow with `durability: periodic`, the disk's fsync times.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::json;

use super::{
    ctx::Ctx,
    fsync::{self, Fsync},
    results::{PendingRun, ReloadRun, Results, What, PERIODIC, PERIODIC_C},
};
use crate::{
    cpu,
    daemon::{config_yaml, write_atomically, Deployment},
    scenarios::{self, Scenario, Stop},
};

/// `count` logins never completed (c=64, by up to 1024 users), against a fresh standalone
/// daemon: RSS before and after, and the data directory.
pub async fn pending(ctx: &Ctx, label: &str, count: u64) -> Result<PendingRun, String> {
    let started = Instant::now();
    let deployment = Deployment::StandaloneSingle;
    let users = (count as usize).clamp(64, 1024);
    let (daemon, users) = ctx.enrolled(label, deployment, users, None).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before_kib = cpu::rss_kib(daemon.pid).unwrap_or(0);
    let config = ctx.config(
        &daemon,
        Scenario::Pending,
        64,
        Stop::Count(count),
        Duration::ZERO,
        users,
    )?;
    let report = scenarios::run(config).await;
    eprint!("[pending {count}] {}", report.text());
    // Login sessions are flushed every 200 ms.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let rss_after_kib = cpu::rss_kib(daemon.pid).unwrap_or(0);
    let (dir_apparent_bytes, dir_allocated_bytes) = cpu::dir_size(&daemon.storage);
    eprintln!(
        "[pending] RSS {rss_before_kib} KiB -> {rss_after_kib} KiB; data dir {dir_apparent_bytes} bytes ({dir_allocated_bytes} allocated)"
    );
    let dir = daemon.dir.clone();
    daemon.stop().await;
    // A million sessions take gigabytes: the folder goes now, not at the end of the suite.
    let _ = std::fs::remove_dir_all(dir);
    Ok(PendingRun {
        sessions: count,
        seconds: started.elapsed().as_secs_f64(),
        report: Some(report),
        rss_before_kib,
        rss_after_kib,
        dir_apparent_bytes,
        dir_allocated_bytes,
    })
}

/// Flow load (c=16) on a fresh standalone daemon while platform.yml's single endpoint text is
/// rewritten `rewrites` times (atomic rename; the daemon hot-reloads). Then one more flow checks
/// that the last text is the one in use.
pub async fn reload(
    ctx: &Ctx,
    run: usize,
    rewrites: u32,
    warmup: Duration,
) -> Result<ReloadRun, String> {
    let deployment = Deployment::StandaloneSingle;
    let (daemon, users) = ctx
        .enrolled(&format!("r{run}-reload"), deployment, 64, None)
        .await?;
    let every = Duration::from_millis(150);
    let load = Duration::from_millis(150) * (rewrites + 4);
    let config = ctx.config(
        &daemon,
        Scenario::Flow,
        16,
        Stop::Duration(load),
        warmup,
        users.clone(),
    )?;
    let yaml_path = daemon.config_path.clone();
    let storage = daemon.storage.clone();
    let port = daemon.port;
    let provider_url = ctx.fakes.provider_url.clone();
    let upstream_url = ctx.fakes.upstream_url.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(warmup + every).await;
        for n in 1..=rewrites {
            let yaml = config_yaml(
                deployment,
                port,
                &storage,
                &provider_url,
                &upstream_url,
                Some(n),
            );
            write_atomically(&yaml_path, &yaml).map_err(|e| e.to_string())?;
            tokio::time::sleep(every).await;
        }
        Ok::<(), String>(())
    });
    let report = scenarios::run(config).await;
    writer.await.map_err(|e| e.to_string())??;
    eprint!("[reload] {}", report.text());
    // One more flow with the last text in place.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let user = &users[0];
    let check = ctx.config(
        &daemon,
        Scenario::Flow,
        1,
        Stop::Count(1),
        Duration::ZERO,
        Arc::new(vec![user.clone()]),
    )?;
    let after = scenarios::run(check).await;
    let text = ctx
        .fakes
        .provider
        .last_text(&user.phone)
        .unwrap_or_default();
    let last_revision_seen = after.ok == 1 && text.starts_with(&format!("rev {rewrites}:"));
    eprintln!("[reload] last text {text:?}; last revision in use: {last_revision_seen}");
    daemon.stop().await;
    Ok(ReloadRun {
        report: Some(report),
        rewrites,
        last_revision_seen,
    })
}

/// `count` cold starts of a standalone daemon on an empty data directory, in milliseconds.
pub async fn cold_starts(ctx: &Ctx, run: usize, count: usize) -> Result<Vec<f64>, String> {
    let mut starts = Vec::new();
    for k in 0..count.max(1) {
        let daemon = ctx
            .daemon(
                &format!("r{run}-cold{k}"),
                Deployment::StandaloneSingle,
                None,
            )
            .await?;
        starts.push(daemon.cold_start.as_secs_f64() * 1e3);
        daemon.stop().await;
    }
    eprintln!("cold starts (ms): {starts:?}");
    Ok(starts)
}

/// The full flow at c=64 on fresh daemons with `storage.durability: periodic` (standalone
/// single and proxy single), into `results`.
pub async fn periodic(
    ctx: &Ctx,
    run: usize,
    users: usize,
    duration: Duration,
    warmup: Duration,
    results: &mut Results,
) -> Result<(), String> {
    let storage = json!({"durability": "periodic"});
    for d in PERIODIC {
        let label = format!("r{run}-periodic-{}", d.name().replace(' ', "-"));
        let users = users.max(PERIODIC_C);
        let (daemon, users) = ctx.enrolled(&label, d, users, Some(&storage)).await?;
        let config = ctx.config(
            &daemon,
            Scenario::Flow,
            PERIODIC_C,
            Stop::Duration(duration),
            warmup,
            users,
        )?;
        let report = scenarios::run(config).await;
        eprint!("[{}, durability: periodic] {}", d.name(), report.text());
        results.push(What::FlowPeriodic, Some(d), PERIODIC_C, report);
        daemon.stop().await;
    }
    Ok(())
}

/// [`fsync::WRITES`] writes of 4 KiB with fsync in the temporary folder (where the daemons'
/// data directories are).
pub async fn fsync(ctx: &Ctx) -> Result<Fsync, String> {
    let dir = ctx.tmp.path().to_path_buf();
    let measured = tokio::task::spawn_blocking(move || fsync::measure(&dir, fsync::WRITES))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("fsync probe in {}: {e}", ctx.tmp.path().display()))?;
    eprintln!("[fsync] {}", measured.text());
    Ok(measured)
}
