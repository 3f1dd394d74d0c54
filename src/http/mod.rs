//! HTTP/1.1 wire format: parsing request and response heads in place, body
//! framing (chunked decoding), path normalisation, header classification,
//! the configured header rules (`rules`) and client addresses behind
//! trusted proxies (`client_ip`).
//!
//! Owns: turning bytes into spans over the caller's buffer, and every rule of
//! RFC 9112 framing that defends against request smuggling.
//! Must never: do I/O, allocate per request (callers pass reusable scratch),
//! or copy header bytes out of the connection buffer.

pub mod chunked;
pub mod client_ip;
pub mod header;
pub mod path;
pub mod request;
pub mod response;
pub mod rules;

pub use chunked::{ChunkError, ChunkedDecoder};
pub use header::{HeaderEntry, HeaderKind};
pub use path::{normalize_path, EscapedSlashes, PathError, PathMode, PathParams};
pub use request::{parse_request, RequestHead};
pub use response::{parse_response, LengthFields, ResponseHead};

/// A byte range into the buffer a head was parsed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// First byte, inclusive.
    pub start: u32,
    /// Last byte, exclusive.
    pub end: u32,
}

impl Span {
    /// A span from `start` to `end` (exclusive).
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The bytes this span covers in `buf`.
    #[inline]
    pub fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start as usize..self.end as usize]
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// True when the span covers no byte.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Protocol version of a message; anything else is rejected at parse time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0
    Http10,
    /// HTTP/1.1
    Http11,
}

/// Request methods the router can match on; others parse as `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Trace,
    Connect,
    /// A syntactically valid token that is none of the above.
    Other,
}

impl Method {
    /// Recognises a method token (case-sensitive, as RFC 9110 says).
    pub fn from_bytes(b: &[u8]) -> Method {
        match b {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"PATCH" => Method::Patch,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            _ => Method::Other,
        }
    }

    /// True when `b` is a standard method spelled in other than upper case:
    /// such a token is refused, since upstreams that upper-case methods
    /// would read it as the method a route's `methods` was meant to guard.
    pub fn is_miscased(b: &[u8]) -> bool {
        b.iter().any(u8::is_ascii_lowercase)
            && KNOWN_UPPER.iter().any(|m| m.eq_ignore_ascii_case(b))
    }

    /// The canonical token, `None` for `Other`.
    pub fn as_str(self) -> Option<&'static str> {
        Some(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Connect => "CONNECT",
            Method::Other => return None,
        })
    }

    /// One bit per known method, for route method sets; `Other` has none.
    #[inline]
    pub fn bit(self) -> u16 {
        match self {
            Method::Other => 0,
            m => 1 << (m as u16),
        }
    }
}

/// The standard method tokens (RFC 9110 section 9 and PATCH).
const KNOWN_UPPER: [&[u8]; 9] = [
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE", b"CONNECT",
];

/// How the body of a message is delimited (RFC 9112 section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body at all.
    Empty,
    /// Exactly this many bytes (never 0: a zero length is `Empty`).
    Length(u64),
    /// Chunked transfer coding, the final and only coding.
    Chunked,
    /// Responses only: the body runs until the connection closes.
    UntilClose,
}

/// Why a head (or a chunked body) was refused. Mapped to a status in `crate::error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The head is larger than the configured bound.
    HeadTooLarge,
    /// More header fields than the parser accepts.
    TooManyHeaders,
    /// Not HTTP/1.0 or HTTP/1.1.
    UnsupportedVersion,
    /// A CR or LF that is not part of a CRLF pair in the head.
    BareCrLf,
    /// A header line continued with leading whitespace (obs-fold).
    ObsFold,
    /// Both Content-Length and Transfer-Encoding.
    LengthAndChunked,
    /// Content-Length that is not a plain decimal, or appears twice.
    BadContentLength,
    /// Transfer-Encoding other than exactly `chunked` (or on HTTP/1.0).
    BadTransferEncoding,
    /// HTTP/1.1 request without Host, or with several.
    BadHost,
    /// An `Expect` value other than `100-continue`.
    UnsupportedExpectation,
    /// A request target that is not origin-form, absolute-form or `*`.
    BadTarget,
    /// A one-value header sent twice, or as a comma-joined list.
    AmbiguousHeader,
    /// A method-override header (`X-HTTP-Method-Override` and kin).
    MethodOverride,
    /// A header name with `_` under `underscores_in_headers = "reject"`.
    UnderscoreInName,
    /// A standard method in other than upper case (`delete`, `Get`).
    MiscasedMethod,
    /// Any other syntax error in the head (from httparse or our checks).
    Malformed,
    /// A chunk-size line, chunk terminator or trailer section that is invalid.
    BadChunk,
}
