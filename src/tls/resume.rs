//! Session resumption state: ticket keys and the TLS 1.2 session cache,
//! made once per process and kept across reloads, one set per
//! client-certificate policy.
//!
//! A resumed session carries the client certificate of the handshake that
//! made it, and rustls does not verify it again. Tickets made under one
//! `client_ca`/`client_auth` (or none) therefore must not open a session
//! under another: a CA removed from the bundle, or `optional` turned to
//! `required`, would otherwise still let an old ticket in. Each policy gets
//! its own keys and cache; a certificate swap that keeps the policy keeps
//! them, so it does not turn every client's next handshake into a full one.
//! Owns: that table. Must never: be read per request (one lookup per
//! configuration built).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use super::ClientAuth;

/// TLS 1.2 sessions each cache keeps for session-ID resumption (TLS 1.3
/// and TLS 1.2 clients with ticket support use stateless tickets).
const SESSION_CACHE: usize = 4096;

/// Client-certificate policies whose state is kept; past this the table
/// starts again (old tickets then make full handshakes, nothing worse).
const MAX_SCOPES: usize = 16;

/// Ticket keys and the session cache.
pub type Resumption = (
    Arc<dyn rustls::server::ProducesTickets>,
    Arc<dyn rustls::server::StoresServerSessions>,
);

/// Which resumption state a configuration uses: `None` without client
/// certificates, else a hash of `client_auth` and every root.
pub type Scope = Option<u64>;

/// The scope of a configuration with `client` (mode and roots).
pub fn scope(client: Option<&(ClientAuth, rustls::RootCertStore)>) -> Scope {
    let (auth, roots) = client?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    auth.as_str().hash(&mut h);
    for r in &roots.roots {
        r.subject.as_ref().hash(&mut h);
        r.subject_public_key_info.as_ref().hash(&mut h);
        r.name_constraints.as_ref().map(|n| n.as_ref()).hash(&mut h);
    }
    Some(h.finish())
}

/// The ticket keys and session cache of `scope`, made on first use.
pub fn resumption(scope: Scope) -> Result<Resumption, String> {
    static TABLE: OnceLock<Mutex<HashMap<Scope, Resumption>>> = OnceLock::new();
    let table = TABLE.get_or_init(Default::default);
    let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = t.get(&scope) {
        return Ok(p.clone());
    }
    if t.len() >= MAX_SCOPES {
        t.retain(|k, _| k.is_none());
    }
    let ticketer =
        rustls::crypto::ring::Ticketer::new().map_err(|e| format!("TLS tickets: {e}"))?;
    let cache: Arc<dyn rustls::server::StoresServerSessions> =
        rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
    Ok(t.entry(scope).or_insert((ticketer, cache)).clone())
}
