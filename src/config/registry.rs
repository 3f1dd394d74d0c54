//! `[registry]`: the compiled settings of the built-in service registry
//! (`RegistrySpec`) and their checks: a token, where the API is served,
//! the state file's directory, the allowed CIDRs, instance limits and TTL
//! bounds.
//!
//! Owns: those checks and defaults, and the cross-key rules (the registry
//! needs a listener; its token is not the admin token; its `listen` is not
//! another listener's address). Must never: read, create or write the
//! state file (`registry::snapshot` does, at start), so `ringway check`
//! leaves the file system as it found it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::compile::{admin_token, check, required, size};
use super::load::Doc;
use super::model::{self, RegistryFile};
use super::secret::Secret;
use super::{validate, ServerSettings};
use crate::http::client_ip::Cidr;

/// `[registry]` with defaults applied.
#[derive(Debug, Clone)]
pub struct RegistrySpec {
    /// The Bearer token every registry endpoint requires.
    pub token: Arc<Secret>,
    /// Where the registry's snapshot is kept, if anywhere.
    pub state_file: Option<PathBuf>,
    /// Its own listener; `None`: served on `server.admin_listen`.
    pub listen: Option<SocketAddr>,
    /// Blocks an instance address must fall in; empty: any address.
    pub allow_cidrs: Vec<Cidr>,
    /// Instances one service may have.
    pub max_instances_per_service: usize,
    /// Instances of all services together.
    pub max_instances: usize,
    /// Shortest `ttl_s` a registration may ask for.
    pub min_ttl_s: u32,
    /// Longest `ttl_s` a registration may ask for.
    pub max_ttl_s: u32,
    /// The `ttl_s` of a registration that names none.
    pub default_ttl_s: u32,
}

/// Compiles `[registry]`; `None` when the table is absent, or when it is
/// present but broken (the errors are in `doc`, so nothing is compiled).
pub fn compile(
    doc: &mut Doc<'_>,
    t: Option<&RegistryFile>,
    server: Option<&ServerSettings>,
) -> Option<RegistrySpec> {
    let t = t?;
    let hint = "\"env:VAR\" or \"file:PATH\" holding the Bearer token registry clients send";
    let token = required(doc, "registry.token", &t.token, hint)
        .and_then(|s| check(doc, "registry.token", admin_token(s)));
    if let (Some(tok), Some(admin)) = (&token, server.and_then(|s| s.admin_token.as_deref())) {
        if tok.value() == admin.value() {
            doc.err(
                "registry.token",
                "is the same token as server.admin_token: use another one, so that a registry client cannot reach the admin API and an admin client cannot change the registry",
            );
        }
    }
    let listen = t
        .listen
        .as_deref()
        .and_then(|l| check(doc, "registry.listen", validate::socket_addr(l, true)));
    listeners(doc, t, listen, server);
    let state_file = t
        .state_file
        .as_deref()
        .and_then(|p| check(doc, "registry.state_file", state_file(p)));
    let allow_cidrs = t
        .allow_cidrs
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, s)| check(doc, &format!("registry.allow_cidrs[{i}]"), Cidr::parse(s)))
        .collect();
    if t.allow_cidrs.as_ref().is_some_and(Vec::is_empty) {
        doc.err(
            "registry.allow_cidrs",
            "empty list: no address could register; omit the key to allow any address",
        );
    }
    let max_instances = size(
        doc,
        "registry.max_instances",
        t.max_instances,
        model::REGISTRY_MAX_INSTANCES,
        1,
        model::REGISTRY_MAX_INSTANCES_LIMIT,
    );
    let per_service_default = model::REGISTRY_MAX_PER_SERVICE.min(max_instances as u64);
    let max_instances_per_service = size(
        doc,
        "registry.max_instances_per_service",
        t.max_instances_per_service,
        per_service_default,
        1,
        max_instances as u64,
    );
    let (min_ttl_s, max_ttl_s, default_ttl_s) = ttls(doc, t);
    Some(RegistrySpec {
        token: Arc::new(token?),
        state_file,
        listen,
        allow_cidrs,
        max_instances_per_service,
        max_instances,
        min_ttl_s,
        max_ttl_s,
        default_ttl_s,
    })
}

/// The registry needs a listener, and its own `listen` must not be another's.
fn listeners(
    doc: &mut Doc<'_>,
    t: &RegistryFile,
    listen: Option<SocketAddr>,
    server: Option<&ServerSettings>,
) {
    let Some(server) = server else { return };
    if t.listen.is_none() && server.admin_listen.is_none() {
        doc.err(
            "registry.listen",
            "the registry needs a listener: set registry.listen (for example \"127.0.0.1:9902\") or server.admin_listen",
        );
    }
    let Some(l) = listen.filter(|l| l.port() != 0) else {
        return;
    };
    for (other, addr) in [
        ("server.listen", server.listen),
        ("server.tls_listen", server.tls_listen),
        ("server.admin_listen", server.admin_listen),
    ] {
        if addr == Some(l) {
            doc.err(
                "registry.listen",
                format!("{l} is also {other}; use another port, or leave registry.listen out to serve the registry on server.admin_listen"),
            );
        }
    }
}

/// `min_ttl_s`, `max_ttl_s` and `default_ttl_s`: each within
/// `1..=REGISTRY_TTL_LIMIT_S`, in that order.
fn ttls(doc: &mut Doc<'_>, t: &RegistryFile) -> (u32, u32, u32) {
    let limit = model::REGISTRY_TTL_LIMIT_S;
    let as_u32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let min = size(
        doc,
        "registry.min_ttl_s",
        t.min_ttl_s,
        model::REGISTRY_MIN_TTL_S,
        1,
        limit,
    ) as u64;
    let max = size(
        doc,
        "registry.max_ttl_s",
        t.max_ttl_s,
        model::REGISTRY_MAX_TTL_S.max(min),
        min,
        limit,
    ) as u64;
    let default = size(
        doc,
        "registry.default_ttl_s",
        t.default_ttl_s,
        model::REGISTRY_DEFAULT_TTL_S.clamp(min, max),
        min,
        max,
    ) as u64;
    (as_u32(min), as_u32(max), as_u32(default))
}

/// A state file path whose directory exists and that is not a directory
/// (relative paths are taken from the working directory, as the file will be).
fn state_file(p: &str) -> Result<PathBuf, String> {
    if p.is_empty() {
        return Err("empty path: name a file, as in \"/var/lib/ringway/registry.json\"".into());
    }
    super::validate::new_file_path(p)
}
