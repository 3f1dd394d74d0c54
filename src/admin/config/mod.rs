//! `GET /config`: the effective configuration as JSON: every setting the
//! gateway runs with, defaults filled in, under the keys of the TOML file
//! (`*_ms` durations, `period = "60s"`), with named tables (`[auth.NAME]`,
//! `[rate_limits.NAME]`) as objects by name and routes in match order
//! (the objects of `/routes`). Upstreams are in `upstreams`.
//!
//! Secrets are shown as their reference, never their value: the admin and
//! registry tokens and JWT secrets as `env:VAR` / `file:PATH`, JWKS keys as
//! the file they came from and a count, API keys as id and scopes (their
//! hashes replaced by `<redacted>`), header values with a credential-like
//! name as `<redacted>` (`routes::redact`).
//! Must never: render a secret's value, or a key's material or hash.

mod upstreams;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::routes::{self, text, REDACTED};
use crate::auth::{AuthConfig, AuthPolicy, TokenSource};
use crate::config::{IoMode, RingSetup, ServerSettings};
use crate::http::client_ip::Cidr;
use crate::http::rules::Underscores;
use crate::http::{EscapedSlashes, PathParams};
use crate::ratelimit::algo::{Algo, NS};
use crate::ratelimit::{KeyPart, LimitDef};

/// The body of `GET /config`: generation `g`'s configuration, and which
/// generation each shard runs (a shard takes up a new one between
/// requests, so for a moment after a reload they may differ).
pub fn render(g: &crate::reload::Generation, m: &crate::observe::Metrics) -> String {
    let cfg = &g.cfg;
    let limits: Map<String, Value> = cfg
        .rate_limits
        .iter()
        .map(|l| (l.def.name.to_string(), rate_limit(&l.def)))
        .collect();
    let ups: Vec<Value> = cfg.upstreams.iter().map(upstreams::upstream).collect();
    let state = m.config();
    let v = json!({
        "generation": {
            "published": g.number,
            "shards": state.shard_generations(),
            "reload_failures": state.failures(),
        },
        "server": server(&cfg.server),
        "upstreams": ups,
        "rate_limits": limits,
        "auth": auth(&cfg.auth),
        "revocation": revocation(&cfg.auth),
        "registry": cfg.registry.as_ref().map(registry),
        "tls": cfg.tls.as_deref().map(tls),
        "routes": routes::all(cfg),
    });
    super::respond::pretty_json(&v)
}

/// A duration as whole milliseconds (`*_ms` keys).
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn server(s: &ServerSettings) -> Value {
    let io = match s.io {
        IoMode::Auto => "auto",
        IoMode::IoUring => "io_uring",
        IoMode::Epoll => "epoll",
    };
    let ring_setup = match s.ring_setup {
        RingSetup::Auto => "auto",
        RingSetup::DeferTaskrun => "defer_taskrun",
        RingSetup::CoopTaskrun => "coop_taskrun",
        RingSetup::Plain => "plain",
    };
    let underscores = match s.header_rules.underscores {
        Underscores::Drop => "drop",
        Underscores::Reject => "reject",
        Underscores::Allow => "allow",
    };
    let one_value: Vec<String> = s
        .header_rules
        .one_value
        .iter()
        .map(|o| text(&o.name))
        .collect();
    json!({
        "listen": s.listen.map(|a| a.to_string()),
        "tls_listen": s.tls_listen.map(|a| a.to_string()),
        "workers": s.workers,
        "cpus": s.cpus,
        "io": io,
        "ring_setup": ring_setup,
        "max_connections": s.max_connections,
        "max_header_bytes": s.max_header_bytes,
        "max_body_bytes": s.max_body_bytes,
        "header_timeout_ms": ms(s.header_timeout),
        "idle_timeout_ms": ms(s.idle_timeout),
        "body_timeout_ms": ms(s.body_timeout),
        "shutdown_grace_ms": ms(s.shutdown_grace),
        "upgrade_idle_timeout_ms": ms(s.upgrade_idle_timeout),
        "admin_listen": s.admin_listen.map(|a| a.to_string()),
        "admin_token": s.admin_token.as_ref().map(|t| t.reference()),
        "watch": s.watch,
        "trusted_proxies": s.trusted_proxies.nets.iter().map(|c| cidr(*c)).collect::<Vec<_>>(),
        "underscores_in_headers": underscores,
        // The effective set: `singleton_headers` plus every header a key,
        // a credential source or a matcher reads.
        "one_value_headers": one_value,
        "escaped_slashes": match s.path_mode.escaped_slashes {
            EscapedSlashes::Reject => "reject",
            EscapedSlashes::Decode => "decode",
        },
        "path_params": match s.path_mode.path_params {
            PathParams::Reject => "reject",
            PathParams::Strip => "strip",
        },
    })
}

/// `[tls]`: files and key references as written, the names each
/// certificate is served for (listed or from its SANs), never key material.
fn tls(t: &crate::tls::TlsSpec) -> Value {
    let live = t.live();
    let certs: Vec<Value> = t
        .sources
        .iter()
        .zip(live.resolver.certs())
        .enumerate()
        .map(|(i, (src, c))| {
            json!({
                "cert": &*src.cert,
                "key": &*src.key,
                "names": c.names.iter().map(|n| &**n).collect::<Vec<_>>(),
                "default": i == t.default,
            })
        })
        .collect();
    let min_version = match t.min_version {
        crate::tls::MinVersion::Tls12 => "1.2",
        crate::tls::MinVersion::Tls13 => "1.3",
    };
    json!({
        "min_version": min_version,
        "client_ca": t.client.as_ref().map(|c| &*c.ca),
        "client_auth": t.client_auth().map(|a| a.as_str()),
        "certificates": certs,
    })
}

/// `[registry]`, its token as the reference it was read from.
fn registry(r: &crate::config::RegistrySpec) -> Value {
    json!({
        "token": r.token.reference(),
        "state_file": r.state_file.as_ref().map(|p| p.display().to_string()),
        "listen": r.listen.map(|a| a.to_string()),
        "allow_cidrs": r.allow_cidrs.iter().map(|c| cidr(*c)).collect::<Vec<_>>(),
        "max_instances_per_service": r.max_instances_per_service,
        "max_instances": r.max_instances,
        "min_ttl_s": r.min_ttl_s,
        "max_ttl_s": r.max_ttl_s,
        "default_ttl_s": r.default_ttl_s,
    })
}

fn cidr(c: Cidr) -> String {
    match c {
        Cidr::V4(n, len) => format!("{}/{len}", Ipv4Addr::from(n)),
        Cidr::V6(n, len) => format!("{}/{len}", Ipv6Addr::from(n)),
    }
}

fn rate_limit(d: &LimitDef) -> Value {
    let key: Vec<String> = d
        .key
        .parts()
        .iter()
        .map(|p| match p {
            KeyPart::Ip => "ip".into(),
            KeyPart::Header(h) => format!("header:{}", text(h)),
            KeyPart::Route => "route".into(),
            KeyPart::ApiKey => "api_key".into(),
            KeyPart::JwtClaim(c) => format!("jwt:{c}"),
        })
        .collect();
    let mut v = json!({
        "key": key,
        "limit": d.limit,
        "period": format!("{}s", d.period_secs),
        "max_keys": d.max_keys,
        "max_new_keys_per_source": d.max_new_keys_per_source,
    });
    let algo = match d.algo {
        Algo::Gcra {
            interval,
            tolerance,
            max_delay,
        } => {
            v["burst"] = (tolerance / interval.max(1)).into();
            v["on_exhausted"] = if max_delay > 0 { "delay" } else { "reject" }.into();
            if max_delay > 0 {
                v["max_delay_ms"] = (max_delay / (NS / 1000)).into();
            }
            "gcra"
        }
        Algo::FixedWindow { .. } => "fixed_window",
        Algo::SlidingWindow { .. } => "sliding_window",
    };
    v["algorithm"] = algo.into();
    v
}

fn auth(a: &AuthConfig) -> Value {
    let tables: Map<String, Value> = a
        .policies
        .iter()
        .map(|p| (p.name().to_owned(), auth_policy(p)))
        .collect();
    tables.into()
}

fn auth_policy(p: &AuthPolicy) -> Value {
    match p {
        AuthPolicy::Jwt(j) => {
            let algs: Vec<&str> = crate::auth::jwk::Alg::ALL
                .iter()
                .filter(|a| j.algs.has(**a))
                .map(|a| a.name())
                .collect();
            let forward: Map<String, Value> = j
                .forward
                .iter()
                .map(|(claim, header)| (claim.to_string(), (**header).into()))
                .collect();
            let mut v = json!({
                "kind": "jwt",
                "source": source(&j.source),
                "algorithms": algs,
                "keys": j.keys.current().len(),
                "issuer": j.issuer.as_deref(),
                "audience": j.audience,
                "leeway_s": j.leeway_s,
                "forward_claims": forward,
                "max_token_bytes": j.max_token_bytes,
                "cache_size": j.cache_size,
                "cache_ttl_s": j.cache_ttl_s,
            });
            match (&j.jwks_file, &j.secret_ref) {
                (Some(f), _) => v["jwks_file"] = f.display().to_string().into(),
                (None, Some(r)) => v["secret"] = (**r).into(),
                (None, None) => v["secret"] = REDACTED.into(),
            }
            v
        }
        AuthPolicy::ApiKey(k) => {
            let keys: Vec<Value> = k
                .keys
                .iter()
                .map(|key| json!({ "id": &*key.id, "sha256": REDACTED, "scopes": key.scopes }))
                .collect();
            json!({ "kind": "api_key", "source": source(&k.source), "keys": keys })
        }
        AuthPolicy::Mtls(m) => json!({
            "kind": "mtls",
            "allow_subjects": m.allow_subjects,
            "allow_sans": m.allow_sans,
        }),
    }
}

/// Where a credential is read from: `bearer` (`Authorization: Bearer`),
/// `header:NAME`, `cookie:NAME` or `query:NAME`.
fn source(s: &TokenSource) -> String {
    match s {
        TokenSource::Bearer => "bearer".into(),
        TokenSource::Header(h) => format!("header:{}", text(h)),
        TokenSource::Cookie(c) => format!("cookie:{}", text(c)),
        TokenSource::Query(q) => format!("query:{}", text(q)),
    }
}

fn revocation(a: &AuthConfig) -> Value {
    let list = a.revoked.current();
    json!({
        "file": a.revocation_file.as_ref().map(|f| f.display().to_string()),
        "entries": list.jti.len() + list.kid.len(),
    })
}
