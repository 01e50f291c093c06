//! `/api/templates`: the files under `templates/` beside `platform.yml` (provider presets and
//! message texts), listed, read (a compiled-in file when there is none on disk) and written.
//! A write that the configuration in force would refuse is refused before anything is written.

use std::path::{Path as FsPath, PathBuf};

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value as Json_};

use super::config_file::reloader;
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

/// The file `path` names under `templates/`, refused if it would lead outside.
fn template_path(state: &AdminState, path: &str) -> Result<PathBuf, AdminError> {
    let dir = reloader(state)?.templates_dir();
    files::resolve(&dir, path).ok_or_else(|| {
        AdminError::BadRequest(
            "Invalid template path: it must name a file under templates/.".into(),
        )
    })
}

pub(super) async fn get_template(
    State(state): State<AdminState>,
    Path(path): Path<String>,
) -> Result<Response, AdminError> {
    let text = blocking(move || {
        let file = template_path(&state, &path)?;
        match std::fs::read_to_string(&file) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match Library::builtin().get(&path) {
                    Some(f) => Ok(f.text.clone()),
                    None => Err(AdminError::NotFound(format!("No template file '{path}'."))),
                }
            }
            Err(e) => Err(AdminError::Internal(e.to_string())),
        }
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, TEXT)], text).into_response())
}

pub(super) async fn put_template(
    State(state): State<AdminState>,
    Path(path): Path<String>,
    body: String,
) -> Result<Json<Json_>, AdminError> {
    blocking(move || {
        let file = template_path(&state, &path)?;
        // Checked before anything is written: a refused template changes nothing.
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
            files::write_atomically(&file, body.as_bytes())
                .map_err(|e| AdminError::Internal(e.to_string()))?;
        }
        reloader.reload(state.app.mfa.now(), false);
        Ok(Json(json!({ "path": path })))
    })
    .await
}
