//! The `json` format: one object per line, keys in a fixed order, absent
//! fields left out.
//!
//! Owns: that spelling. Must never: allocate except by growing `out`, or
//! let a client byte end the string or the line it is in (every string goes
//! through `text::push_json_bytes`).

use std::io::Write as _;
use std::net::SocketAddr;

use super::AccessRecord;
use crate::observe::text::{push_hex, push_json_bytes, push_u64, UtcTime};

/// Appends `r` as one JSON object and a `\n`.
pub fn write_json(r: &AccessRecord<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"ts\":\"");
    out.extend_from_slice(UtcTime::from_unix_ns(r.ts).rfc3339(6).as_bytes());
    out.push(b'"');
    if !r.request_id.is_empty() {
        text(out, "request_id", r.request_id);
    }
    if let Some(id) = &r.trace_id {
        hex(out, "trace_id", id);
    }
    if let Some(id) = &r.span_id {
        hex(out, "span_id", id);
    }
    addr(out, "client", r.client);
    text(out, "method", r.method);
    text(out, "path", r.path);
    opt_text(out, "query", r.query);
    opt_text(out, "host", r.host);
    opt_text(out, "user_agent", r.user_agent);
    opt_text(out, "referer", r.referer);
    opt_text(out, "route", r.route.map(str::as_bytes));
    opt_text(out, "upstream", r.upstream.map(str::as_bytes));
    if let Some(t) = r.target {
        addr(out, "target", t);
    }
    num(out, "status", r.status.into());
    opt_text(out, "error_code", r.error_code.map(str::as_bytes));
    num(out, "bytes_in", r.bytes_in);
    num(out, "bytes_out", r.bytes_out);
    num(out, "duration_us", r.duration_us);
    if let Some(us) = r.upstream_connect_us {
        num(out, "upstream_connect_us", us);
    }
    if let Some(us) = r.upstream_ttfb_us {
        num(out, "upstream_ttfb_us", us);
    }
    num(out, "retries", r.retries.into());
    num(out, "shard", r.shard.into());
    if let Some(tls) = r.tls {
        key(out, "tls");
        out.extend_from_slice(if tls { b"true" } else { b"false" });
    }
    opt_text(out, "auth", r.auth.map(str::as_bytes));
    opt_text(out, "rate_limit", r.rate_limit.map(str::as_bytes));
    opt_text(out, "cache", r.cache.map(str::as_bytes));
    out.extend_from_slice(b"}\n");
}

/// `,"name":`; names are constants of this file, never client bytes.
fn key(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

fn text(out: &mut Vec<u8>, name: &str, v: &[u8]) {
    key(out, name);
    push_json_bytes(out, v);
}

fn opt_text(out: &mut Vec<u8>, name: &str, v: Option<&[u8]>) {
    if let Some(v) = v {
        text(out, name, v);
    }
}

fn num(out: &mut Vec<u8>, name: &str, v: u64) {
    key(out, name);
    push_u64(out, v);
}

fn hex(out: &mut Vec<u8>, name: &str, v: &[u8]) {
    key(out, name);
    out.push(b'"');
    push_hex(out, v);
    out.push(b'"');
}

fn addr(out: &mut Vec<u8>, name: &str, a: SocketAddr) {
    key(out, name);
    out.push(b'"');
    // Writing to a Vec cannot fail; `SocketAddr`'s Display does not allocate.
    let _ = write!(out, "{a}");
    out.push(b'"');
}
