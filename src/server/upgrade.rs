//! HTTP/1.1 Upgrade (RFC 9110 7.8), WebSocket's handshake: which requests a
//! route proxies as an upgrade, and the switch once the upstream agreed.
//!
//! A request is an upgrade when its route lists every protocol it offers in
//! `upgrade`, it is a GET over HTTP/1.1 and `Connection` lists `upgrade`.
//! Then `head` forwards `Upgrade` with `connection: upgrade`, `proxy` sends
//! it once on a fresh upstream connection, and a 101 answer is relayed and
//! followed by the byte tunnel (`tunnel`); any other answer is relayed as
//! usual. Any other request that carries `Upgrade` is forwarded as a plain
//! request with the field removed (it is hop-by-hop), as before.
//!
//! Owns: that decision, the refusal of an upgrade request with a body or
//! from an origin the route's `cors` does not list, and
//! the upgraded connection's counters and record. Must never: let a 101
//! through for a request that did not ask for it (`exchange` refuses it),
//! return an upgraded connection to a pool, or keep the client connection
//! for another request after a switch.

use bytes::{Buf, BytesMut};

use super::body::Framing;
use super::conn::Conn;
use super::exchange;
use super::halves;
use super::head::build_response;
use super::request::Outcome;
use super::state::Shard;
use super::stream::Stream;
use super::tunnel::{self, End, Ends};
use crate::error::ErrorCode;
use crate::http::{BodyKind, HeaderKind, Method, Version};
use crate::observe::metrics::TimeoutKind;
use crate::route::Route;
use crate::upstream::pool::{UpstreamConn, UpstreamStream};
use crate::upstream::UpstreamError;

/// Whether the request in `c` is an upgrade `route` proxies; `Err` for one
/// that carries a body (its bytes after the head would be the body to
/// the upstream but tunnel bytes to a gateway that switched: refused), or
/// whose `Origin` the route's `cors` does not allow
/// (`policy::upgrade_origin_allowed`). A route without `upgrade` pays one
/// check.
pub fn wanted(c: &Conn, route: &Route) -> Result<bool, ErrorCode> {
    if route.upgrade.is_empty() {
        return Ok(false);
    }
    let h = &c.head;
    if h.method != Method::Get
        || h.version != Version::Http11
        || !h.is_connection_listed(&c.buf, b"upgrade")
    {
        return Ok(false);
    }
    let mut offered = false;
    for e in h.headers.iter().filter(|e| e.kind == HeaderKind::Upgrade) {
        for p in e.value.get(&c.buf).split(|&b| b == b',') {
            let p = p.trim_ascii();
            if p.is_empty() {
                continue;
            }
            // `protocol-name ["/" protocol-version]`: the route lists names.
            let name = p.split(|&b| b == b'/').next().unwrap_or(p);
            if !route.upgrade.iter().any(|t| name.eq_ignore_ascii_case(t)) {
                return Ok(false);
            }
            offered = true;
        }
    }
    if !offered {
        return Ok(false);
    }
    if h.body != BodyKind::Empty {
        return Err(ErrorCode::UpgradeWithBody);
    }
    if !crate::policy::upgrade_origin_allowed(&route.policies, h, &c.buf) {
        return Err(ErrorCode::OriginNotAllowed);
    }
    Ok(true)
}

/// Whether the upstream's 101 (in `c.resp`, spans into `ubuf`) switches to
/// a protocol the client offered: its `Upgrade` names one of the request's.
/// A 101 without it, or naming another, is a bad response: the tunnel
/// would carry bytes neither side agreed on, unchecked by the gateway.
pub fn agreed(c: &Conn, ubuf: &[u8]) -> bool {
    let offered = |p: &[u8]| {
        c.head
            .headers
            .iter()
            .filter(|e| e.kind == HeaderKind::Upgrade)
            .flat_map(|e| e.value.get(&c.buf).split(|&b| b == b','))
            .any(|o| o.trim_ascii().eq_ignore_ascii_case(p))
    };
    let mut chosen = c
        .resp
        .headers
        .iter()
        .filter(|e| e.kind == HeaderKind::Upgrade)
        .flat_map(|e| e.value.get(ubuf).split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|p| !p.is_empty());
    match (chosen.next(), chosen.next()) {
        (Some(p), None) => offered(p),
        _ => false,
    }
}

/// The upstream answered 101 to an upgrade: relays the head, then tunnels
/// bytes both ways until both sides are done (`tunnel`), and closes the
/// client connection. `Err` is the answer when the switch cannot happen:
/// the 101 head cannot be rebuilt, or the upstream is TLS (nothing was
/// sent then).
pub(super) async fn switch(
    c: &mut Conn,
    sh: &Shard,
    route: &Route,
    mut up: UpstreamConn,
    retries: u8,
) -> Result<Outcome, ErrorCode> {
    c.chunk.reset();
    // A 1xx has no body: the head is all `build_response` takes.
    let (consumed, _) = build_response(c, route, &up.buf, Framing::Length(0), false)
        .map_err(|_| ErrorCode::from(UpstreamError::BadResponse))?;
    let mut outcome = Outcome {
        keep: false,
        status: 101,
        error: None,
        relayed: true,
        retries,
    };
    if exchange::send_head(c, &mut up).await.is_err() {
        outcome.status = 0;
        return Ok(outcome);
    }
    up.buf.advance(consumed);
    let m = &sh.metrics;
    m.upgrades.inc();
    m.upgrades_active.inc();
    let idle = c.g.cfg.server.upgrade_idle_timeout;
    // What either side sent behind its head is the tunnel's first bytes.
    let cb = std::mem::take(&mut c.buf);
    let ub = std::mem::take(&mut up.buf);
    let stop = &sh.shutting_down;
    // One tunnel per pair of end kinds, each compiled on its own (no
    // dynamic dispatch on the copy path).
    let moved = match (&mut c.stream, &mut up.stream) {
        (Stream::Plain(cl), UpstreamStream::Plain(u)) => pipe(cl, cb, u, ub, idle, stop).await,
        (Stream::Plain(cl), UpstreamStream::Tls(u)) => {
            pipe(cl, cb, &mut u.io, ub, idle, stop).await
        }
        (Stream::Tls(cl), UpstreamStream::Plain(u)) => {
            pipe(&mut cl.io, cb, u, ub, idle, stop).await
        }
        (Stream::Tls(cl), UpstreamStream::Tls(u)) => {
            pipe(&mut cl.io, cb, &mut u.io, ub, idle, stop).await
        }
    };
    m.upgrades_active.dec();
    m.upgrade_bytes_up.add(moved.up);
    m.upgrade_bytes_down.add(moved.down);
    if moved.end == End::Idle {
        m.timeout(TimeoutKind::Upgrade);
    }
    c.req.measures.bytes_in += moved.up;
    c.req.measures.bytes_out += moved.down;
    Ok(outcome)
}

/// The tunnel between two ends of any kind, with what each sent behind
/// its head.
async fn pipe<C: halves::End, U: halves::End>(
    client: &mut C,
    client_buf: BytesMut,
    upstream: &mut U,
    upstream_buf: BytesMut,
    idle: std::time::Duration,
    stop: &std::cell::Cell<bool>,
) -> tunnel::Moved {
    let ends = Ends {
        client,
        client_buf,
        upstream,
        upstream_buf,
    };
    tunnel::run(ends, idle, stop).await
}
