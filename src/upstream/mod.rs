//! Upstream side of the data plane: per-shard keep-alive pools, connecting
//! with timeouts, and round-robin target choice.
//!
//! Owns: every socket to a backend. Must never: share a connection between
//! shards, reuse a connection whose previous exchange was not read to its end,
//! or decide the client-facing status of a failure (that is `crate::error`).

pub mod pool;

pub use pool::{UpstreamConn, UpstreamPools};

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
}
