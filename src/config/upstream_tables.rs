//! Compiling the sub-tables of an `[[upstreams]]` entry: `[upstreams.health]`,
//! `[upstreams.outlier]` and `[upstreams.retry]`, one function each.
//!
//! Owns: the bounds and cross-key rules of their keys (`retriable_status`
//! with its `retry_on` entry, `window_ms` and `min_requests` only with
//! `failure_ratio`, ordered pairs such as `timeout_ms` ≤ `interval_ms`),
//! each error on its key. Must never: stop at the first error, or decide a
//! default (`upstream`'s `Default` impls and `HealthSpec::new` do).

use std::time::Duration;

use super::compile::{check, count, duration, required, size};
use super::load::Doc;
use super::upstream::{ExpectStatus, HealthSpec, OutlierSpec, RetryOn, RetrySpec};
use super::upstream_model::{ExpectStatusFile, HealthFile, OutlierFile, RetryFile};
use super::validate;

/// Largest `retry.max_replay_bytes`: a body that size is held in memory
/// for each request that may be retried.
const MAX_REPLAY_BYTES: u64 = 16 * 1024 * 1024;

/// `[upstreams.health]`; `None` without a usable `path` (the error is recorded).
pub fn health(doc: &mut Doc<'_>, p: &str, h: HealthFile) -> Option<HealthSpec> {
    let p = format!("{p}.health");
    let key = |k: &str| format!("{p}.{k}");
    let hint = "the path each check requests, like \"/healthz\"";
    let path = required(doc, &key("path"), &h.path, hint)
        .filter(|s| check(doc, &key("path"), validate::request_target(s)).is_some());
    let host = h
        .host
        .as_deref()
        .filter(|s| check(doc, &key("host"), validate::authority(s)).is_some());
    let d = HealthSpec::new(Box::from(""));
    let (timeout, interval) = ordered(
        doc,
        &p,
        ("timeout_ms", h.timeout_ms, d.timeout),
        ("interval_ms", h.interval_ms, d.interval),
        "a check must end before the next one starts",
    );
    let threshold =
        |doc: &mut Doc<'_>, k: &str, v: Option<u64>, d: u32| count(doc, &key(k), v, d, 1, u32::MAX);
    let healthy_threshold = threshold(
        doc,
        "healthy_threshold",
        h.healthy_threshold,
        d.healthy_threshold,
    );
    let unhealthy_threshold = threshold(
        doc,
        "unhealthy_threshold",
        h.unhealthy_threshold,
        d.unhealthy_threshold,
    );
    let expect = expect_status(doc, &key("expect_status"), h.expect_status);
    path.map(|path| HealthSpec {
        path: path.as_str().into(),
        host: host.map(Box::from),
        interval,
        timeout,
        healthy_threshold,
        unhealthy_threshold,
        expect,
    })
}

/// `expect_status`: `"2xx"` or a non-empty list of statuses.
fn expect_status(doc: &mut Doc<'_>, key: &str, e: Option<ExpectStatusFile>) -> ExpectStatus {
    match e {
        None => ExpectStatus::Success,
        Some(ExpectStatusFile::Class(c)) if c.eq_ignore_ascii_case("2xx") => ExpectStatus::Success,
        Some(ExpectStatusFile::Class(c)) => {
            doc.err(
                key,
                format!("unknown status class {c:?}: use \"2xx\" or a list such as [200, 204]"),
            );
            ExpectStatus::Success
        }
        Some(ExpectStatusFile::List(l)) => {
            if l.is_empty() {
                doc.err(
                    key,
                    "empty list: name at least one status, or write \"2xx\"",
                );
            }
            ExpectStatus::List(statuses(doc, key, &l))
        }
    }
}

/// A list of statuses, each `100..=599`; a bad one is an error on `key[j]`.
fn statuses(doc: &mut Doc<'_>, key: &str, l: &[u64]) -> Box<[u16]> {
    let mut out = Vec::with_capacity(l.len());
    for (j, &s) in l.iter().enumerate() {
        let ok = check(doc, &format!("{key}[{j}]"), validate::bounded(s, 100, 599));
        out.extend(ok.and_then(|s| u16::try_from(s).ok()));
    }
    out.into_boxed_slice()
}

/// `[upstreams.outlier]`; `window_ms` and `min_requests` need `failure_ratio`.
pub fn outlier(doc: &mut Doc<'_>, p: &str, o: OutlierFile) -> OutlierSpec {
    let p = format!("{p}.outlier");
    let key = |k: &str| format!("{p}.{k}");
    let d = OutlierSpec::default();
    let failure_ratio = o.failure_ratio.filter(|&r| {
        let ok = r > 0.0 && r <= 1.0;
        if !ok {
            doc.err(
                &key("failure_ratio"),
                format!("{r} is out of range: must be above 0 and at most 1"),
            );
        }
        ok
    });
    if o.failure_ratio.is_none() && !doc.present(&key("failure_ratio")) {
        for (k, set) in [("window_ms", o.window_ms), ("min_requests", o.min_requests)] {
            if set.is_some() {
                doc.err(
                    &key(k),
                    "only used with failure_ratio: set failure_ratio, or remove this key",
                );
            }
        }
    }
    let (base_ejection, max_ejection) = ordered(
        doc,
        &p,
        ("base_ejection_ms", o.base_ejection_ms, d.base_ejection),
        ("max_ejection_ms", o.max_ejection_ms, d.max_ejection),
        "the first ejection cannot be longer than the longest",
    );
    OutlierSpec {
        consecutive_failures: count(
            doc,
            &key("consecutive_failures"),
            o.consecutive_failures,
            d.consecutive_failures,
            0,
            u32::MAX,
        ),
        count_5xx: o.count_5xx.unwrap_or(d.count_5xx),
        failure_ratio,
        window: duration(doc, &key("window_ms"), o.window_ms, d.window),
        min_requests: count(
            doc,
            &key("min_requests"),
            o.min_requests,
            d.min_requests,
            1,
            u32::MAX,
        ),
        base_ejection,
        max_ejection,
        max_ejection_percent: count(
            doc,
            &key("max_ejection_percent"),
            o.max_ejection_percent,
            d.max_ejection_percent,
            0,
            100,
        ),
        half_open_probes: count(
            doc,
            &key("half_open_probes"),
            o.half_open_probes,
            d.half_open_probes,
            1,
            u32::MAX,
        ),
    }
}

/// `[upstreams.retry]`; `retriable_status` and its `retry_on` entry go together.
pub fn retry(doc: &mut Doc<'_>, p: &str, r: RetryFile) -> RetrySpec {
    let p = format!("{p}.retry");
    let key = |k: &str| format!("{p}.{k}");
    let d = RetrySpec::default();
    let retry_on = match &r.retry_on {
        None => d.retry_on,
        Some(l) => retry_on(doc, &key("retry_on"), l),
    };
    let listed = r.retriable_status.as_deref().unwrap_or_default();
    let retriable_status = statuses(doc, &key("retriable_status"), listed);
    let wanted = retry_on.has(RetryOn::RETRIABLE_STATUS);
    if !listed.is_empty() && !wanted {
        doc.err(
            &key("retriable_status"),
            "needs \"retriable_status\" in retry_on, or these statuses are never retried",
        );
    }
    if wanted
        && listed.is_empty()
        && (r.retriable_status.is_some() || !doc.present(&key("retriable_status")))
    {
        doc.err(
            &key("retry_on"),
            "\"retriable_status\" needs a non-empty retriable_status list",
        );
    }
    let (backoff_base, backoff_max) = ordered(
        doc,
        &p,
        ("backoff_base_ms", r.backoff_base_ms, d.backoff_base),
        ("backoff_max_ms", r.backoff_max_ms, d.backoff_max),
        "the first backoff cannot be longer than the longest",
    );
    let replay_default = u64::try_from(d.max_replay_bytes).unwrap_or(MAX_REPLAY_BYTES);
    RetrySpec {
        retry_on,
        retriable_status,
        attempts: count(doc, &key("attempts"), r.attempts, d.attempts, 1, 10),
        per_try_timeout: r
            .per_try_timeout_ms
            .and_then(|v| check(doc, &key("per_try_timeout_ms"), validate::timeout_ms(v))),
        max_replay_bytes: size(
            doc,
            &key("max_replay_bytes"),
            r.max_replay_bytes,
            replay_default,
            0,
            MAX_REPLAY_BYTES,
        ),
        budget_percent: count(
            doc,
            &key("budget_percent"),
            r.budget_percent,
            d.budget_percent,
            0,
            100,
        ),
        min_retries_per_s: count(
            doc,
            &key("min_retries_per_s"),
            r.min_retries_per_s,
            d.min_retries_per_s,
            0,
            u32::MAX,
        ),
        backoff_base,
        backoff_max,
    }
}

/// `retry_on`: names of conditions; an unknown one is an error on `key[j]`.
fn retry_on(doc: &mut Doc<'_>, key: &str, list: &[String]) -> RetryOn {
    const NAMES: [(&str, RetryOn); 5] = [
        ("reset", RetryOn::RESET),
        ("timeout", RetryOn::TIMEOUT),
        ("5xx", RetryOn::STATUS_5XX),
        ("gateway_error", RetryOn::GATEWAY_ERROR),
        ("retriable_status", RetryOn::RETRIABLE_STATUS),
    ];
    let mut on = RetryOn(0);
    for (j, s) in list.iter().enumerate() {
        match NAMES.iter().find(|(n, _)| n == s) {
            Some((_, flag)) => on = on | *flag,
            None => doc.err(
                &format!("{key}[{j}]"),
                format!("unknown retry condition {s:?}: use \"reset\", \"timeout\", \"5xx\", \"gateway_error\" or \"retriable_status\""),
            ),
        }
    }
    on
}

/// Two durations `lo ≤ hi` under `p`, each `(key, written, default)`: a
/// default gives way to a written value; two written out of order are an
/// error on `lo`'s key that names `hi`'s and says `why`.
pub fn ordered(
    doc: &mut Doc<'_>,
    p: &str,
    lo: (&str, Option<u64>, Duration),
    hi: (&str, Option<u64>, Duration),
    why: &str,
) -> (Duration, Duration) {
    let lk = format!("{p}.{}", lo.0);
    let l = duration(doc, &lk, lo.1, lo.2);
    let h = duration(doc, &format!("{p}.{}", hi.0), hi.1, hi.2);
    let valid = |v: Option<u64>| v.is_some_and(|v| validate::timeout_ms(v).is_ok());
    match (valid(lo.1), valid(hi.1)) {
        (false, _) => (l.min(h), h),
        (true, false) => (l, h.max(l)),
        (true, true) => {
            if l > h {
                let (lm, hm, hk) = (l.as_millis(), h.as_millis(), hi.0);
                doc.err(
                    &lk,
                    format!("{lm} is more than {hk} ({hm}): it must be at most {hk}, since {why}"),
                );
            }
            (l, h)
        }
    }
}
