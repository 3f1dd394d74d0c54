//! TLS termination: the rustls server configuration built from `[tls]`
//! (ring provider, versions, ALPN, resumption), certificate choice by SNI
//! (`sni`), and the record-layer driver over monoio sockets (`io`).
//!
//! Owns: every rustls setting the gateway makes, and the rules by which a
//! client's name picks a certificate. Must never: read files or the
//! environment (config::tls loads the PEMs), or see HTTP.

mod io;
mod sni;

use std::sync::Arc;

pub use io::{accept, HandshakeFail, TlsStream};
pub use sni::{normalise_name, CertEntry, SniResolver};

/// The one ALPN protocol announced; `h2` joins it once HTTP/2 exists.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// TLS 1.2 sessions the per-process cache keeps for session-ID resumption
/// (TLS 1.3 and TLS 1.2 clients with ticket support use stateless tickets).
const SESSION_CACHE: usize = 4096;

/// The lowest protocol version accepted (`tls.min_version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MinVersion {
    /// TLS 1.2 and 1.3.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// `[tls]`, compiled: the certificates and the rustls configuration every
/// shard's TLS listener hands to new connections.
pub struct TlsSpec {
    /// `tls.min_version`.
    pub min_version: MinVersion,
    /// The SNI table (also inside `config`), kept for `Debug`/`GET /config`.
    pub resolver: Arc<SniResolver>,
    /// What each handshake starts from.
    pub config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSpec")
            .field("min_version", &self.min_version)
            .field("certificates", &self.resolver)
            .finish()
    }
}

/// Ticket keys and the session cache.
type Resumption = (
    Arc<dyn rustls::server::ProducesTickets>,
    Arc<dyn rustls::server::StoresServerSessions>,
);

/// The process's ticket keys and session cache, made once: every
/// configuration generation shares them, so a reload that swaps
/// certificates does not turn the next handshake of every client into a
/// full one.
fn resumption() -> Result<Resumption, String> {
    static PARTS: std::sync::OnceLock<Resumption> = std::sync::OnceLock::new();
    if let Some(p) = PARTS.get() {
        return Ok(p.clone());
    }
    let ticketer =
        rustls::crypto::ring::Ticketer::new().map_err(|e| format!("TLS tickets: {e}"))?;
    let cache: Arc<dyn rustls::server::StoresServerSessions> =
        rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
    Ok(PARTS.get_or_init(|| (ticketer, cache)).clone())
}

/// The ring crypto provider: the only one the gateway uses (no aws-lc).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsSpec {
    /// Builds the rustls configuration around `resolver`.
    pub fn build(min_version: MinVersion, resolver: SniResolver) -> Result<TlsSpec, String> {
        let versions: &[&rustls::SupportedProtocolVersion] = match min_version {
            MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            MinVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let resolver = Arc::new(resolver);
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| format!("TLS versions: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        // Stateless tickets (keys rotate every 6 h) serve TLS 1.3 and ticket-
        // capable 1.2 clients without shared state; the cache serves 1.2
        // session IDs. Both are shared by the shards: touched per handshake,
        // never per request.
        let (ticketer, cache) = resumption()?;
        config.ticketer = ticketer;
        config.session_storage = cache;
        Ok(TlsSpec {
            min_version,
            resolver,
            config: Arc::new(config),
        })
    }
}
