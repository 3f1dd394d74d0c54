//! Compiling `[tls]` and `server.tls_listen`'s cross-key rules: reads each
//! certificate chain and key (PEM; the key from a path, `env:` or `file:`),
//! checks that they match, takes the names from the certificate's DNS SANs
//! unless listed, and builds `crate::tls::TlsSpec`.
//!
//! Owns: every `[tls]` error, attached to its key (`tls.certificates[1].key`).
//! Must never: put key material in an error message, or stop at the first
//! bad certificate.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::load::Doc;
use super::model::{TlsCertFile, TlsFile};
use crate::tls::{CertEntry, MinVersion, SniResolver, TlsSpec};

/// `[tls]` compiled, or `None` (absent, or errors recorded in `doc`).
pub fn compile(
    doc: &mut Doc<'_>,
    t: Option<&TlsFile>,
    tls_listen: Option<SocketAddr>,
) -> Option<Arc<TlsSpec>> {
    let Some(t) = t else {
        if tls_listen.is_some() {
            doc.err(
                "server.tls_listen",
                "a TLS listener needs certificates: add [[tls.certificates]] with cert and key",
            );
        }
        return None;
    };
    for (key, set) in [
        ("client_ca", t.client_ca.is_some()),
        ("client_auth", t.client_auth.is_some()),
    ] {
        if set {
            doc.err(
                &format!("tls.{key}"),
                "client certificates (mTLS) are not supported yet (docs/tls.md)",
            );
        }
    }
    let min_version = match t.min_version.as_deref() {
        None | Some("1.2") => MinVersion::Tls12,
        Some("1.3") => MinVersion::Tls13,
        Some(other) => {
            doc.err(
                "tls.min_version",
                format!("unknown version {other:?}: use \"1.2\" or \"1.3\""),
            );
            MinVersion::Tls12
        }
    };
    let files = t.certificates.as_deref().unwrap_or(&[]);
    if files.is_empty() {
        doc.err(
            "tls.certificates",
            "no certificates: add at least one [[tls.certificates]] with cert and key",
        );
        return None;
    }
    if tls_listen.is_none() {
        doc.err(
            "tls",
            "certificates without server.tls_listen: set it (\"0.0.0.0:8443\") or remove [tls]",
        );
    }
    let provider = crate::tls::provider();
    let mut certs = Vec::with_capacity(files.len());
    let mut owner: HashMap<Box<str>, usize> = HashMap::new();
    let mut default = None;
    for (i, f) in files.iter().enumerate() {
        let at = |k: &str| format!("tls.certificates[{i}].{k}");
        let entry = certificate(doc, i, f, &provider);
        if f.default == Some(true) {
            match default {
                Some(d) => doc.err(
                    &at("default"),
                    format!("tls.certificates[{d}] is already the default; only one may be"),
                ),
                None => default = Some(i),
            }
        }
        let Some(entry) = entry else { continue };
        for n in &entry.names {
            if let Some(j) = owner.insert(n.clone(), i) {
                doc.err(
                    &at("names"),
                    format!("{n:?} is also a name of tls.certificates[{j}]; each name picks one certificate"),
                );
            }
        }
        certs.push(entry);
    }
    if certs.len() != files.len() {
        return None;
    }
    // No default marked: the first certificate (docs/tls.md).
    let resolver = SniResolver::new(certs, default.unwrap_or(0));
    match TlsSpec::build(min_version, resolver) {
        Ok(spec) => Some(Arc::new(spec)),
        Err(e) => {
            doc.err("tls", e);
            None
        }
    }
}

/// One `[[tls.certificates]]` entry; errors recorded at its keys.
fn certificate(
    doc: &mut Doc<'_>,
    i: usize,
    f: &TlsCertFile,
    provider: &rustls::crypto::CryptoProvider,
) -> Option<CertEntry> {
    let at = |k: &str| format!("tls.certificates[{i}].{k}");
    let chain = match &f.cert {
        None => {
            doc.err(
                &at("cert"),
                "missing required key (a PEM certificate chain file)",
            );
            None
        }
        Some(path) => super::compile::check(doc, &at("cert"), chain(path)),
    };
    let key = match &f.key {
        None => {
            doc.err(
                &at("key"),
                "missing required key (a PEM key file, \"file:PATH\" or \"env:VAR\")",
            );
            None
        }
        Some(spec) => super::compile::check(doc, &at("key"), private_key(spec)),
    };
    let signer = key.and_then(|k| {
        let r = provider
            .key_provider
            .load_private_key(k)
            .map_err(|e| format!("unsupported private key: {e}"));
        super::compile::check(doc, &at("key"), r)
    });
    let (chain, signer) = (chain?, signer?);
    let (cert, key_ref) = (f.cert.as_deref()?.into(), f.key.as_deref()?.into());
    let leaf = chain.first()?.clone();
    let ck = CertifiedKey::new(chain, signer);
    match ck.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => {
            doc.err(
                &at("key"),
                "the key does not match the certificate in cert (its public key differs)",
            );
            return None;
        }
    }
    let names = match &f.names {
        Some(list) if list.is_empty() => {
            doc.err(
                &at("names"),
                "empty list: omit it to use the certificate's DNS names",
            );
            return None;
        }
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for n in list {
                out.push(super::compile::check(
                    doc,
                    &at("names"),
                    crate::tls::normalise_name(n),
                )?);
            }
            out
        }
        None => super::compile::check(doc, &at("cert"), san_names(&leaf))?,
    };
    Some(CertEntry {
        key: Arc::new(ck),
        names,
        cert,
        key_ref,
    })
}

/// The PEM chain at `path`, leaf first.
fn chain(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {path:?}: {e}"))?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    let certs = certs.map_err(|e| format!("{path:?} is not a valid PEM certificate chain: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{path:?} holds no CERTIFICATE block"));
    }
    Ok(certs)
}

/// The PEM private key `spec` names: a path, `file:PATH` or `env:VAR`
/// (the PEM text in the variable). Errors name the reference, never a byte
/// of the key.
fn private_key(spec: &str) -> Result<PrivateKeyDer<'static>, String> {
    let pem = if spec.starts_with("env:") || spec.starts_with("file:") {
        super::secret::read(spec)?
    } else {
        std::fs::read(spec).map_err(|e| format!("cannot read {spec:?}: {e}"))?
    };
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|_| format!("{spec:?} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)"))
}

/// The certificate's DNS subject alternative names, lowercased.
fn san_names(leaf: &CertificateDer<'_>) -> Result<Vec<Box<str>>, String> {
    let cert = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| format!("cannot parse the certificate: {e}"))?;
    let names: Vec<Box<str>> = cert
        .valid_dns_names()
        .filter_map(|n| crate::tls::normalise_name(n).ok())
        .collect();
    if names.is_empty() {
        return Err(
            "the certificate has no DNS names (subject alternative names): list them in names"
                .into(),
        );
    }
    Ok(names)
}
