//! TLS termination: the rustls server configuration built from `[tls]`
//! (ring provider, versions, ALPN, resumption, client certificates),
//! certificate choice by SNI (`sni`), the record-layer driver over monoio
//! sockets (`io`, with handshake failures named in `fail`), which also
//! drives the client side of TLS to upstreams (`upstream`), its split into
//! two halves for a tunnel (`split`), and what a connection keeps about its
//! client (`peer`).
//!
//! Owns: every rustls setting the gateway makes, the rules by which a
//! client's name picks a certificate, and the live certificate set (and
//! client CA roots) a file change replaces. Must never: read files or the environment (config::tls
//! loads the PEMs, at load and for reload::certs), or see HTTP.

mod fail;
mod io;
mod peer;
mod resume;
mod sni;
pub mod split;
mod upstream;

use std::sync::Arc;

pub use fail::{HandshakeFail, Shake};
pub use io::{accept, TlsStream};
pub use peer::{ClientAuth, ClientCert, Peer, SanKind};
pub use sni::{normalise_name, CertEntry, SniResolver};
pub use upstream::{connect, server_name, Material, NoVerify, Settings, TlsFail, UpstreamTls};

/// The one ALPN protocol announced; `h2` joins it once HTTP/2 exists.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

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

/// `tls.client_ca` and `tls.client_auth`: mTLS as configured.
#[derive(Debug, Clone)]
pub struct ClientSource {
    /// `client_ca`: the PEM file of the CAs client certificates chain to.
    pub ca: Box<str>,
    /// `client_auth`.
    pub auth: ClientAuth,
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
    /// Client certificates (mTLS), if configured.
    pub client: Option<ClientSource>,
    live: crate::reload::publish::Published<Live>,
}

impl std::fmt::Debug for TlsSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSpec")
            .field("min_version", &self.min_version)
            .field("sources", &self.sources)
            .field("default", &self.default)
            .field("client", &self.client)
            .finish()
    }
}

impl TlsSpec {
    /// A spec serving `resolver` (built from `sources`), verifying client
    /// certificates against `roots` (read from `client`'s CA file).
    pub fn new(
        min_version: MinVersion,
        sources: Vec<CertSource>,
        default: usize,
        resolver: SniResolver,
        client: Option<(ClientSource, rustls::RootCertStore)>,
    ) -> Result<TlsSpec, String> {
        let (client, roots) = match client {
            Some((c, r)) => (Some(c), Some(r)),
            None => (None, None),
        };
        let verify = client.as_ref().map(|c| c.auth).zip(roots);
        let live = Live::build(min_version, resolver, verify)?;
        Ok(TlsSpec {
            min_version,
            sources,
            default,
            client,
            live: crate::reload::publish::Published::new(live),
        })
    }

    /// The certificate set in use now. One short lock per handshake (the
    /// publication's mutex), never per request.
    pub fn live(&self) -> Arc<Live> {
        self.live.current()
    }

    /// Serves `resolver` (and verifies client certificates against
    /// `roots`, read again from `client.ca`) from the next handshake on;
    /// handshakes in progress finish on the set they started with.
    pub fn swap(
        &self,
        resolver: SniResolver,
        roots: Option<rustls::RootCertStore>,
    ) -> Result<(), String> {
        let verify = self.client.as_ref().map(|c| c.auth).zip(roots);
        self.live
            .publish(Live::build(self.min_version, resolver, verify)?);
        Ok(())
    }

    /// `client_auth`, when client certificates are configured.
    pub fn client_auth(&self) -> Option<ClientAuth> {
        self.client.as_ref().map(|c| c.auth)
    }
}

impl Live {
    /// Builds the rustls configuration around `resolver`, asking for client
    /// certificates chained to the roots when `client` is set.
    fn build(
        min_version: MinVersion,
        resolver: SniResolver,
        client: Option<(ClientAuth, rustls::RootCertStore)>,
    ) -> Result<Live, String> {
        let versions: &[&rustls::SupportedProtocolVersion] = match min_version {
            MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            MinVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let resolver = Arc::new(resolver);
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| format!("TLS versions: {e}"))?;
        // Resumption state is per client-certificate policy (`resume`): a
        // session proven under other roots, or under none, never resumes.
        let scope = resume::scope(client.as_ref());
        let builder = match client {
            None => builder.with_no_client_auth(),
            Some((auth, roots)) => {
                let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider(),
                );
                let v = match auth {
                    ClientAuth::Required => v,
                    ClientAuth::Optional => v.allow_unauthenticated(),
                };
                let v = v
                    .build()
                    .map_err(|e| format!("client certificate verifier: {e}"))?;
                builder.with_client_cert_verifier(v)
            }
        };
        let mut config = builder.with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        // Stateless tickets (keys rotate every 6 h) serve TLS 1.3 and ticket-
        // capable 1.2 clients without shared state; the cache serves 1.2
        // session IDs.
        let (ticketer, cache) = resume::resumption(scope)?;
        config.ticketer = ticketer;
        config.session_storage = cache;
        Ok(Live {
            config: Arc::new(config),
            resolver,
        })
    }
}

/// The ring crypto provider: the only one the gateway uses (no aws-lc).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
