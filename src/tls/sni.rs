//! Certificate choice by the client's server name (SNI).
//!
//! Rules, in order: an exact name; then a one-label wildcard
//! (`*.example.com` covers `api.example.com`, not `example.com` nor
//! `a.b.example.com`); then the default certificate, also when the client
//! sent no name. There is always a default (the one marked `default = true`,
//! else the first listed), so an unmatched name gets it rather than a
//! refused handshake, as nginx and HAProxy do; docs/tls.md says so.
//! Owns: that table and its lookup. Must never: allocate on a lookup of a
//! lowercase name (rustls hands names over lowercased).

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// One certificate and the names it is served for.
#[derive(Debug)]
pub struct CertEntry {
    /// The chain and signing key.
    pub key: Arc<CertifiedKey>,
    /// Lowercase names, exact or `*.suffix`.
    pub names: Vec<Box<str>>,
}

/// Names to certificates, built once per configuration.
pub struct SniResolver {
    certs: Vec<CertEntry>,
    exact: HashMap<Box<str>, usize>,
    /// Keyed by what follows `*.`.
    wildcard: HashMap<Box<str>, usize>,
    default: usize,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.certs.iter().map(|c| &c.names).collect();
        f.debug_struct("SniResolver")
            .field("names", &names)
            .field("default", &self.default)
            .finish()
    }
}

impl SniResolver {
    /// A table over `certs` (at least one); `default` indexes `certs`.
    /// Names are unique across certificates (config::tls checks).
    pub fn new(certs: Vec<CertEntry>, default: usize) -> SniResolver {
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for (i, c) in certs.iter().enumerate() {
            for n in &c.names {
                match n.strip_prefix("*.") {
                    Some(suffix) => wildcard.entry(suffix.into()).or_insert(i),
                    None => exact.entry(n.clone()).or_insert(i),
                };
            }
        }
        SniResolver {
            certs,
            exact,
            wildcard,
            default,
        }
    }

    /// The index of the certificate served for `name` (`None`: no SNI).
    pub fn pick(&self, name: Option<&str>) -> usize {
        let Some(name) = name else {
            return self.default;
        };
        if let Some(&i) = self.exact.get(name) {
            return i;
        }
        if let Some((_, suffix)) = name.split_once('.') {
            if let Some(&i) = self.wildcard.get(suffix) {
                return i;
            }
        }
        self.default
    }

    /// The certificates, in configuration order.
    pub fn certs(&self) -> &[CertEntry] {
        &self.certs
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let i = self.pick(hello.server_name());
        self.certs.get(i).map(|c| c.key.clone())
    }
}

/// Checks a configured name: a DNS name, or `*.` and a name of at least
/// two labels; returns it lowercased.
pub fn normalise_name(name: &str) -> Result<Box<str>, String> {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    let base = lower.strip_prefix("*.").unwrap_or(&lower);
    if lower.starts_with("*.") && !base.contains('.') {
        return Err(format!(
            "{name:?}: a wildcard needs at least two labels after `*.` (\"*.example.com\")"
        ));
    }
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if base.is_empty() || base.len() > 253 || !base.split('.').all(valid_label) {
        return Err(format!(
            "{name:?} is not a DNS name (or `*.` and one; wildcards cover exactly one label)"
        ));
    }
    Ok(lower.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(names: &[&[&str]], default: usize) -> SniResolver {
        let provider = crate::tls::provider();
        let certs = names
            .iter()
            .map(|ns| {
                let ck = rcgen::generate_simple_self_signed(vec!["x.test".into()]).expect("rcgen");
                let der =
                    rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
                let signer = provider.key_provider.load_private_key(der).expect("key");
                CertEntry {
                    key: Arc::new(CertifiedKey::new(vec![ck.cert.der().clone()], signer)),
                    names: ns
                        .iter()
                        .map(|n| normalise_name(n).expect("name"))
                        .collect(),
                }
            })
            .collect();
        SniResolver::new(certs, default)
    }

    #[test]
    fn exact_then_one_label_wildcard_then_default() {
        let r = resolver(
            &[&["api.example.com"], &["*.example.com"], &["other.test"]],
            2,
        );
        assert_eq!(r.pick(Some("api.example.com")), 0);
        assert_eq!(r.pick(Some("www.example.com")), 1);
        assert_eq!(r.pick(Some("a.b.example.com")), 2, "one label only");
        assert_eq!(
            r.pick(Some("example.com")),
            2,
            "the bare domain is not covered"
        );
        assert_eq!(r.pick(Some("nowhere.test")), 2);
        assert_eq!(r.pick(None), 2);
    }

    #[test]
    fn names_are_checked_and_lowercased() {
        assert_eq!(
            &*normalise_name("API.Example.COM").unwrap(),
            "api.example.com"
        );
        assert_eq!(&*normalise_name("*.example.com").unwrap(), "*.example.com");
        for bad in [
            "*.com",
            "a.*.com",
            "*",
            "",
            "exa mple.com",
            "-a.com",
            "*foo.com",
        ] {
            assert!(normalise_name(bad).is_err(), "{bad}");
        }
    }
}
