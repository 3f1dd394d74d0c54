//! TLS client sessions for `--tls` targets, on rustls with the ring provider.
//!
//! Certificates are verified against the bundled webpki roots, or only the
//! CA certificates of `--ca`; verification is skipped only when the user
//! passed `--insecure`. Session resumption is off unless `--tls-resume`, so
//! a handshake benchmark knows which kind it measures (each connection
//! reports the kind it got). It must never silently downgrade to
//! unverified TLS.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

/// Server names whose sessions one cache keeps (`--tls-resume`; each
/// connection slot has its own cache, `Dialer::with_own_sessions`).
pub const SESSION_CACHE: usize = 4;

/// Protocol versions the client offers (`--tls-version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TlsVersion {
    /// TLS 1.3 and 1.2, the server picks (rustls' default).
    #[default]
    Any,
    /// TLS 1.2 only.
    #[value(name = "1.2")]
    V12,
    /// TLS 1.3 only.
    #[value(name = "1.3")]
    V13,
}

/// How the client side of TLS is set up.
#[derive(Debug, Clone, Default)]
pub struct TlsOpts {
    /// Skip certificate verification (`--insecure`).
    pub insecure: bool,
    /// Trust only these CA certificates (`--ca`) instead of the webpki roots.
    pub ca: Option<Vec<CertificateDer<'static>>>,
    /// Keep sessions and resume them (`--tls-resume`); otherwise every
    /// handshake is a full one.
    pub resume: bool,
    /// Versions offered.
    pub version: TlsVersion,
}

/// Reads the CA certificates of `--ca` (PEM, one or more).
pub fn read_ca(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--ca {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("--ca {}: no certificate in it", path.display()));
    }
    Ok(certs)
}

/// Builds the shared client configuration.
pub fn client_config(o: &TlsOpts) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match o.version {
        TlsVersion::Any => rustls::DEFAULT_VERSIONS,
        TlsVersion::V12 => &[&rustls::version::TLS12],
        TlsVersion::V13 => &[&rustls::version::TLS13],
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .expect("ring supports TLS 1.2 and 1.3");
    let mut cfg = if o.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match &o.ca {
            Some(certs) => {
                for c in certs {
                    roots
                        .add(c.clone())
                        .map_err(|e| format!("--ca: not a usable CA certificate: {e}"))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    cfg.resumption = if o.resume {
        Resumption::in_memory_sessions(SESSION_CACHE)
    } else {
        Resumption::disabled()
    };
    Ok(Arc::new(cfg))
}

/// A TLS session over a monoio TCP stream.
pub struct TlsStream {
    tcp: TcpStream,
    tls: ClientConnection,
    rbuf: Vec<u8>,
}

impl TlsStream {
    /// Performs the handshake with `host` as SNI.
    pub async fn connect(
        tcp: TcpStream,
        cfg: Arc<ClientConfig>,
        host: &str,
    ) -> std::io::Result<TlsStream> {
        let name = ServerName::try_from(host.to_string()).map_err(std::io::Error::other)?;
        let tls = ClientConnection::new(cfg, name).map_err(std::io::Error::other)?;
        let mut s = TlsStream {
            tcp,
            tls,
            rbuf: Vec::with_capacity(16 * 1024),
        };
        while s.tls.is_handshaking() {
            s.flush().await?;
            if s.tls.is_handshaking() && s.tls.wants_read() {
                s.fill().await?;
            }
        }
        s.flush().await?;
        Ok(s)
    }

    /// True when the server resumed a session (no certificate, no signature).
    pub fn resumed(&self) -> bool {
        self.tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// What was negotiated: version, cipher suite, key exchange group.
    pub fn negotiated(&self) -> String {
        let v = self.tls.protocol_version().map(|v| format!("{v:?}"));
        let s = self
            .tls
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()));
        let g = self
            .tls
            .negotiated_key_exchange_group()
            .map(|g| format!("{:?}", g.name()));
        [v, s, g]
            .into_iter()
            // A TLS 1.2 resumption has no key exchange: "-".
            .map(|x| x.unwrap_or_else(|| "-".into()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Encrypts and sends `data`.
    pub async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.tls.writer().write_all(data)?;
        self.flush().await
    }

    /// Reads decrypted bytes into the spare capacity of `buf`; 0 means closed.
    pub async fn read(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        loop {
            let len = buf.len();
            buf.resize(buf.capacity().max(len + 4096), 0);
            let r = self.tls.reader().read(&mut buf[len..]);
            match r {
                Ok(n) => {
                    buf.truncate(len + n);
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    buf.truncate(len);
                    if self.fill().await? == 0 {
                        return Ok(0);
                    }
                    self.flush().await?;
                }
                Err(e) => {
                    buf.truncate(len);
                    return Err(e);
                }
            }
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        while self.tls.wants_write() {
            let mut out = Vec::new();
            self.tls.write_tls(&mut out)?;
            let (res, _) = self.tcp.write_all(out).await;
            res?;
        }
        Ok(())
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        let mut buf = std::mem::take(&mut self.rbuf);
        buf.clear();
        let (res, b) = self.tcp.read(buf).await;
        self.rbuf = b;
        let n = res?;
        if n == 0 {
            return Ok(0);
        }
        let mut slice = &self.rbuf[..n];
        while !slice.is_empty() {
            self.tls.read_tls(&mut slice)?;
            self.tls
                .process_new_packets()
                .map_err(std::io::Error::other)?;
        }
        Ok(n)
    }
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
