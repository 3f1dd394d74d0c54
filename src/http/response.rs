//! Response head parsing: httparse in place, then RFC 9112 6.3 message
//! body length rules (which depend on the request method and status).
//!
//! Must never: allocate per response (the header Vec is reused), copy bytes
//! out of the upstream buffer, or guess a length when framing is ambiguous.

use super::header::scan_head;
use super::header::{
    collect_headers, connection_lists, crlf_layout, has_token, is_canonical_decimal,
    map_httparse_error, parse_decimal, scan_error, trim_ows,
};
use super::request::MAX_HEADERS;
use super::{BodyKind, HeaderEntry, HeaderKind, HttpError, Method, Span, Version};

/// A parsed response head; every span points into the buffer it came from.
#[derive(Clone, Debug)]
pub struct ResponseHead {
    /// Protocol version.
    pub version: Version,
    /// Status code, 100..=999.
    pub status: u16,
    /// The status line including its CRLF.
    pub status_line: Span,
    /// Header fields in order; capacity `MAX_HEADERS`, reused across responses.
    pub headers: Vec<HeaderEntry>,
    /// Bytes through the empty line's CRLF.
    pub head_len: usize,
    /// How the body is delimited.
    pub body: BodyKind,
    /// Whether the upstream connection may be reused after this response.
    pub keep_alive: bool,
    /// How the `Content-Length` fields are to be forwarded.
    pub content_length: LengthFields,
}

/// What forwarding does with a response's `Content-Length` fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthFields {
    /// None, or one field with a canonical value: the line goes out as it came.
    Keep,
    /// Several agreeing fields, a list (`5, 5`) or leading zeros: one
    /// `content-length: N` is written instead, so no later parser has to
    /// choose between copies (RFC 9112 6.3).
    Rewrite(u64),
    /// Dropped: Transfer-Encoding overrides them (RFC 9112 6.1), or they
    /// are invalid on a response that has no body anyway.
    Drop,
}

impl ResponseHead {
    /// An empty head whose header Vec never needs to grow.
    pub fn new() -> Self {
        ResponseHead {
            headers: Vec::with_capacity(MAX_HEADERS),
            ..ResponseHead::blank()
        }
    }

    /// Resets every field for the next response, keeping the header capacity.
    pub fn clear(&mut self) {
        let mut headers = std::mem::take(&mut self.headers);
        headers.clear();
        *self = ResponseHead {
            headers,
            ..ResponseHead::blank()
        };
    }

    /// All fields at their defaults with an unallocated header Vec.
    pub fn blank() -> Self {
        ResponseHead {
            version: Version::Http11,
            status: 0,
            status_line: Span::default(),
            headers: Vec::new(),
            head_len: 0,
            body: BodyKind::Empty,
            keep_alive: false,
            content_length: LengthFields::Keep,
        }
    }

    /// True when `name` is listed as a token in any Connection header.
    pub fn is_connection_listed(&self, buf: &[u8], name: &[u8]) -> bool {
        connection_lists(&self.headers, buf, name)
    }
}

impl Default for ResponseHead {
    fn default() -> Self {
        Self::new()
    }
}

/// `request_method` decides HEAD/CONNECT framing. Ok(false) = incomplete.
pub fn parse_response(
    buf: &[u8],
    max_head: usize,
    request_method: Method,
    out: &mut ResponseHead,
) -> Result<bool, HttpError> {
    out.clear();
    let window = &buf[..buf.len().min(max_head)];
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut raw);
    let head_len = match res.parse(window) {
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
            return Err(scan_error(window)
                .unwrap_or_else(|| map_httparse_error(e, start_line(window), false)));
        }
    };
    let (Some(minor), Some(status)) = (res.version, res.code) else {
        return Err(HttpError::Malformed);
    };
    // The status line has no span from httparse; it starts after the
    // leading CRLF pairs (a bare LF there fails `crlf_layout`).
    let start = window.len() - start_line(window).len();
    let Some(scan) = crlf_layout(buf, start, res.headers, head_len) else {
        return Err(scan_error(window).unwrap_or(HttpError::Malformed));
    };
    debug_assert_eq!(scan_head(window), Ok(Some(scan)));
    if status < 100 {
        return Err(HttpError::Malformed);
    }
    out.version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    out.status = status;
    out.status_line = Span::new(scan.start, scan.first_line_end);
    out.head_len = scan.head_len;
    collect_headers(buf, res.headers, scan.head_len, &mut out.headers);
    apply_framing(buf, request_method, out)
}

/// The start line as far as it is visible (leading empty lines skipped).
fn start_line(buf: &[u8]) -> &[u8] {
    let mut b = buf;
    while let [b'\r', b'\n', rest @ ..] = b {
        b = rest;
    }
    b
}

/// RFC 9112 6.3 body length plus connection persistence.
fn apply_framing(buf: &[u8], method: Method, out: &mut ResponseHead) -> Result<bool, HttpError> {
    let mut close = false;
    let mut keep_alive_token = false;
    let mut te_final: Option<&[u8]> = None;
    let mut cl: Option<u64> = None;
    let mut cl_bad = false;
    let mut cl_canonical = true;
    let mut cl_items = 0;
    for h in &out.headers {
        let v = h.value.get(buf);
        match h.kind {
            HeaderKind::Connection => {
                close |= has_token(v, b"close");
                keep_alive_token |= has_token(v, b"keep-alive");
            }
            HeaderKind::TransferEncoding => {
                // Several TE fields form one list; only the last coding matters.
                let last = v.rsplit(|&b| b == b',').next().unwrap_or(&[]);
                te_final = Some(trim_ows(last));
            }
            HeaderKind::ContentLength => {
                // "10, 10" and repeated identical fields are tolerated (RFC 9110 8.6)
                // but forwarded as one value; "010" is forwarded as "10".
                for item in v.split(|&b| b == b',') {
                    let item = trim_ows(item);
                    cl_items += 1;
                    cl_canonical &= is_canonical_decimal(item);
                    match (parse_decimal(item), cl) {
                        (None, _) => cl_bad = true,
                        (Some(n), Some(prev)) if n != prev => cl_bad = true,
                        (Some(n), _) => cl = Some(n),
                    }
                }
            }
            _ => {}
        }
    }
    // An invalid length only gets this far on a response without a body
    // (below), where it frames nothing: it is not forwarded either.
    out.content_length = match cl {
        _ if te_final.is_some() || cl_bad => LengthFields::Drop,
        Some(n) if cl_items > 1 || !cl_canonical => LengthFields::Rewrite(n),
        _ => LengthFields::Keep,
    };
    let http11 = out.version == Version::Http11;
    let status = out.status;
    let mut reusable = true;
    out.body =
        if method == Method::Head || (100..200).contains(&status) || status == 204 || status == 304
        {
            BodyKind::Empty
        } else if method == Method::Connect && (200..300).contains(&status) {
            // The connection turns into a tunnel: no body, and never pooled again.
            reusable = false;
            BodyKind::Empty
        } else if let Some(last) = te_final {
            // RFC 9112 6.1: TE in an HTTP/1.0 message is faulty framing; reading
            // to close and then dropping the connection is the safe reading.
            if http11 && last.eq_ignore_ascii_case(b"chunked") {
                BodyKind::Chunked
            } else {
                BodyKind::UntilClose
            }
        } else if cl_bad {
            // RFC 9112 6.3 item 5: the framing is unknowable; the proxy answers 502.
            return Err(HttpError::BadContentLength);
        } else {
            match cl {
                Some(0) => BodyKind::Empty,
                Some(n) => BodyKind::Length(n),
                None => BodyKind::UntilClose,
            }
        };
    out.keep_alive =
        reusable && out.body != BodyKind::UntilClose && !close && (http11 || keep_alive_token);
    Ok(true)
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
