//! Compiling one `[[upstreams]]` table into an `UpstreamSpec`: its own keys
//! (targets and weights, balancing, circuit-breaking limits, timeouts) here,
//! its `health`, `outlier` and `retry` sub-tables in `upstream_tables`.
//!
//! `discovery` and its keys are judged in `upstream_discovery`.
//!
//! Owns: the bounds and cross-key rules of those keys (each address once,
//! `hash_key` only with `balance = "hash"`), each error on its key.
//! Must never: stop at the first error, or decide a default (`upstream`'s
//! `Default` impls and `model`'s constants do).

use std::net::SocketAddr;

use super::compile::{check, count, one_of, required, size, timeout};
use super::load::Doc;
use super::model;
use super::upstream::{Balance, Discovery, HashKey, Limits, OnNoHealthy};
use super::upstream_discovery;
use super::upstream_model::{TargetFile, UpstreamFile};
use super::upstream_tables::{health, outlier, retry};
use super::{validate, UpstreamSpec};

/// Largest target `weight`: shares finer than 1/1000 mean nothing here.
const MAX_WEIGHT: u32 = 1000;

/// Compiles `upstreams[i]`; `None` without a name (the error is recorded).
pub fn upstream(
    doc: &mut Doc<'_>,
    i: usize,
    u: UpstreamFile,
    names: &[Option<String>],
) -> Option<UpstreamSpec> {
    let p = format!("upstreams[{i}]");
    let key = |k: &str| format!("{p}.{k}");
    let name = required(doc, &key("name"), &u.name, "the name routes refer to").cloned();
    if let Some(n) = &name {
        check(doc, &key("name"), validate::name(n));
        if let Some(first) = names[..i].iter().position(|o| o.as_ref() == Some(n)) {
            doc.err(
                &key("name"),
                format!("duplicate upstream name {n:?} (also upstreams[{first}])"),
            );
        }
    }
    let discovery = upstream_discovery::discovery(doc, &p, name.as_deref().unwrap_or(""), &u);
    // Other kinds start empty: their sets arrive at run time (`crate::discovery`).
    let (targets, weights, hosts) = match discovery {
        Some(Discovery::Static) => targets(doc, &p, &u.targets),
        _ => Default::default(),
    };
    let tls = super::upstream_tls::compile(doc, &p, &u, discovery.as_ref(), &hosts);
    let max_targets = upstream_discovery::max_targets(doc, &p, &discovery, &u, targets.len());
    let no_healthy = [
        ("panic", OnNoHealthy::Panic),
        ("reject", OnNoHealthy::Reject),
    ];
    let spec = UpstreamSpec {
        name: name.clone().unwrap_or_default().into_boxed_str(),
        discovery: discovery.unwrap_or_default(),
        max_targets,
        targets: targets.into_boxed_slice(),
        weights: weights.into_boxed_slice(),
        balance: balance(doc, &p, &u.balance, &u.hash_key),
        on_no_healthy: one_of(doc, &key("on_no_healthy"), &u.on_no_healthy, &no_healthy),
        limits: limits(doc, &p, &u),
        health: u.health.and_then(|h| health(doc, &p, h)),
        outlier: outlier(doc, &p, u.outlier.unwrap_or_default()),
        retry: retry(doc, &p, u.retry.unwrap_or_default()),
        connect_timeout: timeout(
            doc,
            &key("connect_timeout_ms"),
            u.connect_timeout_ms,
            model::CONNECT_TIMEOUT_MS,
        ),
        response_timeout: timeout(
            doc,
            &key("response_timeout_ms"),
            u.response_timeout_ms,
            model::RESPONSE_TIMEOUT_MS,
        ),
        max_idle_per_shard: size(
            doc,
            &key("max_idle_per_shard"),
            u.max_idle_per_shard,
            model::MAX_IDLE_PER_SHARD,
            0,
            u64::MAX,
        ),
        idle_timeout: timeout(
            doc,
            &key("idle_timeout_ms"),
            u.idle_timeout_ms,
            model::UPSTREAM_IDLE_TIMEOUT_MS,
        ),
        tls,
    };
    name.map(|_| spec)
}

/// The addresses, weights, and the host names of targets written as one.
type Targets<'u> = (Vec<SocketAddr>, Vec<u32>, Vec<(SocketAddr, &'u str)>);

/// `targets`: each resolved, weighted (default 1) and listed once; a
/// target written as a name keeps it (the name its TLS certificate carries).
fn targets<'u>(doc: &mut Doc<'_>, p: &str, list: &'u Option<Vec<TargetFile>>) -> Targets<'u> {
    let k = format!("{p}.targets");
    let (mut addrs, mut weights, mut index) = (Vec::new(), Vec::new(), Vec::new());
    let mut hosts = Vec::new();
    let hint = "a list of \"host:port\" or { addr = \"host:port\", weight = N }";
    let Some(list) = required(doc, &k, list, hint) else {
        return (addrs, weights, hosts);
    };
    if list.is_empty() {
        doc.err(&k, "empty list: an upstream needs at least one target");
    }
    for (j, t) in list.iter().enumerate() {
        let kj = format!("{k}[{j}]");
        let weight = count(doc, &format!("{kj}.weight"), t.weight, 1, 1, MAX_WEIGHT);
        // A table names its `addr`; a plain string is the entry itself.
        let ka = match doc.present(&format!("{kj}.addr")) {
            true => format!("{kj}.addr"),
            false => kj.clone(),
        };
        let Some(text) = required(doc, &format!("{kj}.addr"), &t.addr, "\"host:port\"") else {
            continue;
        };
        let Some(a) = check(doc, &ka, validate::socket_addr(text, false)) else {
            continue;
        };
        if let Some(first) = addrs.iter().position(|x| *x == a) {
            // Name the resolved address when the text was a host name.
            let shown = match text.parse::<SocketAddr>() {
                Ok(_) => format!("{text:?}"),
                Err(_) => format!("{text:?} ({a})"),
            };
            let msg = format!(
                "{shown} is already targets[{}]: list each address once, and give it a weight for a larger share",
                index[first]
            );
            doc.err(&ka, msg);
            continue;
        }
        if let (Err(_), Some((host, _))) = (text.parse::<SocketAddr>(), text.rsplit_once(':')) {
            hosts.push((a, host));
        }
        addrs.push(a);
        weights.push(weight);
        index.push(j);
    }
    (addrs, weights, hosts)
}

/// `balance`, and `hash_key`, which goes with `balance = "hash"` only.
fn balance(doc: &mut Doc<'_>, p: &str, b: &Option<String>, hash: &Option<String>) -> Balance {
    let (kb, kh) = (format!("{p}.balance"), format!("{p}.hash_key"));
    let other = matches!(
        b.as_deref(),
        None | Some("round_robin" | "least_request" | "ewma")
    );
    if other && hash.is_some() {
        doc.err(
            &kh,
            "only used with balance = \"hash\": set that, or remove hash_key",
        );
    }
    match b.as_deref() {
        None | Some("round_robin") => Balance::RoundRobin,
        Some("least_request") => Balance::LeastRequest,
        Some("ewma") => Balance::Ewma,
        Some("hash") => {
            let hint = "balance = \"hash\" needs ip, path, header:NAME, cookie:NAME or jwt:CLAIM";
            required(doc, &kh, hash, hint)
                .and_then(|s| check(doc, &kh, hash_key(s)))
                .map_or(Balance::RoundRobin, Balance::Hash)
        }
        Some(other) => {
            doc.err(
                &kb,
                format!("unknown balance {other:?}: use \"round_robin\", \"least_request\", \"ewma\" or \"hash\""),
            );
            Balance::RoundRobin
        }
    }
}

/// One `hash_key` value; header names are lower-cased.
fn hash_key(s: &str) -> Result<HashKey, String> {
    match s {
        "ip" => return Ok(HashKey::Ip),
        "path" => return Ok(HashKey::Path),
        _ => {}
    }
    if let Some(h) = s.strip_prefix("header:") {
        return validate::header_name(h).map(|_| HashKey::Header(h.to_ascii_lowercase().into()));
    }
    if let Some(c) = s.strip_prefix("cookie:") {
        return match validate::is_token(c) {
            true => Ok(HashKey::Cookie(c.into())),
            false => Err(format!(
                "{s:?}: `cookie:` needs a cookie name (an RFC 9110 token), like \"cookie:session\""
            )),
        };
    }
    if let Some(c) = s.strip_prefix("jwt:") {
        return match validate::is_claim_name(c) {
            true => Ok(HashKey::JwtClaim(c.into())),
            false => Err(format!(
                "{s:?}: `jwt:` needs a claim name, like \"jwt:sub\""
            )),
        };
    }
    Err(format!(
        "unknown hash key {s:?}: use \"ip\", \"path\", \"header:NAME\", \"cookie:NAME\" or \"jwt:CLAIM\""
    ))
}

/// `max_connections`, `max_pending` and `max_requests`, each at least 1.
fn limits(doc: &mut Doc<'_>, p: &str, u: &UpstreamFile) -> Limits {
    let d = Limits::default();
    let mut n = |k: &str, v: Option<u64>, default: u32| {
        count(doc, &format!("{p}.{k}"), v, default, 1, u32::MAX)
    };
    Limits {
        max_connections: n("max_connections", u.max_connections, d.max_connections),
        max_pending: n("max_pending", u.max_pending, d.max_pending),
        max_requests: n("max_requests", u.max_requests, d.max_requests),
    }
}
