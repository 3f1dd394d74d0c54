//! `[server] watch = true`: reload when the configuration file changes.
//!
//! Polls the file every `POLL` (modification time, size and the bytes'
//! hash, so an editor's same-second, same-size save is seen too) while the
//! configuration in effect says `watch`; a change is reloaded like SIGHUP.
//! A file that is being written and does not parse yet is a failed reload
//! (logged, counted) and the next change is tried again.
//!
//! Owns: the polling thread. Must never: reload a file that did not change,
//! or run on a shard.

use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use super::{Reloader, Trigger};

/// How often the file is looked at.
pub const POLL: Duration = Duration::from_millis(500);

/// A file's modification time, size and bytes' hash; `None` if unreadable.
pub(super) type Stamp = Option<(SystemTime, u64, u64)>;

/// Stamps `p` (also for `certs`, which watches certificate files the same way).
pub(super) fn stamp(p: &Path, seed: &std::collections::hash_map::RandomState) -> Stamp {
    let m = std::fs::metadata(p).ok()?;
    let bytes = std::fs::read(p).ok()?;
    let mut h = seed.build_hasher();
    h.write(&bytes);
    Some((m.modified().ok()?, m.len(), h.finish()))
}

/// Starts the watcher when the configuration comes from a file. It holds
/// the reloader weakly, so it ends with the process's last handle.
pub fn spawn(r: &Arc<Reloader>) -> std::io::Result<()> {
    let Some(path) = r.file().map(Path::to_path_buf) else {
        return Ok(());
    };
    let weak: Weak<Reloader> = Arc::downgrade(r);
    let seed = std::collections::hash_map::RandomState::new();
    let mut last = stamp(&path, &seed);
    std::thread::Builder::new()
        .name("ringway-config-watch".into())
        .spawn(move || loop {
            std::thread::sleep(POLL);
            let Some(r) = weak.upgrade() else { return };
            if !r.current().cfg.server.watch {
                // Off: follow the file silently, so turning it on later
                // does not reload an old edit.
                last = stamp(&path, &seed);
                continue;
            }
            let now = stamp(&path, &seed);
            if now.is_some() && now != last {
                last = now;
                // Failures are logged and counted by `reload`.
                let _ = r.reload(Trigger::Watch);
            }
        })
        .map(|_| ())
}
