//! TLS helpers for the wire tests: a throwaway CA and leaf certificates
//! (server ones, and client ones with a subject and SANs for mTLS)
//! generated with rcgen and written as PEM files, and a blocking rustls
//! client (std `TcpStream`) that reports what was negotiated and may
//! present a client certificate.
//!
//! Must never: trust anything but the test CA, except where a test asks
//! for `Trust::Any` to see which certificate an unmatched name gets.

// Each TLS test file includes this module on its own and uses a subset of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, StreamOwned};

/// A test CA that signs leaf certificates.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

/// A leaf certificate written to disk.
pub struct Leaf {
    /// The PEM chain file (leaf, then the CA).
    pub cert: PathBuf,
    /// The PEM key file.
    pub key: PathBuf,
    /// The key's PEM text (for `env:` references).
    pub key_pem: String,
}

static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn temp(name: &str, text: &str) -> PathBuf {
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("ringway-tls-{}-{n}-{name}", std::process::id()));
    std::fs::write(&p, text).expect("write pem");
    p
}

impl TestCa {
    /// A fresh CA (ECDSA P-256).
    pub fn new() -> TestCa {
        Self::named("ringway test CA")
    }

    /// A fresh CA with the common name `cn`: one whose name differs from
    /// the CA a certificate names is an unknown issuer, not a bad signature.
    pub fn named(cn: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("ca cert");
        TestCa { cert, key }
    }

    /// The CA certificate, for a client's roots.
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// The CA certificate as a PEM file (for curl and Python).
    pub fn pem_file(&self) -> PathBuf {
        temp("ca.pem", &self.cert.pem())
    }

    /// A leaf for the DNS `names`, signed by this CA, written to disk.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).expect("leaf params");
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("sign leaf");
        let chain = format!("{}{}", cert.pem(), self.cert.pem());
        let key_pem = key.serialize_pem();
        Leaf {
            cert: temp("cert.pem", &chain),
            key: temp("key.pem", &key_pem),
            key_pem,
        }
    }

    /// A client certificate: subject `O=<org>, CN=<cn>` (RFC 4514:
    /// `CN=<cn>,O=<org>`) and SANs written `dns:`, `uri:` or `email:`.
    pub fn client(&self, org: &str, cn: &str, sans: &[&str]) -> Leaf {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, org);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let ia5 = |s: &str| rcgen::Ia5String::try_from(s).expect("ia5");
        params.subject_alt_names = sans
            .iter()
            .map(|s| match s.split_once(':') {
                Some(("dns", v)) => rcgen::SanType::DnsName(ia5(v)),
                Some(("uri", v)) => rcgen::SanType::URI(ia5(v)),
                Some(("email", v)) => rcgen::SanType::Rfc822Name(ia5(v)),
                _ => panic!("SAN {s:?}: write dns:, uri: or email:"),
            })
            .collect();
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().expect("client key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("sign client");
        let key_pem = key.serialize_pem();
        Leaf {
            cert: temp("client.pem", &cert.pem()),
            key: temp("client-key.pem", &key_pem),
            key_pem,
        }
    }
}

impl Leaf {
    /// The chain and key, for a rustls client.
    pub fn load(
        &self,
    ) -> (
        Vec<CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ) {
        use rustls::pki_types::pem::PemObject;
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .expect("open chain")
            .collect::<Result<Vec<_>, _>>()
            .expect("chain");
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&self.key).expect("key");
        (chain, key)
    }
}

/// A `[tls]` section: `min_version`, then one `[[tls.certificates]]` per
/// (leaf, extra raw keys).
pub fn tls_section(min_version: &str, certs: &[(&Leaf, &str)]) -> String {
    tls_section_with(&format!("min_version = \"{min_version}\""), certs)
}

/// A `[tls]` section with the raw `keys` (`client_ca = …`), then one
/// `[[tls.certificates]]` per (leaf, extra raw keys).
pub fn tls_section_with(keys: &str, certs: &[(&Leaf, &str)]) -> String {
    let mut out = format!("[tls]\n{keys}\n\n");
    for (leaf, extra) in certs {
        out.push_str(&format!(
            "[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n{extra}\n",
            leaf.cert.display(),
            leaf.key.display()
        ));
    }
    out
}

/// A gateway with both listeners in front of `up`, on the I/O driver `io`.
pub fn tls_gateway(
    up: &crate::common::Upstream,
    io: &str,
    header_timeout_ms: u64,
    tls: &str,
) -> crate::common::Gateway {
    let io = format!("\"{io}\"");
    let ht = header_timeout_ms.to_string();
    let mut cfg = crate::common::build(
        &[
            ("tls_listen", "\"127.0.0.1:0\""),
            ("io", &io),
            ("header_timeout_ms", &ht),
        ],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n\n\
         [[routes]]\nname = \"hsts\"\npath_prefix = \"/hsts\"\nupstream = \"u\"\n\
         security_headers = { strict-transport-security = true }\n\n",
    );
    cfg.push_str(tls);
    crate::common::Gateway::start(&cfg)
}

/// Which server certificates the client accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Only chains to the test CA, valid for the name asked for.
    Ca,
    /// Anything (to see which certificate an unmatched name gets).
    Any,
}

/// How a test client connects.
pub struct ClientOpts {
    /// Send the name as SNI.
    pub sni: bool,
    /// Protocol versions offered.
    pub versions: Vec<&'static rustls::SupportedProtocolVersion>,
    /// ALPN protocols offered.
    pub alpn: Vec<Vec<u8>>,
    /// Certificate trust.
    pub trust: Trust,
    /// The client certificate presented (chain, key), if any.
    pub client_cert: Option<(
        Vec<CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    )>,
}

impl ClientOpts {
    /// SNI on, TLS 1.2 and 1.3, ALPN http/1.1, CA trust; the name itself
    /// is given to `connect` (verified, and sent when `sni`).
    #[allow(clippy::new_without_default)]
    pub fn new() -> ClientOpts {
        ClientOpts {
            sni: true,
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
            alpn: vec![b"http/1.1".to_vec()],
            trust: Trust::Ca,
            client_cert: None,
        }
    }

    /// `new()` presenting `leaf` as the client certificate.
    pub fn with_cert(leaf: &Leaf) -> ClientOpts {
        let mut o = ClientOpts::new();
        o.client_cert = Some(leaf.load());
        o
    }
}

/// A client configuration; reuse it across connections to resume sessions.
pub fn client_config(ca: &TestCa, o: &ClientOpts) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&o.versions)
        .expect("versions");
    let mut cfg = match o.trust {
        Trust::Ca => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.der()).expect("root");
            let b = builder.with_root_certificates(roots);
            match &o.client_cert {
                None => b.with_no_client_auth(),
                Some((chain, key)) => b
                    .with_client_auth_cert(chain.clone(), key.clone_key())
                    .expect("client certificate"),
            }
        }
        Trust::Any => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ringway::tls::NoVerify(provider)))
            .with_no_client_auth(),
    };
    cfg.enable_sni = o.sni;
    cfg.alpn_protocols = o.alpn.clone();
    Arc::new(cfg)
}

/// A connected TLS client.
pub type TlsClient = StreamOwned<ClientConnection, TcpStream>;

/// Connects and completes the handshake, or returns rustls' error text.
pub fn connect(addr: SocketAddr, cfg: Arc<ClientConfig>, name: &str) -> Result<TlsClient, String> {
    let tcp =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let conn = ClientConnection::new(cfg, name).map_err(|e| e.to_string())?;
    let mut s = StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).map_err(|e| e.to_string())?;
    }
    Ok(s)
}

/// The DNS names of the certificate the server presented.
pub fn peer_names(s: &TlsClient) -> Vec<String> {
    let certs = s.conn.peer_certificates().expect("peer certificates");
    let cert = webpki::EndEntityCert::try_from(&certs[0]).expect("parse peer cert");
    cert.valid_dns_names().map(str::to_string).collect()
}

/// Sends `req` and reads one response (Content-Length framed):
/// the status, the body and the head's text.
pub fn exchange(s: &mut TlsClient, req: &[u8]) -> (u16, Vec<u8>, String) {
    s.write_all(req).expect("tls write");
    s.flush().expect("tls flush");
    read_response(s)
}

/// Reads one Content-Length framed response.
pub fn read_response(s: &mut TlsClient) -> (u16, Vec<u8>, String) {
    let mut all = read_responses(s, 1);
    all.remove(0)
}

/// Reads `n` Content-Length framed responses (pipelined ones may share a
/// read, so the bytes past one response start the next).
pub fn read_responses(s: &mut TlsClient, n: usize) -> Vec<(u16, Vec<u8>, String)> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16384];
    let mut out = Vec::new();
    let mut more = |s: &mut TlsClient, buf: &mut Vec<u8>| {
        let k = s.read(&mut tmp).expect("tls read");
        assert!(
            k > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&tmp[..k]);
    };
    while out.len() < n {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            more(s, &mut buf);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let status: u16 = head[9..12].parse().expect("status");
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            more(s, &mut buf);
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        out.push((status, body, head));
    }
    assert!(
        buf.is_empty(),
        "bytes past the responses: {:?}",
        String::from_utf8_lossy(&buf)
    );
    out
}
