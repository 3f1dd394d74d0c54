//! The process's request-telemetry sinks, built once from the config: the
//! access log (`[access_log]`) and the span exporter (`[tracing]
//! otlp_endpoint`). `server::run` starts them before the shards, hands each
//! shard its `ShardTelemetry`, gives the admin thread `TelemetryStats` for
//! `/metrics`, and shuts them down after the shards stopped.
//!
//! Owns: the lifetimes of the writer and exporter threads. Must never: be
//! touched per request except through a shard's own handles (which never
//! block), or stop a sink before the shards handed over their last lines.

use std::fmt::Write as _;

use super::access_log::{AccessLog, Counters, ShardLog};
use super::trace::{ExportStats, Exporter, SpanSink};
use crate::config::Compiled;

/// The control-plane side of both sinks.
pub struct Telemetry {
    access: Option<AccessLog>,
    spans: Option<Exporter>,
}

/// One shard's handles: `None` where the sink is not configured.
pub struct ShardTelemetry {
    /// Where this shard's access-log lines go.
    pub access: Option<ShardLog>,
    /// Where this shard's sampled spans go.
    pub spans: Option<SpanSink>,
}

/// The sinks' counters, for the admin thread.
#[derive(Clone)]
pub struct TelemetryStats {
    access: Option<Counters>,
    spans: Option<ExportStats>,
}

impl Telemetry {
    /// Opens the access log (an unopenable file is a start failure) and
    /// starts the exporter, as configured; SIGUSR1 reopens the log.
    pub fn start(cfg: &Compiled, shards: usize) -> std::io::Result<Telemetry> {
        let access = match &cfg.access_log {
            Some(spec) => {
                let log = AccessLog::start(spec, shards)?;
                log.reopen_on_sigusr1()?;
                Some(log)
            }
            None => None,
        };
        let spans = cfg.tracing.otlp.as_ref().map(Exporter::start);
        Ok(Telemetry { access, spans })
    }

    /// Shard `i`'s handles.
    pub fn shard(&self, i: usize) -> ShardTelemetry {
        ShardTelemetry {
            access: self.access.as_ref().map(|l| l.shard(i)),
            spans: self.spans.as_ref().map(Exporter::handle),
        }
    }

    /// Counters the admin thread renders.
    pub fn stats(&self) -> TelemetryStats {
        TelemetryStats {
            access: self.access.as_ref().map(AccessLog::counters),
            spans: self.spans.as_ref().map(Exporter::stats),
        }
    }

    /// Writes and exports what the shards handed over, then stops both
    /// threads (bounded: see `Exporter::shutdown`). Call after the shards
    /// have stopped, so their last lines are in.
    pub fn shutdown(self) {
        if let Some(l) = self.access {
            l.shutdown();
        }
        if let Some(e) = self.spans {
            e.shutdown();
        }
    }
}

impl ShardTelemetry {
    /// Hands buffered access-log lines to the writer (the shard's tick).
    pub fn flush(&self) {
        if let Some(l) = &self.access {
            l.flush();
        }
    }
}

impl TelemetryStats {
    /// Prometheus lines for the sinks that are configured.
    pub fn render(&self, out: &mut String) {
        let mut one = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        if let Some(a) = &self.access {
            one(
                "ringway_access_log_lines_total",
                "Access-log lines written.",
                a.written(),
            );
            one(
                "ringway_access_log_dropped_total",
                "Access-log lines dropped because the writer could not keep up or a write failed.",
                a.dropped(),
            );
            one(
                "ringway_access_log_write_errors_total",
                "Failed writes to the access-log sink.",
                a.write_errors(),
            );
        }
        if let Some(s) = &self.spans {
            one(
                "ringway_trace_spans_exported_total",
                "Spans the OTLP collector accepted.",
                s.exported(),
            );
            one(
                "ringway_trace_spans_dropped_total",
                "Spans dropped: queue full, collector down or refusing.",
                s.dropped(),
            );
            one(
                "ringway_trace_export_failures_total",
                "Span batches the collector did not accept.",
                s.failed_batches(),
            );
        }
    }
}
