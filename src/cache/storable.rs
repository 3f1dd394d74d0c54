//! Whether a shared cache may store a response (RFC 9111 §3, §3.5), and
//! why not when it may not: the reason is what `Cache-Status` and the
//! access log report.
//!
//! Choices where the RFC leaves them to the cache, written down in
//! docs/caching.md: only GET responses are stored (HEAD is answered from a
//! stored GET); 206 and 304 are never stored as entries (no range support;
//! a 304 only refreshes an entry); `Vary: *` is not stored, since it could
//! never be reused; a response with `Set-Cookie` is stored only when the
//! route allows it, as nginx and Varnish refuse by default; a response
//! that could never be served (no lifetime, no validator and no
//! stale-if-error) is not stored.
//!
//! Owns: the storing rules. Must never: look at the body or its size (the
//! store bounds objects), or decide reuse (`freshness`).

use super::directives::{Request, Response};
use super::freshness::{heuristically_cacheable, Lifetime};

/// Why a response is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStored {
    /// Not a GET.
    Method,
    /// A status this cache does not store (1xx, 206, 304, or one with
    /// neither explicit freshness nor heuristic cacheability).
    Status,
    /// `no-store` in the request or the response.
    NoStore,
    /// `private`.
    Private,
    /// The request carried `Authorization` and the response did not allow
    /// a shared cache to reuse it (§3.5).
    Authorization,
    /// `Set-Cookie`, on a route that does not cache it.
    SetCookie,
    /// `Vary: *`.
    VaryStar,
    /// It could never answer a request: no lifetime, no validator, no
    /// `stale-if-error`.
    Useless,
}

impl NotStored {
    /// The reason's name, for `Cache-Status; detail=` and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            NotStored::Method => "method",
            NotStored::Status => "status",
            NotStored::NoStore => "no-store",
            NotStored::Private => "private",
            NotStored::Authorization => "authorization",
            NotStored::SetCookie => "set-cookie",
            NotStored::VaryStar => "vary-star",
            NotStored::Useless => "no-lifetime",
        }
    }
}

/// What §3 looks at besides the directives.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    /// The request method is GET.
    pub get: bool,
    /// The request carried `Authorization`.
    pub authorization: bool,
    /// The response status.
    pub status: u16,
    /// The response has `Set-Cookie`.
    pub set_cookie: bool,
    /// The route stores responses with `Set-Cookie` (the header is kept).
    pub cache_set_cookie: bool,
    /// The route stores responses to requests with `Authorization` as if
    /// every response allowed it (`cache_authorized`).
    pub cache_authorized: bool,
    /// The response's `Vary` lists `*`.
    pub vary_star: bool,
    /// It has `ETag` or `Last-Modified`, so a stale copy can be validated.
    pub validator: bool,
    /// Its freshness lifetime (`freshness::Times::lifetime`).
    pub lifetime: Lifetime,
}

/// §3: may the response be stored?
pub fn storable(f: &Facts, req: &Request, resp: &Response) -> Result<(), NotStored> {
    if !f.get {
        return Err(NotStored::Method);
    }
    if f.status < 200 || f.status == 206 || f.status == 304 {
        return Err(NotStored::Status);
    }
    if req.no_store || resp.no_store {
        return Err(NotStored::NoStore);
    }
    if resp.private {
        return Err(NotStored::Private);
    }
    // §3.5: must-revalidate, public and s-maxage let a shared cache reuse
    // an authenticated response.
    let auth_ok = resp.must_revalidate || resp.public || resp.s_maxage.is_some();
    if f.authorization && !auth_ok && !f.cache_authorized {
        return Err(NotStored::Authorization);
    }
    if f.set_cookie && !f.cache_set_cookie {
        return Err(NotStored::SetCookie);
    }
    if f.vary_star {
        return Err(NotStored::VaryStar);
    }
    let explicit = matches!(f.lifetime, Lifetime::Explicit(_));
    if !(explicit || resp.public || heuristically_cacheable(f.status)) {
        return Err(NotStored::Status);
    }
    if f.lifetime.secs() == 0 && !f.validator && resp.stale_if_error.is_none() {
        return Err(NotStored::Useless);
    }
    Ok(())
}
