//! The per-route and per-upstream metric families. For each route, and one
//! more row for requests no route matched (label `route=""`): requests by
//! status class, requests in flight, request and response bytes, and a
//! duration histogram. For each upstream: a histogram of the upstream part
//! of its requests.
//!
//! Owns: one shard's rows, what recording a finished request bumps in them,
//! the label values (escaped once, at start-up) and the text of the
//! families summed over shards. Must never: take a label value from a
//! request (rows are indexed by position in the config, so clients cannot
//! add series), or allocate, lock or read a clock when recording.

use super::histogram::{Histogram, Snapshot};
use super::metrics::Counter;
use super::prom::{escape, header, line};
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

/// One shard's rows: one per route plus the unmatched row (last), one per upstream.
#[derive(Default)]
pub struct Families {
    routes: Box<[RouteRow]>,
    upstreams: Box<[UpstreamRow]>,
}

impl Families {
    /// Rows for `routes` routes (and the unmatched row) and `upstreams` upstreams.
    pub fn new(routes: usize, upstreams: usize) -> Families {
        Families {
            routes: (0..=routes).map(|_| RouteRow::default()).collect(),
            upstreams: (0..upstreams).map(|_| UpstreamRow::default()).collect(),
        }
    }

    /// A request was routed to `route`: one more in flight until `record`.
    #[inline]
    pub fn enter(&self, route: usize) {
        if let Some(r) = self.routes.get(route) {
            r.in_flight.inc();
        }
    }

    /// Counts a finished request (taking it out of flight if it was routed).
    #[inline]
    pub fn record(&self, f: &Finished) {
        let row = match f.route {
            Some(i) => self.routes.get(i).inspect(|r| r.in_flight.dec()),
            None => self.routes.last(),
        };
        if let Some(r) = row {
            r.status[status_class(f.status)].inc();
            r.bytes_in.add(f.bytes_in);
            r.bytes_out.add(f.bytes_out);
            r.duration.record(f.duration_ns);
        }
        if let Some((u, ns)) = f.upstream {
            if let Some(u) = self.upstreams.get(u) {
                u.duration.record(ns);
            }
        }
    }
}

/// The label of each row, rendered once: `route="…"` per route then the
/// unmatched row's `route=""`, and `upstream="…"` per upstream.
pub struct Labels {
    routes: Box<[Box<str>]>,
    upstreams: Box<[Box<str>]>,
}

/// Sample lines per route row and per upstream row, and an upper bound on
/// a line's length beside its label (for `Labels::text_len`).
const ROUTE_LINES: usize = 6 + 1 + 2 + 17 + 2;
const UPSTREAM_LINES: usize = 17 + 2;
const LINE_LEN: usize = 64;

impl Labels {
    /// The labels of `cfg`'s routes (in match order, as rows are indexed)
    /// and upstreams.
    pub fn new(cfg: &Compiled) -> Labels {
        Labels::from_names(
            cfg.router.routes().iter().map(|r| &*r.name),
            cfg.upstreams.iter().map(|u| &*u.name),
        )
    }

    /// An upper bound on the length of `render`'s text, so a scrape
    /// allocates its buffer once: growing a 2 MB string by doubling copied
    /// it and touched fresh pages twice over, most of a scrape's cost.
    pub fn text_len(&self) -> usize {
        let rows = |ls: &[Box<str>], lines: usize| -> usize {
            ls.iter().map(|l| (l.len() + LINE_LEN) * lines).sum()
        };
        rows(&self.routes, ROUTE_LINES) + rows(&self.upstreams, UPSTREAM_LINES) + 4096
    }

    /// The labels of routes and upstreams with these names, in row order.
    pub fn from_names<'a>(
        routes: impl Iterator<Item = &'a str>,
        upstreams: impl Iterator<Item = &'a str>,
    ) -> Labels {
        let label = |k: &str, v: &str| format!("{k}=\"{}\"", escape(v)).into_boxed_str();
        Labels {
            routes: routes.chain([""]).map(|n| label("route", n)).collect(),
            upstreams: upstreams.map(|n| label("upstream", n)).collect(),
        }
    }
}

/// Appends every family, each row summed over `shards`.
pub fn render<'a, I>(shards: I, labels: &Labels, out: &mut String)
where
    I: Iterator<Item = &'a Families> + Clone,
{
    let sum = |row: usize, f: &dyn Fn(&RouteRow) -> u64| -> u64 {
        shards
            .clone()
            .filter_map(|s| s.routes.get(row))
            .fold(0u64, |a, r| a.wrapping_add(f(r)))
    };
    header(
        out,
        "ringway_requests_total",
        "counter",
        "Requests finished, by route and status class (none: no response was sent).",
    );
    for (i, l) in labels.routes.iter().enumerate() {
        for (c, class) in STATUS_CLASSES.iter().enumerate() {
            let v = sum(i, &|r| r.status[c].get());
            line(
                out,
                &[
                    "ringway_requests_total{",
                    l,
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
    for (i, l) in labels
        .routes
        .iter()
        .enumerate()
        .take(labels.routes.len() - 1)
    {
        let v = sum(i, &|r| r.in_flight.get());
        line(out, &["ringway_requests_in_flight{", l, "}"], v);
    }
    header(
        out,
        "ringway_request_bytes_total",
        "counter",
        "Bytes of request heads and bodies read from clients.",
    );
    for (i, l) in labels.routes.iter().enumerate() {
        line(
            out,
            &["ringway_request_bytes_total{", l, "}"],
            sum(i, &|r| r.bytes_in.get()),
        );
    }
    header(
        out,
        "ringway_response_bytes_total",
        "counter",
        "Bytes of responses written to clients.",
    );
    for (i, l) in labels.routes.iter().enumerate() {
        line(
            out,
            &["ringway_response_bytes_total{", l, "}"],
            sum(i, &|r| r.bytes_out.get()),
        );
    }
    let name = "ringway_request_duration_seconds";
    header(
        out,
        name,
        "histogram",
        "From the first byte of the request head to the end of the response.",
    );
    for (i, l) in labels.routes.iter().enumerate() {
        let mut s = Snapshot::default();
        shards
            .clone()
            .filter_map(|f| f.routes.get(i))
            .for_each(|r| s.add(&r.duration));
        s.render(out, name, l);
    }
    let name = "ringway_upstream_duration_seconds";
    header(out, name, "histogram", "From the start of a request's first upstream attempt to the response head it relays (as received), or to its last attempt's failure.");
    for (i, l) in labels.upstreams.iter().enumerate() {
        let mut s = Snapshot::default();
        shards
            .clone()
            .filter_map(|f| f.upstreams.get(i))
            .for_each(|r| s.add(&r.duration));
        s.render(out, name, l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(routes: &[&str], upstreams: &[&str]) -> Labels {
        Labels::from_names(routes.iter().copied(), upstreams.iter().copied())
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
        let l = labels(&["a\"b"], &["c\\d"]);
        assert_eq!(&*l.routes[0], "route=\"a\\\"b\"");
        assert_eq!(&*l.upstreams[0], "upstream=\"c\\\\d\"");
    }

    #[test]
    fn records_into_the_route_row_and_sums_over_shards() {
        let (a, b) = (Families::new(2, 1), Families::new(2, 1));
        a.enter(1);
        a.enter(1);
        b.enter(0);
        let done = Finished {
            route: Some(1),
            status: 201,
            bytes_in: 100,
            bytes_out: 40,
            duration_ns: 300_000,
            upstream: Some((0, 200_000)),
        };
        a.record(&done);
        b.record(&Finished {
            route: None,
            status: 404,
            bytes_in: 30,
            bytes_out: 90,
            duration_ns: 50_000,
            upstream: None,
        });
        // Out of range indexes (a config the rows were not built for) count nothing.
        b.record(&Finished {
            route: Some(9),
            upstream: Some((9, 1)),
            ..done
        });
        let mut out = String::new();
        render(
            [&a, &b].into_iter(),
            &labels(&["r0", "r1"], &["u"]),
            &mut out,
        );
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
        let l = labels(&refs, &["u1", "upstream-two"]);
        let f = Families::new(300, 2);
        for i in 0..300 {
            f.enter(i);
            f.record(&Finished {
                route: Some(i),
                status: 200,
                bytes_in: u64::MAX / 3,
                bytes_out: u64::MAX / 3,
                duration_ns: u64::MAX / 3,
                upstream: Some((i % 2, u64::MAX / 3)),
            });
        }
        let mut out = String::new();
        render([&f].into_iter(), &l, &mut out);
        assert!(
            out.len() <= l.text_len(),
            "{} > {}",
            out.len(),
            l.text_len()
        );
        assert!(
            out.len() * 5 / 4 >= l.text_len(),
            "{} << {}",
            out.len(),
            l.text_len()
        );
    }

    #[test]
    fn every_row_renders_even_when_idle() {
        let names: Vec<String> = (0..1000).map(|i| format!("route-{i}")).collect();
        let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        let f = Families::new(1000, 0);
        let mut out = String::new();
        render([&f].into_iter(), &labels(&refs, &[]), &mut out);
        let count = |p: &str| out.lines().filter(|l| l.starts_with(p)).count();
        assert_eq!(count("ringway_requests_total{"), 1001 * 6);
        assert_eq!(count("ringway_requests_in_flight{"), 1000);
        assert_eq!(count("ringway_request_duration_seconds_count{"), 1001);
        assert!(
            out.contains("ringway_requests_total{route=\"route-999\",status_class=\"5xx\"} 0\n")
        );
    }
}
