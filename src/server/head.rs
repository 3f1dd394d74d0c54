//! Rebuilding message heads for the other side, as a list of segments:
//! untouched lines stay slices of the buffer they were parsed from, and only
//! the bytes the gateway adds or changes are written (into `Conn::extra`).
//!
//! Owns: which header lines are forwarded (hop-by-hop and route edits
//! removed, but `Upgrade` kept on an upgrade the route proxies and on its
//! 101; client `x-real-ip` and `x-client-cert-*`, and
//! `x-forwarded-for`/`forwarded` unless the peer is a trusted proxy) and
//! which the gateway adds (`via`, `x-forwarded-*`, `x-real-ip`,
//! `x-client-cert-*` from a verified client certificate, `x-request-id`,
//! framing, `connection`, one
//! canonical `content-length` where either side sent a non-canonical value
//! or, upstream, several). Must never: re-serialise a header line that
//! passes through unchanged.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::ops::Range;

use bytes::BytesMut;

use super::body::{self, Framing, PumpFail};
use super::conn::Conn;
use super::request::RequestCtx;
use super::wire::Src;
use crate::http::client_ip::format_ip;
use crate::http::header::is_canonical_decimal;
use crate::http::{BodyKind, HeaderKind, LengthFields, Span, Version};
use crate::route::Route;

/// Appends segments: gateway-written bytes go to `extra`, forwarded ones are
/// ranges of the source buffer.
struct Out<'a> {
    extra: &'a mut BytesMut,
    segs: &'a mut Vec<(Src, Range<usize>)>,
}

impl Out<'_> {
    fn add(&mut self, bytes: &[u8]) {
        let start = self.extra.len();
        self.extra.extend_from_slice(bytes);
        self.segs.push((Src::Extra, start..self.extra.len()));
    }

    fn fwd(&mut self, span: Span) {
        self.segs
            .push((Src::Main, span.start as usize..span.end as usize));
    }
}

impl std::fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.add(s.as_bytes());
        Ok(())
    }
}

/// Builds the upstream request head (plus `prefix` buffered body bytes) into
/// `c.segs` / `c.extra`. `target` is the upstream address, used as `host`
/// only for an HTTP/1.0 client that sent none.
pub fn build_request(
    c: &mut Conn,
    route: &Route,
    rewritten: bool,
    prefix: usize,
    target: SocketAddr,
) {
    let Conn {
        buf,
        head: h,
        extra,
        segs,
        req:
            RequestCtx {
                path,
                rewritten: new_path,
                rid,
                rid_len,
                client,
                identity,
                trace,
                upgrade,
                cache,
                ..
            },
        peer_ip,
        peer_trusted,
        stream,
        ..
    } = c;
    extra.clear();
    segs.clear();
    let buf: &[u8] = buf;
    let mut out = Out { extra, segs };
    let out_path: &[u8] = if rewritten { new_path } else { path };
    let target_raw = h.target.get(buf);
    let origin_form = target_raw.first() == Some(&b'/');

    if h.version == Version::Http11 && origin_form && h.path.get(buf) == out_path {
        out.fwd(h.request_line);
    } else {
        out.fwd(h.method_span);
        out.add(b" ");
        out.add(out_path);
        if let Some(q) = h.query {
            out.fwd(q);
        }
        out.add(b" HTTP/1.1\r\n");
    }

    let has_connection = h.headers.iter().any(|e| e.kind == HeaderKind::Connection);
    let upgrade = *upgrade;
    let mut xff = false;
    let mut odd_length = false;
    for e in &h.headers {
        let skip = match e.kind {
            k if k.is_hop_by_hop() => true,
            HeaderKind::XForwardedFor => {
                xff = true;
                true
            }
            HeaderKind::XForwardedProto
            | HeaderKind::XForwardedHost
            | HeaderKind::XRequestId
            | HeaderKind::XRealIp
            | HeaderKind::ClientCert
            | HeaderKind::Expect => true,
            // Only a trusted proxy may tell the upstream about earlier hops.
            HeaderKind::Forwarded => !*peer_trusted,
            // Exactly one traceparent goes upstream: the gateway's own.
            HeaderKind::TraceParent => true,
            // Vendor state belongs to the client's trace; a new trace has none.
            HeaderKind::TraceState => !trace.continues_trace(),
            HeaderKind::Host => !origin_form,
            HeaderKind::ContentLength => {
                // `003` means 3 to us, maybe not to the upstream: send one
                // canonical value (the line itself when it already is).
                odd_length = !is_canonical_decimal(e.value.get(buf));
                odd_length
            }
            _ => false,
        };
        let name = e.name.get(buf);
        // An upgrade the route proxies keeps its `Upgrade` lines (the one
        // hop-by-hop field that goes on, with the gateway's `connection`).
        let upgrading = upgrade && e.kind == HeaderKind::Upgrade;
        if !upgrading
            && (skip
                || (has_connection && h.is_connection_listed(buf, name))
                || route.request_headers.drops(name))
        {
            continue;
        }
        out.fwd(e.line);
    }

    if odd_length {
        let n = match h.body {
            BodyKind::Length(n) => n,
            _ => 0,
        };
        let _ = write!(out, "content-length: {n}\r\n");
    }
    out.add(b"via: 1.1 ringway\r\nx-forwarded-for: ");
    // From an untrusted peer the chain is dropped: its earlier hops are
    // whatever the client wrote.
    if xff && *peer_trusted {
        for e in h
            .headers
            .iter()
            .filter(|e| e.kind == HeaderKind::XForwardedFor)
        {
            if !e.value.is_empty() {
                out.fwd(e.value);
                out.add(b", ");
            }
        }
    }
    out.add(peer_ip.as_bytes());
    out.add(b"\r\nx-real-ip: ");
    let mut text = [0u8; 46];
    // Behind a trusted proxy the derived client; else the peer, whose text
    // the connection already holds.
    if *peer_trusted {
        out.add(format_ip(*client, &mut text));
    } else {
        out.add(peer_ip.as_bytes());
    }
    // The scheme the client used: the stream says, never a client header.
    out.add(if stream.is_tls() {
        b"\r\nx-forwarded-proto: https\r\n"
    } else {
        b"\r\nx-forwarded-proto: http\r\n"
    });
    match h.host {
        Some(host) => {
            out.add(b"x-forwarded-host: ");
            out.fwd(host);
            out.add(b"\r\n");
            if !origin_form {
                out.add(b"host: ");
                out.fwd(host);
                out.add(b"\r\n");
            }
        }
        None => {
            let _ = write!(out, "host: {target}\r\n");
        }
    }
    out.add(b"x-request-id: ");
    out.add(&rid[..*rid_len]);
    out.add(b"\r\n");
    out.add(&trace.traceparent_line());
    if let Some(name) = &route.original_path_header {
        // The path as received: httparse admits no CR, LF or control byte in it.
        out.add(name);
        out.add(b": ");
        out.fwd(h.path);
        out.add(b"\r\n");
    }
    if h.body == BodyKind::Chunked {
        out.add(b"transfer-encoding: chunked\r\n");
    }
    if upgrade {
        out.add(b"connection: upgrade\r\n");
    }
    out.add(&route.request_headers.rendered);
    if let Some(p) = stream.tls_peer() {
        // Made once at the handshake; the client's own copies went above.
        out.add(p.headers());
    }
    out.add(identity.forwarded_headers());
    if let Some(f) = cache {
        // The stored response's validators, when the cache revalidates it.
        out.add(&f.validators);
    }
    out.add(b"\r\n");
    let start = h.head_len;
    out.segs.push((Src::Main, start..start + prefix));
}

/// Builds the client response head from `c.resp` (spans into `ubuf`, the
/// upstream buffer) plus the body bytes already buffered. Returns how many
/// bytes of `ubuf` that consumes and whether the body ended within them.
pub fn build_response(
    c: &mut Conn,
    route: &Route,
    ubuf: &[u8],
    framing: Framing,
    close: bool,
) -> Result<(usize, bool), PumpFail> {
    let Conn {
        head,
        resp: r,
        extra,
        segs,
        stream,
        req:
            RequestCtx {
                rid,
                rid_len,
                resp_headers,
                ..
            },
        chunk,
        ..
    } = c;
    extra.clear();
    segs.clear();
    let mut out = Out { extra, segs };

    if r.version == Version::Http11 {
        out.fwd(r.status_line);
    } else {
        // "HTTP/1.0" is 8 bytes; keep the status code and reason as sent.
        out.add(b"HTTP/1.1");
        out.fwd(Span::new(
            r.status_line.start as usize + 8,
            r.status_line.end as usize,
        ));
    }
    let has_connection = r.headers.iter().any(|e| e.kind == HeaderKind::Connection);
    // HSTS, when the route sets it, only over TLS (`Route::hsts`).
    let hsts = route.hsts.as_deref().filter(|_| stream.is_tls());
    // A 101 reaches here only for an upgrade the route proxies (`exchange`
    // refuses it otherwise): its `Upgrade` goes on, with `connection: upgrade`.
    let switching = r.status == 101;
    for e in &r.headers {
        let name = e.name.get(ubuf);
        if switching && e.kind == HeaderKind::Upgrade {
            out.fwd(e.line);
            continue;
        }
        let skip = e.kind.is_hop_by_hop()
            || e.kind == HeaderKind::XRequestId
            || (e.kind == HeaderKind::ContentLength && r.content_length != LengthFields::Keep)
            || (has_connection && r.is_connection_listed(ubuf, name))
            || route.response_headers.drops(name)
            || (hsts.is_some() && name.eq_ignore_ascii_case(b"strict-transport-security"));
        if !skip {
            out.fwd(e.line);
        }
    }
    if let LengthFields::Rewrite(n) = r.content_length {
        let _ = write!(out, "content-length: {n}\r\n");
    }
    out.add(&route.response_headers.rendered);
    if let Some(h) = hsts {
        out.add(h);
    }
    if !resp_headers.is_empty() {
        out.add(resp_headers);
    }
    out.add(b"x-request-id: ");
    out.add(&rid[..*rid_len]);
    out.add(b"\r\n");
    if framing == Framing::Chunked {
        out.add(b"transfer-encoding: chunked\r\n");
    }
    if switching {
        out.add(b"connection: upgrade\r\n");
    } else if close {
        out.add(b"connection: close\r\n");
    } else if head.version == Version::Http10 {
        out.add(b"connection: keep-alive\r\n");
    }
    out.add(b"\r\n");
    let after = &ubuf[r.head_len..];
    let (k, done) = body::frame(after, framing, chunk, out.segs, r.head_len)?;
    Ok((r.head_len + k, done))
}
