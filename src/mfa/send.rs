//! Sends: where a challenge may go, rendering it, the send limits (reserve, release), and
//! transmitting it to the provider, with what its answer holds kept for the verify endpoint.

use std::collections::BTreeMap;

use crate::config::{Channel, Endpoints, Mode};
use crate::domain::{Method, Username};
use crate::provider::{Reply, SendError};
use crate::snapshot::Snapshot;
use crate::store::SessionKey;
use crate::template::{
    with_send_id, EndpointId, OutboundRequest, RenderError, SendInput, Templates,
};

use super::dispatch::{send_record, Job, Undelivered};
use super::error::{Invalid, Messaging};
use super::method::{method_or_primary, route};
use super::state::Outstanding;
use super::{limits, secrets, FlowError, Mfa};

/// One send of a challenge, rendered.
pub(super) struct Prepared {
    pub(super) channel: Channel,
    /// `{{ send_id }}`: the stable id of this send, the same for each of its tries.
    pub(super) send_id: String,
    pub(super) username: Username,
    pub(super) user_data: BTreeMap<String, String>,
    pub(super) code: Option<String>,
}

/// Sends reserved on the send limits, to give back if nothing reached the provider.
pub(super) struct Reservation {
    at: u64,
    keys: Vec<Vec<u8>>,
}

/// A challenge ready to leave: its sends rendered and reserved on the send limits, and what
/// its session holds until it is answered.
pub(super) struct Challenge {
    pub(super) sends: Vec<Prepared>,
    pub(super) reservations: Vec<Reservation>,
    pub(super) outstanding: Outstanding,
}

impl Mfa {
    /// Prepares a challenge for the session under `key` by the method `named` (none: Pryv's
    /// format, the primary channel): a new code when its channels are in single mode (the
    /// previous one stops working), the sends rendered with it, and reserved.
    pub(super) async fn prepare_challenge(
        &self,
        snap: &Snapshot,
        named: Option<Method>,
        username: &Username,
        user_data: &BTreeMap<String, String>,
        key: &SessionKey,
        now: u64,
    ) -> Result<Challenge, FlowError> {
        let method = method_or_primary(snap, named);
        let code = self.new_code_for(snap, method, key, now)?;
        let plain = code.as_ref().map(|(c, _)| c.as_str());
        let sends = self.prepare_sends(snap, method, username, user_data, plain)?;
        let reservations = self
            .reserve_all(snap, username, user_data, &sends, now)
            .await?;
        let outstanding = match code {
            Some((_, stored)) => Outstanding::OwnCode {
                code: stored,
                method: named,
            },
            None => Outstanding::ProviderCode {
                method: named,
                captured: BTreeMap::new(),
                provider: None,
            },
        };
        Ok(Challenge {
            sends,
            reservations,
            outstanding,
        })
    }

    /// A real send of a test message by `channel` to `user_data` (the admin panel's test
    /// send), counted on the send limits. Answers the provider's reply and the request as sent.
    pub async fn test_send(
        &self,
        snap: &Snapshot,
        channel: Channel,
        user_data: &BTreeMap<String, String>,
    ) -> Result<(Reply, OutboundRequest), FlowError> {
        let username = Username::parse("admin-test-send", &snap.config.server.username_pattern)
            .ok_or_else(|| FlowError::Internal("the test-send user name is refused".into()))?;
        self.check_destinations(snap, user_data)?;
        let (cfg, _) = route(snap, channel)?;
        let code = (cfg.mode == Mode::Single).then(|| secrets::new_code(cfg.code.length));
        let send_id = secrets::new_id();
        let request = self.render_send(
            snap,
            channel,
            &username,
            user_data,
            code.as_deref(),
            &send_id,
        )?;
        let reservation = self
            .reserve_sends(snap, channel, &username, user_data, self.clock.now())
            .await?;
        // The send is counted on disk before it leaves.
        self.store.flush().await?;
        let reply = self.transmit(snap, &request, reservation).await?;
        Ok((reply, request))
    }

    /// The phone numbers in `user_data` must pass `mfa.destinations`.
    pub(super) fn check_destinations(
        &self,
        snap: &Snapshot,
        user_data: &BTreeMap<String, String>,
    ) -> Result<(), FlowError> {
        let rules = &snap.config.mfa.destinations;
        for field in &snap.config.mfa.user_data.phone_fields {
            let Some(number) = user_data.get(field) else {
                continue;
            };
            if let Some(prefix) = rules.deny.iter().find(|p| number.starts_with(p.as_str())) {
                return Err(Invalid::DestinationDenied {
                    field: field.clone(),
                    prefix: prefix.clone(),
                }
                .into());
            }
            if !rules.allow.is_empty()
                && !rules.allow.iter().any(|p| number.starts_with(p.as_str()))
            {
                return Err(Invalid::DestinationNotAllowed {
                    field: field.clone(),
                    allowed: rules.allow.clone(),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Renders the single (with `code`) or challenge request of a channel for `user_data`.
    fn render_send(
        &self,
        snap: &Snapshot,
        channel: Channel,
        username: &Username,
        user_data: &BTreeMap<String, String>,
        code: Option<&str>,
        send_id: &str,
    ) -> Result<OutboundRequest, FlowError> {
        let (cfg, templates) = route(snap, channel)?;
        let (endpoint, code) = match &cfg.endpoints {
            Endpoints::Single(_) => (
                EndpointId::Single,
                Some(code.ok_or_else(|| FlowError::Internal("no code to send".into()))?),
            ),
            Endpoints::ChallengeVerify { .. } => (EndpointId::Challenge, None),
        };
        let mut vars = templates
            .vars_for(
                endpoint,
                &SendInput {
                    username: username.as_str(),
                    user_data,
                    code,
                    captured: None,
                },
            )
            .map_err(render_error)?;
        with_send_id(&mut vars, send_id);
        templates.render(endpoint, &vars).map_err(render_error)
    }

    /// The sends of a challenge by `method`: one per channel, with the one code.
    fn prepare_sends(
        &self,
        snap: &Snapshot,
        method: Method,
        username: &Username,
        user_data: &BTreeMap<String, String>,
        code: Option<&str>,
    ) -> Result<Vec<Prepared>, FlowError> {
        method
            .channels()
            .into_iter()
            .map(|channel| {
                let send_id = secrets::new_id();
                // Rendered now so that a value no provider can take is refused before anything
                // is stored or sent; each provider renders its own when tried.
                self.render_send(snap, channel, username, user_data, code, &send_id)?;
                Ok(Prepared {
                    channel,
                    send_id,
                    username: username.clone(),
                    user_data: user_data.clone(),
                    code: code.map(String::from),
                })
            })
            .collect()
    }

    /// Reserves every prepared send on the send limits; none if one is refused.
    async fn reserve_all(
        &self,
        snap: &Snapshot,
        username: &Username,
        user_data: &BTreeMap<String, String>,
        prepared: &[Prepared],
        now: u64,
    ) -> Result<Vec<Reservation>, FlowError> {
        let mut reservations = Vec::new();
        for p in prepared {
            match self
                .reserve_sends(snap, p.channel, username, user_data, now)
                .await
            {
                Ok(r) => reservations.push(r),
                Err(e) => {
                    self.release_all(&reservations).await?;
                    return Err(e);
                }
            }
        }
        Ok(reservations)
    }

    /// Reserves one send for the user and for the destination on the send limits.
    pub(super) async fn reserve_sends(
        &self,
        snap: &Snapshot,
        channel: Channel,
        username: &Username,
        user_data: &BTreeMap<String, String>,
        now: u64,
    ) -> Result<Reservation, FlowError> {
        let limits = snap.config.mfa.send_limits;
        let destination = self
            .keys
            .destination_hash(&destination_of(snap, channel, user_data));
        let buckets = [
            (
                limits::user_sends_key(username.as_str()),
                3600,
                limits.per_user_per_hour,
            ),
            (
                limits::destination_sends_key(&destination),
                86_400,
                limits.per_destination_per_day,
            ),
        ];
        let mut reservation = Reservation {
            at: now,
            keys: Vec::new(),
        };
        for (key, window, limit) in buckets {
            let mut outcome = Ok(());
            self.store
                .update_counter(&key, &mut |old| {
                    let (log, o) =
                        limits::reserve_send(limits::read_sends(old), now, window, limit);
                    outcome = o;
                    limits::write_sends(log)
                })
                .await?;
            if let Err(remaining) = outcome {
                self.release_sends(&reservation).await?;
                tracing::info!(user = %username, remaining, "send refused by the send limits");
                return Err(FlowError::TooManyAttempts { remaining });
            }
            reservation.keys.push(key);
        }
        Ok(reservation)
    }

    /// Gives back sends that never left.
    pub(super) async fn release_all(&self, reservations: &[Reservation]) -> Result<(), FlowError> {
        for r in reservations {
            self.release_sends(r).await?;
        }
        Ok(())
    }

    pub(super) async fn release_sends(&self, reservation: &Reservation) -> Result<(), FlowError> {
        for key in &reservation.keys {
            self.store
                .update_counter(key, &mut |old| {
                    limits::release_send(limits::read_sends(old), reservation.at)
                        .and_then(limits::write_sends)
                })
                .await?;
        }
        Ok(())
    }

    /// Sends a reserved request (its reservation already flushed). A send that reached the
    /// provider stays counted, even when the provider failed; one that never left is given
    /// back.
    async fn transmit(
        &self,
        snap: &Snapshot,
        request: &OutboundRequest,
        reservation: Reservation,
    ) -> Result<Reply, FlowError> {
        let sent = self
            .sender
            .send(request, snap.config.outbound.timeout, &snap.config.secrets)
            .await;
        if let Err(e) = &sent {
            if matches!(e, SendError::Connect | SendError::Outbox(_)) {
                self.release_sends(&reservation).await?;
            }
        }
        sent.map_err(send_error)
    }

    /// Delivers prepared sends (their reservations flushed) through the providers of their
    /// channels; what a challenge's answer holds (`capture`), and the provider that took it,
    /// are kept with the session for the verify. A send that reached no provider is given back
    /// to the send limits.
    pub(super) async fn deliver(
        &self,
        snap: &Snapshot,
        key: &SessionKey,
        prepared: Vec<Prepared>,
        reservations: Vec<Reservation>,
    ) -> Result<(), FlowError> {
        let channels: Vec<Channel> = prepared.iter().map(|p| p.channel).collect();
        for (p, reservation) in prepared.into_iter().zip(reservations) {
            let job = Job {
                channel: p.channel,
                send_id: &p.send_id,
                username: &p.username,
                user_data: &p.user_data,
                code: p.code.as_deref(),
                base: send_record(snap, key, &p, self.clock.now()),
            };
            match self.deliver_job(snap, &job).await {
                Ok(done) => {
                    if done.provider.config.mode == Mode::ChallengeVerify {
                        self.keep_captures(
                            snap,
                            key,
                            done.captured,
                            &done.provider.config.provider,
                        )
                        .await?;
                    }
                }
                Err(Undelivered { error, reached }) => {
                    if !reached {
                        self.release_sends(&reservation).await?;
                    }
                    match self.deliver_fallback(snap, key, &p, &channels).await {
                        Some(Ok(())) => continue,
                        Some(Err(fallback_error)) => return Err(fallback_error),
                        None => return Err(error),
                    }
                }
            }
        }
        Ok(())
    }
}

/// A send's reply must satisfy the endpoint's `success` predicate (any 2xx without one).
pub fn accepted(
    templates: &Templates,
    request: &OutboundRequest,
    reply: &Reply,
) -> Result<(), FlowError> {
    if reply.satisfies(templates.predicate(request.endpoint)) {
        Ok(())
    } else {
        tracing::warn!(endpoint = %request.endpoint, status = reply.status, "the messaging service refused the send");
        Err(provider_refused(reply.status))
    }
}

pub(super) fn provider_refused(status: u16) -> FlowError {
    FlowError::Messaging(Messaging::Refused { status })
}

/// What the per-destination send limit counts for a send by `channel`: the phone numbers
/// (SMS, voice, WhatsApp) or the addresses (email, whatever their case: `A@x.org` is
/// `a@x.org`'s mailbox), else the whole user data.
pub(super) fn destination_of(
    snap: &Snapshot,
    channel: Channel,
    user_data: &BTreeMap<String, String>,
) -> String {
    use crate::domain::Destination;
    let rules = &snap.config.mfa.user_data;
    let destinations: Vec<String> = match channel.destination() {
        Destination::Phone => rules
            .phone_fields
            .iter()
            .filter_map(|f| user_data.get(f).cloned())
            .collect(),
        Destination::Email => rules
            .email_fields
            .iter()
            .filter_map(|f| user_data.get(f).map(|a| a.to_lowercase()))
            .collect(),
    };
    if destinations.is_empty() {
        serde_json::to_string(user_data).unwrap_or_default()
    } else {
        destinations.join(",")
    }
}

pub(super) fn render_error(e: RenderError) -> FlowError {
    match e {
        RenderError::HeaderValue {
            header, variable, ..
        } => Invalid::NotForHeader { variable, header }.into(),
        RenderError::PathSegment { variable, .. } => Invalid::NotForPath { variable }.into(),
        other => FlowError::Messaging(Messaging::Render(other.to_string())),
    }
}

pub(super) fn send_error(e: SendError) -> FlowError {
    FlowError::Messaging(Messaging::Send(e.to_string()))
}
