//! Certificate hot swap: when a `[[tls.certificates]]` file or the
//! `client_ca` file changes, the set is read again and served from the next
//! handshake, without a configuration reload
//! (`config::reload_certificates`, `TlsSpec::swap`).
//!
//! Polls every `POLL` the certificate and key files (not `env:` keys) and
//! the client CA file of the configuration in effect, by modification time, size and a hash of
//! the bytes, as `watch` does for the configuration file. A set that fails
//! to load (a renewal half-written, a key that does not match yet) is
//! logged and the running one stays; the next change is tried again.
//! Owns: the polling thread. Must never: run on a shard, or swap in a set
//! that did not load whole.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::watch::{stamp, Stamp};
use super::Reloader;
use crate::observe::log::{self, Val};
use crate::tls::TlsSpec;

/// How often the files are looked at.
pub const POLL: Duration = Duration::from_millis(500);

/// Every file `spec` reads, stamped.
fn stamps(spec: &TlsSpec, seed: &std::collections::hash_map::RandomState) -> Vec<Stamp> {
    spec.sources
        .iter()
        .flat_map(|s| {
            let key = if s.key.starts_with("env:") {
                None
            } else {
                Some(s.key.strip_prefix("file:").unwrap_or(&s.key))
            };
            [Some(&*s.cert), key]
        })
        .flatten()
        .chain(spec.client.as_ref().map(|c| &*c.ca))
        .map(|p| stamp(Path::new(p), seed))
        .collect()
}

/// Starts the watcher; it holds the reloader weakly and ends with it.
pub fn spawn(r: &Arc<Reloader>) -> std::io::Result<()> {
    let weak: Weak<Reloader> = Arc::downgrade(r);
    let seed = std::collections::hash_map::RandomState::new();
    // The spec the stamps belong to: a configuration reload brings a new
    // one, read from the files as they are then.
    let mut seen: Option<(Arc<TlsSpec>, Vec<Stamp>)> = None;
    std::thread::Builder::new()
        .name("ringway-cert-watch".into())
        .spawn(move || loop {
            std::thread::sleep(POLL);
            let Some(r) = weak.upgrade() else { return };
            let Some(spec) = r.current().cfg.tls.clone() else {
                seen = None;
                continue;
            };
            let now = stamps(&spec, &seed);
            match &mut seen {
                Some((s, last)) if Arc::ptr_eq(s, &spec) => {
                    if now == *last {
                        continue;
                    }
                    *last = now;
                }
                _ => {
                    seen = Some((spec, now));
                    continue;
                }
            }
            match crate::config::reload_certificates(&spec) {
                Ok(()) => log::info(
                    "tls certificates reloaded",
                    &[("certificates", Val::Num(spec.sources.len() as u64))],
                ),
                Err(e) => log::warn(
                    "tls certificate reload failed, running set kept",
                    &[("error", Val::Str(&e))],
                ),
            }
        })
        .map(|_| ())
}
