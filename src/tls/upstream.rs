//! TLS to upstreams: the rustls client configuration an upstream's
//! connections start from (roots, verification, client certificate,
//! session resumption), the name each connection verifies, and the reasons
//! a handshake failed, as metric labels.
//!
//! Built once per upstream when the configuration compiles (control
//! plane); every shard's connections share it through an `Arc`.
//! Owns: every rustls client setting the gateway makes, and the rule by
//! which a target's SNI and verified name are chosen. Must never: read
//! files or the environment (`config::upstream_tls` loads the PEMs), or
//! skip verification unless the configuration says so explicitly.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};

use super::fail::Shake;
use super::io::TlsStream;

/// TLS sessions each upstream's client cache keeps for resumption: pooled
/// connections reopened to the same target resume instead of a full
/// handshake.
const SESSION_CACHE: usize = 256;

/// An upstream's `tls = true` settings, compiled.
pub struct UpstreamTls {
    /// What each connection starts from.
    pub config: Arc<rustls::ClientConfig>,
    /// `sni`, or the discovered host name (`dns_name`): the name sent and
    /// verified for every target; `None`: each target's own.
    pub sni: Option<ServerName<'static>>,
    /// Static targets written as a host name, with that name.
    hosts: Box<[(SocketAddr, ServerName<'static>)]>,
    /// The keys as written, for equality, `Debug` and `GET /config`.
    pub settings: Settings,
    /// SHA-256 over the loaded PEM files: a reload after a file changed
    /// is a new upstream (new pool, new sessions), as a changed key is.
    digest: [u8; 32],
}

/// The keys of an upstream's TLS settings, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// `ca_file`; `None`: the built-in Mozilla roots (`webpki-roots`).
    pub ca_file: Option<Box<str>>,
    /// `sni`.
    pub sni: Option<Box<str>>,
    /// `tls_verify` (true unless written `false`).
    pub verify: bool,
    /// `client_cert`.
    pub client_cert: Option<Box<str>>,
    /// `client_key`: a path or an `env:`/`file:` reference, never the key.
    pub client_key: Option<Box<str>>,
}

/// What `config::upstream_tls` read from the files `Settings` name.
pub struct Material {
    /// The trust anchors' certificates (`ca_file`); empty: built-in roots.
    pub roots: Vec<CertificateDer<'static>>,
    /// The client certificate chain and its key.
    pub client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    /// Every byte read, in a fixed order, for the digest.
    pub read: Vec<u8>,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.settings.fmt(f)
    }
}

impl PartialEq for UpstreamTls {
    fn eq(&self, other: &UpstreamTls) -> bool {
        self.settings == other.settings && self.digest == other.digest
    }
}

impl UpstreamTls {
    /// Builds the client configuration; `host` is the name every target
    /// shares when no `sni` is set (a DNS-discovered upstream's `dns_name`),
    /// `hosts` the static targets written as names. `Err` is the key and
    /// what rustls refused (the client key, say).
    pub fn new(
        settings: Settings,
        material: Material,
        host: Option<&str>,
        hosts: &[(SocketAddr, &str)],
    ) -> Result<UpstreamTls, (&'static str, String)> {
        let provider = super::provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ("tls", format!("TLS versions: {e}")))?;
        let builder = if !settings.verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        } else {
            let mut roots = rustls::RootCertStore::empty();
            if material.roots.is_empty() {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            for c in material.roots {
                roots
                    .add(c)
                    .map_err(|e| ("ca_file", format!("not a usable CA certificate: {e}")))?;
            }
            builder.with_root_certificates(roots)
        };
        let mut config = match material.client {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
                (
                    "client_key",
                    format!("does not fit client_cert, or is not a supported key: {e}"),
                )
            })?,
        };
        config.alpn_protocols = vec![super::ALPN_HTTP11.to_vec()];
        config.resumption = rustls::client::Resumption::in_memory_sessions(SESSION_CACHE);
        let fixed = settings.sni.as_deref().or(host);
        let sni = match fixed {
            None => None,
            Some(n) => Some(server_name(n).map_err(|e| ("sni", e))?),
        };
        let hosts = hosts
            .iter()
            .filter_map(|&(a, h)| Some((a, server_name(h).ok()?)))
            .collect();
        let digest = ring::digest::digest(&ring::digest::SHA256, &material.read);
        let mut d = [0u8; 32];
        d.copy_from_slice(digest.as_ref());
        Ok(UpstreamTls {
            config: Arc::new(config),
            sni,
            hosts,
            settings,
            digest: d,
        })
    }

    /// The name a connection to `addr` sends as SNI and verifies the
    /// certificate against: `sni` (or the upstream's discovered host name)
    /// when there is one, else the target's host name as written, else its
    /// IP address (an IP SAN then has to match; no SNI is sent).
    pub fn name_for(&self, addr: SocketAddr) -> ServerName<'static> {
        if let Some(n) = &self.sni {
            return n.clone();
        }
        match self.hosts.iter().find(|(a, _)| *a == addr) {
            Some((_, n)) => n.clone(),
            None => ServerName::IpAddress(addr.ip().into()),
        }
    }
}

/// Runs the client side of a TLS handshake on `tcp`, as `name` (the SNI
/// sent and the name the certificate must carry). Unbounded: an upstream's
/// connect timeout covers TCP and TLS together (`upstream::pool`).
pub async fn connect(
    tcp: monoio::net::TcpStream,
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
) -> Result<TlsStream<rustls::ClientConnection>, Shake> {
    let tls = rustls::ClientConnection::new(config, name).map_err(Shake::Tls)?;
    TlsStream::start(tcp, tls).await
}

/// `name` as a rustls server name: a DNS name or an IP address.
pub fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_owned())
        .map_err(|_| format!("{name:?} is neither a DNS name nor an IP address"))
}

/// Why a TLS exchange with an upstream failed: the `reason` label of
/// `ringway_upstream_tls_failures_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsFail {
    /// The certificate is not signed by a trusted CA (`ca_file` or the
    /// built-in roots), or its chain is incomplete.
    UnknownCa = 0,
    /// The certificate is not valid for the name (`sni` or the target's).
    BadName = 1,
    /// The certificate expired or is not valid yet.
    Expired = 2,
    /// Any other certificate problem (bad signature, wrong usage, …).
    BadCertificate = 3,
    /// The upstream sent an alert: typically it refused our client
    /// certificate (or the lack of one).
    AlertReceived = 4,
    /// The upstream closed the connection mid-handshake.
    Closed = 5,
    /// Any other protocol error (not TLS, no version or cipher in common).
    Protocol = 6,
}

impl TlsFail {
    /// How many reasons there are.
    pub const COUNT: usize = 7;

    /// The label values, in index order.
    pub const LABELS: [&'static str; TlsFail::COUNT] = [
        "unknown_ca",
        "bad_name",
        "expired",
        "bad_certificate",
        "alert_received",
        "closed",
        "protocol",
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        TlsFail::LABELS[self as usize]
    }

    /// The reason rustls' error `e` stands for.
    pub fn classify(e: &Error) -> TlsFail {
        match e {
            Error::InvalidCertificate(c) => match c {
                CertificateError::UnknownIssuer => TlsFail::UnknownCa,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsFail::BadName,
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => TlsFail::Expired,
                _ => TlsFail::BadCertificate,
            },
            Error::AlertReceived(_) => TlsFail::AlertReceived,
            _ => TlsFail::Protocol,
        }
    }
}

/// `tls_verify = false`: accepts any certificate for any name (signatures
/// are still checked, so the session is encrypted, but to anyone). Only
/// ever built when the configuration says so, with a warning at load
/// (public for the test clients that must see an unmatched certificate).
#[derive(Debug)]
pub struct NoVerify(pub Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_errors_map_to_reasons() {
        let cert = |c| TlsFail::classify(&Error::InvalidCertificate(c));
        assert_eq!(cert(CertificateError::UnknownIssuer), TlsFail::UnknownCa);
        assert_eq!(cert(CertificateError::NotValidForName), TlsFail::BadName);
        assert_eq!(cert(CertificateError::Expired), TlsFail::Expired);
        assert_eq!(cert(CertificateError::NotValidYet), TlsFail::Expired);
        assert_eq!(
            cert(CertificateError::BadSignature),
            TlsFail::BadCertificate
        );
        let alert = Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        assert_eq!(TlsFail::classify(&alert), TlsFail::AlertReceived);
        assert_eq!(TlsFail::classify(&Error::DecryptError), TlsFail::Protocol);
        let mut seen = std::collections::HashSet::new();
        assert!(TlsFail::LABELS.iter().all(|l| seen.insert(*l)));
        assert_eq!(TlsFail::Protocol.as_str(), "protocol");
    }
}
