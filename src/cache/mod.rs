//! Response caching as a shared cache (RFC 9111, with RFC 5861's stale
//! extensions). This part holds the rules, as pure functions of header
//! values and a clock the caller passes in: the Cache-Control directives
//! (`directives`), whether a response may be stored (`storable`), how long
//! it stays fresh, how old it is and whether it may be reused
//! (`freshness`), the secondary key a `Vary` adds (`vary`), and the
//! byte-bounded store shared by every shard (`store`), and the table that
//! lets one request per key go to the origin while the rest wait
//! (`coalesce`); the header block kept and its update from a 304
//! (`head`), the `Cache-Status` field (`status`), and one configured
//! cache with its counters and a route's compiled setting (`named`).
//!
//! Owns: every RFC 9111 decision the gateway makes, and what is stored.
//! Must never: do I/O, read the clock itself for a rule (every time is an argument,
//! so the rules are tested on an injected clock), or look inside a body.

pub mod coalesce;
pub mod directives;
pub mod freshness;
pub mod head;
pub mod named;
pub mod status;
pub mod storable;
pub mod store;
pub mod vary;

/// RFC 9111 §1.2.2: a delta-seconds value larger than a cache can
/// represent, or a calculation that overflows, counts as 2^31 seconds.
pub const DELTA_MAX: u64 = 1 << 31;

/// Parses delta-seconds (`1*DIGIT`), capped at `DELTA_MAX`; `None` for
/// anything else (empty, a sign, a fraction, a space).
pub fn delta_seconds(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for &d in v {
        n = n.saturating_mul(10).saturating_add(u64::from(d - b'0'));
        if n >= DELTA_MAX {
            return Some(DELTA_MAX);
        }
    }
    Some(n)
}

/// An HTTP-date (IMF-fixdate, RFC 850 or asctime, RFC 9110 §5.6.7) as
/// seconds since the Unix epoch; `None` when it is none of the three.
pub fn http_date(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let t = httpdate::parse_http_date(s).ok()?;
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

#[cfg(test)]
mod coalesce_tests;
#[cfg(test)]
mod head_tests;
#[cfg(test)]
mod store_tests;
#[cfg(test)]
mod tests;
