//! Span export from the running gateway to a real OTLP/HTTP receiver: the
//! span of a request carries the client's trace, the client's span as its
//! parent and the span id the upstream got as its parent; a collector that
//! is down costs nothing but counted drops.

mod common;

use std::time::Duration;

use common::otlp::OtlpReceiver;
use common::*;

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_SPAN: &str = "b7ad6b7169203331";

fn gateway(endpoint: &str, up: &Upstream) -> Gateway {
    Gateway::start(&format!(
        "{}[tracing]\notlp_endpoint = \"{endpoint}\"\nsample_ratio = 1.0\n",
        build(
            &[],
            &[("u", up.addr())],
            "[[routes]]\nname = \"users\"\npath_prefix = \"/users\"\nupstream = \"u\"\n",
        )
    ))
}

#[test]
fn the_gateways_span_joins_the_clients_trace_and_parents_the_upstreams() {
    let otlp = OtlpReceiver::start();
    let up = Upstream::echo("u");
    let gw = gateway(&otlp.endpoint(), &up);
    let r = gw.client().roundtrip(&req(
        "GET",
        "/users/7?full=1",
        "api.test:8080",
        &[
            ("traceparent", &format!("00-{TRACE}-{CLIENT_SPAN}-01")),
            ("User-Agent", "probe/2"),
        ],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.summary());
    let upstream_parent = up
        .last()
        .header("traceparent")
        .and_then(|v| v.split('-').nth(2).map(str::to_string))
        .unwrap_or_default();
    // Not sampled by the client: exported never.
    let r = gw.client().roundtrip(&req(
        "GET",
        "/users/8",
        "api.test",
        &[("traceparent", &format!("00-{TRACE}-{CLIENT_SPAN}-00"))],
        b"",
    ));
    assert_eq!(r.status, 200);

    let spans = otlp.wait_for(1, Duration::from_secs(5));
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let s = &spans[0];
    assert_eq!(s.trace_id, TRACE);
    assert_eq!(s.parent_span_id.as_deref(), Some(CLIENT_SPAN));
    assert_eq!(
        s.span_id, upstream_parent,
        "the upstream's parent is the gateway's span"
    );
    assert_eq!(s.kind, 2, "SERVER");
    assert_eq!(s.name, "GET users");
    assert!(s.end_ns >= s.start_ns && s.start_ns > 0);
    assert_eq!(s.str_attr("http.request.method"), Some("GET"));
    assert_eq!(s.str_attr("http.route"), Some("users"));
    assert_eq!(s.str_attr("url.path"), Some("/users/7"));
    assert_eq!(s.str_attr("url.query"), Some("full=1"));
    assert_eq!(s.str_attr("server.address"), Some("api.test"));
    assert_eq!(s.str_attr("user_agent.original"), Some("probe/2"));
    assert_eq!(s.int_attr("http.response.status_code"), Some(200));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        otlp.spans().len(),
        1,
        "the unsampled request was not exported"
    );
    let m = gw.metrics();
    assert!(m.contains("ringway_trace_spans_exported_total 1\n"), "{m}");
}

#[test]
fn a_collector_that_is_down_costs_counted_drops_not_requests() {
    let up = Upstream::echo("u");
    let gw = gateway(&format!("http://{}/v1/traces", unused_addr()), &up);
    for i in 0..50 {
        let r = gw.client().roundtrip(&get(&format!("/users/{i}"), "h"));
        assert_eq!(r.status, 200, "{}", r.summary());
    }
    assert!(
        eventually(Duration::from_secs(5), || gw
            .counter("ringway_trace_spans_dropped_total")
            >= 50.0),
        "{}",
        gw.metrics()
    );
    assert!(gw.counter("ringway_trace_export_failures_total") >= 1.0);
    assert_eq!(gw.counter("ringway_trace_spans_exported_total"), 0.0);
}
