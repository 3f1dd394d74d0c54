//! Request head parsing: httparse in place, then the RFC 9112 framing,
//! Host, target-form and Expect rules that defend against smuggling, and
//! the fixed header rules (one `Authorization`, `Proxy-Authorization` and
//! `Content-Type`; no method override). Configured rules are `rules`.
//!
//! Must never: allocate per request (the header Vec is reused), copy bytes
//! out of the connection buffer, or accept an ambiguous body length.

use super::header::scan_head;
use super::header::{
    collect_headers, connection_lists, crlf_layout, has_token, map_httparse_error, offset_in,
    parse_decimal, scan_error, span_of, trim_ows, valid_authority,
};
use super::{BodyKind, HeaderEntry, HeaderKind, HttpError, Method, Span, Version};

/// Most header fields a request may carry.
pub const MAX_HEADERS: usize = 100;

/// A parsed request head; every span points into the buffer it came from.
#[derive(Clone, Debug)]
pub struct RequestHead {
    /// The recognised method.
    pub method: Method,
    /// The method token as sent.
    pub method_span: Span,
    /// The raw request-target.
    pub target: Span,
    /// Path part of the target (empty for an absolute-form without path, meaning "/").
    pub path: Span,
    /// Query including its leading '?'.
    pub query: Option<Span>,
    /// Protocol version.
    pub version: Version,
    /// The request line including its CRLF.
    pub request_line: Span,
    /// Header fields in order; capacity `MAX_HEADERS`, reused across requests.
    pub headers: Vec<HeaderEntry>,
    /// Bytes through the empty line's CRLF.
    pub head_len: usize,
    /// How the body is delimited (never `UntilClose` for requests).
    pub body: BodyKind,
    /// Whether the client wants the connection kept open after this exchange.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on HTTP/1.1.
    pub expect_continue: bool,
    /// Authority of an absolute-form target if present, else the Host value.
    pub host: Option<Span>,
}

impl RequestHead {
    /// An empty head whose header Vec never needs to grow.
    pub fn new() -> Self {
        RequestHead {
            headers: Vec::with_capacity(MAX_HEADERS),
            ..RequestHead::blank()
        }
    }

    /// Resets every field for the next request, keeping the header capacity.
    pub fn clear(&mut self) {
        let mut headers = std::mem::take(&mut self.headers);
        headers.clear();
        *self = RequestHead {
            headers,
            ..RequestHead::blank()
        };
    }

    /// All fields at their defaults with an unallocated header Vec.
    pub fn blank() -> Self {
        RequestHead {
            method: Method::Get,
            method_span: Span::default(),
            target: Span::default(),
            path: Span::default(),
            query: None,
            version: Version::Http11,
            request_line: Span::default(),
            headers: Vec::new(),
            head_len: 0,
            body: BodyKind::Empty,
            keep_alive: false,
            expect_continue: false,
            host: None,
        }
    }

    /// True when `name` is listed as a token in any Connection header.
    pub fn is_connection_listed(&self, buf: &[u8], name: &[u8]) -> bool {
        connection_lists(&self.headers, buf, name)
    }
}

impl Default for RequestHead {
    fn default() -> Self {
        Self::new()
    }
}

/// Ok(false) = incomplete, need more bytes; Ok(true) = complete head parsed into `out`.
pub fn parse_request(
    buf: &[u8],
    max_head: usize,
    out: &mut RequestHead,
) -> Result<bool, HttpError> {
    out.clear();
    let window = &buf[..buf.len().min(max_head)];
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut raw);
    let head_len = match req.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            // httparse tolerates bare LF, so look for one before waiting on.
            if let Some(e) = scan_error(window) {
                return Err(e);
            }
            return if buf.len() >= max_head {
                Err(HttpError::HeadTooLarge)
            } else {
                Ok(false)
            };
        }
        Err(e) => {
            return Err(
                scan_error(window).unwrap_or_else(|| map_httparse_error(e, line_at(window), true))
            );
        }
    };
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HttpError::Malformed);
    };
    let start = offset_in(buf, method.as_bytes());
    let Some(scan) = crlf_layout(buf, start, req.headers, head_len) else {
        return Err(scan_error(window).unwrap_or(HttpError::Malformed));
    };
    debug_assert_eq!(scan_head(window), Ok(Some(scan)));
    out.method = Method::from_bytes(method.as_bytes());
    if out.method == Method::Other && Method::is_miscased(method.as_bytes()) {
        return Err(HttpError::MiscasedMethod);
    }
    out.method_span = span_of(buf, method.as_bytes());
    out.target = span_of(buf, target.as_bytes());
    out.version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    out.request_line = Span::new(scan.start, scan.first_line_end);
    out.head_len = scan.head_len;
    collect_headers(buf, req.headers, scan.head_len, &mut out.headers);
    classify_target(buf, out)?;
    apply_header_rules(buf, out)?;
    Ok(true)
}

/// The start line as far as it is visible (for version error mapping).
fn line_at(buf: &[u8]) -> &[u8] {
    let mut b = buf;
    while let [b'\r', b'\n', rest @ ..] = b {
        b = rest;
    }
    b
}

/// Sets `path`, `query` and (absolute-form) `host` from the request-target.
fn classify_target(buf: &[u8], out: &mut RequestHead) -> Result<(), HttpError> {
    let t = out.target.get(buf);
    let base = out.target.start as usize;
    if t.contains(&b'#') {
        return Err(HttpError::BadTarget);
    }
    let path_start = if t.first() == Some(&b'/') {
        0
    } else if t == b"*" {
        if out.method != Method::Options {
            return Err(HttpError::BadTarget);
        }
        out.path = out.target;
        return Ok(());
    } else {
        let rest_at = scheme_len(t).ok_or(HttpError::BadTarget)?;
        let rest = &t[rest_at..];
        let auth_len = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        if !valid_authority(&rest[..auth_len]) {
            return Err(HttpError::BadTarget);
        }
        out.host = Some(Span::new(base + rest_at, base + rest_at + auth_len));
        rest_at + auth_len
    };
    let q = t[path_start..]
        .iter()
        .position(|&b| b == b'?')
        .map(|i| i + path_start);
    let path_end = q.unwrap_or(t.len());
    out.path = Span::new(base + path_start, base + path_end);
    out.query = q.map(|q| Span::new(base + q, base + t.len()));
    Ok(())
}

/// Length of an `http://` or `https://` prefix (case-insensitive).
fn scheme_len(t: &[u8]) -> Option<usize> {
    [&b"http://"[..], b"https://"]
        .into_iter()
        .find(|s| t.len() >= s.len() && t[..s.len()].eq_ignore_ascii_case(s))
        .map(<[u8]>::len)
}

/// Framing, Host, Expect, one-value-header, method-override and keep-alive
/// rules over the collected headers.
fn apply_header_rules(buf: &[u8], out: &mut RequestHead) -> Result<(), HttpError> {
    let mut cl: Option<Span> = None;
    let mut cl_count = 0u32;
    let mut te: Option<Span> = None;
    let mut te_count = 0u32;
    let mut host: Option<Span> = None;
    let mut host_count = 0u32;
    let mut close = false;
    let mut keep_alive = false;
    let mut expect_continue = false;
    let mut bad_expect = false;
    // The `singleton_bit`s seen so far.
    let mut singletons = 0u8;
    for h in &out.headers {
        match h.kind {
            k if k.singleton_bit() != 0 => {
                if singletons & k.singleton_bit() != 0 {
                    return Err(HttpError::AmbiguousHeader);
                }
                singletons |= k.singleton_bit();
            }
            // Frameworks honour these, so `POST` + override `DELETE` would
            // reach a handler the route's method-scoped policies never saw.
            HeaderKind::MethodOverride => return Err(HttpError::MethodOverride),
            HeaderKind::ContentLength => {
                cl_count += 1;
                cl = Some(h.value);
            }
            HeaderKind::TransferEncoding => {
                te_count += 1;
                te = Some(h.value);
            }
            HeaderKind::Host => {
                host_count += 1;
                host = Some(h.value);
            }
            HeaderKind::Connection => {
                let v = h.value.get(buf);
                close |= has_token(v, b"close");
                keep_alive |= has_token(v, b"keep-alive");
            }
            HeaderKind::Expect => {
                if trim_ows(h.value.get(buf)).eq_ignore_ascii_case(b"100-continue") {
                    expect_continue = true;
                } else {
                    bad_expect = true;
                }
            }
            _ => {}
        }
    }
    let http11 = out.version == Version::Http11;

    // Framing first: a conflicting or doubtful length is the smuggling vector.
    if cl_count > 0 && te_count > 0 {
        return Err(HttpError::LengthAndChunked);
    }
    out.body = if let Some(te) = te {
        let v = trim_ows(te.get(buf));
        if te_count > 1 || !http11 || !v.eq_ignore_ascii_case(b"chunked") {
            return Err(HttpError::BadTransferEncoding);
        }
        BodyKind::Chunked
    } else if let Some(cl) = cl {
        if cl_count > 1 {
            return Err(HttpError::BadContentLength);
        }
        match parse_decimal(cl.get(buf)).ok_or(HttpError::BadContentLength)? {
            0 => BodyKind::Empty,
            n => BodyKind::Length(n),
        }
    } else {
        BodyKind::Empty
    };

    if host_count > 1 || (http11 && host_count == 0) {
        return Err(HttpError::BadHost);
    }
    if let Some(h) = host {
        if !valid_authority(h.get(buf)) {
            return Err(HttpError::BadHost);
        }
        // RFC 9112 3.2.2: an absolute-form authority overrides Host.
        if out.host.is_none() {
            out.host = Some(h);
        }
    }

    if bad_expect {
        return Err(HttpError::UnsupportedExpectation);
    }
    // RFC 9110 10.1.1: 100-continue from an HTTP/1.0 client is ignored.
    out.expect_continue = expect_continue && http11;
    out.keep_alive = !close && (http11 || keep_alive);
    Ok(())
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
