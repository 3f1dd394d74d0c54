//! Distributed tracing: W3C trace context on every request, and optional
//! export of sampled requests' spans to an OpenTelemetry collector.
//!
//! Data plane (per shard, no lock, no syscall): `TraceIds` draws ids,
//! `TraceContext::start` reads the client's `traceparent` and decides
//! sampling, `TraceContext::write_traceparent` writes the one line sent
//! upstream, and a sampled request's `SpanRecord` goes to `SpanSink::submit`.
//! Control plane: `Exporter` owns the thread that batches (`batch`), encodes
//! (`json`) and POSTs (`post`) the spans. Must never: make a shard wait for
//! the collector, or let a dead collector grow memory past the queue bound.
//! Docs: `docs/observability.md`, "Trace context".

mod batch;
mod context;
mod export;
mod ids;
mod json;
mod post;
mod span;

#[cfg(test)]
mod context_tests;

pub use batch::{MAX_BATCH, MAX_DELAY};
pub use context::{
    parse_traceparent, ratio_samples, TraceContext, TRACEPARENT_LEN, TRACEPARENT_LINE_LEN,
};
pub use export::{ExportStats, Exporter, SpanSink, QUEUE_CAPACITY, SHUTDOWN_FLUSH};
pub use ids::TraceIds;
pub use span::{attr, AttrValue, SpanRecord};

/// Now, in nanoseconds since the Unix epoch (a vDSO read, not a syscall):
/// the clock of `SpanRecord`'s start and end.
pub fn now_unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
