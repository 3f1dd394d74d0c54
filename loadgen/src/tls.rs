//! TLS client sessions for `--tls` targets, on rustls with the ring provider.
//!
//! Certificates are verified against the bundled webpki roots; verification is
//! skipped only when the user passed `--insecure`. It must never silently
//! downgrade to unverified TLS.

use std::io::{Read, Write};
use std::sync::Arc;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

/// Builds the shared client configuration.
pub fn client_config(insecure: bool) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let cfg = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    } else {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Arc::new(cfg)
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
