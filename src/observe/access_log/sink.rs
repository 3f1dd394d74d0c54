//! The writer thread: takes the batches shards hand over, writes each with
//! one `write_all` (one `write(2)` unless the kernel takes less), gives the
//! buffer back to its shard, and reopens the file when asked.
//!
//! Owns: the output file or stdout, reopening, counting what was written or
//! lost to write errors, and logging those errors once per burst. Must
//! never: run on a shard, stop on an error, or write a line in two calls.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use super::Stats;
use crate::observe::log::{self, Val};

/// Longest the writer sleeps between checks for a reopen request when no
/// batch arrives, so a rotated file is let go of even when idle.
const POLL: Duration = Duration::from_millis(100);

/// A buffer a shard hands over, with the way back to it.
pub struct Batch {
    /// Whole lines, each ending in `\n`.
    pub buf: Vec<u8>,
    /// How many lines `buf` holds.
    pub lines: u64,
    /// Where the emptied buffer goes (its shard's pool).
    pub back: SyncSender<Vec<u8>>,
}

/// What the writer receives.
pub enum Msg {
    /// Lines to write.
    Batch(Batch),
    /// Write what is queued, then exit.
    Stop,
}

/// Where lines end up.
pub trait Sink: Send + 'static {
    /// Writes all of `buf`.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Opens the output again (a file renamed away is replaced by a new one).
    fn reopen(&mut self) -> io::Result<()>;
    /// Names the output in log lines.
    fn name(&self) -> String;
}

/// The process's standard output.
pub struct Stdout;

impl Sink for Stdout {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        // Nothing else in `run` writes to stdout; the lock only orders this
        // thread against a stray print.
        let mut out = io::stdout().lock();
        out.write_all(buf)?;
        out.flush()
    }

    fn reopen(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn name(&self) -> String {
        "stdout".into()
    }
}

/// A file opened with `O_APPEND`, so lines from a second writer (or a
/// restarted gateway) land after ours, never over them.
pub struct FileSink {
    path: PathBuf,
    file: File,
}

impl FileSink {
    /// Opens `path` for appending, creating it (mode 0640) if missing.
    pub fn open(path: PathBuf) -> io::Result<FileSink> {
        let file = open_append(&path)?;
        Ok(FileSink { path, file })
    }
}

fn open_append(path: &std::path::Path) -> io::Result<File> {
    // 0640: lines name clients and users; the umask can narrow it further.
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
}

impl Sink for FileSink {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }

    fn reopen(&mut self) -> io::Result<()> {
        // The old file stays in use until the new one is open.
        self.file = open_append(&self.path)?;
        Ok(())
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// The writer's state between batches.
pub struct Writer<S> {
    sink: S,
    stats: Arc<Stats>,
    reopen: Arc<AtomicBool>,
    /// Inside a burst of failed writes (reported at its start and end).
    failing: bool,
    /// Lines lost in the current burst.
    lost: u64,
    /// Failure bursts reported so far.
    pub bursts: u64,
}

impl<S: Sink> Writer<S> {
    /// A writer into `sink` that counts in `stats` and reopens when `reopen` is set.
    pub fn new(sink: S, stats: Arc<Stats>, reopen: Arc<AtomicBool>) -> Writer<S> {
        Writer {
            sink,
            stats,
            reopen,
            failing: false,
            lost: 0,
            bursts: 0,
        }
    }

    /// The thread's body: until `Stop` (or every sender is gone), write what arrives.
    pub fn run(mut self, rx: Receiver<Msg>) {
        loop {
            let msg = rx.recv_timeout(POLL);
            // Checked before the batch is written: a batch sent after
            // `reopen()` returned goes to the new file.
            self.reopen_if_asked();
            match msg {
                Ok(Msg::Batch(b)) => self.write(b),
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        // What shards handed over before (or just after) the stop.
        while let Ok(msg) = rx.try_recv() {
            if let Msg::Batch(b) = msg {
                self.write(b);
            }
        }
    }

    fn reopen_if_asked(&mut self) {
        if !self.reopen.swap(false, Ordering::AcqRel) {
            return;
        }
        if let Err(e) = self.sink.reopen() {
            log::error(
                "access log reopen failed, still writing to the old file",
                &[
                    ("output", Val::Str(&self.sink.name())),
                    ("error", Val::Str(&e.to_string())),
                ],
            );
        }
    }

    /// Writes one batch and sends its buffer back.
    pub fn write(&mut self, b: Batch) {
        let Batch {
            mut buf,
            lines,
            back,
        } = b;
        match self.sink.write_all(&buf) {
            Ok(()) => {
                self.stats.written.fetch_add(lines, Ordering::Relaxed);
                if self.failing {
                    self.failing = false;
                    log::info(
                        "access log writing again",
                        &[
                            ("output", Val::Str(&self.sink.name())),
                            ("lines_lost", Val::Num(self.lost)),
                        ],
                    );
                }
            }
            Err(e) => {
                self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
                self.stats.dropped.fetch_add(lines, Ordering::Relaxed);
                if !self.failing {
                    self.failing = true;
                    self.lost = 0;
                    self.bursts += 1;
                    log::error(
                        "access log write failed, dropping lines until a write succeeds",
                        &[
                            ("output", Val::Str(&self.sink.name())),
                            ("error", Val::Str(&e.to_string())),
                        ],
                    );
                }
                self.lost += lines;
            }
        }
        buf.clear();
        // A buffer a huge line grew is cut back here, off the shard.
        buf.shrink_to(super::BUF_CAPACITY);
        // The shard may be gone; the buffer is then freed here.
        let _ = back.try_send(buf);
    }
}
