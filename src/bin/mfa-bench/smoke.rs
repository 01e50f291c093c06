//! The smoke run: a few hundred flows against the in-process fakes and a daemon it spawns
//! (standalone single, proxy challenge-verify); any error fails it. Never judges timings.

use std::{path::Path, sync::Arc, time::Duration};

use crate::{
    client::Target,
    daemon::{Daemon, Deployment, TempDir},
    fakes::Fakes,
    scenarios::{self, RunConfig, Scenario, Stop},
};

pub async fn smoke(binary: &Path, flows: u64) -> Result<(), String> {
    let fakes = Fakes::start("127.0.0.1:0", "127.0.0.1:0", 2);
    let tmp = TempDir::new("smoke").map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    for deployment in [
        Deployment::StandaloneSingle,
        Deployment::ProxyChallengeVerify,
    ] {
        let dir = tmp.path().join(deployment.name().replace(' ', "-"));
        let daemon = Daemon::start(
            binary,
            &dir,
            deployment,
            &fakes.provider_url,
            &fakes.upstream_url,
        )
        .await?;
        let outcome = smoke_one(&daemon, deployment, &fakes, flows).await;
        if let Err(problem) = &outcome {
            problems.push(format!(
                "{}: {problem}\n--- daemon log ---\n{}",
                deployment.name(),
                daemon.log()
            ));
        }
        daemon.stop().await;
    }
    println!("fakes served {} requests", fakes.served());
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

async fn smoke_one(
    daemon: &Daemon,
    deployment: Deployment,
    fakes: &Fakes,
    flows: u64,
) -> Result<(), String> {
    let target = Target::parse(&daemon.url())?;
    let provider = Target::parse(&fakes.provider_url)?;
    let users = scenarios::users(&crate::fresh_prefix(), 16);
    scenarios::enrol(
        &target,
        &deployment.first_factor(),
        deployment.mode(),
        Some(&provider),
        &users,
        4,
    )
    .await?;
    let users = Arc::new(users);
    for scenario in [Scenario::Flow, Scenario::Login] {
        let report = scenarios::run(RunConfig {
            target: target.clone(),
            spread: Vec::new(),
            scenario,
            concurrency: 8,
            stop: Stop::Count(flows),
            warmup: Duration::ZERO,
            first_factor: deployment.first_factor(),
            mode: deployment.mode(),
            provider: Some(provider.clone()),
            users: users.clone(),
            timeout: Duration::from_secs(30),
            probe: None,
        })
        .await;
        print!("{}: {}", deployment.name(), report.text());
        if report.failed > 0 || report.ok != flows {
            return Err(format!(
                "{:?}: {} ok of {flows}, {} failed: {:?}",
                scenario, report.ok, report.failed, report.errors
            ));
        }
    }
    Ok(())
}
