//! Control-plane watcher: re-reads every `jwks_file` and the revocation
//! file when they change and publishes the result to the shards.
//!
//! Polls file metadata every `POLL` (portable, no inotify dependency, and
//! within the one-second bound the docs give), following the files of the
//! configuration in effect across reloads. A file that no longer parses is logged
//! and ignored: the shards keep the last good version. Must never: run on a
//! shard thread, or publish a half-read or invalid key set.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::jwk::{self, AlgSet};
use super::revoke::Revoked;
use super::{jwks, AuthConfig, AuthPolicy};
use crate::config::Compiled;
use crate::discovery::worker::Worker;
use crate::observe::log::{self, Val};

/// How often files are checked.
pub const POLL: Duration = Duration::from_millis(500);

type Stamp = Option<(SystemTime, u64)>;

fn stamp(p: &Path) -> Stamp {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Reads and parses a JWK Set file for a policy accepting `algs` (also
/// used at load time); logs each key left out as not meant for verifying.
pub fn read_jwks(path: &Path, algs: AlgSet) -> Result<Vec<jwk::Key>, String> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {file}: {e}"))?;
    let set = jwks::parse_set(&text, algs).map_err(|e| format!("{file}: {e}"))?;
    for why in &set.skipped {
        log::info(
            "jwks key skipped",
            &[("file", Val::Str(&file)), ("reason", Val::Str(why))],
        );
    }
    Ok(set.keys)
}

/// Reads and parses a revocation file (also used at load time).
pub fn read_revoked(path: &Path) -> Result<Revoked, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Revoked::parse(&text)
}

/// A watched file and its last seen stamp.
struct Watched {
    path: PathBuf,
    last: Stamp,
}

/// The files of `a` to watch: each policy's `jwks_file` (by policy index)
/// and the revocation file; a file watched before keeps its stamp, so a
/// change made while a reload compiled is still seen.
fn watched(a: &AuthConfig, before: &[Watched]) -> (Vec<(usize, Watched)>, Option<Watched>) {
    let keep = |path: &PathBuf| Watched {
        last: before
            .iter()
            .find(|w| &w.path == path)
            .map_or_else(|| stamp(path), |w| w.last),
        path: path.clone(),
    };
    let jwks = a
        .policies
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match p {
            AuthPolicy::Jwt(j) => j.jwks_file.as_ref().map(|f| (i, keep(f))),
            AuthPolicy::ApiKey(_) | AuthPolicy::Mtls(_) => None,
        })
        .collect();
    (jwks, a.revocation_file.as_ref().map(keep))
}

/// Whether `a` has any file to watch (a `jwks_file` or `[revocation] file`).
pub fn watches(a: &AuthConfig) -> bool {
    a.revocation_file.is_some()
        || a.policies.iter().any(|p| match p {
            AuthPolicy::Jwt(j) => j.jwks_file.is_some(),
            AuthPolicy::ApiKey(_) | AuthPolicy::Mtls(_) => false,
        })
}

/// Starts the watcher thread. `current` gives the configuration in
/// effect; after a reload the watcher follows the new one's files.
pub fn spawn(current: impl Fn() -> Arc<Compiled> + Send + 'static) -> std::io::Result<Worker> {
    Worker::spawn("ringway-auth-reload", move |stop| {
        let mut cfg = current();
        let (mut jwks, mut revocation) = watched(&cfg.auth, &[]);
        while !stop.wait(POLL) {
            let now = current();
            if !Arc::ptr_eq(&now, &cfg) {
                let mut before: Vec<Watched> = jwks.drain(..).map(|(_, w)| w).collect();
                before.extend(revocation.take());
                (jwks, revocation) = watched(&now.auth, &before);
                cfg = now;
            }
            let a = &cfg.auth;
            for (i, w) in jwks.iter_mut() {
                let now = stamp(&w.path);
                if now == w.last {
                    continue;
                }
                w.last = now;
                let AuthPolicy::Jwt(p) = &a.policies[*i] else {
                    continue;
                };
                match read_jwks(&w.path, p.algs) {
                    Ok(keys) => {
                        let n = keys.len() as u64;
                        p.keys.publish(keys);
                        log::info(
                            "jwks reloaded",
                            &[("policy", Val::Str(&p.name)), ("keys", Val::Num(n))],
                        );
                    }
                    Err(e) => log::warn(
                        "jwks reload failed, keeping the previous keys",
                        &[("policy", Val::Str(&p.name)), ("error", Val::Str(&e))],
                    ),
                }
            }
            if let Some(w) = revocation.as_mut() {
                let now = stamp(&w.path);
                if now != w.last {
                    w.last = now;
                    match read_revoked(&w.path) {
                        Ok(r) if r != *a.revoked.current() => a.revoked.publish(r),
                        Ok(_) => {}
                        Err(e) => log::warn(
                            "revocation file reload failed, keeping the previous list",
                            &[("error", Val::Str(&e))],
                        ),
                    }
                }
            }
        }
    })
}
