//! The `Cors` policy: preflight requests answered at the gateway, and the
//! `access-control-*` headers added to responses for allowed origins.
//!
//! Origins are compared exactly (scheme, host and port, as browsers send
//! them); a disallowed origin gets no CORS headers at all, so the browser
//! blocks the response. Must never: reflect an origin that is not listed,
//! or combine `*` with credentials (refused by `config`).

use std::fmt::Write as _;

use crate::http::{Method, RequestHead};
use crate::route::MethodSet;

/// A compiled `cors` table.
#[derive(Clone, Debug, Default)]
pub struct CorsRule {
    /// Allowed origins, exact bytes.
    pub origins: Box<[Box<[u8]>]>,
    /// `origins = ["*"]`: any origin (never with credentials).
    pub any_origin: bool,
    /// Methods a preflight may ask for.
    pub methods: MethodSet,
    /// `access-control-allow-methods` value.
    pub methods_value: Box<str>,
    /// Lowercase request headers a preflight may ask for.
    pub headers: Box<[Box<[u8]>]>,
    /// `access-control-allow-headers` value (empty: none).
    pub headers_value: Box<str>,
    /// `access-control-allow-credentials: true`.
    pub credentials: bool,
    /// `access-control-max-age`.
    pub max_age_s: u64,
}

/// Response headers a CORS-enabled route replaces: the upstream's copies are dropped.
pub const OWNED_HEADERS: [&str; 5] = [
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
];

fn header<'b>(head: &RequestHead, buf: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
    head.headers
        .iter()
        .find(|h| h.name.get(buf).eq_ignore_ascii_case(name))
        .map(|h| h.value.get(buf))
}

impl CorsRule {
    /// Whether `origin` is one of the route's (or any is).
    pub fn allows(&self, origin: &[u8]) -> bool {
        self.any_origin || self.origins.iter().any(|o| **o == *origin)
    }

    fn allow_origin(&self, out: &mut Vec<u8>, origin: &[u8]) {
        if self.any_origin && !self.credentials {
            out.extend_from_slice(b"access-control-allow-origin: *\r\n");
            return;
        }
        out.extend_from_slice(b"access-control-allow-origin: ");
        out.extend_from_slice(origin);
        out.extend_from_slice(b"\r\nvary: origin\r\n");
        if self.credentials {
            out.extend_from_slice(b"access-control-allow-credentials: true\r\n");
        }
    }

    /// For an actual (non-preflight) request: the headers to add to its response.
    pub fn response_headers(&self, head: &RequestHead, buf: &[u8], out: &mut Vec<u8>) {
        match header(head, buf, b"origin") {
            Some(o) if self.allows(o) => self.allow_origin(out, o),
            // Caches must not serve one origin's answer to another.
            Some(_) if !self.any_origin => out.extend_from_slice(b"vary: origin\r\n"),
            _ => {}
        }
    }

    /// `Some(headers)` when the request is a preflight (OPTIONS with
    /// `Origin` and `Access-Control-Request-Method`): the gateway answers it
    /// with 204 and these headers (none when something is not allowed).
    pub fn preflight(&self, head: &RequestHead, buf: &[u8]) -> Option<String> {
        if head.method != Method::Options {
            return None;
        }
        let origin = header(head, buf, b"origin")?;
        let method = header(head, buf, b"access-control-request-method")?;
        let mut out = Vec::with_capacity(256);
        let m = Method::from_bytes(method);
        let method_ok = m != Method::Other && self.methods.allows(m);
        let asked = header(head, buf, b"access-control-request-headers").unwrap_or(b"");
        let headers_ok = asked
            .split(|&b| b == b',')
            .map(|h| h.trim_ascii())
            .filter(|h| !h.is_empty())
            .all(|h| self.headers.iter().any(|a| a.eq_ignore_ascii_case(h)));
        if self.allows(origin) && method_ok && headers_ok {
            self.allow_origin(&mut out, origin);
            let mut s = String::from_utf8_lossy(&out).into_owned();
            let _ = write!(
                s,
                "access-control-allow-methods: {}\r\n",
                self.methods_value
            );
            if !self.headers_value.is_empty() {
                let _ = write!(
                    s,
                    "access-control-allow-headers: {}\r\n",
                    self.headers_value
                );
            }
            let _ = write!(s, "access-control-max-age: {}\r\n", self.max_age_s);
            return Some(s);
        }
        Some("vary: origin\r\n".into())
    }
}
