//! The record of one sampled request's server span, as the shard hands it
//! to the exporter, and the OpenTelemetry HTTP semantic-convention names of
//! its attributes (`attr`).
//!
//! Owns: the span's name and the method normalisation the conventions ask
//! for (`_OTHER`). Must never: be built for an unsampled request (it
//! allocates), or hold anything borrowed from a connection's buffers.

use super::context::TraceContext;

/// Attribute keys from the OpenTelemetry HTTP semantic conventions.
pub mod attr {
    /// The request method, or `_OTHER` for one the conventions do not list.
    pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
    /// The method as sent, when `http.request.method` is `_OTHER`.
    pub const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";
    /// The matched route's template (low cardinality).
    pub const HTTP_ROUTE: &str = "http.route";
    /// The status code sent to the client.
    pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
    /// The path the client asked for.
    pub const URL_PATH: &str = "url.path";
    /// The query string without `?`, only when there is one.
    pub const URL_QUERY: &str = "url.query";
    /// `http` (ringway serves plain HTTP).
    pub const URL_SCHEME: &str = "url.scheme";
    /// The host the client addressed (`Host`, without the port).
    pub const SERVER_ADDRESS: &str = "server.address";
    /// The port the client addressed.
    pub const SERVER_PORT: &str = "server.port";
    /// The client, after trusted proxies' `X-Forwarded-For`.
    pub const CLIENT_ADDRESS: &str = "client.address";
    /// The socket peer's address.
    pub const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
    /// The socket peer's port.
    pub const NETWORK_PEER_PORT: &str = "network.peer.port";
    /// `1.0` or `1.1`.
    pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
    /// The `User-Agent` header.
    pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";
    /// Why the request failed; marks the span as an error.
    pub const ERROR_TYPE: &str = "error.type";
}

/// The methods the conventions name; any other is reported as `_OTHER`.
const KNOWN_METHODS: [&str; 9] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
];

/// An attribute value, typed as OTLP encodes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttrValue {
    /// `stringValue`.
    Str(Box<str>),
    /// `intValue`.
    Int(i64),
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> AttrValue {
        AttrValue::Str(s.into())
    }
}

impl From<String> for AttrValue {
    fn from(s: String) -> AttrValue {
        AttrValue::Str(s.into())
    }
}

impl From<i64> for AttrValue {
    fn from(n: i64) -> AttrValue {
        AttrValue::Int(n)
    }
}

impl From<u16> for AttrValue {
    fn from(n: u16) -> AttrValue {
        AttrValue::Int(n.into())
    }
}

/// One finished server span, owned, ready for the exporter.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanRecord {
    /// The trace it belongs to.
    pub trace_id: [u8; 16],
    /// The gateway's span id (the parent of the upstream's span).
    pub span_id: [u8; 8],
    /// The client's span, when the trace was continued.
    pub parent_id: Option<[u8; 8]>,
    /// `"<METHOD> <route>"`, or `"<METHOD>"` without a route.
    pub name: Box<str>,
    /// When the request's head was read, in ns since the Unix epoch.
    pub start_unix_ns: u64,
    /// When the response was sent (or the request abandoned), same clock.
    pub end_unix_ns: u64,
    /// The status sent to the client; 0 when none was sent.
    pub status_code: u16,
    /// Attributes in the order added (keys from `attr`).
    pub attributes: Vec<(&'static str, AttrValue)>,
}

impl SpanRecord {
    /// A server span for `ctx` with its name, method, route and status
    /// attributes; the caller adds the rest with `push`.
    pub fn server(
        ctx: &TraceContext,
        method: &str,
        route: Option<&str>,
        start_unix_ns: u64,
        end_unix_ns: u64,
        status_code: u16,
    ) -> SpanRecord {
        let known = KNOWN_METHODS.contains(&method);
        // The conventions name a span for an unknown method `HTTP`, so a
        // client cannot make up span names (and their cardinality).
        let shown = if known { method } else { "HTTP" };
        let name = match route {
            Some(r) => format!("{shown} {r}"),
            None => shown.to_owned(),
        };
        let mut span = SpanRecord {
            trace_id: ctx.trace_id,
            span_id: ctx.span_id,
            parent_id: ctx.parent_id,
            name: name.into(),
            start_unix_ns,
            end_unix_ns,
            status_code,
            attributes: Vec::with_capacity(12),
        };
        if known {
            span.push(attr::HTTP_REQUEST_METHOD, method);
        } else {
            span.push(attr::HTTP_REQUEST_METHOD, "_OTHER");
            span.push(attr::HTTP_REQUEST_METHOD_ORIGINAL, method);
        }
        if let Some(r) = route {
            span.push(attr::HTTP_ROUTE, r);
        }
        if status_code != 0 {
            span.push(attr::HTTP_RESPONSE_STATUS_CODE, status_code);
        }
        span
    }

    /// Adds one attribute.
    pub fn push(&mut self, key: &'static str, value: impl Into<AttrValue>) {
        self.attributes.push((key, value.into()));
    }

    /// The value of attribute `key`, if set.
    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// Whether the span's status is ERROR: a 5xx, or any `error.type` (the
    /// caller sets it only for failures, never for a client's 4xx).
    pub fn is_error(&self) -> bool {
        self.status_code >= 500 || self.get(attr::ERROR_TYPE).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> TraceContext {
        TraceContext {
            trace_id: [1; 16],
            parent_id: Some([2; 8]),
            span_id: [3; 8],
            sampled: true,
        }
    }

    #[test]
    fn named_after_method_and_route() {
        let s = SpanRecord::server(&ctx(), "GET", Some("/api/users"), 10, 20, 200);
        assert_eq!(&*s.name, "GET /api/users");
        assert_eq!(
            (s.trace_id, s.span_id, s.parent_id),
            ([1; 16], [3; 8], Some([2; 8]))
        );
        assert_eq!(s.get(attr::HTTP_REQUEST_METHOD), Some(&"GET".into()));
        assert_eq!(s.get(attr::HTTP_ROUTE), Some(&"/api/users".into()));
        assert_eq!(
            s.get(attr::HTTP_RESPONSE_STATUS_CODE),
            Some(&AttrValue::Int(200))
        );
        assert!(!s.is_error());
        let s = SpanRecord::server(&ctx(), "POST", None, 10, 20, 404);
        assert_eq!(&*s.name, "POST");
        assert_eq!(s.get(attr::HTTP_ROUTE), None);
        assert!(!s.is_error());
    }

    #[test]
    fn unknown_methods_are_other() {
        let s = SpanRecord::server(&ctx(), "PURGE", Some("/c"), 0, 1, 200);
        assert_eq!(&*s.name, "HTTP /c");
        assert_eq!(s.get(attr::HTTP_REQUEST_METHOD), Some(&"_OTHER".into()));
        assert_eq!(
            s.get(attr::HTTP_REQUEST_METHOD_ORIGINAL),
            Some(&"PURGE".into())
        );
        let s = SpanRecord::server(&ctx(), "get", None, 0, 1, 200);
        assert_eq!(&*s.name, "HTTP");
    }

    #[test]
    fn errors_are_5xx_or_an_error_type() {
        assert!(SpanRecord::server(&ctx(), "GET", None, 0, 1, 502).is_error());
        let mut s = SpanRecord::server(&ctx(), "GET", None, 0, 1, 0);
        assert_eq!(s.get(attr::HTTP_RESPONSE_STATUS_CODE), None);
        assert!(!s.is_error());
        s.push(attr::ERROR_TYPE, "client_closed");
        assert!(s.is_error());
    }
}
