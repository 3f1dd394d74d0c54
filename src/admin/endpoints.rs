//! The admin API's endpoints: one table entry per path, with the methods
//! it allows, whether it is open without the admin token, and the function
//! that answers it.
//!
//! Owns: the list of paths and which of them need no token (`/healthz`
//! only: a liveness probe must not need a secret, and it says nothing but
//! "up"). Must never: answer anything but the 200's body; refusals go back
//! as a `Refusal` for `crate::error` to turn into a status.

use super::request::Request;
use super::{revocations, routes, status, Admin, Refusal};
use crate::http::Method;

/// The content type and body of a 200.
pub type Reply = (&'static str, String);

const JSON: &str = "application/json";
const TEXT: &str = "text/plain";
const METRICS: &str = "text/plain; version=0.0.4";

/// One admin endpoint.
pub struct Endpoint {
    /// The exact (normalised) path.
    pub path: &'static str,
    /// The methods allowed, as the `allow` header lists them.
    pub allow: &'static str,
    /// Served without the admin token.
    pub open: bool,
    /// Answers a request the gate let through.
    pub handler: fn(&Admin, &Request) -> Result<Reply, Refusal>,
}

impl Endpoint {
    /// True when `allow` lists `m`.
    pub fn allows(&self, m: Method) -> bool {
        m.as_str()
            .is_some_and(|name| self.allow.split(", ").any(|a| a == name))
    }
}

/// Every endpoint.
pub const ENDPOINTS: [Endpoint; 10] = [
    get("/healthz", true, |_, _| Ok((TEXT, "ok\n".into()))),
    get("/readyz", false, |a, _| status::readyz(&a.plane.readiness)),
    get("/metrics", false, |a, _| Ok((METRICS, metrics(a)))),
    get("/routes", false, |a, _| {
        Ok((JSON, routes::render(&a.plane.reloader.current().cfg)))
    }),
    get("/config", false, |a, _| {
        let r = &a.plane.reloader;
        Ok((JSON, super::config::render(&r.current(), r.metrics())))
    }),
    get("/upstreams", false, |a, _| {
        let now = crate::ratelimit::clock();
        let g = a.plane.reloader.current();
        let json = crate::upstream::render::render_json(&g.upstreams, &g.cfg, now);
        Ok((JSON, json))
    }),
    get("/shards", false, |a, _| {
        let r = &a.plane.reloader;
        let phase = a.plane.readiness.phase();
        Ok((JSON, status::shards(r.metrics(), r.shards(), phase)))
    }),
    Endpoint {
        path: "/revocations",
        allow: revocations::ALLOW,
        open: false,
        handler: |a, r| {
            let g = a.plane.reloader.current();
            revocations::handle(&g.cfg.auth, r.method, &r.body).map(|b| (TEXT, b))
        },
    },
    Endpoint {
        path: "/cache/purge",
        allow: "POST",
        open: false,
        handler: |a, r| {
            let g = a.plane.reloader.current();
            super::purge::handle(&g.cfg.caches, &r.body).map(|b| (JSON, b))
        },
    },
    Endpoint {
        path: "/reload",
        allow: "POST",
        open: false,
        handler: |a, _| super::reload::handle(&a.plane.reloader).map(|b| (JSON, b)),
    },
];

/// A `GET` endpoint.
const fn get(
    path: &'static str,
    open: bool,
    handler: fn(&Admin, &Request) -> Result<Reply, Refusal>,
) -> Endpoint {
    Endpoint {
        path,
        allow: "GET",
        open,
        handler,
    }
}

/// The endpoint at `path`.
pub fn find(path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.path == path)
}

/// Prometheus text: the counters summed over shards, the upstreams'
/// families, then the per-shard gauges.
fn metrics(a: &Admin) -> String {
    let p = &a.plane;
    let r = &p.reloader;
    let g = r.current();
    let targets = g.upstreams.upstreams.iter().map(|u| u.slots()).sum();
    let mut out = r.metrics().render(&g.families, targets);
    let now = crate::ratelimit::clock();
    crate::upstream::render::render_metrics(&g.upstreams, &g.cfg, &mut out, now);
    status::render_metrics(r.metrics(), r.shards(), &mut out);
    crate::observe::cache::render(&g.cfg.caches, &mut out);
    p.telemetry.render(&mut out);
    if let Some(d) = r.followers().discovery_stats() {
        d.render(&mut out);
    }
    if let Some(r) = &p.registry {
        r.render_metrics(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_unique_and_only_healthz_is_open() {
        for (i, e) in ENDPOINTS.iter().enumerate() {
            assert!(
                ENDPOINTS[..i].iter().all(|o| o.path != e.path),
                "{}",
                e.path
            );
            assert_eq!(e.open, e.path == "/healthz", "{}", e.path);
            // A reload and a purge change state, so a GET (a crawler, a
            // prefetch) must not do them.
            let changes_state = ["/reload", "/cache/purge"].contains(&e.path);
            assert_eq!(e.allows(Method::Get), !changes_state, "{}", e.path);
            assert!(!e.allows(Method::Head) && !e.allows(Method::Other));
        }
        let r = find("/revocations").expect("revocations");
        assert!(r.allows(Method::Post) && r.allows(Method::Delete) && !r.allows(Method::Put));
        assert!(find("/metrics/").is_none());
        let r = find("/reload").expect("reload");
        assert!(r.allows(Method::Post) && !r.allows(Method::Get) && !r.open);
    }
}
