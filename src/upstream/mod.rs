//! The first factor in proxy mode: the operator's login API and its access check, both
//! templates of `upstream:`.

use bytes::Bytes;

use crate::provider::{Reply, SendError, Sender};
use crate::snapshot::Snapshot;
use crate::template::{EndpointId, RenderError, Vars};

/// The headers of the client's request that the upstream gets to see.
#[derive(Debug, Clone, Default)]
pub struct ClientHeaders {
    pub origin: Option<String>,
    pub referer: Option<String>,
    pub content_type: Option<String>,
}

impl ClientHeaders {
    fn apply(&self, headers: &mut Vec<(String, String)>, with_content_type: bool) {
        let mut add = |name: &str, value: &Option<String>| {
            if let Some(v) = value {
                if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                    headers.push((name.to_string(), v.clone()));
                }
            }
        };
        add("origin", &self.origin);
        add("referer", &self.referer);
        if with_content_type {
            add("content-type", &self.content_type);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream could not be reached: {0}")]
    Unreachable(#[from] SendError),
    #[error("{0}")]
    Render(#[from] RenderError),
}

/// What the access check said of a token.
#[derive(Debug)]
pub enum Access {
    /// The token is accepted (e.g. a personal token).
    Granted,
    /// The upstream knows the token, but it is not accepted here (e.g. an app token).
    NotAccepted,
    /// The upstream refused the token: its answer is passed through.
    Refused(Reply),
}

/// Forwards a login body, as received, to `upstream.login`.
pub async fn login(
    snapshot: &Snapshot,
    sender: &Sender,
    username: &str,
    body: Bytes,
    client: &ClientHeaders,
) -> Result<Reply, UpstreamError> {
    let vars: Vars = [("username".to_string(), username.to_string())].into();
    let mut request = snapshot
        .templates
        .render(EndpointId::UpstreamLogin, &vars)?;
    client.apply(&mut request.headers, true);
    if !request
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        request
            .headers
            .push(("content-type".into(), "application/json".into()));
    }
    Ok(sender
        .forward(&request, body, snapshot.config.outbound.timeout)
        .await?)
}

/// Checks a token with `upstream.access_check` and its `accept` predicate.
pub async fn check_access(
    snapshot: &Snapshot,
    sender: &Sender,
    username: &str,
    token: &str,
    client: &ClientHeaders,
) -> Result<Access, UpstreamError> {
    let vars: Vars = [
        ("username".to_string(), username.to_string()),
        ("token".to_string(), token.to_string()),
    ]
    .into();
    let mut request = snapshot.templates.render(EndpointId::AccessCheck, &vars)?;
    client.apply(&mut request.headers, false);
    let reply = sender
        .send(
            &request,
            snapshot.config.outbound.timeout,
            &snapshot.config.secrets,
        )
        .await?;
    if !reply.is_success() {
        return Ok(Access::Refused(reply));
    }
    let accept = snapshot.templates.predicate(EndpointId::AccessCheck);
    Ok(if reply.satisfies(accept) {
        Access::Granted
    } else {
        Access::NotAccepted
    })
}
