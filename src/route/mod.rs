//! The compiled route table: which route a request goes to.
//!
//! Owns: the route order (most specific first, then file order, fixed at
//! compile time) and `Router::find`, a linear scan returning the first route
//! that matches host, path, headers and method. Must never: allocate, compare
//! strings by lookup, or change after compilation (shards share it via `Arc`).

pub mod matcher;
pub mod rewrite;

pub use matcher::{HeaderCond, HeaderMatch, HostMatch, MethodSet, PathMatch};
pub use rewrite::{HeaderEdits, PathRewrite};

use crate::http::{Method, RequestHead};

/// One compiled route.
#[derive(Clone, Debug)]
pub struct Route {
    /// The route's `name` from the file.
    pub name: Box<str>,
    /// Index into `Compiled::upstreams`.
    pub upstream: usize,
    /// How the path is rewritten before forwarding.
    pub rewrite: PathRewrite,
    /// Edits to the request head sent upstream.
    pub request_headers: HeaderEdits,
    /// Edits to the response head sent to the client.
    pub response_headers: HeaderEdits,
    /// Phase-5 policies, run in order (see `crate::policy`).
    pub policies: Box<[crate::policy::Policy]>,
    /// `original_path_header`: lowercase name of the header that carries
    /// the path as received (before normalisation) upstream.
    pub original_path_header: Option<Box<[u8]>>,
    /// The rendered `strict-transport-security` line from
    /// `security_headers`, sent on TLS connections only (it replaces the
    /// upstream's there; plain responses keep whatever the upstream sent).
    pub hsts: Option<Box<[u8]>>,
    /// `upgrade`: the lowercase protocol names (`Upgrade` tokens) this
    /// route proxies as an upgrade (`server::upgrade`); empty: none.
    pub upgrade: Box<[Box<[u8]>]>,
    /// `cache`: the response cache this route stores into and answers
    /// from (`server::cached`); `None` on most routes, whose requests pay
    /// one branch for it.
    pub cache: Option<Box<crate::cache::named::RouteCache>>,
    /// Position in `Router::routes` (match order): what per-route metrics
    /// and per-request records are indexed by. Set by `Router::new`.
    index: usize,
    host: HostMatch,
    path: PathMatch,
    headers: Box<[HeaderMatch]>,
    methods: MethodSet,
    path_ignore_case: bool,
    allow: Box<str>,
}

/// Everything a route matches on, already normalised by `config`.
#[derive(Clone, Debug)]
pub struct Matchers {
    /// Host constraint.
    pub host: HostMatch,
    /// Path constraint.
    pub path: PathMatch,
    /// Header constraints, all of which must hold.
    pub headers: Vec<HeaderMatch>,
    /// Allowed methods (empty = any).
    pub methods: MethodSet,
    /// `case_sensitive = false`: the path compares ASCII case-insensitively.
    pub path_ignore_case: bool,
}

impl Route {
    /// Assembles a route; `config::compile` is the only caller.
    pub fn new(
        name: &str,
        upstream: usize,
        m: Matchers,
        rewrite: PathRewrite,
        request_headers: HeaderEdits,
        response_headers: HeaderEdits,
    ) -> Route {
        Route {
            name: name.into(),
            upstream,
            rewrite,
            request_headers,
            response_headers,
            policies: Box::default(),
            original_path_header: None,
            hsts: None,
            upgrade: Box::default(),
            cache: None,
            index: 0,
            allow: m.methods.allow_header().into_boxed_str(),
            host: m.host,
            path: m.path,
            headers: m.headers.into_boxed_slice(),
            methods: m.methods,
            path_ignore_case: m.path_ignore_case,
        }
    }

    /// Applies the route's path rewrite into `out`; false when the
    /// normalised path is forwarded as it is.
    #[inline]
    pub fn rewrite_path(&self, path: &[u8], out: &mut Vec<u8>) -> bool {
        self.rewrite.apply(path, self.path_ignore_case, out)
    }

    /// Position in `Router::routes`.
    #[inline]
    pub fn index(&self) -> usize {
        self.index
    }

    /// The path matcher (read by `ringway check` style listings and tests).
    pub fn path(&self) -> &PathMatch {
        &self.path
    }

    /// The host matcher.
    pub fn host(&self) -> &HostMatch {
        &self.host
    }

    /// The header matchers, all of which must hold.
    pub fn headers(&self) -> &[HeaderMatch] {
        &self.headers
    }

    /// The methods matched (empty: any).
    pub fn methods(&self) -> MethodSet {
        self.methods
    }

    /// `case_sensitive = false`: the path compares ASCII case-insensitively.
    pub fn path_ignore_case(&self) -> bool {
        self.path_ignore_case
    }

    /// The `allow` header value for 405s (empty when every method is allowed).
    pub fn allow(&self) -> &str {
        &self.allow
    }

    /// Specificity key, larger is more specific (see `docs/config.md`).
    fn specificity(&self) -> ((u8, usize), (u8, usize), usize, bool) {
        (
            self.host.rank(),
            self.path.rank(),
            self.headers.len(),
            self.methods.0 != 0,
        )
    }

    /// Everything but the method: host, path and headers.
    #[inline]
    fn matches_except_method<'h, I>(&self, host: Option<&[u8]>, path: &[u8], headers: &I) -> bool
    where
        I: Iterator<Item = (&'h [u8], &'h [u8])> + Clone,
    {
        self.path.matches(path, self.path_ignore_case)
            && self.host.matches(host)
            && self.headers.iter().all(|m| m.matches(headers.clone()))
    }
}

/// The outcome of routing one request.
#[derive(Debug)]
pub enum RouteMatch<'a> {
    /// This route matches everything.
    Found(&'a Route),
    /// No route matches, but one matches all but the method; `allow` is its method list.
    MethodNotAllowed {
        /// Precomputed `allow` header value, e.g. `GET, POST`.
        allow: &'a str,
        /// The route whose method list `allow` is (its CORS policy may answer a preflight).
        route: &'a Route,
    },
    /// No route matches host, path and headers.
    NotFound,
}

/// Routes sorted by specificity, stable by file order.
#[derive(Clone, Debug, Default)]
pub struct Router {
    routes: Box<[Route]>,
}

impl Router {
    /// The routes, mutable while the configuration is being built (a
    /// reload's carry-over replaces the state their policies hold).
    pub fn routes_mut(&mut self) -> &mut [Route] {
        &mut self.routes
    }

    /// Sorts `routes` (given in file order) most specific first.
    pub fn new(mut routes: Vec<Route>) -> Router {
        // Stable sort: equal specificity keeps file order.
        routes.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
        for (i, r) in routes.iter_mut().enumerate() {
            r.index = i;
        }
        Router {
            routes: routes.into_boxed_slice(),
        }
    }

    /// Picks the route for a parsed head; `path` is already normalised, without query.
    pub fn find<'a>(&'a self, req: &RequestHead, buf: &[u8], path: &[u8]) -> RouteMatch<'a> {
        let host = req.host.map(|h| h.get(buf));
        let headers = req
            .headers
            .iter()
            .map(|h| (h.name.get(buf), h.value.get(buf)));
        self.find_in(req.method, host, path, headers)
    }

    /// `find` over plain bytes: `headers` yields (name, value) pairs.
    pub fn find_in<'a, 'h, I>(
        &'a self,
        method: Method,
        host: Option<&[u8]>,
        path: &[u8],
        headers: I,
    ) -> RouteMatch<'a>
    where
        I: Iterator<Item = (&'h [u8], &'h [u8])> + Clone,
    {
        let mut not_allowed: Option<&'a Route> = None;
        for r in self.routes.iter() {
            if !r.matches_except_method(host, path, &headers) {
                continue;
            }
            if r.methods.allows(method) {
                return RouteMatch::Found(r);
            }
            not_allowed = not_allowed.or(Some(r));
        }
        match not_allowed {
            Some(r) => RouteMatch::MethodNotAllowed {
                allow: &r.allow,
                route: r,
            },
            None => RouteMatch::NotFound,
        }
    }

    /// The routes in match order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when there is no route (every request is a 404).
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests;
