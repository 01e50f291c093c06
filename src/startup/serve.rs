//! The accept loop of a listener: HTTP/1 connections served by hyper with a time-out on the
//! request head, at most `max_connections` at once, and a graceful stop.
//!
//! `axum::serve` has neither bound: a peer could hold any number of sockets open, each sending
//! nothing or one header byte at a time. Here a connection needs a permit before it is accepted,
//! and hyper closes one whose head is not complete within the time-out (an idle kept-alive
//! connection included), which gives its permit back. Beyond the cap, new connections are not
//! accepted but wait in the kernel's listen backlog, rather than being closed: a real client
//! waits a little instead of failing, and is served as soon as the idle sockets ahead of it
//! time out.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// What a listener lets a peer hold.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// `server.header_timeout_ms`.
    pub header_timeout: Duration,
    /// `server.max_connections`.
    pub max_connections: usize,
}

/// How long the loop pauses after an accept error that is not about one connection (e.g. no
/// file descriptor left), so that it does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(200);

/// Serves `app` on `listener` until `stop` resolves; then accepts no more connections, lets the
/// requests under way finish (idle connections are closed at once), and returns once every
/// connection is closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(max));
    let (closing, closed) = watch::channel(());
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(stop);
    loop {
        // A permit before the accept: beyond the cap, connections wait in the backlog.
        let permit = tokio::select! {
            _ = &mut stop => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "accepting a connection failed");
                    drop(permit);
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                    }
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let mut closed = closed.clone();
        tokio::spawn(async move {
            // Held while the connection lives.
            let _permit = permit;
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = closed.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                // A peer that stalls or leaves: routine, not an error of the daemon.
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
    drop(listener);
    let _ = closing.send(());
    // Every connection holds a permit: all of them back means every connection is closed.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
    Ok(())
}

/// Errors about one connection (the peer left before it was accepted): the next accept works.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
