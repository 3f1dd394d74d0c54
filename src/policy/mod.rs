//! Phase 5: the per-route policy chain.
//!
//! A route carries `policies: Box<[Policy]>`, compiled from its keys in a
//! fixed order (CORS, authentication, rate and concurrency limits,
//! validation); `server::admit` walks the list and the first policy that
//! refuses answers the request. A new kind (caching) is a new `Policy`
//! variant: enum dispatch, no boxed closures, no string lookups. This lives
//! outside `server` because it decides *what* a request may do, not how
//! bytes move, and outside `auth` because a policy may combine several
//! concerns (authentication plus `require`).
//! Must never: touch sockets or decide a status (it returns an `ErrorCode`).

pub mod auth;
pub mod cors;
pub mod validate;

use std::sync::Arc;

use crate::auth::shard::ShardAuth;
use crate::auth::{AuthConfig, Identity};
use crate::error::ErrorCode;
use crate::http::RequestHead;
use crate::ratelimit::{ConcurrencyLimit, RateLimitPolicy};

/// One compiled per-route policy.
#[derive(Clone, Debug)]
pub enum Policy {
    /// `auth` + `require`: who may call the route.
    Auth(auth::AuthRule),
    /// `validate`: what the request must look like.
    Validate(validate::ValidateRule),
    /// `cors`: preflights answered here, `access-control-*` on responses.
    Cors(cors::CorsRule),
    /// `rate_limit = [...]`: every listed limit must admit.
    RateLimit(RateLimitPolicy),
    /// `concurrency_limit = N`: in-flight requests across shards.
    Concurrency(Arc<ConcurrencyLimit>),
}

/// What phase 5 needs from the request and the shard.
pub struct Ctx<'a> {
    /// The parsed head.
    pub head: &'a RequestHead,
    /// The buffer its spans point into.
    pub buf: &'a [u8],
    /// All `[auth.*]` policies.
    pub auth_cfg: &'a AuthConfig,
    /// This shard's authentication state.
    pub auth: &'a mut ShardAuth,
    /// Set by an `Auth` policy that accepts the request.
    pub identity: &'a mut Identity,
    /// Response header lines policies add (`name: value\r\n`), sent on the
    /// upstream's response or on the gateway's own error.
    pub resp_headers: &'a mut Vec<u8>,
    /// The connection's verified TLS client certificate, if any.
    pub client_cert: Option<&'a std::rc::Rc<crate::tls::ClientCert>>,
}

/// A refusal: the error to answer with and any extra header lines for it.
#[derive(Debug, PartialEq, Eq)]
pub struct Denied {
    /// The error code.
    pub code: ErrorCode,
    /// Extra response header lines (`www-authenticate: …\r\n`), possibly empty.
    pub headers: String,
}

/// How many body bytes some policy needs to see before the request may go
/// upstream (the pipeline buffers them, then calls `run_body`).
pub fn body_to_buffer(policies: &[Policy], head: &RequestHead) -> Option<u64> {
    policies.iter().find_map(|p| match p {
        Policy::Validate(rule) => rule.body_to_buffer(head),
        _ => None,
    })
}

/// `Some(headers)` when the request is a CORS preflight the route answers
/// itself with 204 (before authentication: browsers send no credentials
/// on a preflight).
pub fn preflight(policies: &[Policy], head: &RequestHead, buf: &[u8]) -> Option<String> {
    policies.iter().find_map(|p| match p {
        Policy::Cors(rule) => rule.preflight(head, buf),
        _ => None,
    })
}

/// Whether an upgrade request (a WebSocket handshake) may proceed as far
/// as CORS goes: on a route with `cors`, its `Origin`, when it sends one,
/// must be allowed. Browsers apply no CORS to WebSockets (a page from any
/// site may open one, with the user's cookies), so where a plain response
/// would only lose its CORS headers, an upgrade is refused instead.
pub fn upgrade_origin_allowed(policies: &[Policy], head: &RequestHead, buf: &[u8]) -> bool {
    let Some(origin) = head
        .headers
        .iter()
        .find(|h| h.name.get(buf).eq_ignore_ascii_case(b"origin"))
        .map(|h| h.value.get(buf))
    else {
        return true;
    };
    policies.iter().all(|p| match p {
        Policy::Cors(rule) => rule.allows(origin),
        _ => true,
    })
}

/// The checks that need the complete body.
pub fn run_body(policies: &[Policy], body: &[u8]) -> Result<(), Denied> {
    for p in policies {
        if let Policy::Validate(rule) = p {
            validate::check_body(rule, body)?;
        }
    }
    Ok(())
}
