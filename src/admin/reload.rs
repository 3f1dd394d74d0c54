//! `POST /reload`: loads the configuration file again and publishes it
//! (`crate::reload`), answering what happened.
//!
//! Owns: the answer's JSON. Must never: report success for a file that did
//! not load, or hide a key that waits for a restart.

use serde_json::json;

use super::Refusal;
use crate::error::ErrorCode;
use crate::reload::{Reloader, Trigger};

/// Reloads now: 200 with the new generation and the keys that wait for a
/// restart, or 400 `config_invalid` with every error (`FILE:LINE: KEY: …`).
pub fn handle(r: &Reloader) -> Result<String, Refusal> {
    match r.reload(Trigger::Admin) {
        Ok(done) => {
            let restart: Vec<_> = done
                .restart_required
                .iter()
                .map(|p| json!({ "key": &*p.key, "detail": p.detail }))
                .collect();
            let body = json!({
                "generation": done.generation,
                "took_ms": done.took.as_secs_f64() * 1000.0,
                "restart_required": restart,
            });
            Ok(super::respond::pretty_json(&body))
        }
        Err(errors) => {
            let text = errors.to_string();
            let lines: Vec<&str> = text.lines().collect();
            Err(Refusal::detail(ErrorCode::ConfigInvalid, lines.join("; ")))
        }
    }
}
