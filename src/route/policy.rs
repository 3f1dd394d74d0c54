//! The per-route policy list that phase 5 of the pipeline runs, in order,
//! before a request goes upstream.
//!
//! Owns: the set of policy kinds, as enum variants (dispatch is a `match`,
//! never a boxed closure); a new kind (authentication, caching) is one more
//! variant here and one more arm in `server::policy`. Must never: hold
//! per-request state (routes are shared read-only by every shard).

use std::sync::Arc;

use crate::ratelimit::{ConcurrencyLimit, RateLimitPolicy};

/// One compiled policy of a route.
#[derive(Clone, Debug)]
pub enum Policy {
    /// `rate_limit = [...]`: every listed limit must admit.
    RateLimit(RateLimitPolicy),
    /// `concurrency_limit = N`: in-flight requests across shards.
    Concurrency(Arc<ConcurrencyLimit>),
}
