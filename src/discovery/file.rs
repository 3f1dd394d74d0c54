//! The `file` source: one thread polls every `targets_file` and publishes
//! its set when the file changes.
//!
//! A file is judged changed when its modification time, size, inode or
//! device differ from the last poll, checked every `POLL` (500 ms): a change
//! is applied within about half a second. Write the file atomically (write a
//! temporary file, then rename it over), or a poll may see it half-written;
//! that is then logged and counted, and the next poll applies the whole one.
//!
//! Owns: the watcher thread and each file's last stamp and last good set.
//! Must never: publish a set from an invalid or missing file (the last good
//! set stays), or log the same bad file more than once per change.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::targets_json::read;
use super::worker::{Stop, Worker};
use super::{DiscoveryStats, Target, TargetSink};
use crate::observe::log::{self, Val};

/// How often each file's metadata is checked.
pub const POLL: Duration = Duration::from_millis(500);

/// What tells one version of a file from the next.
type Stamp = Option<(i64, i64, u64, u64, u64)>;

fn stamp(p: &Path) -> Stamp {
    let m = std::fs::metadata(p).ok()?;
    Some((m.mtime(), m.mtime_nsec(), m.size(), m.ino(), m.dev()))
}

/// One watched file.
pub struct Watched {
    /// Index into `Compiled::upstreams`.
    pub upstream: usize,
    /// The upstream's name, for logs.
    pub name: Box<str>,
    /// The file.
    pub path: PathBuf,
    stamp: Stamp,
    last: Option<Vec<Target>>,
}

impl Watched {
    /// A file not read yet.
    pub fn new(upstream: usize, name: Box<str>, path: PathBuf) -> Watched {
        Watched {
            upstream,
            name,
            path,
            stamp: None,
            last: None,
        }
    }

    /// Reads the file if its stamp changed (always on the first call) and
    /// publishes a new valid set. A bad file at the first call publishes
    /// the empty set, so that the upstream starts with a known one.
    fn poll(&mut self, sink: &dyn TargetSink, stats: &DiscoveryStats) {
        let now = stamp(&self.path);
        if self.last.is_some() && now == self.stamp {
            return;
        }
        self.stamp = now;
        match read(&self.path) {
            Ok(set) if self.last.as_ref() == Some(&set) => {}
            Ok(set) => {
                log::info(
                    "targets file applied",
                    &[
                        ("upstream", Val::Str(&self.name)),
                        ("file", Val::Str(&self.path.to_string_lossy())),
                        ("targets", Val::Num(set.len() as u64)),
                    ],
                );
                self.publish(sink, stats, set);
            }
            Err(e) => {
                stats.failed(self.upstream);
                let kept = self.last.as_ref().map_or(0, Vec::len) as u64;
                log::warn(
                    "targets file invalid, keeping the last good set",
                    &[
                        ("upstream", Val::Str(&self.name)),
                        ("file", Val::Str(&self.path.to_string_lossy())),
                        ("error", Val::Str(&e)),
                        ("targets", Val::Num(kept)),
                    ],
                );
                if self.last.is_none() {
                    self.publish(sink, stats, Vec::new());
                }
            }
        }
    }

    fn publish(&mut self, sink: &dyn TargetSink, stats: &DiscoveryStats, set: Vec<Target>) {
        stats.published(self.upstream, set.len());
        sink.publish(self.upstream, set.clone());
        self.last = Some(set);
    }
}

/// Reads every file once (publishing before it returns, so the shards start
/// with the sets), then starts the thread that watches them.
pub fn start(
    mut files: Vec<Watched>,
    sink: Arc<dyn TargetSink>,
    stats: DiscoveryStats,
) -> std::io::Result<Worker> {
    for f in &mut files {
        f.poll(&*sink, &stats);
    }
    Worker::spawn("ringway-discovery-file", move |stop: Stop| {
        while !stop.wait(POLL) {
            for f in &mut files {
                f.poll(&*sink, &stats);
            }
        }
    })
}
