//! The span exporter: shards hand finished spans to a bounded queue
//! (`SpanSink::submit`), and one control-plane thread polls it, batches the
//! spans and POSTs them to the collector as OTLP/HTTP JSON.
//!
//! Owns: the queue bound, the three counters and the thread's lifetime.
//! Must never: make a shard wait or wake a thread (a full queue drops the
//! span and counts it; the thread polls, see `batch`), retry a failed batch
//! (it is dropped and counted), or hold more than `QUEUE_CAPACITY +
//! MAX_BATCH` spans, however long the collector is down.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::batch::{sleep_after, Batcher, MAX_BATCH};
use super::json;
use super::post::{self, PostError};
use super::span::SpanRecord;
use crate::config::OtlpEndpoint;
use crate::observe::log::{self, Val};

/// Spans the queue holds between the shards and the exporter thread.
pub const QUEUE_CAPACITY: usize = 2048;
/// Longest one export may take: connect (1 s at most), send and answer.
const EXPORT_DEADLINE: Duration = Duration::from_secs(3);
/// How long `shutdown` lets the final flush run.
pub const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);

/// Counters shared by the sinks (drops) and the thread (the rest).
#[derive(Default)]
struct Counters {
    dropped: AtomicU64,
    exported: AtomicU64,
    failed_batches: AtomicU64,
}

/// A shard's handle to the exporter: cheap to clone, never blocks.
#[derive(Clone)]
pub struct SpanSink {
    tx: SyncSender<SpanRecord>,
    counters: Arc<Counters>,
}

impl SpanSink {
    /// Queues `span` for export, or drops and counts it when the queue is
    /// full (the collector is slow or down) or the exporter has stopped.
    pub fn submit(&self, span: SpanRecord) {
        // The receiver never blocks on the queue, so no send wakes a thread.
        if self.tx.try_send(span).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A read-only view of the exporter's counters (cheap to clone).
#[derive(Clone)]
pub struct ExportStats(Arc<Counters>);

impl ExportStats {
    /// Spans lost: queue full, exporter stopped, or in a failed batch
    /// (`ringway_trace_spans_dropped_total`).
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    /// Spans the collector accepted (`ringway_trace_spans_exported_total`).
    pub fn exported(&self) -> u64 {
        self.0.exported.load(Ordering::Relaxed)
    }

    /// Export requests that failed (`ringway_trace_export_failures_total`).
    pub fn failed_batches(&self) -> u64 {
        self.0.failed_batches.load(Ordering::Relaxed)
    }
}

/// The exporter thread and its counters (control plane).
pub struct Exporter {
    tx: SyncSender<SpanRecord>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Exporter {
    /// Starts the exporter thread for `endpoint`. If the thread cannot be
    /// started, the error is logged and every span is dropped and counted.
    pub fn start(endpoint: &OtlpEndpoint) -> Exporter {
        let (tx, rx) = mpsc::sync_channel(QUEUE_CAPACITY);
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut worker = Worker {
            endpoint: endpoint.clone(),
            counters: Arc::clone(&counters),
            body: String::new(),
            req: Vec::new(),
            failing: false,
        };
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("ringway-otlp".into())
            .spawn(move || worker.run(&rx, &flag));
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                log::error(
                    "otlp exporter not started: spans will be dropped",
                    &[("error", Val::Str(&e.to_string()))],
                );
                None
            }
        };
        Exporter {
            tx,
            counters,
            stop,
            thread,
        }
    }

    /// A handle for one shard.
    pub fn handle(&self) -> SpanSink {
        SpanSink {
            tx: self.tx.clone(),
            counters: Arc::clone(&self.counters),
        }
    }

    /// The counters, for the admin thread; they outlive `shutdown`.
    pub fn stats(&self) -> ExportStats {
        ExportStats(Arc::clone(&self.counters))
    }

    /// `ExportStats::dropped`.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// `ExportStats::exported`.
    pub fn exported(&self) -> u64 {
        self.counters.exported.load(Ordering::Relaxed)
    }

    /// `ExportStats::failed_batches`.
    pub fn failed_batches(&self) -> u64 {
        self.counters.failed_batches.load(Ordering::Relaxed)
    }

    /// Sends what is queued (within `SHUTDOWN_FLUSH` and the export
    /// timeouts), then ends the thread and waits for it.
    pub fn shutdown(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        let Some(t) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::Release);
        t.thread().unpark();
        let _ = t.join();
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// The exporter thread's state.
struct Worker {
    endpoint: OtlpEndpoint,
    counters: Arc<Counters>,
    /// The JSON body and the request, reused from batch to batch.
    body: String,
    req: Vec<u8>,
    /// Whether the last export failed (failures are logged on change only).
    failing: bool,
}

impl Worker {
    fn run(&mut self, rx: &Receiver<SpanRecord>, stop: &AtomicBool) {
        let mut batch = Batcher::default();
        while !stop.load(Ordering::Acquire) {
            // At most one batch a turn, so a stop waits for one export only.
            let room = MAX_BATCH - batch.len();
            let took = rx
                .try_iter()
                .take(room)
                .map(|span| batch.push(span, Instant::now()))
                .count();
            let now = Instant::now();
            if batch.due(now) {
                self.export(batch.take(), now + EXPORT_DEADLINE);
                continue;
            }
            // `shutdown` unparks the thread, so a stop is seen at once.
            std::thread::park_timeout(sleep_after(took, &batch, now));
        }
        self.flush(rx, batch, Instant::now() + SHUTDOWN_FLUSH);
    }

    /// Sends `batch` and what is queued now, until `deadline`; what is left
    /// then is dropped and counted. Bounded: shards may still be submitting.
    fn flush(&mut self, rx: &Receiver<SpanRecord>, mut batch: Batcher, deadline: Instant) {
        for span in rx.try_iter().take(QUEUE_CAPACITY) {
            batch.push(span, Instant::now());
            if batch.len() >= MAX_BATCH {
                self.export(batch.take(), deadline);
            }
        }
        if !batch.is_empty() {
            self.export(batch.take(), deadline);
        }
    }

    fn export(&mut self, spans: Vec<SpanRecord>, deadline: Instant) {
        let n = spans.len() as u64;
        json::encode(&spans, &mut self.body);
        drop(spans);
        post::request(&self.endpoint, &self.body, &mut self.req);
        match post::post(&self.endpoint, &self.req, deadline) {
            Ok(_) => {
                self.counters.exported.fetch_add(n, Ordering::Relaxed);
                if std::mem::replace(&mut self.failing, false) {
                    log::info("otlp export recovered", &[]);
                }
            }
            Err(e) => {
                self.counters.failed_batches.fetch_add(1, Ordering::Relaxed);
                self.counters.dropped.fetch_add(n, Ordering::Relaxed);
                if !std::mem::replace(&mut self.failing, true) {
                    self.log_failure(&e);
                }
            }
        }
    }

    fn log_failure(&self, e: &PostError) {
        log::warn(
            "otlp export failing: spans are dropped until the collector answers",
            &[
                ("endpoint", Val::Str(&self.endpoint.to_string())),
                ("error", Val::Str(&e.to_string())),
            ],
        );
    }
}
