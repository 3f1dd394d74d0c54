//! Phase 5, per-route policies: walks the route's compiled policy list in
//! its fixed order (CORS, authentication, rate and concurrency limits,
//! request validation) and either lets the request through, holding what
//! it must hold until the exchange ends, or says why not.
//!
//! Owns: the dispatch over `policy::Policy` (a `match`, never a boxed
//! closure), the identity handed from authentication to rate-limit keys,
//! and delay-mode waiting. Must never: keep a concurrency slot past the
//! exchange (the `Permit` is dropped on every path), hold the shard's auth
//! state across an `.await`, or write to the socket (that is `respond`).

use std::time::Duration;

use super::conn::Conn;
use super::state::Shard;
use crate::auth::{AuthConfig, Identity};
use crate::error::ErrorCode;
use crate::policy::{self, Denied, Policy};
use crate::ratelimit::{self, Outcome, Permit, RequestParts};
use crate::route::Route;

/// What phase 5 decided.
pub enum Admission<'r> {
    /// Go upstream; the permit (if any) is held until dropped.
    Pass(Option<Permit<'r>>),
    /// A policy refused the request.
    Refuse(Denied),
}

/// Runs `route`'s policies for the request in `c`.
pub async fn admit<'r>(c: &mut Conn, sh: &Shard, route: &'r Route) -> Admission<'r> {
    let mut permit = None;
    for p in route.policies.iter() {
        let verdict = match p {
            Policy::Cors(rule) => {
                rule.response_headers(&c.head, &c.buf, &mut c.req.resp_headers);
                Ok(())
            }
            Policy::Auth(rule) => {
                // Scoped: no other task of this shard may find it borrowed.
                let mut auth = c.g.auth.borrow_mut();
                let mut cx = policy::Ctx {
                    head: &c.head,
                    buf: &c.buf,
                    auth_cfg: &c.g.cfg.auth,
                    auth: &mut auth,
                    identity: &mut c.req.identity,
                    resp_headers: &mut c.req.resp_headers,
                    client_cert: c.stream.tls_peer().and_then(|p| p.client_cert()),
                };
                policy::auth::run(rule, &mut cx)
            }
            Policy::Validate(rule) => policy::validate::check_head(rule, &c.head, &c.buf),
            Policy::RateLimit(rl) => {
                let identity = Caller {
                    id: &c.req.identity,
                    cfg: &c.g.cfg.auth,
                };
                let parts = RequestParts {
                    ip: c.req.client,
                    headers: &c.head.headers,
                    buf: &c.buf,
                    route: route.name.as_bytes(),
                    identity: &identity,
                };
                let (verdict, by) =
                    rl.check_which(&parts, ratelimit::clock(), &mut c.req.resp_headers);
                c.req.refused_by = by.cloned();
                match verdict {
                    Outcome::Admit { delay: 0 } => Ok(()),
                    Outcome::Admit { delay } => {
                        sh.metrics.ratelimit_delayed.inc();
                        monoio::time::sleep(Duration::from_nanos(delay)).await;
                        Ok(())
                    }
                    Outcome::Reject(_) => Err(refusal(ErrorCode::RateLimited)),
                    Outcome::KeysFull(_) => Err(refusal(ErrorCode::RateLimitKeysFull)),
                    Outcome::SourceBudget(_) => Err(refusal(ErrorCode::RateLimitNewKeys)),
                }
            }
            Policy::Concurrency(limit) => match limit.try_acquire() {
                Some(p) => {
                    permit = Some(p);
                    Ok(())
                }
                None => Err(refusal(ErrorCode::ConcurrencyLimited)),
            },
        };
        if let Err(d) = verdict {
            return Admission::Refuse(d);
        }
    }
    Admission::Pass(permit)
}

/// A refusal whose only extra header lines are the policies' own
/// (`c.req.resp_headers`: RateLimit fields, `Retry-After`, CORS).
fn refusal(code: ErrorCode) -> Denied {
    Denied {
        code,
        headers: String::new(),
    }
}

/// The authenticated caller as rate-limit keys see it.
struct Caller<'a> {
    id: &'a Identity,
    cfg: &'a AuthConfig,
}

impl ratelimit::Identity for Caller<'_> {
    fn api_key(&self) -> Option<&[u8]> {
        self.id.api_key_id(self.cfg).map(str::as_bytes)
    }

    /// String claims only: a number or object claim keys like an absent one
    /// (one shared bucket: under-admission, never over-admission).
    fn claim(&self, name: &str) -> Option<&[u8]> {
        match self.id.claim(name)? {
            serde_json::Value::String(s) => Some(s.as_bytes()),
            _ => None,
        }
    }
}
