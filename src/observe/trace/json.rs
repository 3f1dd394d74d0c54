//! OTLP/HTTP JSON encoding of a batch of spans: one `resourceSpans` entry
//! (`service.name = "ringway"`) with one scope holding every span.
//!
//! Follows the OTLP JSON mapping: ids as lowercase hex strings, 64-bit
//! integers (times, `intValue`) as decimal strings, enums (`kind`,
//! `status.code`) as numbers, and an unset status left out. Must never:
//! run on a shard (the exporter thread calls it).

use std::fmt::Write as _;

use super::context::to_hex;
use super::span::{attr, AttrValue, SpanRecord};
use crate::observe::log::push_json_str;

/// `Span.SpanKind.SPAN_KIND_SERVER`.
const KIND_SERVER: u8 = 2;
/// `Status.StatusCode.STATUS_CODE_ERROR`.
const STATUS_ERROR: u8 = 2;

/// Replaces `out` with the export request body for `spans`.
pub fn encode(spans: &[SpanRecord], out: &mut String) {
    out.clear();
    out.push_str("{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    push_attr(out, "service.name", &AttrValue::Str("ringway".into()));
    out.push(',');
    push_attr(
        out,
        "service.version",
        &AttrValue::Str(env!("CARGO_PKG_VERSION").into()),
    );
    out.push_str("]},\"scopeSpans\":[{\"scope\":{\"name\":\"ringway\",\"version\":");
    push_json_str(out, env!("CARGO_PKG_VERSION"));
    out.push_str("},\"spans\":[");
    for (i, s) in spans.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_span(out, s);
    }
    out.push_str("]}]}]}");
}

fn push_span(out: &mut String, s: &SpanRecord) {
    out.push_str("{\"traceId\":");
    push_hex(out, &s.trace_id);
    out.push_str(",\"spanId\":");
    push_hex(out, &s.span_id);
    if let Some(p) = &s.parent_id {
        out.push_str(",\"parentSpanId\":");
        push_hex(out, p);
    }
    out.push_str(",\"name\":");
    push_json_str(out, &s.name);
    let _ = write!(
        out,
        ",\"kind\":{KIND_SERVER},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\",\"attributes\":[",
        s.start_unix_ns, s.end_unix_ns
    );
    for (i, (k, v)) in s.attributes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_attr(out, k, v);
    }
    // The conventions want `error.type` on every failed span; a 5xx the
    // caller gave no reason for is reported by its code.
    if s.status_code >= 500 && s.get(attr::ERROR_TYPE).is_none() {
        if !s.attributes.is_empty() {
            out.push(',');
        }
        let code = AttrValue::Str(s.status_code.to_string().into());
        push_attr(out, attr::ERROR_TYPE, &code);
    }
    out.push(']');
    if s.is_error() {
        let _ = write!(out, ",\"status\":{{\"code\":{STATUS_ERROR}}}");
    }
    out.push('}');
}

fn push_attr(out: &mut String, key: &str, v: &AttrValue) {
    out.push_str("{\"key\":");
    push_json_str(out, key);
    match v {
        AttrValue::Str(s) => {
            out.push_str(",\"value\":{\"stringValue\":");
            push_json_str(out, s);
            out.push_str("}}");
        }
        AttrValue::Int(n) => {
            let _ = write!(out, ",\"value\":{{\"intValue\":\"{n}\"}}}}");
        }
    }
}

fn push_hex(out: &mut String, id: &[u8]) {
    let mut buf = [0u8; 32];
    let hex = &mut buf[..2 * id.len()];
    to_hex(id, hex);
    out.push('"');
    // `to_hex` writes only ASCII digits and letters.
    out.push_str(std::str::from_utf8(hex).unwrap_or_default());
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::trace::TraceContext;
    use serde_json::{json, Value};

    fn span(status: u16, parent: Option<[u8; 8]>) -> SpanRecord {
        let ctx = TraceContext {
            trace_id: [0xab; 16],
            parent_id: parent,
            span_id: [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            sampled: true,
        };
        let mut s = SpanRecord::server(
            &ctx,
            "GET",
            Some("/api"),
            1_700_000_000_000_000_001,
            1_700_000_000_000_000_999,
            status,
        );
        s.push(attr::USER_AGENT_ORIGINAL, "curl/8 \"quoted\"\n");
        s.push(attr::NETWORK_PEER_PORT, 40_000i64);
        s
    }

    fn decode(spans: &[SpanRecord]) -> Value {
        let mut out = String::new();
        encode(spans, &mut out);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    #[test]
    fn one_span_in_the_otlp_shape() {
        let v = decode(&[span(200, Some([0x11; 8]))]);
        let rs = &v["resourceSpans"][0];
        assert_eq!(
            rs["resource"]["attributes"][0],
            json!({"key": "service.name", "value": {"stringValue": "ringway"}})
        );
        assert_eq!(rs["scopeSpans"][0]["scope"]["name"], "ringway");
        let s = &rs["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "abababababababababababababababab");
        assert_eq!(s["spanId"], "0123456789abcdef");
        assert_eq!(s["parentSpanId"], "1111111111111111");
        assert_eq!(s["name"], "GET /api");
        assert_eq!(s["kind"], 2);
        assert_eq!(s["startTimeUnixNano"], "1700000000000000001");
        assert_eq!(s["endTimeUnixNano"], "1700000000000000999");
        assert_eq!(s.get("status"), None, "unset status is left out");
        let attrs = s["attributes"].as_array().expect("attributes");
        assert!(
            attrs.contains(&json!({"key": "http.request.method", "value": {"stringValue": "GET"}}))
        );
        assert!(attrs
            .contains(&json!({"key": "http.response.status_code", "value": {"intValue": "200"}})));
        assert!(
            attrs.contains(&json!({"key": "network.peer.port", "value": {"intValue": "40000"}}))
        );
        assert!(attrs.contains(
            &json!({"key": "user_agent.original", "value": {"stringValue": "curl/8 \"quoted\"\n"}})
        ));
    }

    #[test]
    fn root_spans_have_no_parent_and_5xx_is_an_error() {
        let v = decode(&[span(200, None), span(503, None)]);
        let spans = v["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .expect("spans");
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].get("parentSpanId"), None);
        assert_eq!(spans[1]["status"], json!({"code": 2}));
        let attrs = spans[1]["attributes"].as_array().expect("attributes");
        assert!(attrs.contains(&json!({"key": "error.type", "value": {"stringValue": "503"}})));
    }

    #[test]
    fn a_given_error_type_is_kept() {
        let mut s = span(504, None);
        s.push(attr::ERROR_TYPE, "upstream_timeout");
        let v = decode(&[s]);
        let attrs = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"];
        let types: Vec<&Value> = attrs
            .as_array()
            .expect("attributes")
            .iter()
            .filter(|a| a["key"] == "error.type")
            .collect();
        assert_eq!(
            types,
            [&json!({"key": "error.type", "value": {"stringValue": "upstream_timeout"}})]
        );
    }

    #[test]
    fn an_empty_batch_is_still_valid_json() {
        let v = decode(&[]);
        assert_eq!(v["resourceSpans"][0]["scopeSpans"][0]["spans"], json!([]));
    }
}
