//! Responses the gateway writes itself: the JSON error, `100 Continue`, and
//! the refusal of a connection over the limit.
//!
//! Owns: the byte layout of those responses and the counter and log line
//! every error gets. Must never: choose a status (that is `crate::error`).

use std::fmt::Write as _;

use super::stream::Stream;
use bytes::BytesMut;

use super::conn::Conn;
use super::state::Shard;
use super::wire;
use crate::error::{self, ErrorCode};
use crate::http::Method;
use crate::observe::log::{self, Val};

/// Writes the JSON error for `code` and reports whether the connection may
/// carry another request. `close` forces `connection: close`.
pub async fn error(
    c: &mut Conn,
    sh: &Shard,
    code: ErrorCode,
    close: bool,
    allow: Option<&str>,
) -> bool {
    let extra = allow.map(|a| format!("allow: {a}\r\n")).unwrap_or_default();
    error_with_headers(c, sh, code, close, &extra).await
}

/// `error` with extra pre-rendered `name: value\r\n` lines (`allow`,
/// `www-authenticate`).
pub async fn error_with_headers(
    c: &mut Conn,
    sh: &Shard,
    code: ErrorCode,
    close: bool,
    extra: &str,
) -> bool {
    let keep = !close && c.head.keep_alive && !sh.shutting_down.get();
    sh.metrics.errors[code as usize].inc();
    // Behind a trusted proxy the client is the address it reported, and
    // the proxy is named too; otherwise the peer is the client.
    let (client, proxy) = match c.peer_trusted {
        true => (c.req.client.to_string(), c.peer.to_string()),
        false => (c.peer.to_string(), String::new()),
    };
    let fields = [
        ("shard", Val::Num(sh.id as u64)),
        ("status", Val::Num(code.status() as u64)),
        ("code", Val::Str(code.as_str())),
        ("request_id", Val::Str(c.req.request_id())),
        ("client", Val::Str(&client)),
        ("proxy", Val::Str(&proxy)),
    ];
    let n = if c.peer_trusted { 6 } else { 5 };
    log::warn("request rejected", &fields[..n]);
    let mut out = std::mem::take(&mut c.extra);
    out.clear();
    let head_only = c.head.method == Method::Head;
    let r = Render {
        code,
        request_id: c.req.request_id(),
        keep,
        head_only,
        headers: extra,
        policy: &c.req.resp_headers,
    };
    render(&mut out, sh, r);
    send(c, out, keep).await
}

/// Writes all of `out` (the connection's `extra` buffer, given back) to the
/// client, counting it; returns `keep` if it went.
async fn send(c: &mut Conn, out: BytesMut, keep: bool) -> bool {
    let len = out.len();
    match wire::write_range(&mut c.stream, out, 0..len, c.g.cfg.server.idle_timeout).await {
        Ok(out) => {
            c.extra = out;
            c.req.measures.bytes_out += len as u64;
            keep
        }
        Err(_) => false,
    }
}

/// What an error response says, beyond its status.
struct Render<'a> {
    code: ErrorCode,
    request_id: &'a str,
    keep: bool,
    head_only: bool,
    /// Header lines of this refusal (`allow`, `www-authenticate`).
    headers: &'a str,
    /// Header lines phase-5 policies added for this request (CORS,
    /// RateLimit, `Retry-After`).
    policy: &'a [u8],
}

fn render(out: &mut BytesMut, sh: &Shard, r: Render<'_>) {
    let Render {
        code,
        request_id,
        keep,
        head_only,
        headers,
        policy,
    } = r;
    let mut body = String::with_capacity(192);
    error::write_json_body(&mut body, code, request_id);
    let status = code.status();
    let mut head = String::with_capacity(256);
    let _ = write!(
        head,
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-request-id: {request_id}\r\n",
        error::reason_phrase(status),
        body.len()
    );
    head.push_str(headers);
    if !keep {
        head.push_str("connection: close\r\n");
    }
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(policy);
    out.extend_from_slice(b"date: ");
    sh.http_date(out);
    out.extend_from_slice(b"\r\n\r\n");
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
}

/// Answers `204 No Content` with extra header lines (a CORS preflight);
/// returns whether the connection may carry another request.
pub async fn no_content(c: &mut Conn, sh: &Shard, close: bool, extra: &str) -> bool {
    let keep = !close && c.head.keep_alive && !sh.shutting_down.get();
    let mut out = std::mem::take(&mut c.extra);
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 204 No Content\r\n");
    out.extend_from_slice(extra.as_bytes());
    out.extend_from_slice(b"x-request-id: ");
    out.extend_from_slice(c.req.request_id().as_bytes());
    if !keep {
        out.extend_from_slice(b"\r\nconnection: close");
    }
    out.extend_from_slice(b"\r\ndate: ");
    sh.http_date(&mut out);
    out.extend_from_slice(b"\r\n\r\n");
    send(c, out, keep).await
}

/// Tells a client that sent `Expect: 100-continue` to go ahead with its body.
pub async fn continue_100(c: &mut Conn) -> bool {
    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    let sent = wire::write_static(&mut c.stream, CONTINUE, c.g.cfg.server.idle_timeout)
        .await
        .is_ok();
    if sent {
        c.req.measures.bytes_out += CONTINUE.len() as u64;
    }
    sent
}

/// Answers a connection accepted over `max_connections` with 503 (when
/// `answer`: plain HTTP; a TLS client gets no handshake, only the close),
/// then closes it.
pub async fn refuse_connection(sh: &Shard, mut stream: Stream, answer: bool) {
    sh.metrics.connections_rejected.inc();
    sh.metrics.errors[ErrorCode::TooManyConnections as usize].inc();
    if !answer {
        return;
    }
    let mut id = [0u8; crate::observe::request_id::ID_LEN];
    sh.ids.next(&mut id);
    let id = std::str::from_utf8(&id).unwrap_or("");
    let mut out = BytesMut::with_capacity(512);
    let r = Render {
        code: ErrorCode::TooManyConnections,
        request_id: id,
        keep: false,
        head_only: false,
        headers: "",
        policy: &[],
    };
    render(&mut out, sh, r);
    let len = out.len();
    let limit = sh.gen().cfg.server.idle_timeout;
    let _ = wire::write_range(&mut stream, out, 0..len, limit).await;
    // Half-close and give the client a moment to read before the socket goes.
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    // SAFETY: fd is the open socket owned by `stream`.
    unsafe { libc::shutdown(fd, libc::SHUT_WR) };
    let buf = BytesMut::with_capacity(1024);
    let _ = wire::read_more(&mut stream, buf, std::time::Duration::from_millis(200)).await;
}
