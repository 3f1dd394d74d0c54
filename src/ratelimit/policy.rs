//! A route's `rate_limit = [...]`: every listed limit must admit, and the
//! IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-09)
//! describing them.
//!
//! Owns: combining several limits into one outcome and the bytes of
//! `RateLimit-Policy`, `RateLimit` and `Retry-After`. Must never: allocate
//! per request (headers are appended to a reused buffer) or choose a status.

use std::io::Write as _;
use std::sync::Arc;

use super::algo::{Verdict, NS};
use super::key::{Identity, RequestParts};
use super::table::Checked;
use super::Limiter;
use crate::observe::text::push_u64;

/// The compiled `rate_limit` of one route.
#[derive(Clone, Debug)]
pub struct RateLimitPolicy {
    limits: Box<[Arc<Limiter>]>,
    /// `rate_limit_headers`: send `RateLimit-Policy` / `RateLimit`.
    headers: bool,
    /// `RateLimit-Policy: ...\r\n`, rendered once.
    policy_line: Box<[u8]>,
    /// `clock`'s resolution, added to Retry-After so that it is enough.
    tick: u64,
}

/// The combined decision of a route's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every limit admitted; the request goes on after `delay` ns (0 = now).
    Admit {
        /// Ns to hold the request first (delay mode).
        delay: u64,
    },
    /// A limit rejected; retry after this many ns.
    Reject(u64),
    /// A new key was refused by the state it shares with the other keys
    /// that found no slot in a full table; retry after this many ns.
    KeysFull(u64),
    /// The client's source added as many new keys as it may this period;
    /// retry after this many ns.
    SourceBudget(u64),
}

impl RateLimitPolicy {
    /// The policy for `limits` (checked in order); `headers` switches the
    /// RateLimit fields on.
    pub fn new(limits: Vec<Arc<Limiter>>, headers: bool) -> RateLimitPolicy {
        let mut line = b"ratelimit-policy: ".to_vec();
        for (i, l) in limits.iter().enumerate() {
            if i > 0 {
                line.extend_from_slice(b", ");
            }
            let _ = write!(
                line,
                "\"{}\";q={};w={}",
                l.def.name, l.def.limit, l.def.period_secs
            );
        }
        line.extend_from_slice(b"\r\n");
        RateLimitPolicy {
            limits: limits.into_boxed_slice(),
            headers,
            policy_line: line.into_boxed_slice(),
            tick: super::clock_tick(),
        }
    }

    /// The limits, in check order.
    pub fn limits(&self) -> &[Arc<Limiter>] {
        &self.limits
    }

    /// `rate_limit_headers`: whether the RateLimit fields are sent.
    pub fn sends_headers(&self) -> bool {
        self.headers
    }

    /// Checks every limit at `now` and appends the header lines to `out`
    /// (`Retry-After` on rejection, the RateLimit fields if switched on).
    /// A limit that admitted keeps its charge even when a later one
    /// rejects: that can only under-admit (see docs/rate-limiting.md).
    pub fn check<I: Identity>(
        &self,
        r: &RequestParts<'_, I>,
        now: u64,
        out: &mut Vec<u8>,
    ) -> Outcome {
        self.check_which(r, now, out).0
    }

    /// `check`, and the limit that decided a refusal (the last one checked:
    /// the first to refuse stops the others).
    pub fn check_which<I: Identity>(
        &self,
        r: &RequestParts<'_, I>,
        now: u64,
        out: &mut Vec<u8>,
    ) -> (Outcome, Option<&Arc<Limiter>>) {
        let mut outcome = Outcome::Admit { delay: 0 };
        let mut last = None;
        if self.headers {
            out.extend_from_slice(&self.policy_line);
            out.extend_from_slice(b"ratelimit: ");
        }
        for (i, l) in self.limits.iter().enumerate() {
            last = Some(l);
            let (remaining, reset) = match l.check(r, now) {
                Checked::Step(s) => {
                    combine(&mut outcome, s.verdict, Outcome::Reject);
                    (s.remaining, s.reset)
                }
                Checked::Shared(s) => {
                    combine(&mut outcome, s.verdict, Outcome::KeysFull);
                    (s.remaining, s.reset)
                }
                Checked::SourceBudget(retry) => {
                    outcome = Outcome::SourceBudget(retry);
                    (0, retry)
                }
            };
            if self.headers {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                // Hand-rolled, not `write!`: this runs on every request.
                out.push(b'"');
                out.extend_from_slice(l.def.name.as_bytes());
                out.extend_from_slice(b"\";r=");
                push_u64(out, remaining);
                out.extend_from_slice(b";t=");
                push_u64(out, secs_ceil(reset));
            }
            if !matches!(outcome, Outcome::Admit { .. }) {
                break;
            }
        }
        if self.headers {
            out.extend_from_slice(b"\r\n");
        }
        if let Outcome::Reject(ns) | Outcome::KeysFull(ns) | Outcome::SourceBudget(ns) = outcome {
            out.extend_from_slice(b"retry-after: ");
            push_u64(out, secs_ceil(ns + self.tick).max(1));
            out.extend_from_slice(b"\r\n");
        }
        let refused = !matches!(outcome, Outcome::Admit { .. });
        (outcome, last.filter(|_| refused))
    }
}

/// Folds one limit's verdict into the route's outcome; `refused` names a
/// rejection (by the key's own state or by the shared overflow state).
fn combine(outcome: &mut Outcome, v: Verdict, refused: fn(u64) -> Outcome) {
    match v {
        Verdict::Admit => {}
        Verdict::Delay(d) => {
            if let Outcome::Admit { delay } = outcome {
                *delay = (*delay).max(d);
            }
        }
        Verdict::Reject(retry) => *outcome = refused(retry),
    }
}

/// Ns to whole seconds, rounded up: waiting that long is always enough.
pub fn secs_ceil(ns: u64) -> u64 {
    ns.div_ceil(NS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_rounding() {
        let mut out = Vec::new();
        for n in [0, 7, 10, 1234567890, u64::MAX] {
            push_u64(&mut out, n);
            out.push(b' ');
        }
        assert_eq!(out, b"0 7 10 1234567890 18446744073709551615 ");
        assert_eq!(
            (secs_ceil(0), secs_ceil(1), secs_ceil(NS), secs_ceil(NS + 1)),
            (0, 1, 1, 2)
        );
    }
}
