//! The `combined` format of nginx and Apache, for tools that read it:
//! `IP - USER [TIME] "REQUEST" STATUS BYTES "REFERER" "USER_AGENT"`.
//!
//! Owns: that spelling, and nginx's `\xXX` escaping of client bytes. Must
//! never: allocate except by growing `out`, or let a client byte end a field
//! or the line early (quotes, backslashes, control and non-ASCII bytes are
//! escaped everywhere, spaces too outside the quoted header fields).

use std::io::Write as _;

use super::AccessRecord;
use crate::http::Version;
use crate::observe::text::{push_u64, UtcTime};

/// The status written for a request that got no response: nginx's 499
/// ("client closed request"), since readers of this format expect three digits.
pub const NO_RESPONSE_STATUS: u16 = 499;

/// Appends `r` as one combined-format line and a `\n`.
pub fn write_combined(r: &AccessRecord<'_>, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail; `IpAddr`'s Display does not allocate.
    let _ = write!(out, "{}", r.client.ip());
    out.extend_from_slice(b" - ");
    field(out, r.auth.map(str::as_bytes), true);
    out.extend_from_slice(b" [");
    out.extend_from_slice(UtcTime::from_unix_ns(r.ts).clf().as_bytes());
    out.extend_from_slice(b"] \"");
    request_line(out, r);
    out.extend_from_slice(b"\" ");
    let status = match r.status {
        0 => NO_RESPONSE_STATUS,
        s => s,
    };
    push_u64(out, status.into());
    out.push(b' ');
    push_u64(out, r.bytes_out);
    out.extend_from_slice(b" \"");
    field(out, r.referer, false);
    out.extend_from_slice(b"\" \"");
    field(out, r.user_agent, false);
    out.extend_from_slice(b"\"\n");
}

/// `METHOD PATH[?QUERY] HTTP/1.x`, or `-` when no request line was parsed.
fn request_line(out: &mut Vec<u8>, r: &AccessRecord<'_>) {
    if r.method.is_empty() {
        out.push(b'-');
        return;
    }
    escape(out, r.method, true);
    out.push(b' ');
    escape(out, r.path, true);
    if let Some(q) = r.query {
        out.push(b'?');
        escape(out, q, true);
    }
    out.extend_from_slice(match r.version {
        Version::Http10 => b" HTTP/1.0",
        Version::Http11 => b" HTTP/1.1",
    });
}

/// An optional field: `-` when absent or empty.
fn field(out: &mut Vec<u8>, v: Option<&[u8]>, spaces: bool) {
    match v {
        Some(v) if !v.is_empty() => escape(out, v, spaces),
        _ => out.push(b'-'),
    }
}

/// Appends `v` with `"`, `\`, control and non-ASCII bytes (and spaces when
/// `spaces`) as `\xXX`, as nginx writes them.
fn escape(out: &mut Vec<u8>, v: &[u8], spaces: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut start = 0;
    for (i, &b) in v.iter().enumerate() {
        let plain = b > b' ' && b < 0x7f && b != b'"' && b != b'\\';
        if plain || (b == b' ' && !spaces) {
            continue;
        }
        out.extend_from_slice(&v[start..i]);
        out.extend_from_slice(&[
            b'\\',
            b'x',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 15)],
        ]);
        start = i + 1;
    }
    out.extend_from_slice(&v[start..]);
}
