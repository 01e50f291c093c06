//! What every measurement of the suite shares: the daemon binary, the fakes, the temporary
//! folder; starting a daemon (enrolled or not, with extra storage settings), the run
//! configuration of a scenario against it, and the CPU probes.

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

use serde_json::Value;

use crate::{
    client::Target,
    cpu,
    daemon::{Daemon, Deployment, TempDir},
    fakes::{Fakes, CEILING_THREADS},
    scenarios::{self, Probe, RunConfig, Scenario, Stop, User},
    CLIENT_THREADS,
};

pub fn ceiling_probe() -> Probe {
    Arc::new(|| {
        let (busy, steal) = cpu::machine_cpu_seconds();
        BTreeMap::from([
            ("machine".to_string(), busy),
            ("steal".to_string(), steal),
            (
                "client".to_string(),
                cpu::threads_cpu_seconds(CLIENT_THREADS),
            ),
            (
                "ceiling".to_string(),
                cpu::threads_cpu_seconds(CEILING_THREADS),
            ),
        ])
    })
}

pub fn daemon_probe(pid: u32) -> Probe {
    cpu::process_probe("daemon", pid)
}

pub struct Ctx {
    pub binary: PathBuf,
    pub fakes: Fakes,
    pub tmp: TempDir,
    pub provider: Target,
}

impl Ctx {
    /// A daemon of `deployment` in the folder `label`, `storage` keys over the default ones.
    pub async fn daemon(
        &self,
        label: &str,
        deployment: Deployment,
        storage: Option<&Value>,
    ) -> Result<Daemon, String> {
        Daemon::start_with_storage(
            &self.binary,
            &self.tmp.path().join(label),
            deployment,
            &self.fakes.provider_url,
            &self.fakes.upstream_url,
            storage,
        )
        .await
    }

    /// [`Ctx::daemon`] with `users` fresh users enrolled.
    pub async fn enrolled(
        &self,
        label: &str,
        deployment: Deployment,
        users: usize,
        storage: Option<&Value>,
    ) -> Result<(Daemon, Arc<Vec<User>>), String> {
        let daemon = self.daemon(label, deployment, storage).await?;
        let users = scenarios::users(&crate::fresh_prefix(), users);
        scenarios::enrol(
            &Target::parse(&daemon.url())?,
            &deployment.first_factor(),
            deployment.mode(),
            Some(&self.provider),
            &users,
            16,
        )
        .await?;
        Ok((daemon, Arc::new(users)))
    }

    pub fn config(
        &self,
        daemon: &Daemon,
        scenario: Scenario,
        concurrency: usize,
        stop: Stop,
        warmup: Duration,
        users: Arc<Vec<User>>,
    ) -> Result<RunConfig, String> {
        let deployment = daemon.deployment;
        Ok(RunConfig {
            target: Target::parse(&daemon.url())?,
            spread: Vec::new(),
            scenario,
            concurrency,
            stop,
            warmup,
            first_factor: deployment.first_factor(),
            mode: deployment.mode(),
            provider: Some(self.provider.clone()),
            users,
            timeout: Duration::from_secs(10),
            probe: Some(daemon_probe(daemon.pid)),
        })
    }
}
