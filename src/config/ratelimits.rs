//! Compiling `[rate_limits.NAME]` into `ratelimit::Limiter`s and a route's
//! `rate_limit`, `concurrency_limit` and `rate_limit_headers` into its
//! policy list.
//!
//! Owns: the rules of those keys (units, bounds, algorithm-specific keys,
//! known names, keys that need authentication) and the carrying over of
//! limit state from a previous configuration. Must never: build per-request
//! state or accept a key kind it cannot extract correctly.

use std::sync::Arc;

use super::compile::{check, required};
use super::load::Doc;
use super::model::{self, NamesFile, RateLimitFile, RouteFile};
use super::validate;
use crate::policy::Policy;
use crate::ratelimit::algo::{FIXED_MAX_LIMIT, NS, SLIDING_MAX_LIMIT};
use crate::ratelimit::{
    Algo, ConcurrencyLimit, KeyPart, KeySpec, LimitDef, Limiter, RateLimitPolicy,
};

/// Longest `period`: one year.
const MAX_PERIOD_SECS: u64 = 365 * 86_400;
/// Largest `limit` for GCRA: one request per ns.
const GCRA_MAX_LIMIT: u64 = 1_000_000_000;
/// Deepest GCRA bucket, in ns: 100 years, far from u64 overflow.
const MAX_DEPTH_NS: u64 = 100 * 365 * 86_400 * NS;
/// Largest `max_keys` (1.6 GB of state).
const MAX_KEYS: u64 = 100_000_000;

/// Compiles every `[rate_limits.NAME]`, keeping the state of any limit in
/// `previous` whose definition is unchanged.
pub fn limits(
    doc: &mut Doc<'_>,
    files: &[(String, RateLimitFile)],
    previous: &[Arc<Limiter>],
) -> Vec<Arc<Limiter>> {
    files
        .iter()
        .filter_map(|(name, f)| def(doc, name, f))
        .map(|d| Arc::new(Limiter::carry_over(d, previous)))
        .collect()
}

fn def(doc: &mut Doc<'_>, name: &str, f: &RateLimitFile) -> Option<LimitDef> {
    let p = format!("rate_limits.{name}");
    let key = |k: &str| format!("{p}.{k}");
    check(doc, &p, validate::name(name));
    let parts = required(doc, &key("key"), &f.key, "ip, header:NAME, route or a list")
        .and_then(|k| key_spec(doc, &key("key"), k));
    let limit = required(doc, &key("limit"), &f.limit, "requests per period").copied();
    let period = required(doc, &key("period"), &f.period, "for example \"1m\"")
        .and_then(|s| check(doc, &key("period"), period_secs(s)));
    let max_keys = f.max_keys.unwrap_or(model::RATE_LIMIT_MAX_KEYS);
    check(
        doc,
        &key("max_keys"),
        validate::bounded(max_keys, 1, MAX_KEYS),
    );
    // One source may fill a sixteenth of the table per period by default.
    let new_keys = f.max_new_keys_per_source.unwrap_or((max_keys / 16).max(1));
    check(
        doc,
        &key("max_new_keys_per_source"),
        validate::bounded(new_keys, 1, MAX_KEYS),
    );
    let delay = match f.on_exhausted.as_deref() {
        None | Some("reject") => false,
        Some("delay") => true,
        Some(o) => {
            doc.err(
                &key("on_exhausted"),
                format!("unknown value {o:?}: use \"reject\" or \"delay\""),
            );
            false
        }
    };
    if f.max_delay_ms.is_some() && !delay {
        doc.err(
            &key("max_delay_ms"),
            "applies only with on_exhausted = \"delay\"",
        );
    }
    let max_delay = match delay {
        true => {
            let ms = f.max_delay_ms.unwrap_or(model::RATE_LIMIT_MAX_DELAY_MS);
            check(doc, &key("max_delay_ms"), validate::timeout_ms(ms)).map(|d| d.as_nanos() as u64)
        }
        false => Some(0),
    };
    let (limit, period) = (limit?, period?);
    let period_ns = period * NS;
    let algo = match f.algorithm.as_deref() {
        None | Some("gcra") => {
            check(
                doc,
                &key("limit"),
                validate::bounded(limit, 1, GCRA_MAX_LIMIT),
            )?;
            let burst = f.burst.unwrap_or(0);
            check(
                doc,
                &key("burst"),
                validate::bounded(burst, 0, GCRA_MAX_LIMIT),
            )?;
            // Rounded up: rounding may only under-admit.
            let interval = period_ns.div_ceil(limit);
            // The bucket's depth in ns must leave the clock room to add it.
            let tolerance = burst
                .checked_mul(interval)
                .filter(|t| t.checked_add(interval).is_some_and(|d| d <= MAX_DEPTH_NS));
            let Some(tolerance) = tolerance else {
                doc.err(
                    &key("burst"),
                    format!("{burst} is too large: (burst + 1) × period / limit must stay under 100 years"),
                );
                return None;
            };
            Algo::Gcra {
                interval,
                tolerance,
                max_delay: max_delay?,
            }
        }
        Some(w @ ("fixed_window" | "sliding_window")) => {
            let sliding = w == "sliding_window";
            let max = if sliding {
                SLIDING_MAX_LIMIT
            } else {
                FIXED_MAX_LIMIT
            };
            check(doc, &key("limit"), validate::bounded(limit, 1, max))?;
            if f.burst.is_some() {
                doc.err(&key("burst"), "applies only to algorithm = \"gcra\"");
            }
            if delay {
                doc.err(&key("on_exhausted"), "\"delay\" needs algorithm = \"gcra\"");
            }
            match sliding {
                true => Algo::SlidingWindow {
                    limit,
                    period: period_ns,
                },
                false => Algo::FixedWindow {
                    limit,
                    period: period_ns,
                },
            }
        }
        Some(o) => {
            doc.err(
                &key("algorithm"),
                format!(
                    "unknown algorithm {o:?}: use \"gcra\", \"sliding_window\" or \"fixed_window\""
                ),
            );
            return None;
        }
    };
    Some(LimitDef {
        name: name.into(),
        key: parts?,
        algo,
        limit,
        period_secs: period,
        max_keys: usize::try_from(max_keys).ok()?,
        max_new_keys_per_source: new_keys,
    })
}

fn key_spec(doc: &mut Doc<'_>, k: &str, names: &NamesFile) -> Option<KeySpec> {
    if names.0.is_empty() {
        doc.err(k, "empty list: name at least one of ip, header:NAME, route");
        return None;
    }
    let mut parts = Vec::with_capacity(names.0.len());
    for (i, s) in names.0.iter().enumerate() {
        let at = if names.0.len() > 1 {
            format!("{k}[{i}]")
        } else {
            k.to_owned()
        };
        let part = check(doc, &at, key_part(s))?;
        if parts.contains(&part) {
            doc.err(&at, format!("{s:?} is listed twice"));
        }
        parts.push(part);
    }
    Some(KeySpec::new(parts))
}

/// One `key` entry.
fn key_part(s: &str) -> Result<KeyPart, String> {
    match s {
        "ip" => return Ok(KeyPart::Ip),
        "route" => return Ok(KeyPart::Route),
        "api_key" => return Ok(KeyPart::ApiKey),
        _ => {}
    }
    if let Some(name) = s.strip_prefix("header:") {
        return validate::header_name(name).map(|n| KeyPart::Header(n.into()));
    }
    if let Some(claim) = s.strip_prefix("jwt:") {
        if validate::is_claim_name(claim) {
            return Ok(KeyPart::JwtClaim(claim.into()));
        }
        return Err(format!(
            "{s:?}: `jwt:` needs a claim name, like \"jwt:sub\""
        ));
    }
    Err(format!(
        "unknown key {s:?}: use \"ip\", \"header:NAME\", \"route\", \"api_key\", \"jwt:CLAIM\" or a list of them"
    ))
}

/// `period`: a whole number with a unit, `s`, `m`, `h` or `d`.
fn period_secs(s: &str) -> Result<u64, String> {
    let bad = || {
        format!("{s:?} is not a period: write a whole number and a unit s, m, h or d, like \"1m\"")
    };
    let unit = match s.as_bytes().last() {
        Some(b's') => 1,
        Some(b'm') => 60,
        Some(b'h') => 3_600,
        Some(b'd') => 86_400,
        _ => return Err(bad()),
    };
    let digits = &s[..s.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = n.checked_mul(unit).ok_or_else(bad)?;
    validate::bounded(secs, 1, MAX_PERIOD_SECS)
        .map_err(|_| format!("{s:?} is out of range: a period is between 1s and 365d"))
}

/// A route's policies: its rate limits (in the order listed), then its
/// concurrency limit (taken last, so a rejected request never holds a slot).
pub fn route_policies(
    doc: &mut Doc<'_>,
    p: &str,
    r: &RouteFile,
    limits: &[Arc<Limiter>],
) -> Option<Vec<Policy>> {
    let key = |k: &str| format!("{p}.{k}");
    let mut out = Vec::new();
    let mut ok = true;
    if let Some(names) = &r.rate_limit {
        let mut chosen: Vec<Arc<Limiter>> = Vec::with_capacity(names.0.len());
        for (i, n) in names.0.iter().enumerate() {
            let at = if names.0.len() > 1 {
                key(&format!("rate_limit[{i}]"))
            } else {
                key("rate_limit")
            };
            match limits.iter().find(|l| *l.def.name == **n) {
                None => {
                    let known: Vec<&str> = limits.iter().map(|l| &*l.def.name).collect();
                    doc.err(
                        &at,
                        format!("unknown rate limit {n:?} (defined: {})", list(&known)),
                    );
                    ok = false;
                }
                Some(l) if chosen.iter().any(|c| Arc::ptr_eq(c, l)) => {
                    doc.err(&at, format!("{n:?} is listed twice"));
                    ok = false;
                }
                Some(l) => {
                    let authenticated = r.auth.as_ref().is_some_and(|a| !a.is_empty());
                    let needs_auth = l.def.key.parts().iter().find(|p| p.needs_auth());
                    if let (Some(part), false) = (needs_auth, authenticated) {
                        // Keying on an identity nobody established would
                        // put every caller in one bucket.
                        doc.err(
                            &at,
                            format!(
                                "rate limit {n:?} is keyed on {}, which needs authentication on the route; \
                                 this route has no `auth` (add one, or key on ip, header:NAME or route)",
                                part_name(part)
                            ),
                        );
                        ok = false;
                    }
                    chosen.push(l.clone());
                }
            }
        }
        if names.0.is_empty() {
            doc.err(
                &key("rate_limit"),
                "empty list: omit the key for no rate limit",
            );
        }
        if !chosen.is_empty() {
            let headers = r.rate_limit_headers.unwrap_or(true);
            out.push(Policy::RateLimit(RateLimitPolicy::new(chosen, headers)));
        }
    } else if r.rate_limit_headers.is_some() {
        doc.err(
            &key("rate_limit_headers"),
            "applies only to a route with `rate_limit`",
        );
    }
    if let Some(n) = r.concurrency_limit {
        match check(
            doc,
            &key("concurrency_limit"),
            validate::bounded(n, 1, u32::MAX as u64),
        ) {
            Some(n) => out.push(Policy::Concurrency(Arc::new(ConcurrencyLimit::new(n)))),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn part_name(p: &KeyPart) -> String {
    match p {
        KeyPart::JwtClaim(c) => format!("\"jwt:{c}\""),
        _ => "\"api_key\"".to_owned(),
    }
}

fn list(names: &[&str]) -> String {
    match names.is_empty() {
        true => "none".to_owned(),
        false => names.join(", "),
    }
}
