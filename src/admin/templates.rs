//! `/api/templates`: the files under `templates/` beside `platform.yml` (provider presets and
//! message texts), listed, read (a compiled-in file when there is none on disk) and written.
//! A write that the configuration in force would refuse is refused before anything is written.
//!
//! Every path or body these routes refuse is the caller's mistake and answers a 4xx with a JSON
//! error saying why (a path out of `templates/`, a link, a folder, a file that is not UTF-8
//! text, a body over `admin.max_template_bytes`); only a failure of the daemon is a 5xx.

use std::path::{Path as FsPath, PathBuf};

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{json, Value as Json_};

use super::config_file::{publish, reloader};
use super::error::{blocking, AdminError};
use super::{files, AdminState};
use crate::config::{Library, Problem, Source};
use crate::snapshot::Snapshot;
use crate::template;

const TEXT: &str = "text/plain; charset=utf-8";

pub(super) async fn list_templates(
    State(state): State<AdminState>,
) -> Result<Json<Json_>, AdminError> {
    let dir = reloader(&state)?.templates_dir();
    let list = blocking(move || files::list(&dir).map_err(|e| AdminError::Internal(e.to_string())))
        .await?;
    // The compiled-in presets and messages: readable here, and replaced by a file written
    // under the same path.
    let builtin: Vec<&str> = Library::builtin_paths().collect();
    Ok(Json(json!({ "templates": list, "builtin": builtin })))
}

/// The file `path` names under `templates/`, refused if it would lead outside, or names a
/// link or a folder.
fn template_path(state: &AdminState, path: &str) -> Result<PathBuf, AdminError> {
    let dir = reloader(state)?.templates_dir();
    files::resolve(&dir, path).map_err(|refusal| {
        AdminError::BadRequest(format!(
            "Invalid template path: it must name a file under templates/, and {}.",
            refusal.explain()
        ))
    })
}

/// The `{*path}` of the route, or a 400 when it cannot be read (not UTF-8 once decoded).
fn path_param(path: Result<Path<String>, PathRejection>) -> Result<String, AdminError> {
    path.map(|Path(p)| p)
        .map_err(|e| AdminError::BadRequest(format!("Invalid template path: {}.", e.body_text())))
}

/// `admin.max_template_bytes` of the configuration in force. (Without `admin:` no request gets
/// past the token check, so the fallback is never used to serve.)
fn max_template_bytes(state: &AdminState) -> usize {
    state
        .app
        .snapshot()
        .config
        .admin
        .as_ref()
        .map_or(0, |a| a.max_template_bytes)
}

/// A template's text: UTF-8, or a 400 naming the file.
fn text_of(bytes: Vec<u8>, what: &str) -> Result<String, AdminError> {
    String::from_utf8(bytes).map_err(|_| {
        AdminError::BadRequest(format!(
            "{what} is not UTF-8 text: templates are read and written as text."
        ))
    })
}

/// Reads a template file on disk, refusing one larger than `limit` before reading it.
/// `Ok(None)` when there is none.
fn read_file(file: &FsPath, path: &str, limit: usize) -> Result<Option<String>, AdminError> {
    let meta = match std::fs::metadata(file) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AdminError::Internal(e.to_string())),
    };
    if !meta.is_file() {
        return Err(AdminError::BadRequest(format!(
            "Invalid template path: templates/{path} is not a regular file."
        )));
    }
    if meta.len() > limit as u64 {
        return Err(AdminError::TooLarge(format!(
            "templates/{path} is {} bytes, more than admin.max_template_bytes ({limit}).",
            meta.len()
        )));
    }
    let bytes = std::fs::read(file).map_err(|e| AdminError::Internal(e.to_string()))?;
    text_of(bytes, &format!("templates/{path}")).map(Some)
}

pub(super) async fn get_template(
    State(state): State<AdminState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, AdminError> {
    let path = path_param(path)?;
    let limit = max_template_bytes(&state);
    let text = blocking(move || {
        let file = template_path(&state, &path)?;
        match read_file(&file, &path, limit)? {
            Some(text) => Ok(text),
            None => match Library::builtin().get(&path) {
                Some(f) => Ok(f.text.clone()),
                None => Err(AdminError::NotFound(format!("No template file '{path}'."))),
            },
        }
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, TEXT)], text).into_response())
}

/// The body of a PUT: at most `limit` bytes (read no further), UTF-8 text.
async fn template_body(body: Body, limit: usize) -> Result<String, AdminError> {
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(AdminError::TooLarge(format!(
                "The template is larger than admin.max_template_bytes ({limit} bytes)."
            )))
        }
        Err(e) => {
            return Err(AdminError::BadRequest(format!(
                "The body could not be read: {e}."
            )))
        }
    };
    text_of(bytes.to_vec(), "The body")
}

pub(super) async fn put_template(
    State(state): State<AdminState>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Json<Json_>, AdminError> {
    let path = path_param(path)?;
    let body = template_body(body, max_template_bytes(&state)).await?;
    blocking(move || {
        let file = template_path(&state, &path)?; // Checked before anything is written: a refused template changes nothing.
        if let Err(e) = handlebars::template::Template::compile(&body) {
            return Err(AdminError::Invalid(vec![Problem {
                path: format!("templates/{path}"),
                message: template::describe_parse_error(&e),
            }]));
        }
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| AdminError::Internal(e.to_string()))?;
        }
        let reloader = reloader(&state)?;
        {
            let _writing = reloader.lock();
            // A preset or message the configuration uses is checked with it: a change that the
            // reload would refuse is refused here, and nothing is written.
            let current = state.app.snapshot();
            let base = reloader.path().parent().unwrap_or(FsPath::new("."));
            let mut source = Source::text(current.source.clone(), base);
            source
                .library
                .insert(&path, format!("templates/{path}"), body.clone());
            if let Err(errors) = Snapshot::load(&source, &*state.env) {
                return Err(AdminError::Invalid(errors.0));
            }
            // Shared between instances: published first, so every instance writes it too.
            publish(&state, &source)?;
            files::write_atomically(&file, body.as_bytes())
                .map_err(|e| AdminError::Internal(e.to_string()))?;
        }
        reloader.reload(state.app.mfa.now(), false);
        Ok(Json(json!({ "path": path })))
    })
    .await
}
