//! Text writers shared by the stderr log lines (`log`) and the access log:
//! JSON string escaping of arbitrary bytes, UTC calendar time and RFC 3339
//! stamps, decimal and hex numbers.
//!
//! Owns: how a value is spelled. Must never: allocate except by growing the
//! caller's buffer, read a clock (callers pass the time), or let a byte
//! through that could end a JSON string or a line early.

/// Calls `emit` with the pieces of `v` as a JSON string body (no quotes):
/// valid UTF-8 runs as they are, `"` `\` and control bytes (DEL included)
/// escaped, and each byte of invalid UTF-8 as `\u00XX`, so the output is
/// always valid UTF-8 on one line whatever `v` holds.
pub fn escape_json(v: &[u8], mut emit: impl FnMut(&str)) {
    // Nearly every value (paths, hosts, user agents) is plain printable
    // ASCII: one table scan, one copy, no UTF-8 decoding.
    if !v.iter().any(|&b| !PLAIN[usize::from(b)]) {
        // All bytes are printable ASCII, so this is valid UTF-8.
        emit(std::str::from_utf8(v).unwrap_or_default());
        return;
    }
    for chunk in v.utf8_chunks() {
        let valid = chunk.valid();
        let mut start = 0;
        for (i, b) in valid.bytes().enumerate() {
            let short = match b {
                b'"' => Some("\\\""),
                b'\\' => Some("\\\\"),
                b'\n' => Some("\\n"),
                b'\r' => Some("\\r"),
                b'\t' => Some("\\t"),
                0..=0x1f | 0x7f => None,
                _ => continue,
            };
            // `b` is ASCII, so both cuts fall on char boundaries.
            emit(&valid[start..i]);
            start = i + 1;
            match short {
                Some(s) => emit(s),
                None => emit(unicode_escape(b).as_str()),
            }
        }
        emit(&valid[start..]);
        for &b in chunk.invalid() {
            emit(unicode_escape(b).as_str());
        }
    }
}

/// Bytes that go into a JSON string as they are: printable ASCII but `"`
/// and `\`.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0x20;
    while b < 0x7f {
        t[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    t
};

/// Appends `v` as a quoted JSON string (see `escape_json`).
pub fn push_json_str(out: &mut String, v: &str) {
    out.push('"');
    escape_json(v.as_bytes(), |s| out.push_str(s));
    out.push('"');
}

/// Appends the bytes `v` as a quoted JSON string (see `escape_json`).
pub fn push_json_bytes(out: &mut Vec<u8>, v: &[u8]) {
    out.push(b'"');
    escape_json(v, |s| out.extend_from_slice(s.as_bytes()));
    out.push(b'"');
}

/// Up to 32 ASCII bytes held on the stack (an escape, a stamp).
pub struct Ascii {
    buf: [u8; 32],
    len: usize,
}

impl Ascii {
    fn new() -> Ascii {
        Ascii {
            buf: [0; 32],
            len: 0,
        }
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    /// The last `digits` decimal digits of `n`, zero-padded.
    fn digits(&mut self, mut n: u64, digits: u32) {
        let end = (self.len + digits as usize).min(self.buf.len());
        for slot in self.buf[self.len..end].iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.len = end;
    }

    /// The bytes written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The text written (only ASCII is ever pushed, so the fallback is unused).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn unicode_escape(b: u8) -> Ascii {
    let mut e = Ascii::new();
    for c in [
        b'\\',
        b'u',
        b'0',
        b'0',
        HEX[usize::from(b >> 4)],
        HEX[usize::from(b & 15)],
    ] {
        e.push(c);
    }
    e
}

/// A UTC calendar time, split into its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    /// Year (four digits until 9999).
    pub year: u64,
    /// Month, 1-12.
    pub month: u32,
    /// Day of the month, 1-31.
    pub day: u32,
    /// Hour, 0-23.
    pub hour: u32,
    /// Minute, 0-59.
    pub minute: u32,
    /// Second, 0-59.
    pub second: u32,
    /// Nanoseconds into the second.
    pub nanos: u32,
}

impl UtcTime {
    /// The calendar time of `unix_ns` nanoseconds after 1970-01-01T00:00Z.
    pub fn from_unix_ns(unix_ns: u64) -> UtcTime {
        let secs = unix_ns / 1_000_000_000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days);
        UtcTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
            nanos: (unix_ns % 1_000_000_000) as u32,
        }
    }

    /// RFC 3339 with `frac` fractional digits (0-9): `2026-11-30T08:05:09.123Z`.
    pub fn rfc3339(&self, frac: u32) -> Ascii {
        let mut s = Ascii::new();
        s.digits(self.year, 4);
        s.push(b'-');
        s.digits(self.month.into(), 2);
        s.push(b'-');
        s.digits(self.day.into(), 2);
        s.push(b'T');
        self.clock(&mut s);
        let frac = frac.min(9);
        if frac > 0 {
            s.push(b'.');
            s.digits(u64::from(self.nanos) / 10u64.pow(9 - frac), frac);
        }
        s.push(b'Z');
        s
    }

    /// `HH:MM:SS`.
    fn clock(&self, s: &mut Ascii) {
        s.digits(self.hour.into(), 2);
        s.push(b':');
        s.digits(self.minute.into(), 2);
        s.push(b':');
        s.digits(self.second.into(), 2);
    }

    /// The Common Log Format's time, always in UTC: `30/Nov/2026:08:05:09 +0000`.
    pub fn clf(&self) -> Ascii {
        const MONTHS: &[u8; 36] = b"JanFebMarAprMayJunJulAugSepOctNovDec";
        let mut s = Ascii::new();
        s.digits(self.day.into(), 2);
        s.push(b'/');
        let m = (self.month.clamp(1, 12) as usize - 1) * 3;
        for &b in &MONTHS[m..m + 3] {
            s.push(b);
        }
        s.push(b'/');
        s.digits(self.year, 4);
        s.push(b':');
        self.clock(&mut s);
        for &b in b" +0000" {
            s.push(b);
        }
        s
    }
}

/// Nanoseconds since the Unix epoch now (0 if the clock is before it).
pub fn unix_ns_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: u64) -> (u64, u32, u32) {
    let z = z + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Appends `n` in decimal.
pub fn push_u64(out: &mut impl bytes::BufMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&digits[i..]);
}

/// Appends `bytes` as lowercase hex, two digits each.
pub fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
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
        let mut v = Vec::new();
        push_json_bytes(&mut v, b"\xffcaf\xc3\xa9\x7f\r\t\0\xc3");
        assert_eq!(v, b"\"\\u00ffcaf\xc3\xa9\\u007f\\r\\t\\u0000\\u00c3\"");
    }

    #[test]
    fn stamps() {
        // 2026-11-30T08:05:09.123456789Z
        let ns = (20_787 * 86_400 + 8 * 3600 + 5 * 60 + 9) * 1_000_000_000 + 123_456_789;
        let t = UtcTime::from_unix_ns(ns);
        assert_eq!(t.rfc3339(3).as_str(), "2026-11-30T08:05:09.123Z");
        assert_eq!(t.rfc3339(6).as_str(), "2026-11-30T08:05:09.123456Z");
        assert_eq!(t.rfc3339(0).as_str(), "2026-11-30T08:05:09Z");
        assert_eq!(t.clf().as_str(), "30/Nov/2026:08:05:09 +0000");
        assert_eq!(
            UtcTime::from_unix_ns(0).clf().as_str(),
            "01/Jan/1970:00:00:00 +0000"
        );
    }

    #[test]
    fn numbers() {
        let mut v = Vec::new();
        for n in [0, 7, 10, 12_345, u64::MAX] {
            push_u64(&mut v, n);
            v.push(b' ');
        }
        push_hex(&mut v, &[0x00, 0xab, 0x9f]);
        assert_eq!(v, b"0 7 10 12345 18446744073709551615 00ab9f");
    }
}
