//! `/config`'s `upstreams`: each `[[upstreams]]` entry with its targets,
//! balancing, circuit-breaking limits, timeouts, TLS settings and the
//! `health`, `outlier` and `retry` tables, defaults filled in.
//!
//! Must never: show live state (that is `/upstreams`), or key material
//! (TLS keys show as the reference written).

use serde_json::{json, Value};

use super::ms;
use crate::config::upstream::{
    Balance, ExpectStatus, HashKey, HealthSpec, OnNoHealthy, OutlierSpec, RetryOn, RetrySpec,
};
use crate::config::UpstreamSpec;

/// One upstream.
pub fn upstream(u: &UpstreamSpec) -> Value {
    let targets: Vec<Value> = u
        .targets
        .iter()
        .zip(u.weights.iter())
        .map(|(a, w)| json!({ "addr": a.to_string(), "weight": w }))
        .collect();
    let hash_key = match &u.balance {
        Balance::Hash(k) => Some(match k {
            HashKey::Ip => "ip".to_owned(),
            HashKey::Path => "path".to_owned(),
            HashKey::Header(h) => format!("header:{h}"),
            HashKey::Cookie(c) => format!("cookie:{c}"),
            HashKey::JwtClaim(c) => format!("jwt:{c}"),
        }),
        _ => None,
    };
    json!({
        "name": &*u.name,
        "targets": targets,
        "balance": u.balance.name(),
        "hash_key": hash_key,
        "connect_timeout_ms": ms(u.connect_timeout),
        "response_timeout_ms": ms(u.response_timeout),
        "max_idle_per_shard": u.max_idle_per_shard,
        "idle_timeout_ms": ms(u.idle_timeout),
        "max_connections": u.limits.max_connections,
        "max_pending": u.limits.max_pending,
        "max_requests": u.limits.max_requests,
        "on_no_healthy": match u.on_no_healthy {
            OnNoHealthy::Panic => "panic",
            OnNoHealthy::Reject => "reject",
        },
        "health": u.health.as_ref().map(health),
        "outlier": outlier(&u.outlier),
        "retry": retry(&u.retry),
        "tls": u.tls.as_deref().map(|t| {
            let s = &t.settings;
            json!({
                "ca_file": s.ca_file.as_deref(),
                "sni": s.sni.as_deref(),
                "tls_verify": s.verify,
                "client_cert": s.client_cert.as_deref(),
                "client_key": s.client_key.as_deref(),
            })
        }),
    })
}

fn health(h: &HealthSpec) -> Value {
    let expect = match &h.expect {
        ExpectStatus::Success => json!("2xx"),
        ExpectStatus::List(l) => json!(l),
    };
    json!({
        "path": &*h.path,
        "host": h.host.as_deref(),
        "interval_ms": ms(h.interval),
        "timeout_ms": ms(h.timeout),
        "healthy_threshold": h.healthy_threshold,
        "unhealthy_threshold": h.unhealthy_threshold,
        "expect_status": expect,
    })
}

fn outlier(o: &OutlierSpec) -> Value {
    json!({
        "consecutive_failures": o.consecutive_failures,
        "count_5xx": o.count_5xx,
        "failure_ratio": o.failure_ratio,
        "window_ms": ms(o.window),
        "min_requests": o.min_requests,
        "base_ejection_ms": ms(o.base_ejection),
        "max_ejection_ms": ms(o.max_ejection),
        "max_ejection_percent": o.max_ejection_percent,
        "half_open_probes": o.half_open_probes,
    })
}

fn retry(r: &RetrySpec) -> Value {
    let on = [
        ("reset", RetryOn::RESET),
        ("timeout", RetryOn::TIMEOUT),
        ("5xx", RetryOn::STATUS_5XX),
        ("gateway_error", RetryOn::GATEWAY_ERROR),
        ("retriable_status", RetryOn::RETRIABLE_STATUS),
    ];
    let retry_on: Vec<&str> = on
        .iter()
        .filter(|(_, bit)| r.retry_on.has(*bit))
        .map(|(name, _)| *name)
        .collect();
    json!({
        "retry_on": retry_on,
        "retriable_status": r.retriable_status,
        "attempts": r.attempts,
        "per_try_timeout_ms": r.per_try_timeout.map(ms),
        "max_replay_bytes": r.max_replay_bytes,
        "budget_percent": r.budget_percent,
        "min_retries_per_s": r.min_retries_per_s,
        "backoff_base_ms": ms(r.backoff_base),
        "backoff_max_ms": ms(r.backoff_max),
    })
}
