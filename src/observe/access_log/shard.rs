//! `ShardLog`: one shard's side of the access log. Lines are formatted into
//! the shard's current buffer; a full buffer (or `flush`) is handed to the
//! writer thread and replaced by an empty one from the shard's small pool.
//!
//! Owns: the shard's buffers and the decision to drop when the writer is
//! behind. Must never: block, write to the output, or allocate once its
//! pool is made (buffers come back from the writer and are reused). The
//! only syscall is the queue's wake-up of an idle writer, once per batch.

use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use super::sample::Sampler;
use super::sink::{Batch, Msg};
use super::{write_combined, write_json, AccessRecord, Stats, BUFFERS, BUF_CAPACITY, FLUSH_AT};
use crate::config::LogFormat;

/// One shard's access log handle: `Send` to move it into the shard, then
/// used only there (`!Sync`).
pub struct ShardLog {
    format: LogFormat,
    sampler: Sampler,
    /// The buffer lines are formatted into.
    buf: Cell<Vec<u8>>,
    /// Lines in `buf`.
    lines: Cell<u64>,
    /// Buffers made so far; at most `BUFFERS`, then the pool is complete.
    made: Cell<usize>,
    to_writer: SyncSender<Msg>,
    /// Where the writer returns emptied buffers (cloned into each batch).
    back_tx: SyncSender<Vec<u8>>,
    back_rx: Receiver<Vec<u8>>,
    stats: Arc<Stats>,
}

impl ShardLog {
    /// A handle sending to `to_writer`, counting drops in `stats`.
    pub(super) fn new(
        format: LogFormat,
        sampler: Sampler,
        to_writer: SyncSender<Msg>,
        stats: Arc<Stats>,
    ) -> ShardLog {
        // Room for every buffer of the pool, so a return never fails for space.
        let (back_tx, back_rx) = sync_channel(BUFFERS);
        ShardLog {
            format,
            sampler,
            buf: Cell::new(Vec::with_capacity(BUF_CAPACITY)),
            lines: Cell::new(0),
            made: Cell::new(1),
            to_writer,
            back_tx,
            back_rx,
            stats,
        }
    }

    /// Whether a request that ended with `status` gets a line: always for
    /// 5xx, else with the configured probability. Call it before building
    /// the record; `log` does not sample again.
    #[inline]
    pub fn wants(&self, status: u16) -> bool {
        self.sampler.wants(status)
    }

    /// Formats `r` into the current buffer, and hands the buffer over once
    /// it passes `FLUSH_AT`.
    pub fn log(&self, r: &AccessRecord<'_>) {
        let mut buf = self.buf.take();
        match self.format {
            LogFormat::Json => write_json(r, &mut buf),
            LogFormat::Combined => write_combined(r, &mut buf),
        }
        self.lines.set(self.lines.get() + 1);
        let full = buf.len() >= FLUSH_AT;
        self.buf.set(buf);
        if full {
            self.flush();
        }
    }

    /// Hands whatever is buffered to the writer. When the writer still holds
    /// every other buffer of this shard, or its queue is closed, the lines
    /// are dropped and counted instead: a request never waits for the disk.
    pub fn flush(&self) {
        let buf = self.buf.take();
        if buf.is_empty() {
            self.buf.set(buf);
            return;
        }
        let lines = self.lines.replace(0);
        let Some(next) = self.spare() else {
            self.dropped(lines, buf);
            return;
        };
        let batch = Batch {
            buf,
            lines,
            back: self.back_tx.clone(),
        };
        match self.to_writer.try_send(Msg::Batch(batch)) {
            Ok(()) => self.buf.set(next),
            Err(TrySendError::Full(msg) | TrySendError::Disconnected(msg)) => {
                // The pool has room: `next` was just taken from it.
                let _ = self.back_tx.try_send(next);
                if let Msg::Batch(b) = msg {
                    self.dropped(lines, b.buf);
                }
            }
        }
    }

    /// An empty buffer: one the writer gave back, else a new one while the
    /// pool is not complete.
    fn spare(&self) -> Option<Vec<u8>> {
        if let Ok(b) = self.back_rx.try_recv() {
            return Some(b);
        }
        let made = self.made.get();
        if made < BUFFERS {
            self.made.set(made + 1);
            return Some(Vec::with_capacity(BUF_CAPACITY));
        }
        None
    }

    /// Counts `lines` as dropped and keeps `buf`, emptied, as the current buffer.
    fn dropped(&self, lines: u64, mut buf: Vec<u8>) {
        self.stats.dropped.fetch_add(lines, Ordering::Relaxed);
        buf.clear();
        self.buf.set(buf);
    }
}

impl Drop for ShardLog {
    fn drop(&mut self) {
        self.flush();
    }
}
