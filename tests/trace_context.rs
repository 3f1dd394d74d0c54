//! W3C trace context on the wire: exactly one `traceparent` reaches the
//! upstream, carrying the client's trace id (when its header was valid) and
//! a span id of the gateway's own; an invalid, repeated or missing header
//! starts a new trace; `tracestate` goes on only with the client's trace;
//! `[tracing] request_id = "trace_id"` makes new request ids the trace id.

mod common;

use common::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn gateway(tracing: &str) -> (Gateway, Upstream) {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&format!(
        "{}{tracing}",
        build(
            &[],
            &[("u", up.addr())],
            "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
        )
    ));
    (gw, up)
}

/// The one `traceparent` the upstream got, split into its four parts.
fn sent_upstream(up: &Upstream) -> [String; 4] {
    let got = up.last();
    let all = got.header_all("traceparent");
    assert_eq!(all.len(), 1, "exactly one traceparent: {}", got.head_text());
    let parts: Vec<String> = all[0].split('-').map(str::to_string).collect();
    assert_eq!(parts.len(), 4, "{}", all[0]);
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1].len(), 32);
    assert_eq!(parts[2].len(), 16);
    assert!(
        all[0]
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "lowercase hex: {}",
        all[0]
    );
    [
        parts[0].clone(),
        parts[1].clone(),
        parts[2].clone(),
        parts[3].clone(),
    ]
}

fn send(gw: &Gateway, headers: &[(&str, &str)]) -> Response {
    let r = gw.client().roundtrip(&req("GET", "/t", "h", headers, b""));
    assert_eq!(r.status, 200, "{}", r.summary());
    r
}

#[test]
fn a_valid_traceparent_keeps_its_trace_and_gets_the_gateways_span() {
    let (gw, up) = gateway("");
    let incoming = format!("00-{TRACE}-{PARENT}-01");
    send(
        &gw,
        &[
            ("traceparent", &incoming),
            ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
        ],
    );
    let [_, trace, span, flags] = sent_upstream(&up);
    assert_eq!(trace, TRACE, "the client's trace id is kept");
    assert_ne!(span, PARENT, "the gateway's own span id goes upstream");
    assert_ne!(span, "0000000000000000");
    assert_eq!(flags, "01", "the client's sampled flag is followed");
    assert_eq!(
        up.last().header_all("tracestate"),
        vec!["congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"],
        "tracestate passes through unchanged"
    );
    // Not sampled upstream when the client said so.
    send(&gw, &[("traceparent", &format!("00-{TRACE}-{PARENT}-00"))]);
    assert_eq!(sent_upstream(&up)[3], "00");
    // Each request is a new span of the gateway.
    send(&gw, &[("traceparent", &incoming)]);
    let again = sent_upstream(&up)[2].clone();
    assert_ne!(again, span, "a fresh span id per request");
}

#[test]
fn a_missing_invalid_or_repeated_traceparent_starts_a_new_trace() {
    let (gw, up) = gateway("");
    let cases: [&[(&str, &str)]; 6] = [
        &[],
        &[(
            "traceparent",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        )],
        &[(
            "traceparent",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        )],
        &[(
            "traceparent",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )],
        &[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        )],
        &[
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ],
    ];
    let mut traces = Vec::new();
    for headers in cases {
        let mut with_state = headers.to_vec();
        with_state.push(("tracestate", "congo=t61rcWkgMzE"));
        send(&gw, &with_state);
        let [_, trace, _, _] = sent_upstream(&up);
        assert_ne!(trace, TRACE, "{headers:?}: a new trace");
        assert_ne!(trace, "0".repeat(32), "{headers:?}");
        assert!(
            up.last().header_all("tracestate").is_empty(),
            "{headers:?}: no tracestate for a new trace"
        );
        traces.push(trace);
    }
    traces.sort();
    traces.dedup();
    assert_eq!(traces.len(), 6, "every new trace has its own id");
}

#[test]
fn request_id_can_be_the_trace_id() {
    let (gw, up) = gateway("[tracing]\nrequest_id = \"trace_id\"\n");
    let r = send(&gw, &[("traceparent", &format!("00-{TRACE}-{PARENT}-01"))]);
    assert_eq!(r.header("x-request-id"), Some(TRACE), "{}", r.summary());
    assert_eq!(up.last().header("x-request-id"), Some(TRACE));
    // A client's own valid request id still wins.
    let r = send(&gw, &[("x-request-id", "mine-1")]);
    assert_eq!(r.header("x-request-id"), Some("mine-1"));
    // By default the request id is independent of the trace.
    let (gw, up) = gateway("");
    let r = send(&gw, &[("traceparent", &format!("00-{TRACE}-{PARENT}-01"))]);
    assert_ne!(r.header("x-request-id"), Some(TRACE));
    assert_eq!(sent_upstream(&up)[1], TRACE);
}
