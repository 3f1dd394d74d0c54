//! Phase 5, per-route policies: runs the route's compiled policy list in
//! order and either lets the request through (holding whatever it must hold
//! until the exchange ends) or answers it.
//!
//! Owns: the order of evaluation, the mapping of a policy's outcome to an
//! `ErrorCode`, and delay-mode waiting. Must never: keep a concurrency slot
//! past the exchange (the `Permit` is dropped on every path), or write to
//! the socket itself (that is `respond`).

use std::time::Duration;

use super::conn::Conn;
use super::state::Shard;
use crate::error::ErrorCode;
use crate::ratelimit::{self, Anonymous, Outcome, Permit, RequestParts};
use crate::route::{Policy, Route};

/// What phase 5 decided.
pub enum Admission<'r> {
    /// Go upstream; the permit (if any) is held until dropped.
    Pass(Option<Permit<'r>>),
    /// A policy refused the request with this error.
    Refuse(ErrorCode),
}

/// Runs `route`'s policies for the request in `c`.
pub async fn admit<'r>(c: &mut Conn, sh: &Shard, route: &'r Route) -> Admission<'r> {
    let mut permit = None;
    for p in route.policies.iter() {
        match p {
            Policy::RateLimit(rl) => {
                let parts = RequestParts {
                    ip: c.peer.ip(),
                    headers: &c.head.headers,
                    buf: &c.buf,
                    route: route.name.as_bytes(),
                    identity: &Anonymous,
                };
                let now = ratelimit::clock();
                match rl.check(&parts, now, &mut c.policy_headers) {
                    Outcome::Admit { delay: 0 } => {}
                    Outcome::Admit { delay } => {
                        sh.metrics.ratelimit_delayed.inc();
                        monoio::time::sleep(Duration::from_nanos(delay)).await;
                    }
                    Outcome::Reject(_) => return Admission::Refuse(ErrorCode::RateLimited),
                    Outcome::KeysFull(_) => return Admission::Refuse(ErrorCode::RateLimitKeysFull),
                }
            }
            Policy::Concurrency(limit) => match limit.try_acquire() {
                Some(p) => permit = Some(p),
                None => return Admission::Refuse(ErrorCode::ConcurrencyLimited),
            },
        }
    }
    Admission::Pass(permit)
}
