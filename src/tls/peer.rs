//! The client's side of a TLS connection as the gateway keeps it after the
//! handshake: the server name the client asked for (SNI), whether client
//! certificates were asked for, and the verified client certificate's
//! subject and names (mTLS), parsed once per connection.
//!
//! Owns: the identity taken from the verified leaf (subject in RFC 4514
//! form, DNS/URI/email SANs), the identity header lines forwarded upstream
//! (`x-client-cert-*`, docs/tls.md), and the Host-against-SNI rule (421).
//! Must never: parse a certificate rustls has not verified, parse on a
//! request (the connection's handshake does it once), or put a byte in a
//! header value that is not printable ASCII.

use std::fmt::Write as _;
use std::rc::Rc;

use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// `tls.client_auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// A handshake without a certificate from `client_ca` is refused.
    Required,
    /// A certificate is asked for; a client without one is served
    /// unauthenticated (a presented one must still verify).
    Optional,
}

impl ClientAuth {
    /// The configured spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::Required => "required",
            ClientAuth::Optional => "optional",
        }
    }
}

/// The header names the gateway sets from the client certificate; a client's
/// own copies of these (and of Envoy's `x-forwarded-client-cert`) are always
/// removed (`http::HeaderKind::ClientCert`).
pub const SUBJECT_HEADER: &str = "x-client-cert-subject";
/// The SANs, comma-joined.
pub const SAN_HEADER: &str = "x-client-cert-san";
/// `SUCCESS` or `NONE`, as nginx's `$ssl_client_verify`.
pub const VERIFIED_HEADER: &str = "x-client-cert-verified";

/// The type of a subject alternative name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SanKind {
    /// `dNSName`.
    Dns,
    /// `uniformResourceIdentifier` (SPIFFE IDs are these).
    Uri,
    /// `rfc822Name`.
    Email,
}

/// A verified client certificate, as policies and headers use it.
#[derive(Debug)]
pub struct ClientCert {
    /// The subject distinguished name, RFC 4514 (`CN=svc,O=Acme,C=DE`:
    /// last RDN first, as nginx's `$ssl_client_s_dn` and Envoy's XFCC).
    pub subject: Box<str>,
    /// DNS, URI and email SANs in certificate order (DNS names lowercased).
    pub sans: Box<[(SanKind, Box<str>)]>,
}

/// A client certificate rustls verified that x509-parser cannot read (the
/// connection is refused rather than served without its identity).
#[derive(Debug)]
pub struct UnreadableCertificate;

/// What a TLS connection keeps about its client (empty, the default, on
/// an upstream connection, whose peer is the upstream).
#[derive(Debug, Default)]
pub struct Peer {
    /// The SNI the client sent, lowercase.
    sni: Option<Box<str>>,
    /// `tls.client_auth` when the handshake was made.
    client_auth: Option<ClientAuth>,
    cert: Option<Rc<ClientCert>>,
    /// The `x-client-cert-*` lines every request on the connection forwards.
    headers: Box<[u8]>,
}

impl Peer {
    /// The peer of a finished handshake: `leaf` is the client certificate
    /// rustls verified, if one was presented. `Err` when that certificate
    /// verified but cannot be read (the connection is refused).
    pub fn new(
        sni: Option<&str>,
        client_auth: Option<ClientAuth>,
        leaf: Option<&CertificateDer<'_>>,
    ) -> Result<Peer, UnreadableCertificate> {
        let cert = leaf.map(|l| parse(l).map(Rc::new)).transpose()?;
        let mut headers = String::new();
        match (&cert, client_auth) {
            (Some(c), _) => {
                let _ = write!(headers, "{VERIFIED_HEADER}: SUCCESS\r\n");
                if !c.subject.is_empty() {
                    let _ = write!(headers, "{SUBJECT_HEADER}: {}\r\n", c.subject);
                }
                if !c.sans.is_empty() {
                    let _ = write!(headers, "{SAN_HEADER}: ");
                    for (i, (_, v)) in c.sans.iter().enumerate() {
                        if i > 0 {
                            headers.push(',');
                        }
                        san_value(&mut headers, v);
                    }
                    headers.push_str("\r\n");
                }
            }
            (None, Some(_)) => {
                let _ = write!(headers, "{VERIFIED_HEADER}: NONE\r\n");
            }
            (None, None) => {}
        }
        Ok(Peer {
            sni: sni.map(|s| s.trim_end_matches('.').to_ascii_lowercase().into()),
            client_auth,
            cert,
            headers: headers.into_bytes().into(),
        })
    }

    /// The verified client certificate, if the client presented one.
    pub fn client_cert(&self) -> Option<&Rc<ClientCert>> {
        self.cert.as_ref()
    }

    /// The SNI the client sent, lowercase.
    pub fn sni(&self) -> Option<&str> {
        self.sni.as_deref()
    }

    /// The identity header lines (`name: value\r\n`) for the upstream.
    pub fn headers(&self) -> &[u8] {
        &self.headers
    }

    /// False when the request must be answered 421: client certificates
    /// are on (`client_auth` either way) and the Host (port stripped,
    /// case and a trailing dot ignored) is not the SNI the client sent. The
    /// SNI, not the certificate's name: a wildcard certificate serves many
    /// names, an identity is bound to the one asked for. Without SNI only
    /// an IP-literal Host passes (a client addressing the gateway by IP
    /// cannot send SNI; one that knows a name and withheld it is refused).
    /// No Host (HTTP/1.0) has nothing to compare and passes.
    pub fn host_allowed(&self, host: Option<&[u8]>) -> bool {
        if self.client_auth.is_none() {
            return true;
        }
        let Some(host) = host else { return true };
        let name = strip_port(host);
        let name = name.strip_suffix(b".").unwrap_or(name);
        match &self.sni {
            Some(sni) => name.eq_ignore_ascii_case(sni.as_bytes()),
            None => is_ip_literal(name),
        }
    }
}

impl ClientCert {
    /// True when the certificate is allowed by `subjects` (exact RFC 4514
    /// strings) or `sans` (exact values; `*.suffix` covers one DNS label).
    /// Both empty: any verified certificate is allowed.
    pub fn allowed(&self, subjects: &[Box<str>], sans: &[Box<str>]) -> bool {
        if subjects.is_empty() && sans.is_empty() {
            return true;
        }
        subjects.iter().any(|s| **s == *self.subject)
            || self
                .sans
                .iter()
                .any(|(kind, v)| sans.iter().any(|want| san_matches(*kind, v, want)))
    }
}

/// One `allow_sans` entry against one SAN: DNS names case-insensitively,
/// with a one-label `*.` wildcard (as `tls.certificates[].names`); URIs and
/// emails exactly.
fn san_matches(kind: SanKind, value: &str, want: &str) -> bool {
    if kind != SanKind::Dns {
        return value == want;
    }
    match want.strip_prefix("*.") {
        Some(suffix) => value
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(suffix)),
        None => value.eq_ignore_ascii_case(want),
    }
}

/// The leaf's subject and SANs. x509-parser: webpki verifies chains but
/// exposes neither the subject nor URI and email SANs.
fn parse(leaf: &CertificateDer<'_>) -> Result<ClientCert, UnreadableCertificate> {
    let (_, cert) = X509Certificate::from_der(leaf.as_ref()).map_err(|_| UnreadableCertificate)?;
    let mut subject = String::new();
    // RFC 4514 writes the last RDN first.
    let rdns: Vec<_> = cert.subject().iter().collect();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            subject.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                subject.push('+');
            }
            let oid = atv.attr_type();
            match x509_parser::objects::oid2abbrev(oid, x509_parser::objects::oid_registry()) {
                Ok(short) => subject.push_str(short),
                Err(_) => subject.push_str(&oid.to_id_string()),
            }
            subject.push('=');
            match atv.as_str() {
                Ok(v) => dn_value(&mut subject, v.as_bytes()),
                Err(_) => dn_value(&mut subject, atv.as_slice()),
            }
        }
    }
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) => sans.push((SanKind::Dns, d.to_ascii_lowercase().into())),
                GeneralName::URI(u) => sans.push((SanKind::Uri, (*u).into())),
                GeneralName::RFC822Name(e) => sans.push((SanKind::Email, (*e).into())),
                _ => {}
            }
        }
    }
    Ok(ClientCert {
        subject: subject.into(),
        sans: sans.into(),
    })
}

/// An attribute value escaped as RFC 4514 says, and every byte outside
/// printable ASCII as `\XX` (which RFC 4514 allows for any byte), so the
/// value is safe in a header.
fn dn_value(out: &mut String, v: &[u8]) {
    for (i, &b) in v.iter().enumerate() {
        let edge = (i == 0 && (b == b' ' || b == b'#')) || (i + 1 == v.len() && b == b' ');
        match b {
            b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';' | b'=' => {
                out.push('\\');
                out.push(b as char);
            }
            _ if edge => {
                out.push('\\');
                out.push(b as char);
            }
            0x21..=0x7e | b' ' => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:02X}");
            }
        }
    }
}

/// A SAN in the comma-joined header: a comma and any byte outside
/// printable ASCII percent-encoded (DNS names never have them; URIs are
/// percent-encoded already).
fn san_value(out: &mut String, v: &str) {
    for b in v.bytes() {
        match b {
            0x21..=0x7e if b != b',' => out.push(b as char),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

/// The Host without its port (`[::1]:8443` → `[::1]`).
fn strip_port(host: &[u8]) -> &[u8] {
    if host.first() == Some(&b'[') {
        return match host.iter().position(|&b| b == b']') {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.iter().rposition(|&b| b == b':') {
        Some(i) => &host[..i],
        None => host,
    }
}

fn is_ip_literal(name: &[u8]) -> bool {
    name.first() == Some(&b'[')
        || std::str::from_utf8(name).is_ok_and(|s| s.parse::<std::net::Ipv4Addr>().is_ok())
}

#[cfg(test)]
#[path = "peer_tests.rs"]
mod tests;
