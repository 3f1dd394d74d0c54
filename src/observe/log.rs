//! JSON log lines on stderr: `{"ts":…,"level":…,"msg":…, fields…}`.
//!
//! Used for lifecycle events and rejected requests, never on the success path
//! of a request. Each line is formatted in full, then written with one call so
//! lines from different shards never interleave.

use std::fmt::Write as _;
use std::io::Write as _;

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
    push_rfc3339_now(&mut s);
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
pub fn push_json_str(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_rfc3339_now(out: &mut String) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_millis()
    );
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_781), (2026, 11, 24));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn escapes_json() {
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\nd\u{1}");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001\"");
    }
}
