//! Compiling the parsed model into runtime settings: `[server]` here,
//! `[[upstreams]]` in `upstreams`, `[[routes]]` in `routes`, `[tracing]` in
//! `tracing`, and the shared helpers for one key (`check`, `required`,
//! `num`, `count`, `size`, `duration`, `timeout`, `one_of`).
//!
//! Owns: defaults, required keys, bounds and cross-key rules (duplicate
//! names, listen versus admin_listen, a token for an admin_listen off
//! loopback), each error attached to its key path.
//! Must never: stop at the first error, or produce a `Compiled` when any
//! error was recorded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::load::{Doc, FileModel};
use super::model::{self, ServerFile};
use super::secret::Secret;
use super::{
    ratelimits, routes, upstreams, validate, Compiled, IoMode, RingSetup, ServerSettings,
    UpstreamSpec,
};
use crate::http::PathMode;

/// Builds the runtime configuration, or `None` when `doc` holds errors.
pub fn compile(
    doc: &mut Doc<'_>,
    m: FileModel,
    previous_limits: &[std::sync::Arc<crate::ratelimit::Limiter>],
) -> Option<Compiled> {
    let server = server(doc, m.server);
    let names: Vec<Option<String>> = m.upstreams.iter().map(|u| u.name.clone()).collect();
    let upstreams: Vec<UpstreamSpec> = m
        .upstreams
        .into_iter()
        .enumerate()
        .filter_map(|(i, u)| upstreams::upstream(doc, i, u, &names))
        .collect();
    let rate_limits = ratelimits::limits(doc, &m.rate_limits, previous_limits);
    let auth = super::auth::compile(doc, &m.auth, m.revocation.as_ref());
    let declared: Vec<String> = m.auth.iter().map(|(n, _)| n.clone()).collect();
    let refs = super::auth_routes::AuthRefs {
        cfg: &auth,
        declared: &declared,
    };
    let caches = super::caches::caches(doc, &m.caches);
    let router = routes::compile(doc, &m.routes, &names, &refs, &rate_limits, &caches);
    let tracing = super::tracing::compile(doc, m.tracing.as_ref());
    let access_log = super::access_log::compile(doc, m.access_log.as_ref());
    let registry = super::registry::compile(doc, m.registry.as_ref(), server.as_ref());
    let tls_listen = server.as_ref().and_then(|s| s.tls_listen);
    let tls = super::tls::compile(doc, m.tls.as_ref(), tls_listen);
    let client_ca = m.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
    for (name, p) in &m.auth {
        if p.kind.as_deref() == Some("mtls") && !client_ca {
            doc.err(
                &format!("auth.{name}.kind"),
                "kind = \"mtls\" needs tls.client_ca (the CAs client certificates are verified against)",
            );
        }
    }
    for (i, u) in upstreams.iter().enumerate() {
        let from_registry = matches!(u.discovery, super::upstream::Discovery::Registry { .. });
        if from_registry && m.registry.is_none() {
            doc.err(
                &format!("upstreams[{i}].discovery"),
                "\"registry\" needs a [registry] table (its token, and where its API is served)",
            );
        }
    }
    let server = server.map(|mut s| {
        let one_value =
            super::headers::one_value(doc, &s.header_rules, &rate_limits, &auth, &m.routes);
        s.header_rules.one_value = one_value;
        s
    });
    match (server, doc.ok()) {
        (Some(server), true) => Some(Compiled {
            server,
            upstreams,
            router,
            rate_limits,
            auth,
            tracing,
            access_log,
            registry,
            tls,
            caches,
        }),
        _ => None,
    }
}

/// Records `r`'s error at `key` and turns it into an `Option`.
pub fn check<T>(doc: &mut Doc<'_>, key: &str, r: Result<T, String>) -> Option<T> {
    r.map_err(|e| doc.err(key, e)).ok()
}

/// A required key: reports it missing unless it is written (and already reported as bad).
pub fn required<'v, T>(
    doc: &mut Doc<'_>,
    key: &str,
    v: &'v Option<T>,
    hint: &str,
) -> Option<&'v T> {
    if v.is_none() && !doc.present(key) {
        doc.err(key, format!("missing required key ({hint})"));
    }
    v.as_ref()
}

/// A bounded integer with a default; out of range is an error (and yields the default).
pub fn num(doc: &mut Doc<'_>, key: &str, v: Option<u64>, default: u64, lo: u64, hi: u64) -> u64 {
    match v {
        None => default,
        Some(v) => check(doc, key, validate::bounded(v, lo, hi)).unwrap_or(default),
    }
}

/// `num` as a `usize`.
pub fn size(doc: &mut Doc<'_>, key: &str, v: Option<u64>, default: u64, lo: u64, hi: u64) -> usize {
    let hi = hi.min(usize::MAX as u64);
    // Within `hi`, so the conversion cannot fail; the fallback is never used.
    usize::try_from(num(doc, key, v, default, lo, hi)).unwrap_or(usize::MAX)
}

/// `num` for a `u32` field.
pub fn count(doc: &mut Doc<'_>, key: &str, v: Option<u64>, default: u32, lo: u32, hi: u32) -> u32 {
    let n = num(doc, key, v, default.into(), lo.into(), hi.into());
    u32::try_from(n).unwrap_or(default)
}

/// A `*_ms` duration with a default (`1..=MAX_TIMEOUT_MS`); a bad one is an error (and the default).
pub fn duration(doc: &mut Doc<'_>, key: &str, v: Option<u64>, default: Duration) -> Duration {
    v.and_then(|v| check(doc, key, validate::timeout_ms(v)))
        .unwrap_or(default)
}

/// `duration` with the default in milliseconds.
pub fn timeout(doc: &mut Doc<'_>, key: &str, v: Option<u64>, default_ms: u64) -> Duration {
    duration(doc, key, v, Duration::from_millis(default_ms))
}

fn server(doc: &mut Doc<'_>, s: Option<ServerFile>) -> Option<ServerSettings> {
    let Some(s) = s else {
        doc.err(
            "server",
            "missing [server] table (it needs at least `listen = \"127.0.0.1:8080\"`)",
        );
        return None;
    };
    // Optional once tls_listen is set: an HTTPS-only gateway (docs/tls.md).
    let listen = if s.tls_listen.is_some() {
        s.listen.as_ref()
    } else {
        required(
            doc,
            "server.listen",
            &s.listen,
            "for example \"127.0.0.1:8080\"; or set server.tls_listen for HTTPS only",
        )
    }
    .and_then(|l| check(doc, "server.listen", validate::socket_addr(l, true)));
    let (admin_listen, admin_token) = admin(doc, &s, listen);
    let tls_listen = tls_listen(doc, &s, listen, admin_listen);
    let path_mode = path_mode(doc, &s);
    let io = match s.io.as_deref() {
        None | Some("auto") => IoMode::Auto,
        Some("io_uring") => IoMode::IoUring,
        Some("epoll") => IoMode::Epoll,
        Some(other) => {
            doc.err(
                "server.io",
                format!("unknown io mode {other:?}: use \"auto\", \"io_uring\" or \"epoll\""),
            );
            IoMode::Auto
        }
    };
    let ring_setup = match s.ring_setup.as_deref() {
        None | Some("auto") => RingSetup::Auto,
        Some("defer_taskrun") => RingSetup::DeferTaskrun,
        Some("coop_taskrun") => RingSetup::CoopTaskrun,
        Some("plain") => RingSetup::Plain,
        Some(other) => {
            doc.err(
                "server.ring_setup",
                format!(
                    "unknown ring setup {other:?}: use \"auto\", \"defer_taskrun\", \"coop_taskrun\" or \"plain\""
                ),
            );
            RingSetup::Auto
        }
    };
    let cpus = match s.cpus {
        Some(list) if list.is_empty() => {
            doc.err(
                "server.cpus",
                "empty list: omit the key to use one core per shard",
            );
            None
        }
        Some(list) => Some(
            list.into_iter()
                .map(|c| usize::try_from(c).unwrap_or(usize::MAX))
                .collect(),
        ),
        None => None,
    };
    let settings = ServerSettings {
        listen,
        tls_listen,
        workers: size(doc, "server.workers", s.workers, model::WORKERS, 0, 1024),
        cpus,
        io,
        ring_setup,
        max_connections: size(
            doc,
            "server.max_connections",
            s.max_connections,
            model::MAX_CONNECTIONS,
            1,
            u64::MAX,
        ),
        max_header_bytes: size(
            doc,
            "server.max_header_bytes",
            s.max_header_bytes,
            model::MAX_HEADER_BYTES,
            1024,
            1024 * 1024,
        ),
        max_body_bytes: s.max_body_bytes.unwrap_or(model::MAX_BODY_BYTES),
        header_timeout: timeout(
            doc,
            "server.header_timeout_ms",
            s.header_timeout_ms,
            model::HEADER_TIMEOUT_MS,
        ),
        idle_timeout: timeout(
            doc,
            "server.idle_timeout_ms",
            s.idle_timeout_ms,
            model::IDLE_TIMEOUT_MS,
        ),
        body_timeout: timeout(
            doc,
            "server.body_timeout_ms",
            s.body_timeout_ms,
            model::BODY_TIMEOUT_MS,
        ),
        shutdown_grace: timeout(
            doc,
            "server.shutdown_grace_ms",
            s.shutdown_grace_ms,
            model::SHUTDOWN_GRACE_MS,
        ),
        upgrade_idle_timeout: timeout(
            doc,
            "server.upgrade_idle_timeout_ms",
            s.upgrade_idle_timeout_ms,
            model::UPGRADE_IDLE_TIMEOUT_MS,
        ),
        admin_listen,
        trusted_proxies: super::headers::trusted_proxies(doc, s.trusted_proxies.as_deref()),
        header_rules: super::headers::rules(
            doc,
            s.underscores_in_headers.as_deref(),
            s.singleton_headers.as_deref(),
        ),
        path_mode,
        admin_token,
        watch: s.watch.unwrap_or(false),
    };
    // Every key is checked even when no listener is usable; errors are in `doc`.
    (listen.is_some() || tls_listen.is_some()).then_some(settings)
}

/// `tls_listen`: an address of its own (not `listen`'s, not the admin API's).
fn tls_listen(
    doc: &mut Doc<'_>,
    s: &ServerFile,
    listen: Option<SocketAddr>,
    admin: Option<SocketAddr>,
) -> Option<SocketAddr> {
    let key = "server.tls_listen";
    let addr = check(
        doc,
        key,
        validate::socket_addr(s.tls_listen.as_ref()?, true),
    )?;
    for (other, name) in [(listen, "server.listen"), (admin, "server.admin_listen")] {
        if other == Some(addr) && addr.port() != 0 {
            doc.err(key, format!("{addr} is also {name}; use another port"));
        }
    }
    Some(addr)
}

/// `admin_listen` and `admin_token`. Without a token the admin API (the
/// effective config, `/revocations` writes) is open to whoever can
/// connect, so a listener off loopback must have one.
fn admin(
    doc: &mut Doc<'_>,
    s: &ServerFile,
    listen: Option<SocketAddr>,
) -> (Option<SocketAddr>, Option<Arc<Secret>>) {
    let key = "server.admin_listen";
    let addr = match &s.admin_listen {
        None => None,
        Some(a) => check(doc, key, validate::socket_addr(a, true)),
    };
    if let (Some(l), Some(a)) = (listen, addr) {
        if l == a && l.port() != 0 {
            doc.err(key, format!("{a} is also server.listen; use another port"));
        }
    }
    let token = s
        .admin_token
        .as_deref()
        .and_then(|t| check(doc, "server.admin_token", admin_token(t)));
    let public = addr.filter(|a| !a.ip().to_canonical().is_loopback());
    if let (Some(a), None) = (public, &s.admin_token) {
        doc.err(
            key,
            format!("{a} is not a loopback address: set server.admin_token (\"env:VAR\" or \"file:PATH\") so that the admin API needs a Bearer token, or listen on 127.0.0.1"),
        );
    }
    (addr, token.map(Arc::new))
}

/// Reads `admin_token` (and `registry.token`): long enough not to be
/// guessed, and bytes a client can send in an `Authorization` header.
pub fn admin_token(spec: &str) -> Result<Secret, String> {
    let t = Secret::load(spec)?;
    let min = model::ADMIN_TOKEN_MIN_BYTES;
    if t.value().len() < min {
        return Err(format!(
            "the token is {} bytes; use at least {min} (for example `openssl rand -hex 32`)",
            t.value().len()
        ));
    }
    if !t.value().iter().all(u8::is_ascii_graphic) {
        return Err("the token must be printable ASCII without spaces (it is sent in an Authorization header)".into());
    }
    Ok(t)
}

/// `escaped_slashes` and `path_params`; an unknown value is an error (and the default).
fn path_mode(doc: &mut Doc<'_>, s: &ServerFile) -> PathMode {
    use crate::http::{EscapedSlashes as E, PathParams as P};
    let slashes = [("reject", E::Reject), ("decode", E::Decode)];
    let params = [("reject", P::Reject), ("strip", P::Strip)];
    PathMode {
        escaped_slashes: one_of(doc, "server.escaped_slashes", &s.escaped_slashes, &slashes),
        path_params: one_of(doc, "server.path_params", &s.path_params, &params),
    }
}

/// A string key with two possible values, the first being the default.
pub fn one_of<T: Copy>(
    doc: &mut Doc<'_>,
    key: &str,
    v: &Option<String>,
    choices: &[(&str, T); 2],
) -> T {
    let [(_, default), _] = *choices;
    let found = match v {
        None => return default,
        Some(v) => choices.iter().find(|(name, _)| name == v),
    };
    if let Some((_, t)) = found {
        return *t;
    }
    let names: Vec<String> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
    let msg = format!(
        "unknown value {:?}: use {}",
        v.as_deref().unwrap_or(""),
        names.join(" or ")
    );
    doc.err(key, msg);
    default
}
