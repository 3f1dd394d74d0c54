//! The upstream side: per-shard keep-alive pools and target selection, the
//! cross-shard units that keep a failing backend out of rotation (health
//! checks, outlier ejection, circuit breaker, retry budget), and the one
//! report every attempt's result goes through (`shared`). Each unit is
//! small, keyed by target, and takes time as a parameter.
//!
//! Owns: every socket to a backend. Must never: share a connection between
//! shards, reuse a connection whose previous exchange was not read to its end,
//! or decide the client-facing status of a failure (that is `crate::error`).

pub mod breaker;
pub mod budget;
pub mod health;
pub mod outlier;
pub mod pool;
pub mod render;
pub mod roster;
pub mod select;
pub mod shard;
pub mod shared;

pub use pool::UpstreamConn;
pub use shard::ShardUpstreams;
pub use shared::Shared;

/// Why reaching or talking to an upstream failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamError {
    /// Every target refused or could not be reached.
    Unavailable,
    /// Connecting did not finish within `connect_timeout_ms`.
    ConnectTimeout,
    /// No response head within `response_timeout_ms`.
    ResponseTimeout,
    /// The connection closed or reset before a complete response head.
    Reset,
    /// The response head was not valid HTTP/1.x.
    BadResponse,
    /// The response head exceeded the gateway's size or field-count bound.
    HeadTooLarge,
    /// The circuit breaker refused (`max_connections`, `max_pending`).
    Overloaded,
    /// The TLS handshake (or session) with the upstream failed: its
    /// certificate did not verify, or it refused ours.
    Tls(crate::tls::TlsFail),
}
