//! The header block a stored response keeps (RFC 9111 §3.1), and its
//! update from a 304 or a HEAD (§3.2, §4.3.4).
//!
//! Stored: every field of the response but the hop-by-hop ones, the
//! fields its `Connection` lists, the fields a `private="…"` names (a
//! shared cache must not store them), and `Age` (recomputed on every
//! answer from the stored times). The block is `name: value\r\n` lines, as
//! they go back on the wire.
//!
//! Updated: each field of the 304 replaces the stored lines of that name,
//! except the framing and body-describing fields, which would then
//! describe a body the 304 did not send (`Content-Length`,
//! `Content-Encoding`, `Content-Range`, `Transfer-Encoding`), and the ones
//! never stored.
//!
//! Owns: which lines are kept. Must never: parse a line (callers give
//! parsed name/value pairs), or decide freshness.

use bytes::{BufMut, Bytes, BytesMut};

use crate::http::header::{has_token, HeaderKind};

/// True for a field a stored block never holds.
fn never_stored(name: &[u8], connection: &[&[u8]], private: &[Box<str>]) -> bool {
    HeaderKind::classify(name).is_hop_by_hop()
        || name.eq_ignore_ascii_case(b"age")
        || connection.iter().any(|list| has_token(list, name))
        || private
            .iter()
            .any(|p| name.eq_ignore_ascii_case(p.as_bytes()))
}

/// True for a field a 304 may not change in a stored block.
fn describes_body(name: &[u8]) -> bool {
    [
        &b"content-length"[..],
        b"content-encoding",
        b"content-range",
        b"transfer-encoding",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
}

fn line(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.put_slice(name);
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

/// The block to store for a response with `fields`, whose `private="…"`
/// names are `private`.
pub fn store<'a>(
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    private: &[Box<str>],
) -> Bytes {
    let connection: Vec<&[u8]> = fields
        .clone()
        .filter(|(n, _)| HeaderKind::classify(n) == HeaderKind::Connection)
        .map(|(_, v)| v)
        .collect();
    let mut out = BytesMut::new();
    for (n, v) in fields {
        if !never_stored(n, &connection, private) {
            line(&mut out, n, v);
        }
    }
    out.freeze()
}

/// The lines of a stored block as `(name, value)` pairs.
pub fn lines(block: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> + Clone {
    block
        .split(|&b| b == b'\n')
        .filter_map(|l| l.strip_suffix(b"\r"))
        .filter_map(|l| {
            let colon = l.iter().position(|&b| b == b':')?;
            Some((&l[..colon], l[colon + 1..].trim_ascii_start()))
        })
}

/// `stored` updated with the fields of a 304 (§3.2): the 304's fields
/// replace the stored lines of their names, but for those describing the
/// body and those never stored.
pub fn update<'a>(
    stored: &[u8],
    fresh: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
) -> Bytes {
    let connection: Vec<&[u8]> = fresh
        .clone()
        .filter(|(n, _)| HeaderKind::classify(n) == HeaderKind::Connection)
        .map(|(_, v)| v)
        .collect();
    let takes = |n: &[u8]| !describes_body(n) && !never_stored(n, &connection, &[]);
    let replaced = |n: &[u8]| {
        fresh
            .clone()
            .any(|(f, _)| f.eq_ignore_ascii_case(n) && takes(f))
    };
    let mut out = BytesMut::with_capacity(stored.len());
    for (n, v) in lines(stored) {
        if !replaced(n) {
            line(&mut out, n, v);
        }
    }
    for (n, v) in fresh.clone() {
        if takes(n) {
            line(&mut out, n, v);
        }
    }
    out.freeze()
}
