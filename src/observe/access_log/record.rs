//! `AccessRecord`: everything one access log line says about a request,
//! borrowed from the request's own buffers for as long as the line takes
//! to format.
//!
//! Owns: the fields and what each means. Must never: copy client bytes or
//! decide how they are spelled (`json`, `combined` do).

use std::net::SocketAddr;

use crate::http::Version;

/// One finished request, as the access log sees it. Client-sent bytes are
/// kept as received; the formats escape them.
#[derive(Clone, Copy, Debug)]
pub struct AccessRecord<'a> {
    /// When the request ended, in nanoseconds since the Unix epoch.
    pub ts: u64,
    /// The request id (the client's `x-request-id` if kept, else generated);
    /// empty before one was set (a head that could not be parsed).
    pub request_id: &'a [u8],
    /// The W3C trace id, when the request carries or was given one.
    pub trace_id: Option<[u8; 16]>,
    /// The gateway's span id, when tracing.
    pub span_id: Option<[u8; 8]>,
    /// The client: the peer, or the address a trusted proxy reported.
    pub client: SocketAddr,
    /// The request method as sent; empty when no request line was parsed.
    pub method: &'a [u8],
    /// The path as sent (before normalisation), without the query.
    pub path: &'a [u8],
    /// The query, without its `?`, when the target had one.
    pub query: Option<&'a [u8]>,
    /// The request's HTTP version (only the combined format writes it).
    pub version: Version,
    /// The `Host` header.
    pub host: Option<&'a [u8]>,
    /// The `User-Agent` header.
    pub user_agent: Option<&'a [u8]>,
    /// The `Referer` header.
    pub referer: Option<&'a [u8]>,
    /// The route that matched.
    pub route: Option<&'a str>,
    /// The upstream the route names.
    pub upstream: Option<&'a str>,
    /// The target the last attempt went to.
    pub target: Option<SocketAddr>,
    /// The status sent to the client; 0 when none was (the client went away
    /// or the connection was closed first).
    pub status: u16,
    /// The gateway's error code (`docs/errors.md`) when it answered an error.
    pub error_code: Option<&'a str>,
    /// Bytes received from the client for this request (head and body).
    pub bytes_in: u64,
    /// Bytes sent to the client for this request (head and body).
    pub bytes_out: u64,
    /// From the first byte of the request head to the end of the response.
    pub duration_us: u64,
    /// Time to connect to the target, when a new connection was opened.
    pub upstream_connect_us: Option<u64>,
    /// From sending the request to the upstream to its response head.
    pub upstream_ttfb_us: Option<u64>,
    /// Upstream attempts after the first.
    pub retries: u8,
    /// The shard that served the request.
    pub shard: u16,
    /// Whether the client connection was TLS (`None` where no connection
    /// is known).
    pub tls: Option<bool>,
    /// Who the request authenticated as (API key id or JWT `sub`), never the credential.
    pub auth: Option<&'a str>,
    /// The rate limit that refused the request, if one did.
    pub rate_limit: Option<&'a str>,
    /// On a cached route, what the cache did (`hit`, `stale`, `miss`,
    /// `vary-miss`, `revalidated`, `expired`, `bypass`; docs/caching.md).
    pub cache: Option<&'static str>,
}
