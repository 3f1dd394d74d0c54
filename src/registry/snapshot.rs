//! `[registry] state_file`: the registry as one JSON document, written
//! atomically and read back at start.
//!
//! The file holds every instance with its expiry as Unix time in ms, so
//! that a restart keeps each instance for what was left of its TTL (a
//! monotonic clock does not survive the process). A write goes to a
//! temporary file in the same directory, is fsynced, renamed over the old
//! one, and the directory fsynced: a crash leaves the old file or the new
//! one, never a mix.
//!
//! Owns: the file's format (`version` 1) and the write protocol. Must
//! never: decide what is valid in an entry (`Registry::restore` checks each
//! with the same rules as a registration), or leave a partly written file
//! under the real name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::store::Store;
use super::Now;

/// The format's version; another one is refused (as a corrupt file is).
pub const VERSION: u32 = 1;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// `VERSION`.
    pub version: u32,
    /// When it was written (Unix time, ms): for people reading it.
    pub written_unix_ms: u64,
    /// Every instance, by service then id.
    pub instances: Vec<Entry>,
}

/// One instance in the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Its service.
    pub service: String,
    /// Its id.
    pub id: String,
    /// `IP:PORT`.
    pub addr: String,
    /// Its weight.
    pub weight: u32,
    /// Its TTL in seconds.
    pub ttl_s: u32,
    /// When it expires without a heartbeat (Unix time, ms).
    pub expires_unix_ms: u64,
    /// Its metadata.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// `store` as the file's text at `now`: compact JSON with one instance per
/// line (a full registry with large metadata is megabytes; indentation
/// would add to every write, and `jq` reads it either way).
pub fn render(store: &Store, now: Now) -> String {
    let mut text = format!(
        "{{\"version\":{VERSION},\"written_unix_ms\":{},\"instances\":[",
        now.unix_ms
    );
    let mut first = true;
    for (service, ids) in store.services() {
        for (id, i) in ids {
            let e = Entry {
                service: service.to_owned(),
                id: id.to_string(),
                addr: i.addr.to_string(),
                weight: i.weight,
                ttl_s: i.ttl_s,
                expires_unix_ms: now.unix_ms.saturating_add(i.remaining_ms(now.mono_ms)),
                metadata: i.metadata.clone(),
            };
            text.push_str(if first { "\n" } else { ",\n" });
            first = false;
            text.push_str(&serde_json::to_string(&e).unwrap_or_default());
        }
    }
    text.push_str("\n]}\n");
    text
}

/// The entries of a file's text, or why it cannot be read.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let s: Snapshot = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if s.version != VERSION {
        return Err(format!(
            "version {} is not {VERSION}, the only one this build reads",
            s.version
        ));
    }
    Ok(s.instances)
}

/// The file's text; `None` when there is no file yet.
pub fn read(path: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `path` with `text` atomically (temporary file, fsync, rename,
/// fsync of the directory). The file is readable by its owner only: the
/// metadata is the clients' and may say more than the gateway should show.
pub fn write(path: &Path, text: &str) -> io::Result<()> {
    let tmp = temp_path(path);
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
        return written;
    }
    // The rename is durable once the directory is; a directory that
    // cannot be opened or synced (some file systems) is not an error.
    if let Ok(d) = File::open(dir_of(path)) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Moves a file that could not be read out of the way (to `PATH.corrupt`,
/// replacing an older one), so that the next write does not destroy what
/// someone may want to look at.
pub fn set_aside(path: &Path) -> io::Result<PathBuf> {
    let mut to = path.as_os_str().to_owned();
    to.push(".corrupt");
    let to = PathBuf::from(to);
    fs::rename(path, &to)?;
    Ok(to)
}

/// `.NAME.tmp` beside `path`.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir_of(path).join(format!(".{name}.tmp"))
}

fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}
