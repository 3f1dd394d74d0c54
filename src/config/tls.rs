//! Compiling `[tls]` and `server.tls_listen`'s cross-key rules: reads each
//! certificate chain and key (PEM; the key from a path, `env:` or `file:`),
//! checks that they match, takes the names from the certificate's DNS SANs
//! unless listed, reads the client CA roots (`client_ca`, `client_auth`),
//! and builds `crate::tls::TlsSpec`; and reading the same files again when
//! they change (`reload`, for `reload::certs`).
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
use crate::tls::{
    CertEntry, CertSource, ClientAuth, ClientSource, MinVersion, SniResolver, TlsSpec,
};

/// An error in one certificate entry: the field (`cert`, `key`, `names`)
/// and the message.
type FieldError = (&'static str, String);

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
    let client = client(doc, t);
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
    let mut sources = Vec::with_capacity(files.len());
    let mut default = None;
    for (i, f) in files.iter().enumerate() {
        if f.default == Some(true) {
            match default {
                Some(d) => doc.err(
                    &format!("tls.certificates[{i}].default"),
                    format!("tls.certificates[{d}] is already the default; only one may be"),
                ),
                None => default = Some(i),
            }
        }
        if let Some(src) = source(doc, i, f) {
            sources.push(src);
        }
    }
    if sources.len() != files.len() {
        return None;
    }
    let mut certs = Vec::with_capacity(sources.len());
    for (i, r) in load(&sources).into_iter().enumerate() {
        match r {
            Ok(c) => certs.push(c),
            Err(errs) => {
                for (field, e) in errs {
                    doc.err(&format!("tls.certificates[{i}].{field}"), e);
                }
            }
        }
    }
    if certs.len() != sources.len() {
        return None;
    }
    let client = client?;
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (i, c) in certs.iter().enumerate() {
        for n in &c.names {
            if let Some(j) = owner.insert(n, i) {
                doc.err(
                    &format!("tls.certificates[{i}].names"),
                    format!("{n:?} is also a name of tls.certificates[{j}]; each name picks one certificate"),
                );
            }
        }
    }
    // No default marked: the first certificate (docs/tls.md).
    let default = default.unwrap_or(0);
    let resolver = SniResolver::new(certs, default);
    match TlsSpec::new(min_version, sources, default, resolver, client) {
        Ok(spec) => Some(Arc::new(spec)),
        Err(e) => {
            doc.err("tls", e);
            None
        }
    }
}

/// Reads `spec`'s certificate and key files again and serves them from the
/// next handshake; on any error the running set stays and the error says
/// which entry and field (`tls.certificates[0].key: …`).
pub fn reload(spec: &TlsSpec) -> Result<(), String> {
    let mut certs = Vec::with_capacity(spec.sources.len());
    let mut errors = Vec::new();
    for (i, r) in load(&spec.sources).into_iter().enumerate() {
        match r {
            Ok(c) => certs.push(c),
            Err(errs) => errors.extend(
                errs.into_iter()
                    .map(|(f, e)| format!("tls.certificates[{i}].{f}: {e}")),
            ),
        }
    }
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (i, c) in certs.iter().enumerate() {
        for n in &c.names {
            if let Some(j) = owner.insert(n, i) {
                errors.push(format!(
                    "tls.certificates[{i}].names: {n:?} is also a name of tls.certificates[{j}]"
                ));
            }
        }
    }
    let roots = match &spec.client {
        None => None,
        Some(c) => match roots(&c.ca) {
            Ok(r) => Some(r),
            Err(e) => {
                errors.push(format!("tls.client_ca: {e}"));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    spec.swap(SniResolver::new(certs, spec.default), roots)
}

/// Client certificates wanted and their CA roots read: `Some(None)`
/// without `client_ca`, `None` after an error (recorded in `doc`).
/// `client_ca` alone means `client_auth = "required"`: a CA configured
/// and then not enforced would be a silent hole (docs/tls.md).
fn client(doc: &mut Doc<'_>, t: &TlsFile) -> Option<Option<(ClientSource, rustls::RootCertStore)>> {
    let auth = match t.client_auth.as_deref() {
        None | Some("required") => ClientAuth::Required,
        Some("optional") => ClientAuth::Optional,
        Some(other) => {
            doc.err(
                "tls.client_auth",
                format!("unknown value {other:?}: use \"required\" or \"optional\""),
            );
            return None;
        }
    };
    let Some(ca) = t.client_ca.as_deref() else {
        if t.client_auth.is_some() {
            doc.err(
                "tls.client_auth",
                "client certificates need tls.client_ca (the PEM file of the CAs that sign them)",
            );
            return None;
        }
        return Some(None);
    };
    match roots(ca) {
        Ok(r) => Some(Some((
            ClientSource {
                ca: ca.into(),
                auth,
            },
            r,
        ))),
        Err(e) => {
            doc.err("tls.client_ca", e);
            None
        }
    }
}

/// The CA certificates in the PEM file at `path`, as verifier roots.
fn roots(path: &str) -> Result<rustls::RootCertStore, String> {
    let mut store = rustls::RootCertStore::empty();
    for (i, c) in chain(path)?.into_iter().enumerate() {
        store
            .add(c)
            .map_err(|e| format!("certificate {} in {path:?} is not a usable CA: {e}", i + 1))?;
    }
    Ok(store)
}

/// One entry's keys, checked for presence and its listed names normalised.
fn source(doc: &mut Doc<'_>, i: usize, f: &TlsCertFile) -> Option<CertSource> {
    let at = |k: &str| format!("tls.certificates[{i}].{k}");
    if f.cert.is_none() {
        doc.err(
            &at("cert"),
            "missing required key (a PEM certificate chain file)",
        );
    }
    if f.key.is_none() {
        doc.err(
            &at("key"),
            "missing required key (a PEM key file, \"file:PATH\" or \"env:VAR\")",
        );
    }
    let names = match &f.names {
        None => None,
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
                let r = crate::tls::normalise_name(n);
                out.push(super::compile::check(doc, &at("names"), r)?);
            }
            Some(out)
        }
    };
    Some(CertSource {
        cert: f.cert.as_deref()?.into(),
        key: f.key.as_deref()?.into(),
        names,
    })
}

/// Loads every source: each its certificate entry or its field errors.
fn load(sources: &[CertSource]) -> Vec<Result<CertEntry, Vec<FieldError>>> {
    let provider = crate::tls::provider();
    sources.iter().map(|s| certificate(s, &provider)).collect()
}

/// One certificate and key, checked to match, with its names.
fn certificate(
    s: &CertSource,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<CertEntry, Vec<FieldError>> {
    let chain = chain(&s.cert).map_err(|e| ("cert", e));
    let signer = private_key(&s.key).map_err(|e| ("key", e)).and_then(|k| {
        provider
            .key_provider
            .load_private_key(k)
            .map_err(|e| ("key", format!("unsupported private key: {e}")))
    });
    let (chain, signer) = match (chain, signer) {
        (Ok(c), Ok(k)) => (c, k),
        (c, k) => return Err(c.err().into_iter().chain(k.err()).collect()),
    };
    let names = match &s.names {
        Some(n) => n.clone(),
        None => san_names(&chain[0]).map_err(|e| vec![("cert", e)])?,
    };
    let ck = CertifiedKey::new(chain, signer);
    match ck.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => {
            return Err(vec![(
                "key",
                "the key does not match the certificate in cert (its public key differs)".into(),
            )])
        }
    }
    Ok(CertEntry {
        key: Arc::new(ck),
        names,
    })
}

/// The PEM chain at `path`, leaf first (never empty).
pub(super) fn chain(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
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
pub(super) fn private_key(spec: &str) -> Result<PrivateKeyDer<'static>, String> {
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
