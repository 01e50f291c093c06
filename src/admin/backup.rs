//! `POST /api/backup`: every stored record, copied at one moment while the daemon serves, as
//! the backup file (JSON lines, [`crate::store::backup`]); and the client side that
//! `mfa-bridge backup` runs.
//!
//! The daemon answers with the backup rather than writing it somewhere itself: the daemon runs
//! with a read-only file system outside its data directory (the systemd unit of `deploy/`),
//! may run in a container, and an admin request must not choose a path the daemon writes to.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::AdminError;
use super::AdminState;
use crate::store::backup::{decode_backup, encode_backup, write_backup_file, BackupHeader};

/// The media type of a backup: one JSON object per line.
pub const BACKUP_MEDIA_TYPE: &str = "application/x-ndjson";

pub(super) async fn backup(State(state): State<AdminState>) -> Result<Response, AdminError> {
    let mfa = &state.app.mfa;
    // A database out of reach is a 503 `storage-unavailable`, as on every route.
    let records = mfa
        .store()
        .export()
        .await
        .map_err(|e| AdminError::Flow(e.into()))?;
    let header = BackupHeader::new(mfa.now(), mfa.key_fingerprint());
    let count = records.len();
    let body = tokio::task::spawn_blocking(move || encode_backup(&header, &records))
        .await
        .map_err(|e| AdminError::Internal(format!("backup: {e}")))?;
    tracing::info!(records = count, bytes = body.len(), "backup taken");
    Ok((
        [
            (header::CONTENT_TYPE, BACKUP_MEDIA_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

/// Why `mfa-bridge backup` did not write a backup.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("cannot reach the admin API at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the admin API at {url} answered {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{0}")]
    Backup(#[from] crate::store::backup::BackupError),
}

/// Asks the daemon whose admin API is at `admin_url` (`http://127.0.0.1:8081`) for a backup,
/// checks that it is whole, and writes it into `to` (created when missing). Answers the file
/// written and how many records it holds.
pub async fn download(
    admin_url: &str,
    token: &str,
    to: &Path,
) -> Result<(PathBuf, usize), DownloadError> {
    let url = format!("{}/api/backup", admin_url.trim_end_matches('/'));
    let unreachable = |e: reqwest::Error| DownloadError::Unreachable {
        url: url.clone(),
        reason: e.to_string(),
    };
    // Generous: a large store takes a while to copy, and nothing else waits for this.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(unreachable)?;
    let answer = client
        .post(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(unreachable)?;
    let status = answer.status();
    let body = answer.bytes().await.map_err(unreachable)?;
    if !status.is_success() {
        return Err(DownloadError::Refused {
            url,
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).chars().take(500).collect(),
        });
    }
    let (_, records) = decode_backup(&body)?;
    let path = write_backup_file(to, &body)?;
    Ok((path, records.len()))
}
