//! The per-route and per-upstream metrics on the wire (docs/observability.md):
//! `ringway_requests_total{route,status_class}` for every way a request
//! ends (relayed, 404 with no route, 405, a refused head, 502, 504, a
//! client gone mid-body); the duration histograms of a slow route and
//! upstream against a fast one; request and response bytes equal to what
//! crossed the client's socket; the in-flight gauge; 1000 routes rendered
//! whole and scraped while requests run; the process metrics and build info.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;

/// How long the slow upstream waits: the slow route's requests must land
/// above the 0.5 s bucket, the fast ones (loopback, no delay) below it.
const SLOW: Duration = Duration::from_millis(600);

/// Four upstreams (`fast`, `slow`, `dead`: nothing listens, `late`: a
/// response timeout shorter than its reply) and a route to each, `fast`
/// for GET and POST only.
fn gateway(fast: &Upstream, slow: &Upstream) -> Gateway {
    let mut toml = server_section(&[]);
    toml += &upstream_section("fast", &[fast.addr()], &[]);
    toml += &upstream_section("slow", &[slow.addr()], &[]);
    toml += &upstream_section("dead", &[unused_addr()], &[]);
    toml += &upstream_section("late", &[slow.addr()], &[("response_timeout_ms", "100")]);
    toml += r#"
[[routes]]
name = "fast"
path_prefix = "/fast"
methods = ["GET", "POST"]
upstream = "fast"

[[routes]]
name = "slow"
path_prefix = "/slow"
upstream = "slow"

[[routes]]
name = "dead"
path_prefix = "/dead"
upstream = "dead"

[[routes]]
name = "late"
path_prefix = "/late"
upstream = "late"
"#;
    Gateway::start(&toml)
}

fn slow_upstream() -> Upstream {
    Upstream::start("slow", |_| Reply::Delay(SLOW, Box::new(Reply::Echo)))
}

/// The value of `series` in `m`, 0 when absent.
/// `n` GETs of `/slow`, each on its own connection and thread; join for
/// their statuses.
fn slow_in_parallel(addr: SocketAddr, n: usize) -> Vec<std::thread::JoinHandle<u16>> {
    (0..n)
        .map(|_| {
            std::thread::spawn(move || {
                RawClient::connect(addr)
                    .roundtrip(&get("/slow", "h"))
                    .status
            })
        })
        .collect()
}

fn val(m: &str, series: &str) -> f64 {
    metric_in(m, series).unwrap_or(0.0)
}

fn requests(m: &str, route: &str, class: &str) -> f64 {
    val(
        m,
        &format!("ringway_requests_total{{route=\"{route}\",status_class=\"{class}\"}}"),
    )
}

fn bucket(m: &str, family: &str, label: &str, le: &str) -> f64 {
    val(m, &format!("{family}_bucket{{{label},le=\"{le}\"}}"))
}

/// Every sample of families starting with `prefix`, summed.
fn sum_of(m: &str, prefix: &str) -> f64 {
    m.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The text is well-formed exposition: each sample line is `series value`,
/// no series twice, and each family declares its TYPE once, before its samples.
fn assert_well_formed(m: &str) {
    let (mut series, mut typed) = (HashSet::new(), HashSet::new());
    for l in m.lines() {
        if let Some(t) = l.strip_prefix("# TYPE ") {
            let name = t.split(' ').next().unwrap_or("");
            assert!(typed.insert(name.to_string()), "TYPE {name} twice");
            continue;
        }
        if l.starts_with('#') {
            continue;
        }
        let (s, v) = l
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {l:?}"));
        assert!(v.parse::<f64>().is_ok(), "bad value in {l:?}");
        assert!(series.insert(s.to_string()), "series twice: {s}");
        let name = s.split('{').next().unwrap_or("");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suf| name.strip_suffix(suf).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "{s} has no TYPE before it");
    }
}

#[test]
fn requests_are_counted_by_route_and_status_class_however_they_end() {
    let fast = Upstream::echo("fast");
    let slow = slow_upstream();
    let gw = gateway(&fast, &slow);
    let mut cl = gw.client();
    for _ in 0..3 {
        assert_eq!(cl.roundtrip(&get("/fast/a", "h")).status, 200);
    }
    assert_eq!(cl.roundtrip(&get("/nope", "h")).status, 404);
    let r = cl.roundtrip(&req("DELETE", "/fast/a", "h", &[], b""));
    assert_eq!(r.status, 405);
    assert_error(
        &cl.roundtrip(&get("/dead", "h")),
        502,
        "upstream_unavailable",
    );
    let mut c = gw.client();
    assert_error(&c.roundtrip(&get("/late", "h")), 504, "upstream_timeout");
    // A head refused while it is read: no route, 400.
    let mut bad = gw.client();
    assert_eq!(bad.roundtrip(b"GET / HTTP/1.1\r\n\r\n").status, 400);
    // A client gone halfway through its body: no response, status none.
    let mut gone = gw.client();
    gone.send(b"POST /fast/up HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\nabc");
    drop(gone);

    let mut m = String::new();
    let counted = eventually(Duration::from_secs(5), || {
        m = gw.metrics();
        requests(&m, "fast", "none") == 1.0
    });
    assert!(counted, "the abandoned upload is not counted:\n{m}");
    assert_eq!(requests(&m, "fast", "2xx"), 3.0, "{m}");
    assert_eq!(
        requests(&m, "fast", "4xx"),
        1.0,
        "405 counts on its route\n{m}"
    );
    assert_eq!(
        requests(&m, "", "4xx"),
        2.0,
        "404 and 400 count unrouted\n{m}"
    );
    assert_eq!(requests(&m, "dead", "5xx"), 1.0, "{m}");
    assert_eq!(requests(&m, "late", "5xx"), 1.0, "{m}");
    assert_eq!(requests(&m, "slow", "2xx"), 0.0, "{m}");
    assert_eq!(sum_of(&m, "ringway_requests_total{"), 9.0, "{m}");
    // Everything answered is a response too, by whoever answered it.
    let answered = sum_of(&m, "ringway_requests_total{")
        - sum_of(
            &m,
            "ringway_requests_total{route=\"fast\",status_class=\"none\"}",
        );
    assert_eq!(sum_of(&m, "ringway_responses_total{"), answered, "{m}");
    assert_well_formed(&m);
}

#[test]
fn a_slow_upstream_fills_the_high_buckets_and_a_fast_one_the_low() {
    let fast = Upstream::echo("fast");
    let slow = slow_upstream();
    let gw = gateway(&fast, &slow);
    let addr = gw.addr();
    // The slow requests in parallel: the test takes one delay, not three.
    let slow_reqs = slow_in_parallel(addr, 3);
    let mut cl = gw.client();
    for _ in 0..3 {
        assert_eq!(cl.roundtrip(&get("/fast", "h")).status, 200);
    }
    for t in slow_reqs {
        assert_eq!(t.join().expect("slow client"), 200);
    }
    let req = "ringway_request_duration_seconds";
    let up = "ringway_upstream_duration_seconds";
    // A request is recorded once its response is written, so the client can
    // read the response a moment before the shard records it: wait for all
    // six in both families, then read one scrape.
    let all_six = || {
        let m = gw.metrics();
        [(req, "route"), (up, "upstream")].iter().all(|(f, k)| {
            ["slow", "fast"]
                .iter()
                .all(|v| val(&m, &format!("{f}_count{{{k}=\"{v}\"}}")) == 3.0)
        })
    };
    assert!(eventually(Duration::from_secs(5), all_six));
    let m = gw.metrics();
    for (family, label) in [(req, "route=\"slow\""), (up, "upstream=\"slow\"")] {
        assert_eq!(bucket(&m, family, label, "0.5"), 0.0, "{label}\n{m}");
        assert_eq!(bucket(&m, family, label, "+Inf"), 3.0, "{label}\n{m}");
        assert_eq!(val(&m, &format!("{family}_count{{{label}}}")), 3.0, "{m}");
        let sum = val(&m, &format!("{family}_sum{{{label}}}"));
        assert!(sum >= 3.0 * SLOW.as_secs_f64(), "{label} sum {sum}\n{m}");
    }
    for (family, label) in [(req, "route=\"fast\""), (up, "upstream=\"fast\"")] {
        assert_eq!(bucket(&m, family, label, "0.5"), 3.0, "{label}\n{m}");
        assert_eq!(bucket(&m, family, label, "+Inf"), 3.0, "{label}\n{m}");
    }
    // The buckets are cumulative.
    let mut last = 0.0;
    for le in ["0.0001", "0.001", "0.01", "0.1", "0.5", "1", "10", "+Inf"] {
        let v = bucket(&m, req, "route=\"slow\"", le);
        assert!(v >= last, "le={le} went down\n{m}");
        last = v;
    }
    // Routes without traffic still have their series, at zero.
    assert_eq!(
        metric_in(&m, &format!("{req}_count{{route=\"dead\"}}")),
        Some(0.0)
    );
    assert_eq!(
        metric_in(&m, &format!("{up}_count{{upstream=\"dead\"}}")),
        Some(0.0)
    );
}

#[test]
fn bytes_in_and_out_match_what_crossed_the_client_socket() {
    let fast = Upstream::start("fast", |r| match r.target.as_str() {
        "/fast/big" => Reply::Stream {
            len: 300_000,
            chunked: false,
        },
        "/fast/chunked" => Reply::Stream {
            len: 70_000,
            chunked: true,
        },
        _ => Reply::Raw(fixed_response("", &[b'x'; 1234])),
    });
    let slow = slow_upstream();
    let gw = gateway(&fast, &slow);
    let mut cl = gw.client();
    let (mut sent, mut got) = (0u64, 0u64);
    let mut send = |cl: &mut RawClient, bytes: &[u8]| {
        let r = cl.roundtrip(bytes);
        assert_eq!(r.status, 200, "{}", r.summary());
        sent += bytes.len() as u64;
        // The wire body (chunk framing included) as the client read it.
        got += (r.head.raw.len() + r.raw_body.len()) as u64;
        r
    };
    let small = req("POST", "/fast/small", "h", &[], &[b'a'; 700]);
    let r = send(&mut cl, &small);
    assert_eq!(r.body_len, 1234);
    // A body much longer than the connection buffer: streamed read by read.
    let big = req("POST", "/fast/big", "h", &[], &pattern(0, 200_000));
    let r = send(&mut cl, &big);
    assert_eq!(r.body_len, 300_000);
    let mut chunked =
        b"POST /fast/chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    chunked.extend(chunk(&pattern(0, 50_000)));
    chunked.extend(chunk(b"tail"));
    chunked.extend(b"0\r\n\r\n");
    let r = send(&mut cl, &chunked);
    assert!(r.chunked && r.body_len == 70_000, "{}", r.summary());

    // A 404 skips a small body already sent and keeps the connection.
    let mut other = gw.client();
    let nope = req("POST", "/nope", "h", &[], b"0123456789");
    let r = other.roundtrip(&nope);
    assert_eq!(r.status, 404);
    let nope_out = (r.head.raw.len() + r.raw_body.len()) as u64;

    // Recorded once each response is written: wait for the last one.
    let mut m = String::new();
    let recorded = eventually(Duration::from_secs(5), || {
        m = gw.metrics();
        val(&m, "ringway_response_bytes_total{route=\"\"}") == nope_out as f64
    });
    assert!(recorded, "{m}");
    assert_eq!(
        val(&m, "ringway_request_bytes_total{route=\"fast\"}"),
        sent as f64,
        "{m}"
    );
    assert_eq!(
        val(&m, "ringway_response_bytes_total{route=\"fast\"}"),
        got as f64,
        "{m}"
    );
    assert_eq!(
        val(&m, "ringway_request_bytes_total{route=\"\"}"),
        nope.len() as f64,
        "{m}"
    );
    assert_eq!(
        val(&m, "ringway_response_bytes_total{route=\"\"}"),
        nope_out as f64,
        "{m}"
    );
    assert_eq!(
        val(&m, "ringway_request_bytes_total{route=\"slow\"}"),
        0.0,
        "{m}"
    );
}

#[test]
fn in_flight_follows_requests_and_returns_to_zero() {
    let fast = Upstream::echo("fast");
    let slow = slow_upstream();
    let gw = gateway(&fast, &slow);
    let addr = gw.addr();
    let series = "ringway_requests_in_flight{route=\"slow\"}";
    assert_eq!(gw.metric(series), Some(0.0));
    let clients = slow_in_parallel(addr, 2);
    let mut seen = 0.0;
    let rose = eventually(Duration::from_secs(5), || {
        seen = gw.counter(series);
        seen == 2.0
    });
    assert!(rose, "in flight: {seen}");
    assert_eq!(
        gw.counter("ringway_requests_in_flight{route=\"fast\"}"),
        0.0
    );
    for c in clients {
        assert_eq!(c.join().expect("client"), 200);
    }
    let fell = eventually(Duration::from_secs(5), || {
        seen = gw.counter(series);
        seen == 0.0
    });
    assert!(fell, "in flight after the responses: {seen}");
}

#[test]
fn a_thousand_routes_render_whole_and_scrapes_answer_under_load() {
    let up = Upstream::echo("u");
    let mut routes = String::new();
    for i in 0..1000 {
        routes +=
            &format!("[[routes]]\nname = \"r{i}\"\npath_prefix = \"/r{i}/\"\nupstream = \"u\"\n");
    }
    let gw = Gateway::start(&build(&[], &[("u", up.addr())], &routes));
    let addr = gw.addr();
    // The load runs until the scrapes are done: every scrape must come back
    // whole while requests are being served (no timing bound here; what a
    // scrape costs the load is measured by bench/scrape-load.sh).
    let scraping = Arc::new(AtomicBool::new(true));
    let load: Vec<_> = (0..4)
        .map(|t| {
            let scraping = scraping.clone();
            std::thread::spawn(move || {
                let mut cl = RawClient::connect(addr);
                let mut n = 0u64;
                while scraping.load(Relaxed) || n == 0 {
                    let path = format!("/r{}/x", (t * 250 + n as usize * 7) % 1000);
                    assert_eq!(cl.roundtrip(&get(&path, "h")).status, 200);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut served = vec![];
    for _ in 0..3 {
        let m = gw.metrics();
        let count = |p: &str| m.lines().filter(|l| l.starts_with(p)).count();
        assert_eq!(count("ringway_requests_total{"), 1001 * 6);
        assert_eq!(count("ringway_requests_in_flight{"), 1000);
        assert_eq!(count("ringway_request_bytes_total{"), 1001);
        assert_eq!(count("ringway_request_duration_seconds_bucket{"), 1001 * 17);
        assert_eq!(count("ringway_request_duration_seconds_count{"), 1001);
        served.push(sum_of(&m, "ringway_requests_total{") as u64);
        assert!(Instant::now() < deadline, "three scrapes took over 60 s");
    }
    scraping.store(false, Relaxed);
    let done: u64 = load.into_iter().map(|t| t.join().expect("load")).sum();
    assert!(
        served[2] > served[0],
        "requests went on between the first and last scrape: {served:?}"
    );
    // The last responses can reach their clients a moment before the
    // shards record them: wait for the count, then check the rest.
    let mut m = String::new();
    let recorded = eventually(Duration::from_secs(5), || {
        m = gw.metrics();
        sum_of(&m, "ringway_requests_total{") == done as f64
    });
    assert!(
        recorded,
        "{} recorded, {done} done",
        sum_of(&m, "ringway_requests_total{")
    );
    assert_well_formed(&m);
    assert_eq!(
        sum_of(&m, "ringway_request_duration_seconds_count{"),
        done as f64
    );
    assert!(m.contains("ringway_requests_total{route=\"r999\",status_class=\"2xx\"}"));
}

#[test]
fn process_metrics_and_build_info_are_present_and_sane() {
    let fast = Upstream::echo("fast");
    let slow = slow_upstream();
    let gw = gateway(&fast, &slow);
    let m = gw.metrics();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let v = |s: &str| metric_in(&m, s).unwrap_or_else(|| panic!("{s} missing\n{m}"));
    let rss = v("process_resident_memory_bytes");
    assert!(rss > 1e6 && rss < 4e9, "rss {rss}");
    let kb = gw.vm_rss_kb() as f64 * 1024.0;
    assert!(
        rss > kb / 2.0 && rss < kb * 2.0,
        "rss {rss} against VmRSS {kb}"
    );
    // Two listeners, the admin listener, two rings or epolls at least.
    let fds = v("process_open_fds");
    assert!((5.0..10_000.0).contains(&fds), "fds {fds}");
    assert!(v("process_max_fds") >= fds);
    let cpu = v("process_cpu_seconds_total");
    assert!((0.0..60.0).contains(&cpu), "cpu {cpu}");
    let start = v("process_start_time_seconds");
    assert!(
        start > now - 120.0 && start <= now + 1.0,
        "start {start}, now {now}"
    );
    let up = v("ringway_uptime_seconds");
    assert!((0.0..120.0).contains(&up), "uptime {up}");
    assert_eq!(v("ringway_shards"), 2.0);
    assert_eq!(v("ringway_config_generation{shard=\"0\"}"), 1.0);
    assert_eq!(v("ringway_config_generation{shard=\"1\"}"), 1.0);
    assert_eq!(v("ringway_config_reload_failures_total"), 0.0);
    let load = v("ringway_config_load_seconds");
    assert!(load > 0.0 && load < 10.0, "load {load}");
    let at = v("ringway_config_load_timestamp_seconds");
    assert!(at >= start - 1.0 && at <= now + 1.0, "loaded at {at}");
    let sha = env!("RINGWAY_GIT_SHA");
    assert!(
        sha == "unknown" || (sha.len() == 12 && sha.bytes().all(|b| b.is_ascii_hexdigit())),
        "{sha}"
    );
    let info = format!(
        "ringway_build_info{{version=\"{}\",git_sha=\"{sha}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(metric_in(&m, &info), Some(1.0), "{m}");
    assert_well_formed(&m);
    // Uptime moves.
    std::thread::sleep(Duration::from_millis(1100));
    let later = metric_in(&gw.metrics(), "ringway_uptime_seconds").unwrap_or(0.0);
    assert!(later >= up + 1.0, "uptime {up} then {later}");
}
