//! Observability: per-shard counters and histograms, process metrics, JSON
//! log lines, request ids, W3C trace context (with span export) and the
//! access log.
//!
//! Owns: the counters and histograms every shard bumps (`metrics`, and the
//! per-route and per-upstream rows in `families` over `histogram`), the
//! process metrics read at scrape time (`process`), the pieces of the
//! Prometheus text format they share (`prom`), the log line format, the
//! request-id generator, the W3C trace context and the OTLP exporter
//! (`trace`), the access log (`access_log`: per-shard buffers, one writer
//! thread), `telemetry`, which starts and stops the last two, and the
//! response caches' families (`cache`; their counters are shared by the
//! shards: one relaxed add per cached request, the store's own lock shard
//! being touched anyway). Must
//! never: take a lock or make a syscall on the per-request path (counters
//! are single-writer atomics, read by an admin thread; spans and access-log
//! lines leave through bounded queues), or write a log line on the success
//! path of a request outside the buffered access log.

pub mod access_log;
pub mod cache;
pub mod families;
pub mod histogram;
pub mod log;
pub mod metrics;
pub mod process;
pub mod prom;
pub mod request_id;
pub mod telemetry;
pub mod text;
pub mod trace;

pub use metrics::{Metrics, ShardMetrics};
pub use request_id::RequestIdGen;
