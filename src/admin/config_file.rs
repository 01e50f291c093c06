//! `platform.yml` as the admin API edits it: read as written (`${ENV}` references kept), the
//! endpoints under `mfa.endpoints` changed, the file's text patched where the value changed
//! (comments, order and style kept elsewhere: [`crate::config::yaml_edit`]), the new text
//! validated as a reload would, the file as it stood kept as a backup beside it
//! ([`super::config_backup`]), the new text written atomically and applied. Everything here blocks
//! (file I/O, a whole configuration load): the handlers call it through
//! [`super::error::blocking`].

use std::path::Path;
use std::sync::Arc;

use serde_yaml::{Mapping, Value};

use super::author;
use super::error::AdminError;
use super::AdminState;
use super::{config_backup, files};
use crate::config::{yaml, yaml_edit};
use crate::config::{Problem, Source};
use crate::snapshot::reload::Reloader;
use crate::snapshot::Snapshot;

/// The reloader, which knows the file; none when the configuration is not a file.
pub(super) fn reloader(state: &AdminState) -> Result<&Arc<Reloader>, AdminError> {
    state.reloader.as_ref().ok_or(AdminError::NoFile)
}

/// The configuration file as written (`${ENV}` references unresolved).
pub(super) fn read_raw(path: &Path) -> Result<Value, AdminError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AdminError::Internal(format!("cannot read {}: {e}", path.display())))?;
    yaml::parse(&text).map_err(|e| {
        AdminError::Invalid(vec![Problem {
            path: "platform.yml".into(),
            message: e.to_string(),
        }])
    })
}

/// `mfa.endpoints` of a raw configuration (empty when absent).
pub(super) fn endpoints_of(raw: &Value) -> Mapping {
    raw.get("mfa")
        .and_then(|m| m.get("endpoints"))
        .and_then(|e| e.as_mapping())
        .cloned()
        .unwrap_or_default()
}

/// `value` as a mapping, made an empty one first if it is anything else.
fn mapping(value: &mut Value) -> Option<&mut Mapping> {
    if !value.is_mapping() {
        *value = Value::Mapping(Mapping::new());
    }
    value.as_mapping_mut()
}

/// Why an edit of one endpoint is refused when the node is a list of providers: writing it
/// would replace the whole list.
pub(super) const PROVIDER_LIST: &str =
    "these endpoints are a list of providers: change them in platform.yml (a reload applies it)";

/// Sets (or with `None` removes) `mfa.endpoints.{name}` in a raw configuration; the other keys
/// keep their place.
pub(super) fn set_endpoint(
    raw: &mut Value,
    name: &str,
    endpoint: Option<Value>,
) -> Result<(), AdminError> {
    if raw
        .get("mfa")
        .and_then(|m| m.get("endpoints"))
        .is_some_and(Value::is_sequence)
    {
        return Err(AdminError::BadRequest(PROVIDER_LIST.into()));
    }
    let endpoints = mapping(raw)
        .map(|root| root.entry("mfa".into()).or_insert(Value::Null))
        .and_then(mapping)
        .map(|mfa| mfa.entry("endpoints".into()).or_insert(Value::Null))
        .and_then(mapping)
        .ok_or_else(|| AdminError::Internal("mfa.endpoints could not be edited".into()))?;
    match endpoint {
        Some(e) => {
            endpoints.insert(name.into(), e);
        }
        None => {
            endpoints.remove(name);
        }
    }
    Ok(())
}

/// With a configuration shared between instances (`storage.backend: postgres`), publishes a
/// validated change as a new version before it is written here, so that every instance runs
/// it; a change made on a version that is no longer the newest is refused (409). The caller
/// holds the configuration lock, on a blocking thread.
pub(super) fn publish(state: &AdminState, source: &Source) -> Result<(), AdminError> {
    if let Some(shared) = reloader(state)?.shared_config() {
        shared.publish(source, &author::name(), &author::action())?;
    }
    Ok(())
}

/// Validates a whole new configuration as a reload would, writes it atomically, applies it.
/// The text written is the file's own with only the changed nodes rewritten; the file as it
/// stood is kept as a backup first (none when `admin.config_backups` is 0), and the oldest
/// backups beyond that bound are removed after. A text that does not change is not written
/// again. The caller holds the configuration lock since it read the file.
pub(super) fn write_config(state: &AdminState, raw: &Value) -> Result<(), AdminError> {
    let reloader = reloader(state)?;
    let path = reloader.path();
    let written = std::fs::read_to_string(path)
        .map_err(|e| AdminError::Internal(format!("cannot read {}: {e}", path.display())))?;
    let text = yaml_edit::rewrite(&written, raw).map_err(|e| {
        AdminError::Invalid(vec![Problem {
            path: "platform.yml".into(),
            message: format!("cannot be edited in place, nothing was written: {e}"),
        }])
    })?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let source = Source::text(text.clone(), base);
    let snapshot =
        Snapshot::load(&source, &*state.env).map_err(|errors| AdminError::Invalid(errors.0))?;
    let now = state.app.mfa.now();
    if text != written {
        publish(state, &source)?;
        let kept = snapshot
            .config
            .admin
            .as_ref()
            .map_or(0, |a| a.config_backups);
        if kept > 0 {
            config_backup::keep(path, now).map_err(|e| {
                AdminError::Internal(format!("keeping a backup of the configuration failed: {e}"))
            })?;
        }
        files::write_atomically(path, text.as_bytes())
            .map_err(|e| AdminError::Internal(format!("writing the configuration failed: {e}")))?;
        if let Err(e) = config_backup::prune(path, kept) {
            tracing::warn!("removing old backups of the configuration failed: {e}");
        }
    }
    reloader.apply(snapshot, now);
    Ok(())
}
