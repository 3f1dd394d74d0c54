//! Header fields: classifying names, small value grammars (token lists,
//! request ids, authorities), and the strict CRLF line scan plus span
//! conversion shared by the request and response parsers.
//!
//! Must never: allocate, copy header bytes, or accept a bare CR/LF or an
//! obs-fold line (those are how request smuggling hides framing headers).

use super::{HttpError, Span};

/// Header names the gateway treats specially; everything else is `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderKind {
    /// `Host`
    Host,
    /// `Content-Length`
    ContentLength,
    /// `Transfer-Encoding`
    TransferEncoding,
    /// `Connection`
    Connection,
    /// `Keep-Alive`
    KeepAlive,
    /// `Proxy-Connection`
    ProxyConnection,
    /// `TE`
    Te,
    /// `Trailer`
    Trailer,
    /// `Upgrade`
    Upgrade,
    /// `Expect`
    Expect,
    /// `X-Forwarded-For`
    XForwardedFor,
    /// `X-Forwarded-Proto`
    XForwardedProto,
    /// `X-Forwarded-Host`
    XForwardedHost,
    /// `X-Request-Id`
    XRequestId,
    /// `Via`
    Via,
    /// `Authorization`: one per request (a second could be verified or forwarded instead).
    Authorization,
    /// `Proxy-Authorization`: one per request.
    ProxyAuthorization,
    /// `Content-Type`: one per request (the body has one media type).
    ContentType,
    /// `X-Real-IP`: set by the gateway, never passed on from a client.
    XRealIp,
    /// `Forwarded` (RFC 7239): passed on from trusted proxies only.
    Forwarded,
    /// `X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`: refused.
    MethodOverride,
    /// `traceparent` (W3C): read by the gateway, replaced by its own upstream.
    TraceParent,
    /// `tracestate` (W3C): passed on only when the client's trace continues.
    TraceState,
    /// `x-client-cert-subject`, `x-client-cert-san`, `x-client-cert-verified`
    /// (set by the gateway from a verified client certificate, `tls::Peer`)
    /// and Envoy's `x-forwarded-client-cert`: never passed on from a client.
    ClientCert,
    /// Any other name.
    Other,
}

impl HeaderKind {
    /// Classifies a header name case-insensitively.
    pub fn classify(name: &[u8]) -> HeaderKind {
        // Dispatch on length first so most names cost one comparison at most.
        let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
        match name.len() {
            2 if is(b"te") => HeaderKind::Te,
            3 if is(b"via") => HeaderKind::Via,
            4 if is(b"host") => HeaderKind::Host,
            6 if is(b"expect") => HeaderKind::Expect,
            7 if is(b"trailer") => HeaderKind::Trailer,
            7 if is(b"upgrade") => HeaderKind::Upgrade,
            9 if is(b"x-real-ip") => HeaderKind::XRealIp,
            9 if is(b"forwarded") => HeaderKind::Forwarded,
            10 if is(b"connection") => HeaderKind::Connection,
            10 if is(b"keep-alive") => HeaderKind::KeepAlive,
            10 if is(b"tracestate") => HeaderKind::TraceState,
            11 if is(b"traceparent") => HeaderKind::TraceParent,
            12 if is(b"x-request-id") => HeaderKind::XRequestId,
            12 if is(b"content-type") => HeaderKind::ContentType,
            13 if is(b"authorization") => HeaderKind::Authorization,
            13 if is(b"x-http-method") => HeaderKind::MethodOverride,
            14 if is(b"content-length") => HeaderKind::ContentLength,
            15 if is(b"x-forwarded-for") => HeaderKind::XForwardedFor,
            16 if is(b"proxy-connection") => HeaderKind::ProxyConnection,
            16 if is(b"x-forwarded-host") => HeaderKind::XForwardedHost,
            17 if is(b"transfer-encoding") => HeaderKind::TransferEncoding,
            17 if is(b"x-forwarded-proto") => HeaderKind::XForwardedProto,
            17 if is(b"x-method-override") => HeaderKind::MethodOverride,
            17 if is(b"x-client-cert-san") => HeaderKind::ClientCert,
            19 if is(b"proxy-authorization") => HeaderKind::ProxyAuthorization,
            21 if is(b"x-client-cert-subject") => HeaderKind::ClientCert,
            22 if is(b"x-http-method-override") => HeaderKind::MethodOverride,
            22 if is(b"x-client-cert-verified") => HeaderKind::ClientCert,
            23 if is(b"x-forwarded-client-cert") => HeaderKind::ClientCert,
            _ => HeaderKind::Other,
        }
    }

    /// True for the hop-by-hop fields of RFC 9110 7.6.1.
    pub fn is_hop_by_hop(self) -> bool {
        matches!(
            self,
            HeaderKind::Connection
                | HeaderKind::KeepAlive
                | HeaderKind::ProxyConnection
                | HeaderKind::Te
                | HeaderKind::TransferEncoding
                | HeaderKind::Trailer
                | HeaderKind::Upgrade
        )
    }

    /// A distinct bit for each field a request may carry at most once
    /// (beyond the framing ones and Host, which have their own errors); 0
    /// for every other kind.
    pub fn singleton_bit(self) -> u8 {
        match self {
            HeaderKind::Authorization => 1,
            HeaderKind::ProxyAuthorization => 2,
            HeaderKind::ContentType => 4,
            _ => 0,
        }
    }
}

/// One parsed header line, as spans into the head buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderEntry {
    /// The field name.
    pub name: Span,
    /// The field value with surrounding OWS trimmed.
    pub value: Span,
    /// The whole line, from the name through its CRLF.
    pub line: Span,
    /// The classified name.
    pub kind: HeaderKind,
}

/// Strips leading and trailing SP/HTAB.
#[inline]
pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// True when `token` appears in the comma-separated `list` (case-insensitive).
pub fn has_token(list: &[u8], token: &[u8]) -> bool {
    list.split(|&b| b == b',')
        .any(|item| trim_ows(item).eq_ignore_ascii_case(token))
}

/// True when `v` is an acceptable X-Request-Id value.
pub fn valid_request_id(v: &[u8]) -> bool {
    (1..=128).contains(&v.len())
        && v.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(&b))
}

/// True for RFC 9110 `tchar`.
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// True when an all-digit value is written without leading zeros (`0`,
/// `10`; not `010`): the form forwarded byte for byte.
#[inline]
pub fn is_canonical_decimal(v: &[u8]) -> bool {
    v.len() == 1 || v.first() != Some(&b'0')
}

/// Parses `1*DIGIT` into a u64; `None` on anything else or overflow.
pub(crate) fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// True when `v` is `host [":" port]` with no userinfo, path or whitespace.
///
/// Deliberately stricter than RFC 3986 reg-name: only ALPHA DIGIT `-._~`
/// (no sub-delims or percent escapes), because the host feeds routing and is
/// forwarded upstream where exotic bytes only invite parser differentials.
pub(crate) fn valid_authority(v: &[u8]) -> bool {
    let (host, port) = if let Some(rest) = v.strip_prefix(b"[") {
        let Some(close) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &rest[..close];
        if literal.len() < 2
            || !literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        match &rest[close + 1..] {
            [] => (literal, None),
            [b':', port @ ..] => (literal, Some(port)),
            _ => return false,
        }
    } else {
        let (host, port) = match v.iter().position(|&b| b == b':') {
            Some(i) => (&v[..i], Some(&v[i + 1..])),
            None => (v, None),
        };
        if host.is_empty()
            || !host
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        {
            return false;
        }
        (host, port)
    };
    debug_assert!(!host.is_empty());
    match port {
        None => true,
        Some(p) => p.len() <= 5 && parse_decimal(p).is_some_and(|n| n <= 65535),
    }
}

/// Where a strictly CRLF-delimited head sits in a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeadScan {
    /// Offset of the start line (after skipped leading empty lines).
    pub start: usize,
    /// Offset just past the start line's CRLF.
    pub first_line_end: usize,
    /// Offset just past the empty line's CRLF.
    pub head_len: usize,
}

/// Finds the end of a head, rejecting bare CR/LF and obs-fold as soon as
/// they are visible. `Ok(None)` means no complete head in `buf` yet.
///
/// httparse tolerates bare LF and reports obs-fold as a generic name error,
/// so this scan runs first and owns those two verdicts.
pub(crate) fn scan_head(buf: &[u8]) -> Result<Option<HeadScan>, HttpError> {
    let mut i = 0;
    // RFC 9112 2.2: empty lines before the start line may be ignored.
    while buf.get(i) == Some(&b'\r') && buf.get(i + 1) == Some(&b'\n') {
        i += 2;
    }
    let start = i;
    let mut line_start = start;
    let mut first_line_end = None;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\r' || b == b'\n') {
        let at = i + off;
        if buf[at] == b'\n' {
            return Err(HttpError::BareCrLf);
        }
        match buf.get(at + 1) {
            None => return Ok(None),
            Some(b'\n') => {}
            Some(_) => return Err(HttpError::BareCrLf),
        }
        let next = at + 2;
        if at == line_start {
            // Leading empty lines were skipped, so this empty line ends the head.
            let first_line_end = first_line_end.unwrap_or(next);
            return Ok(Some(HeadScan {
                start,
                first_line_end,
                head_len: next,
            }));
        }
        if first_line_end.is_none() {
            first_line_end = Some(next);
        }
        if matches!(buf.get(next), Some(b' ' | b'\t')) {
            return Err(HttpError::ObsFold);
        }
        line_start = next;
        i = next;
    }
    Ok(None)
}

/// Line layout of a head httparse accepted, or `None` when some line ended
/// in a bare LF (then `scan_head` classifies the error).
///
/// httparse admits CR or LF only as line terminators (CRLF or bare LF) and
/// never inside tokens, values or the reason phrase, so checking the two
/// bytes before each line boundary is enough: O(lines) instead of O(bytes).
/// `start` is where the start line begins.
pub(crate) fn crlf_layout(
    buf: &[u8],
    start: usize,
    headers: &[httparse::Header<'_>],
    head_len: usize,
) -> Option<HeadScan> {
    let crlf_before = |end: usize| end >= 2 && buf.get(end - 2..end) == Some(&b"\r\n"[..]);
    // Only CRLF pairs may precede the start line (httparse also skips bare LFs).
    // An odd-length prefix fails too: its last chunk is a single byte.
    if !buf.get(..start)?.chunks(2).all(|p| p == b"\r\n")
        || matches!(buf.get(start), Some(b'\r' | b'\n'))
    {
        return None;
    }
    let first_line_end = match headers.first() {
        Some(h) => offset_in(buf, h.name.as_bytes()),
        None => head_len.checked_sub(2)?,
    };
    let ok = first_line_end > start
        && crlf_before(first_line_end)
        && crlf_before(head_len)
        && headers
            .iter()
            .skip(1)
            .all(|h| crlf_before(offset_in(buf, h.name.as_bytes())))
        && (headers.is_empty() || crlf_before(head_len - 2));
    ok.then_some(HeadScan {
        start,
        first_line_end,
        head_len,
    })
}

/// The verdict for a head httparse refused or left incomplete: a bare CR/LF
/// or obs-fold visible anywhere in `window` wins over httparse's own error.
pub(crate) fn scan_error(window: &[u8]) -> Option<HttpError> {
    scan_head(window).err()
}

/// Byte offset of `part` inside `buf`; `part` must be a subslice of `buf`.
#[inline]
pub(crate) fn offset_in(buf: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize)
}

/// The span of subslice `part` of `buf`.
#[inline]
pub(crate) fn span_of(buf: &[u8], part: &[u8]) -> Span {
    let start = offset_in(buf, part);
    Span::new(start, start + part.len())
}

/// Converts httparse headers into entries whose `line` spans tile the header
/// section exactly (each ends where the next begins, the last at `head_len - 2`).
pub(crate) fn collect_headers(
    buf: &[u8],
    parsed: &[httparse::Header<'_>],
    head_len: usize,
    out: &mut Vec<super::HeaderEntry>,
) {
    for (i, h) in parsed.iter().enumerate() {
        let name = span_of(buf, h.name.as_bytes());
        let value = span_of(buf, h.value);
        // No obs-fold and no skipped invalid lines, so the next name starts
        // exactly where this line's CRLF ends.
        let line_end = match parsed.get(i + 1) {
            Some(next) => offset_in(buf, next.name.as_bytes()),
            None => head_len - 2,
        };
        out.push(HeaderEntry {
            name,
            value,
            line: Span::new(name.start as usize, line_end),
            kind: HeaderKind::classify(h.name.as_bytes()),
        });
    }
}

/// True when any Connection header in `headers` lists `name`.
pub(crate) fn connection_lists(headers: &[HeaderEntry], buf: &[u8], name: &[u8]) -> bool {
    headers
        .iter()
        .filter(|h| h.kind == HeaderKind::Connection)
        .any(|h| has_token(h.value.get(buf), name))
}

/// Maps an httparse error; `UnsupportedVersion` only when the version
/// token really looks like `HTTP/x[.y]`, so garbage stays `Malformed`.
pub(crate) fn map_httparse_error(e: httparse::Error, line: &[u8], request: bool) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
        httparse::Error::Version => {
            let line = match line.iter().position(|&b| b == b'\r') {
                Some(end) => &line[..end],
                None => line,
            };
            // Request line: exactly "method SP target SP version".
            let mut parts = line.split(|&b| b == b' ');
            let token = if request {
                match (parts.next(), parts.next(), parts.next(), parts.next()) {
                    (Some(_), Some(_), Some(v), None) => v,
                    _ => &[][..],
                }
            } else {
                parts.next().unwrap_or(&[])
            };
            if looks_like_http_version(token) {
                HttpError::UnsupportedVersion
            } else {
                HttpError::Malformed
            }
        }
        _ => HttpError::Malformed,
    }
}

/// `HTTP/` DIGIT [ "." [ DIGIT ] ], allowing a prefix cut off by a short read.
fn looks_like_http_version(t: &[u8]) -> bool {
    match t.strip_prefix(b"HTTP/") {
        Some([d, rest @ ..]) if d.is_ascii_digit() => {
            matches!(rest, [] | [b'.'] | [b'.', b'0'..=b'9'])
        }
        _ => false,
    }
}

#[cfg(test)]
#[path = "header_tests.rs"]
mod tests;
