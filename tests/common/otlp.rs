//! `OtlpReceiver`: a real OTLP/HTTP collector for tests, on 127.0.0.1:0. It
//! is an `Upstream` (a `TcpListener` thread reading HTTP/1.1 requests with
//! their Content-Length bodies) that answers every POST with a fixed
//! status, and decodes the JSON bodies it received into `DecodedSpan`s with
//! `serde_json`, so tests check what a collector would see.
//!
//! Must never: accept a body that is not OTLP JSON in silence (decoding
//! panics with the body, failing the test), or wait without a deadline.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::poll::eventually;
use super::upstream::{Received, Reply, Upstream};

/// The path the receiver's endpoint names (OTLP/HTTP's default for traces).
pub const TRACES_PATH: &str = "/v1/traces";

/// One span as the collector decoded it; ids are the hex strings sent.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedSpan {
    /// `traceId`.
    pub trace_id: String,
    /// `spanId`.
    pub span_id: String,
    /// `parentSpanId`, absent (or empty) for a root span.
    pub parent_span_id: Option<String>,
    /// `name`.
    pub name: String,
    /// `kind` (2 = SERVER).
    pub kind: i64,
    /// `startTimeUnixNano`.
    pub start_ns: u64,
    /// `endTimeUnixNano`.
    pub end_ns: u64,
    /// `status.code` (0 = unset, 2 = error).
    pub status_code: i64,
    /// Span attributes: strings as JSON strings, `intValue`s as JSON numbers.
    pub attributes: BTreeMap<String, Value>,
    /// The resource's attributes, same encoding.
    pub resource: BTreeMap<String, Value>,
}

impl DecodedSpan {
    /// A string attribute's value.
    pub fn str_attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(Value::as_str)
    }

    /// An integer attribute's value.
    pub fn int_attr(&self, key: &str) -> Option<i64> {
        self.attributes.get(key).and_then(Value::as_i64)
    }
}

/// A collector that records every export request it receives.
pub struct OtlpReceiver {
    up: Upstream,
}

impl OtlpReceiver {
    /// A collector answering 200 `{}` to every export.
    pub fn start() -> OtlpReceiver {
        OtlpReceiver::answering(200)
    }

    /// A collector answering `status` to every export (a 503 is one that is
    /// up but refuses the spans).
    pub fn answering(status: u16) -> OtlpReceiver {
        let reply = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}"
        )
        .into_bytes();
        OtlpReceiver {
            up: Upstream::start("otlp", move |_| Reply::Raw(reply.clone())),
        }
    }

    /// The URL to export to, `http://127.0.0.1:PORT/v1/traces`.
    pub fn endpoint(&self) -> String {
        format!("http://{}{TRACES_PATH}", self.up.addr())
    }

    /// Every export request received, in order.
    pub fn requests(&self) -> Vec<Received> {
        self.up.requests()
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<DecodedSpan> {
        self.requests().iter().flat_map(decode_request).collect()
    }

    /// The spans once at least `n` arrived, or what arrived by `timeout`.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<DecodedSpan> {
        eventually(timeout, || self.spans().len() >= n);
        self.spans()
    }
}

/// The spans of one export request; panics on anything that is not OTLP JSON.
pub fn decode_request(r: &Received) -> Vec<DecodedSpan> {
    let text = String::from_utf8_lossy(&r.body);
    let doc: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("export body is not JSON ({e}): {text}"));
    let mut out = Vec::new();
    for rs in array(&doc, "resourceSpans") {
        let resource = attributes(&rs["resource"]);
        for ss in array(rs, "scopeSpans") {
            for s in array(ss, "spans") {
                out.push(span(s, &resource));
            }
        }
    }
    out
}

fn span(s: &Value, resource: &BTreeMap<String, Value>) -> DecodedSpan {
    let text = |k: &str| {
        s[k].as_str()
            .unwrap_or_else(|| panic!("span without string {k}: {s}"))
            .to_string()
    };
    DecodedSpan {
        trace_id: text("traceId"),
        span_id: text("spanId"),
        parent_span_id: s["parentSpanId"]
            .as_str()
            .filter(|p| !p.is_empty())
            .map(str::to_string),
        name: text("name"),
        kind: s["kind"].as_i64().unwrap_or(0),
        start_ns: nanos(&s["startTimeUnixNano"]),
        end_ns: nanos(&s["endTimeUnixNano"]),
        status_code: s["status"]["code"].as_i64().unwrap_or(0),
        attributes: attributes(s),
        resource: resource.clone(),
    }
}

/// OTLP JSON writes 64-bit integers as strings; numbers are accepted too.
fn nanos(v: &Value) -> u64 {
    v.as_str()
        .and_then(|t| t.parse().ok())
        .or_else(|| v.as_u64())
        .unwrap_or_else(|| panic!("not a uint64: {v}"))
}

fn attributes(holder: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for a in array(holder, "attributes") {
        let key = a["key"].as_str().unwrap_or_default().to_string();
        let v = &a["value"];
        let value = if let Some(s) = v.get("stringValue") {
            s.clone()
        } else if let Some(i) = v.get("intValue") {
            Value::from(nanos(i) as i64)
        } else {
            panic!("unexpected attribute value: {a}")
        };
        out.insert(key, value);
    }
    out
}

fn array<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v[key].as_array().map_or(&[], Vec::as_slice)
}
