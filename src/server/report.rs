//! Phase 7's record of a finished request, for the sinks a user turned on:
//! its access-log line (`[access_log]`) and, when the trace is sampled and
//! export is configured, its span (`[tracing] otlp_endpoint`).
//!
//! The head's bytes leave the connection's buffer before the request ends
//! (the next request starts where it ended), so what the line and the span
//! quote of the head is copied into `Seen` when the head is read, and only
//! when a sink is on.
//!
//! Owns: `Seen`, and turning a request's context and outcome into an
//! `AccessRecord` and a `SpanRecord`. Must never: block (both sinks only
//! queue), allocate for a request that is neither logged nor sampled, or
//! quote a credential (`auth` is the key id or the JWT subject).

use std::ops::Range;

use super::conn::Conn;
use super::request::Outcome;
use super::state::Shard;
use crate::http::{RequestHead, Version};
use crate::observe::access_log::AccessRecord;
use crate::observe::trace::{attr, now_unix_ns, SpanRecord};

/// What the access log and the span quote of a request head.
#[derive(Default)]
pub struct Seen {
    /// The quoted bytes, back to back (lent by the shard's scratch pool).
    pub bytes: Vec<u8>,
    method: Range<usize>,
    path: Range<usize>,
    query: Option<Range<usize>>,
    host: Option<Range<usize>>,
    user_agent: Option<Range<usize>>,
    referer: Option<Range<usize>>,
    version: Option<Version>,
}

impl Seen {
    /// Forgets the previous request's head (a head refused while it was
    /// read quotes nothing).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.method = 0..0;
        self.path = 0..0;
        self.query = None;
        self.host = None;
        self.user_agent = None;
        self.referer = None;
        self.version = None;
    }

    /// Copies what is quoted of `head` (spans into `buf`).
    pub fn capture(&mut self, head: &RequestHead, buf: &[u8]) {
        self.clear();
        self.version = Some(head.version);
        self.method = self.keep(head.method_span.get(buf));
        self.path = self.keep(head.path.get(buf));
        self.query = head.query.map(|q| {
            let q = q.get(buf);
            // The span starts at the `?`.
            self.keep(q.strip_prefix(b"?").unwrap_or(q))
        });
        self.host = head.host.map(|h| self.keep(h.get(buf)));
        for h in &head.headers {
            let name = h.name.get(buf);
            let slot = if name.eq_ignore_ascii_case(b"user-agent") {
                &mut self.user_agent
            } else if name.eq_ignore_ascii_case(b"referer") {
                &mut self.referer
            } else {
                continue;
            };
            if slot.is_none() {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(h.value.get(buf));
                *slot = Some(start..self.bytes.len());
            }
        }
    }

    fn keep(&mut self, b: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(b);
        start..self.bytes.len()
    }

    fn get(&self, r: &Range<usize>) -> &[u8] {
        self.bytes.get(r.clone()).unwrap_or_default()
    }

    fn opt(&self, r: &Option<Range<usize>>) -> Option<&[u8]> {
        r.as_ref().map(|r| self.get(r))
    }
}

/// Whether any sink wants the head quoted (checked once per head).
pub fn wanted(sh: &Shard) -> bool {
    sh.telemetry.access.is_some() || sh.telemetry.spans.is_some()
}

/// Writes the request's access-log line and submits its span, as configured.
pub fn request_ended(c: &Conn, sh: &Shard, o: &Outcome) {
    let log = sh.telemetry.access.as_ref().filter(|l| l.wants(o.status));
    let spans = sh.telemetry.spans.as_ref().filter(|_| c.req.trace.sampled);
    if log.is_none() && spans.is_none() {
        return;
    }
    let cfg = &c.g.cfg;
    let m = &c.req.measures;
    let seen = &c.req.seen;
    let route = m
        .route
        .and_then(|i| cfg.router.routes().get(i))
        .map(|r| &*r.name);
    let upstream = m.upstream.and_then(|u| cfg.upstreams.get(u));
    let target = m.target;
    let end_ns = now_unix_ns();
    let auth = c
        .req
        .identity
        .api_key_id(&cfg.auth)
        .or_else(|| c.req.identity.subject());
    if let Some(log) = log {
        let us = |ns: u64| ns / 1000;
        let nonzero = |ns: u64| (ns > 0).then_some(ns / 1000);
        log.log(&AccessRecord {
            ts: end_ns,
            request_id: c.req.request_id().as_bytes(),
            trace_id: Some(c.req.trace.trace_id),
            span_id: Some(c.req.trace.span_id),
            client: std::net::SocketAddr::new(c.req.client, c.peer.port()),
            method: seen.get(&seen.method),
            path: seen.get(&seen.path),
            query: seen.opt(&seen.query),
            version: seen.version.unwrap_or(Version::Http11),
            host: seen.opt(&seen.host),
            user_agent: seen.opt(&seen.user_agent),
            referer: seen.opt(&seen.referer),
            route,
            upstream: upstream.map(|u| &*u.name),
            target,
            status: o.status,
            error_code: o.error.map(|e| e.as_str()),
            bytes_in: m.bytes_in,
            bytes_out: m.bytes_out,
            duration_us: us(m.duration_ns),
            upstream_connect_us: nonzero(m.upstream_connect_ns),
            upstream_ttfb_us: nonzero(m.upstream_ttfb_ns),
            retries: o.retries,
            shard: u16::try_from(sh.id).unwrap_or(u16::MAX),
            tls: Some(c.stream.is_tls()),
            auth,
            rate_limit: c.req.refused_by.as_ref().map(|l| &*l.def.name),
            cache: c.req.cache_log,
        });
    }
    if let Some(sink) = spans {
        let method = std::str::from_utf8(seen.get(&seen.method)).unwrap_or("");
        let start_ns = end_ns.saturating_sub(m.duration_ns);
        let mut span = SpanRecord::server(&c.req.trace, method, route, start_ns, end_ns, o.status);
        span.push(attr::URL_SCHEME, c.stream.scheme());
        span.push(
            attr::URL_PATH,
            String::from_utf8_lossy(seen.get(&seen.path)).into_owned(),
        );
        if let Some(q) = seen.opt(&seen.query) {
            span.push(attr::URL_QUERY, String::from_utf8_lossy(q).into_owned());
        }
        if let Some(host) = seen.opt(&seen.host) {
            let host = String::from_utf8_lossy(host);
            let name = host.rsplit_once(':').map_or(&*host, |(h, _)| h);
            span.push(attr::SERVER_ADDRESS, name);
        }
        span.push(attr::CLIENT_ADDRESS, c.req.client.to_string());
        span.push(attr::NETWORK_PEER_ADDRESS, c.peer.ip().to_string());
        span.push(attr::NETWORK_PEER_PORT, i64::from(c.peer.port()));
        if let Some(v) = seen.version {
            let v = if v == Version::Http10 { "1.0" } else { "1.1" };
            span.push(attr::NETWORK_PROTOCOL_VERSION, v);
        }
        if let Some(ua) = seen.opt(&seen.user_agent) {
            span.push(
                attr::USER_AGENT_ORIGINAL,
                String::from_utf8_lossy(ua).into_owned(),
            );
        }
        if let Some(e) = o.error {
            span.push(attr::ERROR_TYPE, e.as_str());
        }
        sink.submit(span);
    }
}
