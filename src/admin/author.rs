//! Who makes an admin change, and by which route: the admin token's name and `METHOD /path`,
//! recorded with each shared configuration version. Set for the whole request by the token
//! check ([`super::require_token`]), carried onto the blocking thread by
//! [`super::error::blocking`], read where a change is published: so the write functions the
//! handlers share need no extra argument.

use std::future::Future;

/// The token's name and the request's `METHOD /path`.
#[derive(Debug, Clone)]
pub(super) struct Author {
    pub name: String,
    pub action: String,
}

tokio::task_local! {
    static AUTHOR: Author;
}

/// Runs `request` (the rest of an admin request) as made by `author`.
pub(super) async fn scope<F: Future>(author: Author, request: F) -> F::Output {
    AUTHOR.scope(author, request).await
}

/// The author of the request under way, if any.
pub(super) fn current() -> Option<Author> {
    AUTHOR.try_with(Clone::clone).ok()
}

/// Runs `work` (on a blocking thread) as made by `author`.
pub(super) fn within<T>(author: Option<Author>, work: impl FnOnce() -> T) -> T {
    match author {
        Some(author) => AUTHOR.sync_scope(author, work),
        None => work(),
    }
}

/// The token's name, or `admin` outside a request.
pub(super) fn name() -> String {
    current().map_or_else(|| "admin".into(), |a| a.name)
}

/// The request's `METHOD /path`, or empty outside a request.
pub(super) fn action() -> String {
    current().map(|a| a.action).unwrap_or_default()
}
