//! One send delivered through the providers of its channel: the first healthy provider (by
//! [`plan::order`], its circuit breaker admitting it) is tried; a failure of the provider (no
//! answer, a 5xx, a 429) is retried on it up to `outbound.retries` times with jittered
//! backoff (at least what `Retry-After` asks), then the send falls over to the next provider.
//! An ambiguous failure (the provider may have the request) is retried once more on the same
//! provider with the same `{{ send_id }}` before failing over, when the request carries it
//! and another provider is left, so that a provider honouring the id sends once. A request
//! the provider calls wrong (a 4xx) is not retried. Every wait and every request's time-out
//! fits in `outbound.send_deadline_ms`: a request waits at most its share of what is left
//! (the time left divided by the providers not yet tried), so a provider that hangs leaves
//! time for the next.

use std::collections::BTreeMap;

use tokio::time::Instant;

use crate::config::{Channel, Endpoints};
use crate::domain::Username;
use crate::provider::retry::{self, TryOutcome};
use crate::provider::{BreakerPolicy, Reply, SendError};
use crate::snapshot::{CompiledProvider, Snapshot};
use crate::store::{SendRecord, SendStatus};
use crate::template::{with_send_id, EndpointId, OutboundRequest, SendInput};

use super::super::error::Messaging;
use super::super::send::{provider_refused, render_error, send_error};
use super::super::{FlowError, Mfa};
use super::event::send_event;
use super::log::TryRecord;
use super::plan;

/// One send of a challenge on one channel.
pub(in crate::mfa) struct Job<'a> {
    pub channel: Channel,
    /// `{{ send_id }}`: the same on every try, whatever the provider.
    pub send_id: &'a str,
    pub username: &'a Username,
    pub user_data: &'a BTreeMap<String, String>,
    /// The code (single mode).
    pub code: Option<&'a str>,
    /// The message log's record of the send before its first try: user, challenge, channel,
    /// masked destination.
    pub base: SendRecord,
}

/// A send a provider accepted.
pub(in crate::mfa) struct Delivered<'s> {
    pub provider: &'s CompiledProvider,
    /// What its answer held for the verify endpoint (`capture`).
    pub captured: BTreeMap<String, String>,
}

/// A send no provider accepted.
pub(in crate::mfa) struct Undelivered {
    pub error: FlowError,
    /// Whether any try may have reached a provider (else the send limits give it back).
    pub reached: bool,
}

/// How the tries of one provider ended.
enum Step {
    Done(BTreeMap<String, String>),
    /// Another provider would not do better (the request is wrong, or the user's data).
    Stop(FlowError),
    /// Fall over to the next provider.
    Next(FlowError),
}

/// What the tries of one send share.
struct Run<'j> {
    job: &'j Job<'j>,
    deadline: Instant,
    policy: BreakerPolicy,
    attempt: u32,
    reached: bool,
}

impl Mfa {
    /// Delivers `job` through its channel's providers (see the module's description).
    pub(in crate::mfa) async fn deliver_job<'s>(
        &self,
        snap: &'s Snapshot,
        job: &Job<'_>,
    ) -> Result<Delivered<'s>, Undelivered> {
        self.deliver_among(snap, job, plan::order(snap.providers_of(job.channel)))
            .await
    }

    /// Delivers `job` through `order`, providers of its channel in the order they are tried
    /// (all of them for a new send; those not tried yet for a re-send). The tries are
    /// numbered on from `job.base.attempt`.
    pub(in crate::mfa) async fn deliver_among<'s>(
        &self,
        snap: &'s Snapshot,
        job: &Job<'_>,
        order: Vec<&'s CompiledProvider>,
    ) -> Result<Delivered<'s>, Undelivered> {
        let out = &snap.config.outbound;
        let mut run = Run {
            job,
            deadline: Instant::now() + out.send_deadline,
            policy: BreakerPolicy {
                failures: out.breaker_failures,
                cooldown_seconds: out.breaker_cooldown_seconds,
            },
            attempt: job.base.attempt,
            reached: false,
        };
        let breakers = self.sender.breakers();
        let mut last = FlowError::InvalidParameter(super::super::Invalid::ChannelNotConfigured {
            channel: job.channel,
        });
        let mut skipped = Vec::new();
        let mut tried = 0;
        for (i, provider) in order.iter().enumerate() {
            let name = provider.config.provider.as_str();
            if !breakers.admit(name, self.clock.now()) {
                tracing::debug!(provider = name, "skipped: its circuit breaker is open");
                skipped.push(*provider);
                continue;
            }
            tried += 1;
            match self
                .try_provider(snap, &mut run, provider, order.len() - i)
                .await
            {
                Step::Done(captured) => return Ok(Delivered { provider, captured }),
                Step::Stop(error) => return Err(self.undelivered(error, &run)),
                Step::Next(error) => last = error,
            }
        }
        if tried == 0 {
            // Every provider's breaker is open: the one opened least recently is tried.
            let names: Vec<&str> = skipped.iter().map(|p| p.config.provider.as_str()).collect();
            let forced = breakers
                .least_recently_opened(&names)
                .and_then(|name| skipped.iter().find(|p| p.config.provider == name));
            if let Some(provider) = forced {
                breakers.force(&provider.config.provider);
                match self.try_provider(snap, &mut run, provider, 1).await {
                    Step::Done(captured) => return Ok(Delivered { provider, captured }),
                    Step::Stop(error) | Step::Next(error) => last = error,
                }
            }
        }
        Err(self.undelivered(last, &run))
    }

    fn undelivered(&self, error: FlowError, run: &Run<'_>) -> Undelivered {
        tracing::warn!(send_id = %run.job.send_id, attempts = run.attempt, "no provider took the send");
        Undelivered {
            error,
            reached: run.reached,
        }
    }

    /// The tries of one provider: the first, and the retries its failures allow.
    async fn try_provider(
        &self,
        snap: &Snapshot,
        run: &mut Run<'_>,
        provider: &CompiledProvider,
        providers_left: usize,
    ) -> Step {
        let out = &snap.config.outbound;
        let name = provider.config.provider.as_str();
        let request = match self.render_for(provider, run.job) {
            Ok(r) => r,
            Err(e) => return Step::Stop(e),
        };
        let carries_send_id = provider
            .templates
            .variables(request.endpoint)
            .contains("send_id");
        let breakers = self.sender.breakers();
        let mut tries = 0u32;
        let mut ambiguous_retry_spent = false;
        loop {
            let remaining = run.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Step::Next(send_error(SendError::Timeout));
            }
            let timeout = out.timeout.min(remaining / providers_left.max(1) as u32);
            run.attempt += 1;
            tries += 1;
            let mut record =
                TryRecord::queued(&run.job.base, run.attempt, name, self.clock.now()).record;
            self.log_send(&record).await;
            let started = Instant::now();
            let result = self
                .sender
                .send(&request, timeout, &snap.config.secrets)
                .await;
            record.latency_ms = Some(started.elapsed().as_millis() as u64);
            record.updated_at = self.clock.now();
            record.http_status = result.as_ref().ok().map(|r| r.status);
            let outcome = retry::classify(&result);
            let failure = match (outcome, result) {
                (TryOutcome::Answered, Ok(reply)) => {
                    run.reached = true;
                    breakers.success(name);
                    return self.answered(snap, provider, request, reply, record).await;
                }
                (TryOutcome::Refused, Ok(reply)) => {
                    run.reached = true;
                    breakers.success(name);
                    self.finish(snap, &mut record, SendStatus::Failed, Some("refused"))
                        .await;
                    tracing::warn!(
                        provider = name,
                        status = reply.status,
                        "the messaging service refused the send"
                    );
                    return Step::Stop(provider_refused(reply.status));
                }
                (TryOutcome::Failed(f), result) => {
                    run.reached |= f.reached;
                    breakers.failure(name, self.clock.now(), run.policy);
                    self.finish(snap, &mut record, SendStatus::Failed, Some(f.class))
                        .await;
                    let error = match result {
                        Ok(reply) => provider_refused(reply.status),
                        Err(e) => send_error(e),
                    };
                    (f, error)
                }
                (_, Err(e)) => return Step::Next(send_error(e)),
            };
            let (f, error) = failure;
            let may_retry = if tries <= out.retries {
                true
            } else if f.ambiguous && carries_send_id && providers_left > 1 && !ambiguous_retry_spent
            {
                ambiguous_retry_spent = true;
                true
            } else {
                false
            };
            if !may_retry {
                return Step::Next(error);
            }
            let wait = retry::backoff(tries, out.backoff_base, out.backoff_max, f.retry_after);
            if wait >= run.deadline.saturating_duration_since(Instant::now()) {
                return Step::Next(error);
            }
            tokio::time::sleep(wait).await;
            if !breakers.admit(name, self.clock.now()) {
                return Step::Next(error);
            }
        }
    }

    /// A 2xx answer: the send is taken when it satisfies the endpoint's `success` and holds
    /// what the challenge captures.
    async fn answered(
        &self,
        snap: &Snapshot,
        provider: &CompiledProvider,
        request: OutboundRequest,
        reply: Reply,
        mut record: SendRecord,
    ) -> Step {
        if !reply.satisfies(provider.templates.predicate(request.endpoint)) {
            self.finish(snap, &mut record, SendStatus::Failed, Some("refused"))
                .await;
            tracing::warn!(provider = %provider.config.provider, status = reply.status, "the messaging service refused the send");
            return Step::Stop(provider_refused(reply.status));
        }
        let captured = match captures(provider, &reply) {
            Ok(c) => c,
            Err(e) => {
                self.finish(
                    snap,
                    &mut record,
                    SendStatus::Failed,
                    Some("capture-missing"),
                )
                .await;
                return Step::Next(e);
            }
        };
        record.provider_message_id = message_id(provider, &reply);
        self.finish(snap, &mut record, SendStatus::Sent, None).await;
        Step::Done(captured)
    }

    /// Records a try's outcome in the message log and the metrics, and queues its event
    /// (`send.sent` or `send.failed`).
    async fn finish(
        &self,
        snap: &Snapshot,
        record: &mut SendRecord,
        status: SendStatus,
        error: Option<&str>,
    ) {
        record.status = status;
        record.error = error.map(String::from);
        record.updated_at = self.clock.now();
        self.sender
            .metrics()
            .delivery_attempts
            .with_label_values(&[&record.provider, error.unwrap_or(status.as_str())])
            .inc();
        self.log_send(record).await;
        if let Some(event) = send_event(record) {
            self.emit(snap, event).await;
        }
    }

    /// The single (with the code) or challenge request of `provider` for `job`.
    fn render_for(
        &self,
        provider: &CompiledProvider,
        job: &Job<'_>,
    ) -> Result<OutboundRequest, FlowError> {
        let (endpoint, code) = match &provider.config.endpoints {
            Endpoints::Single(_) => (
                EndpointId::Single,
                Some(
                    job.code
                        .ok_or_else(|| FlowError::Internal("no code to send".into()))?,
                ),
            ),
            Endpoints::ChallengeVerify { .. } => (EndpointId::Challenge, None),
        };
        let mut vars = provider
            .templates
            .vars_for(
                endpoint,
                &SendInput {
                    username: job.username.as_str(),
                    user_data: job.user_data,
                    code,
                    captured: None,
                },
            )
            .map_err(render_error)?;
        with_send_id(&mut vars, job.send_id);
        provider
            .templates
            .render(endpoint, &vars)
            .map_err(render_error)
    }
}

/// The provider's id of the message in its answer (`message_id`), if it gave one.
fn message_id(provider: &CompiledProvider, reply: &Reply) -> Option<String> {
    let path = match &provider.config.endpoints {
        Endpoints::Single(s) => s.message_id.as_ref(),
        Endpoints::ChallengeVerify { challenge, .. } => challenge.message_id.as_ref(),
    }?;
    path.read(&reply.body)
}

/// The values a challenge endpoint's `capture` reads from its JSON answer: all of them, or the
/// provider failed.
fn captures(
    provider: &CompiledProvider,
    reply: &Reply,
) -> Result<BTreeMap<String, String>, FlowError> {
    let Endpoints::ChallengeVerify { challenge, .. } = &provider.config.endpoints else {
        return Ok(BTreeMap::new());
    };
    if challenge.capture.is_empty() {
        return Ok(BTreeMap::new());
    }
    let body: serde_json::Value = serde_json::from_slice(&reply.body)
        .map_err(|_| FlowError::Messaging(Messaging::ChallengeNotJson))?;
    let mut out = BTreeMap::new();
    for c in &challenge.capture {
        let value = match c.parsed.query(&body).first() {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            Some(v @ serde_json::Value::Number(_)) => v.to_string(),
            _ => {
                tracing::warn!(capture = %c.name, "the challenge answer lacks a captured value");
                return Err(FlowError::Messaging(Messaging::CaptureMissing {
                    name: c.name.clone(),
                    json_path: c.json_path.clone(),
                }));
            }
        };
        out.insert(c.name.clone(), value);
    }
    Ok(out)
}
