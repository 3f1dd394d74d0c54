//! The OTLP exporter against real collectors on loopback: spans arrive with
//! the trace and parent the trace context gave them and the HTTP semantic
//! convention attributes; many spans arrive complete, in bounded batches;
//! and a collector that is down, silent or refusing never makes `submit`
//! wait, with every span either exported or counted as dropped.

mod common;

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::otlp::{decode_request, DecodedSpan, OtlpReceiver, TRACES_PATH};
use common::{eventually, unused_addr};
use ringway::config::OtlpEndpoint;
use ringway::observe::trace::{
    attr, now_unix_ns, Exporter, SpanRecord, SpanSink, TraceContext, TraceIds, MAX_BATCH,
    QUEUE_CAPACITY,
};

const CLIENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_SPAN: &str = "b7ad6b7169203331";

fn exporter_for(url: &str) -> Exporter {
    Exporter::start(&OtlpEndpoint::parse(url).expect("endpoint"))
}

/// A collector, an exporter to it, one shard's handle and id generator.
fn setup(rx: OtlpReceiver) -> (OtlpReceiver, Exporter, SpanSink, TraceIds) {
    let exporter = exporter_for(&rx.endpoint());
    let sink = exporter.handle();
    (rx, exporter, sink, TraceIds::new())
}

fn hex(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("hex is ascii")
}

/// The server span the gateway would record for one request.
fn gateway_span(ctx: &TraceContext, status: u16) -> SpanRecord {
    let start = now_unix_ns();
    let mut s = SpanRecord::server(
        ctx,
        "GET",
        Some("/api/users"),
        start,
        start + 1_500_000,
        status,
    );
    s.push(attr::URL_PATH, "/api/users/7");
    s.push(attr::URL_QUERY, "fields=name");
    s.push(attr::URL_SCHEME, "http");
    s.push(attr::SERVER_ADDRESS, "api.example.com");
    s.push(attr::CLIENT_ADDRESS, "203.0.113.9");
    s.push(attr::NETWORK_PEER_ADDRESS, "127.0.0.1");
    s.push(attr::NETWORK_PEER_PORT, 40_123i64);
    s.push(attr::USER_AGENT_ORIGINAL, "curl/8.5.0");
    s
}

fn by_span_id<'a>(spans: &'a [DecodedSpan], id: &str) -> &'a DecodedSpan {
    spans
        .iter()
        .find(|s| s.span_id == id)
        .unwrap_or_else(|| panic!("no span {id} in {spans:#?}"))
}

/// Submits `n` spans from another thread, counting each `submit` that
/// returned; true when all of them returned within `limit`.
fn submit_many(sink: SpanSink, n: usize, limit: Duration) -> bool {
    let returned = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&returned);
    std::thread::spawn(move || {
        let ids = TraceIds::new();
        for _ in 0..n {
            let ctx = TraceContext::start(None, &ids, 1.0);
            sink.submit(gateway_span(&ctx, 200));
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    eventually(limit, || returned.load(Ordering::SeqCst) == n)
}

#[test]
fn spans_keep_the_clients_trace_and_parent() {
    let (rx, exporter, sink, ids) = setup(OtlpReceiver::start());

    // A client that sent a sampled traceparent; the gateway samples nothing itself.
    let incoming = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let gw = TraceContext::start(Some(incoming.as_bytes()), &ids, 0.0);
    assert!(gw.sampled);
    // The upstream continues from the one traceparent the gateway sends it.
    let sent = gw.traceparent_value();
    let upstream = TraceContext::start(Some(&sent), &ids, 0.0);
    // A request without a traceparent, failed by the upstream.
    let root = TraceContext::start(None, &ids, 1.0);

    sink.submit(gateway_span(&gw, 200));
    sink.submit(SpanRecord::server(
        &upstream,
        "GET",
        None,
        now_unix_ns(),
        now_unix_ns() + 1,
        200,
    ));
    let mut failed = gateway_span(&root, 502);
    failed.push(attr::ERROR_TYPE, "upstream_reset");
    sink.submit(failed);

    let spans = rx.wait_for(3, Duration::from_secs(10));
    assert_eq!(spans.len(), 3, "{spans:#?}");

    let g = by_span_id(&spans, &hex(&gw.span_hex()));
    assert_eq!(g.trace_id, CLIENT_TRACE);
    assert_eq!(g.parent_span_id.as_deref(), Some(CLIENT_SPAN));
    assert_eq!(
        (g.name.as_str(), g.kind, g.status_code),
        ("GET /api/users", 2, 0)
    );
    assert!(g.end_ns > g.start_ns && g.start_ns > 1_600_000_000_000_000_000);
    assert_eq!(g.str_attr("http.request.method"), Some("GET"));
    assert_eq!(g.str_attr("url.path"), Some("/api/users/7"));
    assert_eq!(g.str_attr("url.query"), Some("fields=name"));
    assert_eq!(g.str_attr("http.route"), Some("/api/users"));
    assert_eq!(g.int_attr("http.response.status_code"), Some(200));
    assert_eq!(g.str_attr("server.address"), Some("api.example.com"));
    assert_eq!(g.str_attr("client.address"), Some("203.0.113.9"));
    assert_eq!(g.str_attr("network.peer.address"), Some("127.0.0.1"));
    assert_eq!(g.int_attr("network.peer.port"), Some(40_123));
    assert_eq!(g.str_attr("user_agent.original"), Some("curl/8.5.0"));
    assert_eq!(g.str_attr("error.type"), None);
    assert_eq!(
        g.resource.get("service.name").and_then(|v| v.as_str()),
        Some("ringway")
    );

    // Client span -> gateway span -> upstream span, one trace.
    let u = by_span_id(&spans, &hex(&upstream.span_hex()));
    assert_eq!(u.trace_id, CLIENT_TRACE);
    assert_eq!(u.parent_span_id.as_deref(), Some(g.span_id.as_str()));

    let r = by_span_id(&spans, &hex(&root.span_hex()));
    assert_eq!(r.trace_id, hex(&root.trace_hex()));
    assert_ne!(r.trace_id, CLIENT_TRACE);
    assert_eq!(r.parent_span_id, None);
    assert_eq!(r.status_code, 2, "a 502 is an error");
    assert_eq!(r.str_attr("error.type"), Some("upstream_reset"));

    let req = &rx.requests()[0];
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("POST", TRACES_PATH)
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(eventually(Duration::from_secs(5), || exporter.exported() == 3));
    assert_eq!((exporter.dropped(), exporter.failed_batches()), (0, 0));
    exporter.shutdown();
}

#[test]
fn many_spans_arrive_complete_in_bounded_batches() {
    let (rx, exporter, sink, ids) = setup(OtlpReceiver::start());
    // Fewer than the queue holds, so none may be dropped however slow the thread.
    let n = 1500;
    assert!(n < QUEUE_CAPACITY);
    let mut sent = HashSet::new();
    for _ in 0..n {
        let ctx = TraceContext::start(None, &ids, 1.0);
        sent.insert(hex(&ctx.span_hex()));
        sink.submit(gateway_span(&ctx, 200));
    }
    let spans = rx.wait_for(n, Duration::from_secs(20));
    let got: HashSet<String> = spans.iter().map(|s| s.span_id.clone()).collect();
    assert_eq!(spans.len(), n, "every span once");
    assert_eq!(got, sent);
    let batches: Vec<usize> = rx
        .requests()
        .iter()
        .map(|r| decode_request(r).len())
        .collect();
    assert!(batches.len() >= n.div_ceil(MAX_BATCH), "{batches:?}");
    assert!(batches.iter().all(|&b| b <= MAX_BATCH), "{batches:?}");
    assert!(eventually(Duration::from_secs(5), || exporter.exported() == n as u64));
    assert_eq!(exporter.dropped(), 0);
    exporter.shutdown();
}

#[test]
fn shutdown_flushes_what_is_queued() {
    let (rx, exporter, sink, ids) = setup(OtlpReceiver::start());
    for _ in 0..10 {
        sink.submit(gateway_span(&TraceContext::start(None, &ids, 1.0), 200));
    }
    // Well before the batch's one-second delay.
    exporter.shutdown();
    assert_eq!(rx.spans().len(), 10);
    // A shard's handle outliving the exporter drops and never blocks.
    sink.submit(gateway_span(&TraceContext::start(None, &ids, 1.0), 200));
}

/// A collector at `url` that is down: many submits all return (counted,
/// not timed), whatever is not queued is dropped, failed exports are
/// counted, and after shutdown every span is accounted for.
fn check_collector_down(url: &str) {
    let exporter = exporter_for(url);
    let n = 20_000;
    let returned = submit_many(exporter.handle(), n, Duration::from_secs(30));
    assert!(returned, "a submit blocked");
    // At most a queue and a batch or two are held, never more.
    let held = (QUEUE_CAPACITY + 2 * MAX_BATCH) as u64;
    let dropped = exporter.dropped();
    assert!(dropped >= n as u64 - held, "dropped {dropped}");
    // The export in flight fails (refused, or times out) and is counted, not retried.
    let failed = eventually(Duration::from_secs(15), || exporter.failed_batches() >= 1);
    assert!(failed, "no failed batch counted");
    assert_eq!(exporter.exported(), 0);
    let stats = exporter.stats();
    exporter.shutdown();
    assert_eq!(stats.dropped() + stats.exported(), n as u64);
}

#[test]
fn a_collector_nobody_listens_on_costs_drops_not_waits() {
    check_collector_down(&format!("http://{}{TRACES_PATH}", unused_addr()));
}

#[test]
fn a_collector_that_never_answers_costs_drops_not_waits() {
    // Connections complete in the kernel's backlog; nothing is ever read or answered.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr");
    check_collector_down(&format!("http://{addr}{TRACES_PATH}"));
    drop(silent);
}

#[test]
fn a_collector_that_refuses_the_spans_counts_failed_batches() {
    let (rx, exporter, sink, ids) = setup(OtlpReceiver::answering(503));
    for _ in 0..MAX_BATCH + 1 {
        sink.submit(gateway_span(&TraceContext::start(None, &ids, 1.0), 200));
    }
    assert!(eventually(Duration::from_secs(10), || exporter
        .failed_batches()
        >= 2));
    assert_eq!(exporter.dropped(), MAX_BATCH as u64 + 1);
    assert_eq!(exporter.exported(), 0);
    // The collector did receive them (and said no): they are not resent.
    assert_eq!(rx.spans().len(), MAX_BATCH + 1);
    exporter.shutdown();
    assert_eq!(rx.requests().len(), 2);
}
