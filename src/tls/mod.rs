//! TLS termination: the rustls server configuration built from `[tls]`
//! (ring provider, versions, ALPN, resumption), certificate choice by SNI
//! (`sni`), the record-layer driver over monoio sockets (`io`), and its
//! split into two halves for a tunnel (`split`).
//!
//! Owns: every rustls setting the gateway makes, the rules by which a
//! client's name picks a certificate, and the live certificate set a file
//! change replaces. Must never: read files or the environment (config::tls
//! loads the PEMs, at load and for reload::certs), or see HTTP.

mod io;
mod sni;
pub mod split;

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

/// One `[[tls.certificates]]` entry as configured: what a certificate
/// file change is reloaded from.
#[derive(Debug, Clone)]
pub struct CertSource {
    /// `cert`: the PEM chain file.
    pub cert: Box<str>,
    /// `key`: a path or an `env:`/`file:` reference, never the key.
    pub key: Box<str>,
    /// `names` when listed (normalised); `None`: the certificate's SANs.
    pub names: Option<Vec<Box<str>>>,
}

/// The certificates in use and the rustls configuration built on them.
pub struct Live {
    /// What each handshake starts from.
    pub config: Arc<rustls::ServerConfig>,
    /// The SNI table inside `config`, for `GET /config`.
    pub resolver: Arc<SniResolver>,
}

/// `[tls]`, compiled: the sources, and the live certificate set every
/// shard's TLS listener hands to new connections. The set is replaced when
/// the files change (`reload::certs`), without a configuration reload.
pub struct TlsSpec {
    /// `tls.min_version`.
    pub min_version: MinVersion,
    /// The certificates as configured, in order.
    pub sources: Vec<CertSource>,
    /// Index of the default certificate in `sources`.
    pub default: usize,
    live: crate::reload::publish::Published<Live>,
}

impl std::fmt::Debug for TlsSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSpec")
            .field("min_version", &self.min_version)
            .field("sources", &self.sources)
            .field("default", &self.default)
            .finish()
    }
}

impl TlsSpec {
    /// A spec serving `resolver` (built from `sources`).
    pub fn new(
        min_version: MinVersion,
        sources: Vec<CertSource>,
        default: usize,
        resolver: SniResolver,
    ) -> Result<TlsSpec, String> {
        let live = Live::build(min_version, resolver)?;
        Ok(TlsSpec {
            min_version,
            sources,
            default,
            live: crate::reload::publish::Published::new(live),
        })
    }

    /// The certificate set in use now. One short lock per handshake (the
    /// publication's mutex), never per request.
    pub fn live(&self) -> Arc<Live> {
        self.live.current()
    }

    /// Serves `resolver` from the next handshake on; handshakes in
    /// progress finish on the set they started with.
    pub fn swap(&self, resolver: SniResolver) -> Result<(), String> {
        self.live.publish(Live::build(self.min_version, resolver)?);
        Ok(())
    }
}

impl Live {
    /// Builds the rustls configuration around `resolver`.
    fn build(min_version: MinVersion, resolver: SniResolver) -> Result<Live, String> {
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
        // session IDs.
        let (ticketer, cache) = resumption()?;
        config.ticketer = ticketer;
        config.session_storage = cache;
        Ok(Live {
            config: Arc::new(config),
            resolver,
        })
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
