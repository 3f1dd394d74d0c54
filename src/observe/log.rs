//! JSON log lines on stderr: `{"ts":…,"level":…,"msg":…, fields…}`.
//!
//! Used for lifecycle events and rejected requests, never on the success path
//! of a request. Each line is formatted in full, then written with one call so
//! lines from different shards never interleave.

use std::fmt::Write as _;
use std::io::Write as _;

use super::text::{unix_ns_now, UtcTime};

/// A field value in a log line.
pub enum Val<'a> {
    /// A JSON string (escaped on output).
    Str(&'a str),
    /// A JSON number.
    Num(u64),
}

/// Writes one log line at `level` with `msg` and extra `fields`.
pub fn line(level: &str, msg: &str, fields: &[(&str, Val<'_>)]) {
    let mut s = String::with_capacity(160);
    s.push_str("{\"ts\":\"");
    s.push_str(UtcTime::from_unix_ns(unix_ns_now()).rfc3339(3).as_str());
    s.push_str("\",\"level\":\"");
    s.push_str(level);
    s.push_str("\",\"msg\":");
    push_json_str(&mut s, msg);
    for (k, v) in fields {
        s.push_str(",\"");
        s.push_str(k);
        s.push_str("\":");
        match v {
            Val::Str(v) => push_json_str(&mut s, v),
            Val::Num(n) => {
                let _ = write!(s, "{n}");
            }
        }
    }
    s.push_str("}\n");
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}

/// Logs at level info.
pub fn info(msg: &str, fields: &[(&str, Val<'_>)]) {
    line("info", msg, fields);
}

/// Logs at level warn.
pub fn warn(msg: &str, fields: &[(&str, Val<'_>)]) {
    line("warn", msg, fields);
}

/// Logs at level error.
pub fn error(msg: &str, fields: &[(&str, Val<'_>)]) {
    line("error", msg, fields);
}

/// Appends `v` as a JSON string literal, escaping what JSON requires.
pub use super::text::push_json_str;
