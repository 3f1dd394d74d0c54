//! Observability: per-shard counters, JSON log lines and request ids.
//!
//! Owns: the counters every shard bumps, the log line format, the request-id
//! generator. Must never: take a lock or make a syscall on the per-request
//! path (counters are single-writer atomics, read by an admin thread), or log
//! on the success path of a request (access logs are a separate, buffered
//! feature).

pub mod log;
pub mod metrics;
pub mod request_id;

pub use metrics::{Metrics, ShardMetrics};
pub use request_id::RequestIdGen;
