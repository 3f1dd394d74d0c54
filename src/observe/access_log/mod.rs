//! The access log: one line per finished request, written off the shards.
//!
//! Each shard formats lines into its own buffer (`ShardLog`) and hands full
//! buffers, or whatever it has at each `flush`, to one writer thread over a
//! bounded queue (`sink`). A shard owns at most `BUFFERS` buffers: when the
//! writer still holds all the others, the shard drops its current buffer's
//! lines and counts them instead of waiting. `AccessLog` is the control
//! plane's handle: it starts and stops the writer, hands out the shard
//! handles, asks for a reopen (SIGUSR1) and reads the counters.
//!
//! Owns: the format of a line (`json`, `combined`), sampling (`sample`), the
//! per-shard buffers (`shard`) and the writer thread (`sink`). Must never:
//! block a shard, do I/O on one, or take a lock on the per-request path.

mod combined;
mod json;
mod record;
mod sample;
mod shard;
mod sink;

#[cfg(test)]
mod format_tests;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use combined::{write_combined, NO_RESPONSE_STATUS};
pub use json::write_json;
pub use record::AccessRecord;
pub use shard::ShardLog;

use crate::config::{AccessLogSpec, LogFormat, LogOutput};
use sample::Sampler;
use sink::{FileSink, Msg, Sink, Writer};

/// A buffer is handed to the writer once it holds this many bytes: large,
/// because each hand-over wakes the writer, and a writer sharing a core
/// with a busy shard preempts it. With 48 KiB (~600 wake-ups a second at
/// 64k requests a second) the log cost +9.7 % CPU per request, with 176 KiB
/// +5.7 % (bench/RESULTS.md, "Observability: what it costs").
pub const FLUSH_AT: usize = 176 * 1024;
/// Each buffer's capacity: `FLUSH_AT` plus room for the line that crosses
/// it, so lines under 16 KiB never grow a buffer.
pub const BUF_CAPACITY: usize = 192 * 1024;
/// Buffers per shard: one being filled, up to `BUFFERS - 1` queued for or
/// being written by the writer. The most a shard can have waiting is
/// `(BUFFERS - 1) * FLUSH_AT` bytes (1.2 MiB); beyond that, lines drop.
pub const BUFFERS: usize = 8;

/// Counters shared by the shards and the writer.
#[derive(Default)]
struct Stats {
    /// Lines dropped: the writer was behind, or a write failed.
    dropped: AtomicU64,
    /// Lines written.
    written: AtomicU64,
    /// Failed writes (each loses one batch).
    write_errors: AtomicU64,
}

/// The access log's counters, readable from any thread (the admin
/// listener's) while the `AccessLog` itself stays with its owner.
#[derive(Clone)]
pub struct Counters(Arc<Stats>);

impl Counters {
    /// Lines dropped so far, all shards (`ringway_access_log_dropped_total`).
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.0.written.load(Ordering::Relaxed)
    }

    /// Writes that failed so far (their lines count as dropped).
    pub fn write_errors(&self) -> u64 {
        self.0.write_errors.load(Ordering::Relaxed)
    }
}

/// The access log of the whole process (control plane, `Send + Sync`).
pub struct AccessLog {
    to_writer: SyncSender<Msg>,
    stats: Arc<Stats>,
    reopen: Arc<AtomicBool>,
    format: LogFormat,
    sample: f64,
    thread: Option<JoinHandle<()>>,
}

impl AccessLog {
    /// Opens `spec.output` (creating the file) and starts the writer thread
    /// for `shards` shards. An error here should stop the start-up.
    pub fn start(spec: &AccessLogSpec, shards: usize) -> std::io::Result<AccessLog> {
        match &spec.output {
            LogOutput::Stdout => AccessLog::start_with(sink::Stdout, spec, shards),
            LogOutput::File(path) => {
                let file = FileSink::open(path.clone()).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                })?;
                AccessLog::start_with(file, spec, shards)
            }
        }
    }

    /// `start` with any sink (tests stall or fail one on purpose).
    fn start_with<S: Sink>(
        sink: S,
        spec: &AccessLogSpec,
        shards: usize,
    ) -> std::io::Result<AccessLog> {
        // Every shard's whole pool fits, plus the stop message: a shard is
        // bounded by its buffers, never by another shard's share of the queue.
        let (to_writer, rx) = sync_channel(shards.max(1) * BUFFERS + 1);
        let stats = Arc::new(Stats::default());
        let reopen = Arc::new(AtomicBool::new(false));
        let writer = Writer::new(sink, stats.clone(), reopen.clone());
        let thread = std::thread::Builder::new()
            .name("ringway-access-log".into())
            .spawn(move || writer.run(rx))?;
        Ok(AccessLog {
            to_writer,
            stats,
            reopen,
            format: spec.format,
            sample: spec.sample,
            thread: Some(thread),
        })
    }

    /// The handle for shard `i`, to be moved into that shard's thread.
    pub fn shard(&self, i: usize) -> ShardLog {
        let seed = crate::observe::request_id::splitmix64(
            crate::observe::text::unix_ns_now() ^ ((i as u64) << 48),
        );
        ShardLog::new(
            self.format,
            Sampler::new(self.sample, seed),
            self.to_writer.clone(),
            self.stats.clone(),
        )
    }

    /// Lines dropped so far, all shards (`ringway_access_log_dropped_total`).
    pub fn dropped(&self) -> u64 {
        self.counters().dropped()
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.counters().written()
    }

    /// Writes that failed so far (their lines count as dropped).
    pub fn write_errors(&self) -> u64 {
        self.counters().write_errors()
    }

    /// A handle on the counters that outlives `shutdown` (for `/metrics`).
    pub fn counters(&self) -> Counters {
        Counters(self.stats.clone())
    }

    /// Asks the writer to reopen the file before its next write (stdout:
    /// nothing to do). One atomic store: callable from any thread.
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Release);
    }

    /// Makes SIGUSR1 call `reopen`, as `kill -USR1` from logrotate expects.
    /// The handler only sets the flag the writer polls.
    pub fn reopen_on_sigusr1(&self) -> std::io::Result<signal_hook::SigId> {
        signal_hook::flag::register(signal_hook::consts::SIGUSR1, self.reopen.clone())
    }

    /// Writes everything shards handed over, then stops the writer. Flush
    /// the shards' handles first (or drop them: dropping flushes).
    pub fn shutdown(mut self) {
        // Blocks only while the queue is full, which the writer is emptying.
        let _ = self.to_writer.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for AccessLog {
    /// Without `shutdown`: the writer is told to stop but not waited for.
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.to_writer.try_send(Msg::Stop);
        }
    }
}
