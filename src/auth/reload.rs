//! Control-plane watcher: re-reads every `jwks_file` and the revocation
//! file when they change and publishes the result to the shards.
//!
//! Polls file metadata once a second (portable, no inotify dependency, and
//! the bound is one second). A file that no longer parses is logged
//! and ignored: the shards keep the last good version. Must never: run on a
//! shard thread, or publish a half-read or invalid key set.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::jwk::{self, AlgSet};
use super::revoke::Revoked;
use super::{jwks, AuthConfig, AuthPolicy};
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

/// Starts the watcher thread when any file is configured; holds `cfg` alive.
pub fn spawn<C: Send + Sync + 'static>(
    cfg: Arc<C>,
    auth: fn(&C) -> &AuthConfig,
) -> std::io::Result<()> {
    let a = auth(&cfg);
    let mut watched: Vec<(usize, PathBuf, Stamp)> = a
        .policies
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match p {
            AuthPolicy::Jwt(j) => j.jwks_file.clone().map(|f| (i, f)),
            AuthPolicy::ApiKey(_) => None,
        })
        .map(|(i, f)| {
            let s = stamp(&f);
            (i, f, s)
        })
        .collect();
    let mut revocation = a.revocation_file.clone().map(|f| {
        let s = stamp(&f);
        (f, s)
    });
    if watched.is_empty() && revocation.is_none() {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("ringway-auth-reload".into())
        .spawn(move || loop {
            std::thread::sleep(POLL);
            let a = auth(&cfg);
            for (i, file, last) in watched.iter_mut() {
                let now = stamp(file);
                if now == *last {
                    continue;
                }
                *last = now;
                let AuthPolicy::Jwt(p) = &a.policies[*i] else {
                    continue;
                };
                match read_jwks(file, p.algs) {
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
            if let Some((file, last)) = revocation.as_mut() {
                let now = stamp(file);
                if now != *last {
                    *last = now;
                    match read_revoked(file) {
                        Ok(r) if r != *a.revoked.current() => a.revoked.publish(r),
                        Ok(_) => {}
                        Err(e) => log::warn(
                            "revocation file reload failed, keeping the previous list",
                            &[("error", Val::Str(&e))],
                        ),
                    }
                }
            }
        })
        .map(|_| ())
}
