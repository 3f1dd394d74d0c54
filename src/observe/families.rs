//! The per-route and per-upstream metric families. For each route, and one
//! more row for requests no route matched (label `route=""`): requests by
//! status class, requests in flight, request and response bytes, and a
//! duration histogram. For each upstream: a histogram of the upstream part
//! of its requests.
//!
//! Owns: every shard's rows for one configuration generation, what
//! recording a finished request bumps in them, the label values (escaped
//! once, when the rows are built) and the text of the families summed over
//! shards. A reload builds the next generation's rows from this one's by
//! name, so a route or upstream that stays keeps its counters. Must never:
//! take a label value from a request (rows are indexed by position in the
//! config, so clients cannot add series), or allocate, lock or read a clock
//! when recording.

use super::histogram::{Histogram, Snapshot};
use super::metrics::Counter;
use super::prom::{escape, header, line};
use std::sync::Arc;

use crate::config::Compiled;

/// The `status_class` label values, indexed like `RouteRow::status`:
/// `none` is a request that ended before any response byte was sent
/// (the client went away, or the connection closed with nothing to say).
pub const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "none"];

/// The index into `STATUS_CLASSES` of `status` (0: none sent).
#[inline]
pub fn status_class(status: u16) -> usize {
    match status {
        0 => 5,
        s => usize::from((s / 100).clamp(1, 5)) - 1,
    }
}

/// One route's counters in one shard. Aligned so that two routes never
/// share a cache line: recording touches only the row of its route.
#[repr(align(64))]
#[derive(Default)]
pub struct RouteRow {
    /// Requests finished, by `status_class`.
    pub status: [Counter; 6],
    /// Requests routed here and not finished yet (gauge).
    pub in_flight: Counter,
    /// Bytes of request heads and bodies read from clients.
    pub bytes_in: Counter,
    /// Bytes of responses written to clients.
    pub bytes_out: Counter,
    /// First byte of the request head to the end of the response.
    pub duration: Histogram,
}

/// One upstream's histogram in one shard.
#[repr(align(64))]
#[derive(Default)]
pub struct UpstreamRow {
    /// First attempt's start to the response head that is relayed (parsed,
    /// not yet written), or to the last attempt's failure.
    pub duration: Histogram,
}

/// What a finished request adds to its rows.
#[derive(Clone, Copy, Debug, Default)]
pub struct Finished {
    /// Index of its route in `router.routes()`; `None`: no route matched.
    pub route: Option<usize>,
    /// The status sent (0: none).
    pub status: u16,
    /// Bytes read from the client for it.
    pub bytes_in: u64,
    /// Bytes written to the client for it.
    pub bytes_out: u64,
    /// Its duration in ns.
    pub duration_ns: u64,
    /// Its upstream's index and the upstream part in ns, if an attempt was made.
    pub upstream: Option<(usize, u64)>,
}

/// One route's or upstream's rows, one per shard, and its label.
pub struct Rows<R> {
    name: Box<str>,
    label: Box<str>,
    shards: Box<[R]>,
}

impl<R: Default> Rows<R> {
    fn new(kind: &str, name: &str, shards: usize) -> Rows<R> {
        Rows {
            name: name.into(),
            label: format!("{kind}=\"{}\"", escape(name)).into_boxed_str(),
            shards: (0..shards).map(|_| R::default()).collect(),
        }
    }
}

/// Every shard's rows for one configuration: one per route plus the
/// unmatched row (last), one per upstream.
pub struct Families {
    routes: Box<[Arc<Rows<RouteRow>>]>,
    upstreams: Box<[Arc<Rows<UpstreamRow>>]>,
}

/// The rows named `names` for `shards` shards, each taken from `old` when
/// it has one by that name.
fn rows<R: Default>(
    kind: &str,
    names: impl Iterator<Item = impl AsRef<str>>,
    shards: usize,
    old: &[Arc<Rows<R>>],
) -> Box<[Arc<Rows<R>>]> {
    names
        .map(|n| {
            let n = n.as_ref();
            old.iter()
                .find(|o| &*o.name == n && o.shards.len() == shards)
                .cloned()
                .unwrap_or_else(|| Arc::new(Rows::new(kind, n, shards)))
        })
        .collect()
}

/// Sample lines per route row and per upstream row, and an upper bound on
/// a line's length beside its label (for `Families::text_len`).
const ROUTE_LINES: usize = 6 + 1 + 2 + 17 + 2;
const UPSTREAM_LINES: usize = 17 + 2;
const LINE_LEN: usize = 64;

impl Families {
    /// Rows for `cfg`'s routes (in match order, as rows are indexed) and
    /// upstreams on `shards` shards; those whose name `previous` has rows
    /// for keep them (a reload).
    pub fn new(cfg: &Compiled, shards: usize, previous: Option<&Families>) -> Families {
        Families::from_names(
            cfg.router.routes().iter().map(|r| &*r.name),
            cfg.upstreams.iter().map(|u| &*u.name),
            shards,
            previous,
        )
    }

    /// `new` from the names of the routes and upstreams.
    pub fn from_names<'a>(
        routes: impl Iterator<Item = &'a str>,
        upstreams: impl Iterator<Item = &'a str>,
        shards: usize,
        previous: Option<&Families>,
    ) -> Families {
        Families {
            routes: rows(
                "route",
                routes.chain([""]),
                shards,
                previous.map_or(&[], |p| &p.routes[..]),
            ),
            upstreams: rows(
                "upstream",
                upstreams,
                shards,
                previous.map_or(&[], |p| &p.upstreams[..]),
            ),
        }
    }

    /// A request was routed to `route` on `shard`: one more in flight until `record`.
    #[inline]
    pub fn enter(&self, shard: usize, route: usize) {
        if let Some(r) = self.routes.get(route).and_then(|r| r.shards.get(shard)) {
            r.in_flight.inc();
        }
    }

    /// Counts a finished request of `shard` (taking it out of flight if it
    /// was routed).
    #[inline]
    pub fn record(&self, shard: usize, f: &Finished) {
        let row = match f.route {
            Some(i) => self.routes.get(i),
            None => self.routes.last(),
        };
        if let Some(r) = row.and_then(|r| r.shards.get(shard)) {
            if f.route.is_some() {
                r.in_flight.dec();
            }
            r.status[status_class(f.status)].inc();
            r.bytes_in.add(f.bytes_in);
            r.bytes_out.add(f.bytes_out);
            r.duration.record(f.duration_ns);
        }
        if let Some((u, ns)) = f.upstream {
            if let Some(u) = self.upstreams.get(u).and_then(|u| u.shards.get(shard)) {
                u.duration.record(ns);
            }
        }
    }

    /// An upper bound on the length of `render`'s text, so a scrape
    /// allocates its buffer once: growing a 2 MB string by doubling copied
    /// it and touched fresh pages twice over, most of a scrape's cost.
    pub fn text_len(&self) -> usize {
        fn len<R>(rs: &[Arc<Rows<R>>], lines: usize) -> usize {
            rs.iter().map(|r| (r.label.len() + LINE_LEN) * lines).sum()
        }
        len(&self.routes, ROUTE_LINES) + len(&self.upstreams, UPSTREAM_LINES) + 4096
    }
}

/// Appends every family, each row summed over its shards.
pub fn render(f: &Families, out: &mut String) {
    fn sum<R>(rows: &Rows<R>, f: &dyn Fn(&R) -> u64) -> u64 {
        rows.shards.iter().fold(0u64, |a, r| a.wrapping_add(f(r)))
    }
    header(
        out,
        "ringway_requests_total",
        "counter",
        "Requests finished, by route and status class (none: no response was sent).",
    );
    for r in f.routes.iter() {
        for (c, class) in STATUS_CLASSES.iter().enumerate() {
            let v = sum(r, &|r| r.status[c].get());
            line(
                out,
                &[
                    "ringway_requests_total{",
                    &r.label,
                    ",status_class=\"",
                    class,
                    "\"}",
                ],
                v,
            );
        }
    }
    header(
        out,
        "ringway_requests_in_flight",
        "gauge",
        "Requests routed to the route and not finished yet.",
    );
    // The unmatched row is left out: such a request is answered at once.
    for r in f.routes.iter().take(f.routes.len().saturating_sub(1)) {
        let v = sum(r, &|r| r.in_flight.get());
        line(out, &["ringway_requests_in_flight{", &r.label, "}"], v);
    }
    header(
        out,
        "ringway_request_bytes_total",
        "counter",
        "Bytes of request heads and bodies read from clients.",
    );
    for r in f.routes.iter() {
        let v = sum(r, &|r| r.bytes_in.get());
        line(out, &["ringway_request_bytes_total{", &r.label, "}"], v);
    }
    header(
        out,
        "ringway_response_bytes_total",
        "counter",
        "Bytes of responses written to clients.",
    );
    for r in f.routes.iter() {
        let v = sum(r, &|r| r.bytes_out.get());
        line(out, &["ringway_response_bytes_total{", &r.label, "}"], v);
    }
    let name = "ringway_request_duration_seconds";
    header(
        out,
        name,
        "histogram",
        "From the first byte of the request head to the end of the response.",
    );
    for r in f.routes.iter() {
        let mut s = Snapshot::default();
        r.shards.iter().for_each(|row| s.add(&row.duration));
        s.render(out, name, &r.label);
    }
    let name = "ringway_upstream_duration_seconds";
    header(out, name, "histogram", "From the start of a request's first upstream attempt to the response head it relays (as received), or to its last attempt's failure.");
    for u in f.upstreams.iter() {
        let mut s = Snapshot::default();
        u.shards.iter().for_each(|row| s.add(&row.duration));
        s.render(out, name, &u.label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn families(routes: &[&str], upstreams: &[&str], shards: usize) -> Families {
        Families::from_names(
            routes.iter().copied(),
            upstreams.iter().copied(),
            shards,
            None,
        )
    }

    fn line<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
    }

    #[test]
    fn status_classes() {
        assert_eq!(STATUS_CLASSES[status_class(0)], "none");
        assert_eq!(STATUS_CLASSES[status_class(101)], "1xx");
        assert_eq!(STATUS_CLASSES[status_class(204)], "2xx");
        assert_eq!(STATUS_CLASSES[status_class(404)], "4xx");
        assert_eq!(STATUS_CLASSES[status_class(599)], "5xx");
        assert_eq!(STATUS_CLASSES[status_class(999)], "5xx");
        assert_eq!(STATUS_CLASSES[status_class(42)], "1xx");
    }

    #[test]
    fn label_values_are_escaped() {
        let f = families(&["a\"b"], &["c\\d"], 1);
        assert_eq!(&*f.routes[0].label, "route=\"a\\\"b\"");
        assert_eq!(&*f.upstreams[0].label, "upstream=\"c\\\\d\"");
    }

    #[test]
    fn records_into_the_route_row_and_sums_over_shards() {
        let f = families(&["r0", "r1"], &["u"], 2);
        f.enter(0, 1);
        f.enter(0, 1);
        f.enter(1, 0);
        let done = Finished {
            route: Some(1),
            status: 201,
            bytes_in: 100,
            bytes_out: 40,
            duration_ns: 300_000,
            upstream: Some((0, 200_000)),
        };
        f.record(0, &done);
        f.record(
            1,
            &Finished {
                route: None,
                status: 404,
                bytes_in: 30,
                bytes_out: 90,
                duration_ns: 50_000,
                upstream: None,
            },
        );
        // Out of range indexes (a config the rows were not built for) count nothing.
        f.record(
            1,
            &Finished {
                route: Some(9),
                upstream: Some((9, 1)),
                ..done
            },
        );
        f.record(7, &done);
        let mut out = String::new();
        render(&f, &mut out);
        let v = |s: &str| line(&out, s).unwrap_or_else(|| panic!("{s} missing:\n{out}"));
        assert_eq!(
            v("ringway_requests_total{route=\"r1\",status_class=\"2xx\"}"),
            "1"
        );
        assert_eq!(
            v("ringway_requests_total{route=\"r0\",status_class=\"2xx\"}"),
            "0"
        );
        assert_eq!(
            v("ringway_requests_total{route=\"\",status_class=\"4xx\"}"),
            "1"
        );
        assert_eq!(v("ringway_requests_in_flight{route=\"r1\"}"), "1");
        assert_eq!(v("ringway_requests_in_flight{route=\"r0\"}"), "1");
        assert!(line(&out, "ringway_requests_in_flight{route=\"\"}").is_none());
        assert_eq!(v("ringway_request_bytes_total{route=\"r1\"}"), "100");
        assert_eq!(v("ringway_response_bytes_total{route=\"\"}"), "90");
        let h = "ringway_request_duration_seconds_bucket{route=\"r1\",le=";
        assert_eq!(v(&format!("{h}\"0.00025\"}}")), "0");
        assert_eq!(v(&format!("{h}\"0.0005\"}}")), "1");
        assert_eq!(v("ringway_request_duration_seconds_count{route=\"\"}"), "1");
        assert_eq!(
            v("ringway_upstream_duration_seconds_count{upstream=\"u\"}"),
            "1"
        );
        assert_eq!(
            v("ringway_upstream_duration_seconds_sum{upstream=\"u\"}"),
            "0.0002"
        );
    }

    #[test]
    fn the_length_hint_bounds_the_text() {
        let names: Vec<String> = (0..300)
            .map(|i| format!("a-longer-route-name-{i}"))
            .collect();
        let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        let f = families(&refs, &["u1", "upstream-two"], 1);
        for i in 0..300 {
            f.enter(0, i);
            f.record(
                0,
                &Finished {
                    route: Some(i),
                    status: 200,
                    bytes_in: u64::MAX / 3,
                    bytes_out: u64::MAX / 3,
                    duration_ns: u64::MAX / 3,
                    upstream: Some((i % 2, u64::MAX / 3)),
                },
            );
        }
        let mut out = String::new();
        render(&f, &mut out);
        assert!(
            out.len() <= f.text_len(),
            "{} > {}",
            out.len(),
            f.text_len()
        );
        assert!(
            out.len() * 5 / 4 >= f.text_len(),
            "{} << {}",
            out.len(),
            f.text_len()
        );
    }

    #[test]
    fn rows_of_a_name_that_stays_keep_their_counts_across_a_reload() {
        let old = families(&["a", "b"], &["u"], 2);
        old.enter(1, 0);
        let done = Finished {
            route: Some(1),
            status: 200,
            ..Finished::default()
        };
        old.record(0, &done);
        // "b" moves to index 0, "a" goes, "c" comes.
        let new = Families::from_names(["b", "c"].into_iter(), ["u"].into_iter(), 2, Some(&old));
        assert!(Arc::ptr_eq(&new.routes[0], &old.routes[1]));
        assert!(Arc::ptr_eq(&new.upstreams[0], &old.upstreams[0]));
        assert!(
            Arc::ptr_eq(&new.routes[2], &old.routes[2]),
            "the unmatched row"
        );
        // The request that entered "a" on the old rows finishes there.
        old.record(
            1,
            &Finished {
                route: Some(0),
                ..done
            },
        );
        new.record(1, &done);
        let mut out = String::new();
        render(&new, &mut out);
        let v = |s: &str| line(&out, s).unwrap_or_else(|| panic!("{s} missing:\n{out}"));
        assert_eq!(
            v("ringway_requests_total{route=\"b\",status_class=\"2xx\"}"),
            "1"
        );
        assert_eq!(
            v("ringway_requests_total{route=\"c\",status_class=\"2xx\"}"),
            "1"
        );
        assert!(line(
            &out,
            "ringway_requests_total{route=\"a\",status_class=\"2xx\"}"
        )
        .is_none());
    }

    #[test]
    fn every_row_renders_even_when_idle() {
        let names: Vec<String> = (0..1000).map(|i| format!("route-{i}")).collect();
        let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        let f = families(&refs, &[], 2);
        let mut out = String::new();
        render(&f, &mut out);
        let count = |p: &str| out.lines().filter(|l| l.starts_with(p)).count();
        assert_eq!(count("ringway_requests_total{"), 1001 * 6);
        assert_eq!(count("ringway_requests_in_flight{"), 1000);
        assert_eq!(count("ringway_request_duration_seconds_count{"), 1001);
        assert!(
            out.contains("ringway_requests_total{route=\"route-999\",status_class=\"5xx\"} 0\n")
        );
    }
}
