//! Compiling an upstream's TLS keys (`tls`, `ca_file`, `sni`, `tls_verify`,
//! `client_cert`, `client_key`): their cross-key rules, reading the PEM
//! files they name, and building `crate::tls::UpstreamTls` once per load.
//!
//! Owns: every error of those keys, on its key (`upstreams[0].ca_file`),
//! and the loud warning `tls_verify = false` earns at each load. Must never:
//! put key material in an error message, or turn verification off unless
//! `tls_verify = false` is written.

use std::net::SocketAddr;
use std::sync::Arc;

use super::load::Doc;
use super::upstream::{Discovery, DnsQuery};
use super::upstream_model::UpstreamFile;
use crate::observe::log::{self, Val};
use crate::tls::{Material, Settings, UpstreamTls};

/// The keys that only mean something with `tls = true`.
const TLS_KEYS: [&str; 5] = ["ca_file", "sni", "tls_verify", "client_cert", "client_key"];

/// The upstream's TLS settings compiled, or `None` (plain, or errors
/// recorded in `doc`). `p` is the table's key path (`upstreams[0]`).
pub fn compile(
    doc: &mut Doc<'_>,
    p: &str,
    u: &UpstreamFile,
    discovery: Option<&Discovery>,
    hosts: &[(SocketAddr, &str)],
) -> Option<Arc<UpstreamTls>> {
    let key = |k: &str| format!("{p}.{k}");
    if u.tls != Some(true) {
        for k in TLS_KEYS {
            if doc.present(&key(k)) {
                doc.err(
                    &key(k),
                    "only used with tls = true: set that, or remove this key",
                );
            }
        }
        return None;
    }
    let settings = Settings {
        ca_file: u.ca_file.as_deref().map(Into::into),
        sni: u.sni.as_deref().map(Into::into),
        verify: u.tls_verify != Some(false),
        client_cert: u.client_cert.as_deref().map(Into::into),
        client_key: u.client_key.as_deref().map(Into::into),
    };
    let mut ok = true;
    if !settings.verify && settings.ca_file.is_some() {
        doc.err(
            &key("ca_file"),
            "a CA to verify against, with tls_verify = false: remove one of them",
        );
        ok = false;
    }
    if let Some(n) = &settings.sni {
        ok &= super::compile::check(doc, &key("sni"), crate::tls::server_name(n)).is_some();
    }
    match (&settings.client_cert, &settings.client_key) {
        (Some(_), None) => {
            doc.err(
                &key("client_key"),
                "client_cert needs its key: a PEM key file, \"file:PATH\" or \"env:VAR\"",
            );
            ok = false;
        }
        (None, Some(_)) => {
            doc.err(
                &key("client_cert"),
                "client_key needs its certificate: a PEM certificate chain file",
            );
            ok = false;
        }
        _ => {}
    }
    // Each discovered target's host name is not kept, so an SRV set would
    // be verified against IP addresses: refused rather than surprising.
    let host = match discovery {
        Some(Discovery::Dns(d)) => match &d.query {
            DnsQuery::Host { host, .. } => Some(&**host),
            DnsQuery::Srv(_) if settings.sni.is_none() => {
                doc.err(
                    &key("tls"),
                    "an SRV-discovered TLS upstream needs sni: the name its certificates carry",
                );
                return None;
            }
            DnsQuery::Srv(_) => None,
        },
        _ => None,
    };
    let material = load(doc, &key, &settings)?;
    if !ok {
        return None;
    }
    match UpstreamTls::new(settings, material, host, hosts) {
        Ok(t) => {
            if !t.settings.verify {
                log::warn(
                    "upstream TLS certificate verification is OFF (tls_verify = false): anyone on the path can impersonate it",
                    &[("upstream", Val::Str(u.name.as_deref().unwrap_or("")))],
                );
            }
            Some(Arc::new(t))
        }
        Err((k, e)) => {
            doc.err(&key(k), e);
            None
        }
    }
}

/// Reads the files `s` names; `None` when any failed (each error recorded).
fn load(doc: &mut Doc<'_>, key: &dyn Fn(&str) -> String, s: &Settings) -> Option<Material> {
    let mut m = Material {
        roots: Vec::new(),
        client: None,
        read: Vec::new(),
    };
    let mut ok = true;
    if let Some(path) = &s.ca_file {
        match super::tls::chain(path) {
            Ok(roots) => {
                roots.iter().for_each(|c| m.read.extend_from_slice(c));
                m.roots = roots;
            }
            Err(e) => {
                doc.err(&key("ca_file"), e);
                ok = false;
            }
        }
    }
    if let (Some(cert), Some(k)) = (&s.client_cert, &s.client_key) {
        let chain = super::tls::chain(cert).map_err(|e| doc.err(&key("client_cert"), e));
        let pk = super::tls::private_key(k).map_err(|e| doc.err(&key("client_key"), e));
        match (chain, pk) {
            (Ok(chain), Ok(pk)) => {
                chain.iter().for_each(|c| m.read.extend_from_slice(c));
                m.read.extend_from_slice(pk.secret_der());
                m.client = Some((chain, pk));
            }
            _ => ok = false,
        }
    }
    ok.then_some(m)
}
