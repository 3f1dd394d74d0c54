//! One request's own state, apart from its connection's: `RequestCtx`
//! (who sent it, its paths, its id, what the policies decided to add, and
//! its `Measures`: timings, bytes, route and target) is filled as the
//! pipeline runs, and `Outcome`, the value `pipeline::handle` returns, says
//! how it ended, so counting, logging and the keep-alive decision read one
//! record instead of each path deciding for itself.
//!
//! Owns: these records and the per-request counters an outcome feeds. Must
//! never: do I/O, read a clock (callers pass the instants they took), or
//! outlive the request (the next one starts from `RequestCtx::reset`).

use std::net::IpAddr;
use std::time::Instant;

use crate::auth::Identity;
use crate::error::ErrorCode;
use crate::observe::families::{status_class, Families, Finished};
use crate::observe::trace::TraceContext;
use crate::observe::{RequestIdGen, ShardMetrics};

/// Longest request id accepted from a client (longer ones are replaced).
pub const MAX_REQUEST_ID: usize = 128;

/// The current request's state; its buffers are lent by the shard's
/// scratch pool with the connection's working set (see `scratch`).
pub struct RequestCtx {
    /// The request's client: the peer, or the address a trusted proxy
    /// reported (see `http::client_ip`); what `ip` keys count.
    pub client: IpAddr,
    /// The normalised request path.
    pub path: Vec<u8>,
    /// The path after the route's rewrite.
    pub rewritten: Vec<u8>,
    /// The request id.
    pub rid: [u8; MAX_REQUEST_ID],
    /// Length of `rid`.
    pub rid_len: usize,
    /// Who sent the request, set by the auth policy (subject, claims, API
    /// key id; read by later policies and `head`).
    pub identity: Identity,
    /// Response header lines policies add (CORS, RateLimit fields,
    /// `Retry-After`), sent on the proxied response or the gateway's error.
    pub resp_headers: Vec<u8>,
    /// The W3C trace context: the client's trace (or a new one) and the
    /// gateway's own span in it.
    pub trace: TraceContext,
    /// What the access log and the span quote of the head (`report`).
    pub seen: super::report::Seen,
    /// The request asks for an upgrade its route proxies (`upgrade::wanted`):
    /// `Upgrade` is forwarded, on a fresh upstream connection.
    pub upgrade: bool,
    /// The rate limit that refused the request, if one did.
    pub refused_by: Option<std::sync::Arc<crate::ratelimit::Limiter>>,
    /// What the request took: timings, bytes, where it went.
    pub measures: Measures,
    /// On a route with `cache`: what the response is for (`cached`,
    /// `cache_fill`); `None` on every other route.
    pub cache: Option<Box<super::cached::Fill>>,
    /// What the cache did, for the access log's `cache` field.
    pub cache_log: Option<&'static str>,
}

/// What one request took and where it went, for the metrics and the access
/// log. Durations are in ns from `Instant` (the monotonic clock: the coarse
/// one's 1-4 ms ticks would put every fast request in one bucket); 0 when
/// the step did not happen. Indexes are into the compiled config.
#[derive(Clone, Copy, Debug, Default)]
pub struct Measures {
    /// When the gateway first saw a byte of the request head: when the read
    /// that brought it returned, or, for a pipelined request already
    /// buffered, when the previous request ended.
    pub started: Option<Instant>,
    /// From `started` to the end of the request (its last response byte
    /// written, or the moment it was abandoned); set by `finish`.
    pub duration_ns: u64,
    /// The route, as an index into `cfg.router.routes()`; `None` when none
    /// matched (404, or a head refused before routing). A 405 and a CORS
    /// preflight count under the route whose host, path and headers matched.
    pub route: Option<usize>,
    /// The upstream, as an index into `cfg.upstreams`, once an attempt
    /// started.
    pub upstream: Option<usize>,
    /// The address of the last attempt's target (kept as an address: the
    /// upstream's target set may change while the request runs).
    pub target: Option<std::net::SocketAddr>,
    /// Bytes read from the client for this request: its head, plus the body
    /// bytes consumed as its body (forwarded or skipped; a body left unread
    /// when the connection closes early is not counted). For a head refused
    /// while it was read (400, 408, 431), every byte buffered then.
    pub bytes_in: u64,
    /// Bytes written to the client for this request: a `100 Continue`, the
    /// response head and its body as sent.
    pub bytes_out: u64,
    /// When the first upstream attempt started.
    pub upstream_started: Option<Instant>,
    /// The last attempt's connect time when it opened a new connection (to
    /// the failure, if connecting failed); 0 on a pooled connection.
    pub upstream_connect_ns: u64,
    /// The last attempt's start to its response head (parsed); 0 when no
    /// head came.
    pub upstream_ttfb_ns: u64,
    /// The first attempt's start to the response head of the attempt whose
    /// response is relayed (when it was parsed, before it is written to
    /// the client, so a slow client does not count as a slow upstream), or
    /// to the end of the last attempt that failed: every attempt and the
    /// backoffs between them.
    pub upstream_ns: u64,
}

impl Measures {
    /// Routes the request to `route`: it counts as in flight there until
    /// `Outcome::count`. Every route assignment goes through here, so
    /// the gauge and `route` agree.
    pub fn enter_route(&mut self, route: usize, rows: &Families, shard: usize) {
        if self.route.is_none() {
            self.route = Some(route);
            rows.enter(shard, route);
        }
    }

    /// An attempt at target `addr` of upstream `ui` starts at `now`.
    pub fn attempt(&mut self, ui: usize, addr: std::net::SocketAddr, now: Instant) {
        self.upstream = Some(ui);
        self.target = Some(addr);
        self.upstream_started.get_or_insert(now);
        self.upstream_connect_ns = 0;
        self.upstream_ttfb_ns = 0;
    }

    /// The attempt that started at `began` ended at `now` (failed, or its
    /// response head came); returns its duration in ns.
    pub fn attempt_ended(&mut self, began: Instant, now: Instant) -> u64 {
        if let Some(first) = self.upstream_started {
            self.upstream_ns = ns_between(first, now);
        }
        ns_between(began, now)
    }

    /// The request ended at `now`.
    pub fn finish(&mut self, now: Instant) {
        if let Some(t) = self.started {
            self.duration_ns = ns_between(t, now);
        }
    }
}

/// Nanoseconds from `a` to `b` (0 if `b` is earlier), saturating.
pub fn ns_between(a: Instant, b: Instant) -> u64 {
    b.saturating_duration_since(a)
        .as_nanos()
        .min(u128::from(u64::MAX)) as u64
}

impl RequestCtx {
    /// A blank context for a request from `client`.
    pub fn new(client: IpAddr) -> RequestCtx {
        RequestCtx {
            client,
            path: Vec::new(),
            rewritten: Vec::new(),
            rid: [0; MAX_REQUEST_ID],
            rid_len: 0,
            identity: Identity::Anonymous,
            resp_headers: Vec::new(),
            trace: TraceContext::default(),
            seen: Default::default(),
            refused_by: None,
            upgrade: false,
            measures: Measures::default(),
            cache: None,
            cache_log: None,
        }
    }

    /// Starts the next request from `client`: no identity, no added
    /// headers, nothing measured (the path and id are set as its head is
    /// read).
    pub fn reset(&mut self, client: IpAddr) {
        self.client = client;
        self.identity = Identity::Anonymous;
        self.resp_headers.clear();
        self.seen.clear();
        self.refused_by = None;
        self.upgrade = false;
        self.measures = Measures::default();
        self.cache = None;
        self.cache_log = None;
    }

    /// The request id as text.
    pub fn request_id(&self) -> &str {
        std::str::from_utf8(&self.rid[..self.rid_len]).unwrap_or("")
    }

    /// Sets a freshly generated request id.
    pub fn new_request_id(&mut self, ids: &RequestIdGen) {
        let mut id = [0u8; crate::observe::request_id::ID_LEN];
        ids.next(&mut id);
        self.rid[..id.len()].copy_from_slice(&id);
        self.rid_len = id.len();
    }
}

/// How one request ended.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// Whether the client connection may carry another request.
    pub keep: bool,
    /// The status sent to the client (0 when the client went away first).
    pub status: u16,
    /// The gateway's error, when it answered one.
    pub error: Option<ErrorCode>,
    /// True when the response was relayed from an upstream (false: the
    /// gateway answered itself, with an error or a preflight).
    pub relayed: bool,
    /// Retries made (attempts after the first).
    pub retries: u8,
}

impl Outcome {
    /// The gateway answered `code` itself.
    pub fn error(code: ErrorCode, keep: bool) -> Outcome {
        Outcome {
            keep,
            status: code.status(),
            error: Some(code),
            relayed: false,
            retries: 0,
        }
    }

    /// The gateway answered with `status` (no error: a preflight, say).
    pub fn answered(status: u16, keep: bool) -> Outcome {
        Outcome {
            keep,
            status,
            error: None,
            relayed: false,
            retries: 0,
        }
    }

    /// The client went away, or the connection must close with nothing more sent.
    pub fn closed() -> Outcome {
        Outcome::answered(0, false)
    }

    /// Counts the finished request in the shard's metrics: its status
    /// class, who answered, whether it took a retry, and its route's and
    /// upstream's rows (taking it out of flight). `req` must be finished
    /// (`Measures::finish`). (The gateway's errors are counted by code where
    /// they are sent, `respond::error`.)
    /// `rows` are those of the generation the request ran on, `shard` its shard.
    pub fn count(&self, req: &Measures, m: &ShardMetrics, rows: &Families, shard: usize) {
        if self.status != 0 {
            m.responses[usize::from(!self.relayed)][status_class(self.status)].inc();
        }
        if self.retries > 0 {
            m.retried_requests.inc();
        }
        rows.record(
            shard,
            &Finished {
                route: req.route,
                status: self.status,
                bytes_in: req.bytes_in,
                bytes_out: req.bytes_out,
                duration_ns: req.duration_ns,
                upstream: req.upstream.map(|u| (u, req.upstream_ns)),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: Duration = Duration::from_millis(1);

    fn addr(port: u16) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn upstream_times_span_every_attempt_and_describe_the_last() {
        let t0 = Instant::now();
        let mut m = Measures {
            started: Some(t0),
            ..Measures::default()
        };
        // A connect that fails after 3 ms, then a pooled retry whose head
        // comes 5 ms after it started, 1 ms of backoff later.
        m.attempt(2, addr(1), t0 + MS);
        m.upstream_connect_ns = m.attempt_ended(t0 + MS, t0 + 4 * MS);
        assert_eq!(m.upstream_connect_ns, 3_000_000);
        m.attempt(2, addr(2), t0 + 5 * MS);
        assert_eq!((m.upstream_connect_ns, m.target), (0, Some(addr(2))));
        m.upstream_ttfb_ns = m.attempt_ended(t0 + 5 * MS, t0 + 10 * MS);
        m.finish(t0 + 12 * MS);
        assert_eq!(m.upstream, Some(2));
        assert_eq!(m.upstream_started, Some(t0 + MS));
        assert_eq!(m.upstream_ttfb_ns, 5_000_000);
        assert_eq!(m.upstream_ns, 9_000_000);
        assert_eq!(m.duration_ns, 12_000_000);
    }

    #[test]
    fn a_request_never_started_or_ended_early_measures_zero() {
        let t0 = Instant::now();
        let mut m = Measures::default();
        m.finish(t0);
        assert_eq!(m.duration_ns, 0);
        assert_eq!(m.attempt_ended(t0 + MS, t0), 0);
        assert_eq!(m.upstream_ns, 0);
    }

    #[test]
    fn entering_a_route_once_counts_it_in_flight_until_counted() {
        let sm = ShardMetrics::default();
        let cfg = crate::config::load_str(
            "[server]\nlisten = \"127.0.0.1:0\"\n[[upstreams]]\nname = \"u\"\ntargets = [\"127.0.0.1:1\"]\n\
             [[routes]]\nname = \"a\"\npath = \"/a\"\nupstream = \"u\"\n\
             [[routes]]\nname = \"b\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
            "test",
        )
        .unwrap();
        let rows = Families::new(&cfg, 2, None);
        let mut m = Measures::default();
        m.enter_route(1, &rows, 1);
        m.enter_route(0, &rows, 1);
        assert_eq!(m.route, Some(1));
        let mut text = String::new();
        let render = |text: &mut String| {
            text.clear();
            crate::observe::families::render(&rows, text);
        };
        render(&mut text);
        assert!(
            text.contains("ringway_requests_in_flight{route=\"b\"} 1\n"),
            "{text}"
        );
        Outcome::closed().count(&m, &sm, &rows, 1);
        render(&mut text);
        assert!(
            text.contains("ringway_requests_in_flight{route=\"b\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("ringway_requests_total{route=\"b\",status_class=\"none\"} 1\n"),
            "{text}"
        );
    }
}
