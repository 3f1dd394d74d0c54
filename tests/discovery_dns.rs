//! DNS discovery against a real DNS server on loopback (`dnslib`): the sets
//! follow the answers within a TTL, a SERVFAIL or NXDOMAIN keeps the last
//! good set and is counted, SRV answers give ports and weights from their
//! lowest priority, and dropping the handle stops the thread.

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::dns::DnsServer;
use common::eventually;
use common::sink::RecordingSink;
use ringway::discovery;

/// A config with one DNS upstream asking `server` for `dns_name`.
fn config(server: &DnsServer, dns_name: &str, extra: &str) -> ringway::config::Compiled {
    let src = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[[upstreams]]\nname = \"orders\"\ndiscovery = \"dns\"\n\
         dns_name = {dns_name:?}\nresolver = \"{}\"\ndns_min_ttl_ms = 100\ndns_max_ttl_ms = 2000\n{extra}\n",
        server.addr
    );
    ringway::config::load_str(&src, "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn a_records(ips: &[&str], ttl: u32) -> Value {
    let records: Vec<Value> = ips
        .iter()
        .map(|ip| json!(["orders.test.", "A", ttl, ip]))
        .collect();
    json!({ "records": records })
}

fn metrics(h: &discovery::DiscoveryHandle) -> String {
    let mut out = String::new();
    h.stats().render(&mut out);
    out
}

#[test]
fn targets_follow_the_answers_and_failures_keep_the_last_set() {
    let dns = DnsServer::start(&a_records(&["127.0.0.2", "127.0.0.1"], 1));
    let cfg = config(&dns, "orders.test:8080", "dns_family = \"ipv4\"");
    let sink = RecordingSink::new();
    let h = discovery::start(&cfg, sink.clone()).expect("start");
    // The first set is there when `start` returns, sorted by address.
    assert_eq!(
        sink.latest(0),
        Some(vec![
            ("127.0.0.1:8080".parse().unwrap(), 1),
            ("127.0.0.2:8080".parse().unwrap(), 1)
        ])
    );

    // A new answer is applied within its TTL (1 s), with margin for a busy machine.
    dns.set(&a_records(&["127.0.0.3"], 1));
    assert!(
        sink.wait_for(0, &[("127.0.0.3:8080", 1)], Duration::from_secs(3)),
        "{:?}",
        sink.latest(0)
    );

    // SERVFAIL: counted, retried, and the last good set stays.
    let published = sink.count(0);
    dns.set(&json!({ "rcode": "SERVFAIL" }));
    assert!(
        eventually(Duration::from_secs(5), || h.stats().failures(0) >= 3),
        "{}",
        metrics(&h)
    );
    assert_eq!(sink.count(0), published, "a failure must publish nothing");
    assert_eq!(
        sink.latest(0),
        Some(vec![("127.0.0.3:8080".parse().unwrap(), 1)])
    );
    let text = metrics(&h);
    assert!(
        text.contains("# TYPE ringway_discovery_dns_failures_total counter"),
        "{text}"
    );
    assert!(
        text.contains("ringway_discovery_targets{upstream=\"orders\"} 1"),
        "{text}"
    );

    // NXDOMAIN and an empty answer are failures too.
    let before = h.stats().failures(0);
    dns.set(&json!({ "records": [["other.test.", "A", 1, "127.0.0.9"]] }));
    assert!(eventually(Duration::from_secs(5), || h.stats().failures(0) > before));
    let before = h.stats().failures(0);
    dns.set(&json!({ "records": [["orders.test.", "AAAA", 1, "::1"]] }));
    assert!(eventually(Duration::from_secs(5), || h.stats().failures(0) > before));
    assert_eq!(sink.count(0), published);

    // Recovery: the backoff (100 ms doubling, at most 2 s) finds the new answer.
    dns.set(&a_records(&["127.0.0.4", "127.0.0.5"], 1));
    assert!(sink.wait_for(
        0,
        &[("127.0.0.4:8080", 1), ("127.0.0.5:8080", 1)],
        Duration::from_secs(4)
    ));

    // Dropping the handle stops the thread: nothing is published afterwards.
    drop(h);
    let after = sink.count(0);
    dns.set(&a_records(&["127.0.0.6"], 1));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sink.count(0), after);
}

#[test]
fn the_ttl_sets_the_pace_within_the_bounds() {
    // TTL 60 s, clamped to dns_max_ttl_ms = 2000: the change shows after
    // about 2 s, not at once and not after a minute.
    let dns = DnsServer::start(&a_records(&["127.0.0.1"], 60));
    let cfg = config(&dns, "orders.test:80", "");
    let sink = RecordingSink::new();
    let _h = discovery::start(&cfg, sink.clone()).expect("start");
    let t0 = Instant::now();
    assert!(sink.wait_for(0, &[("127.0.0.1:80", 1)], Duration::from_secs(1)));
    dns.set(&a_records(&["127.0.0.2"], 60));
    assert!(sink.wait_for(0, &[("127.0.0.2:80", 1)], Duration::from_secs(5)));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "re-resolved after {took:?}, before the clamped TTL"
    );
}

#[test]
fn srv_gives_ports_and_weights_from_the_lowest_priority() {
    let zone = |glue: bool| {
        json!({
            "glue": glue,
            "records": [
                ["_http._tcp.orders.test.", "SRV", 1, "10 3 8081 a.test."],
                ["_http._tcp.orders.test.", "SRV", 1, "10 0 8082 b.test."],
                ["_http._tcp.orders.test.", "SRV", 1, "20 9 9000 backup.test."],
                ["a.test.", "A", 1, "127.0.0.1"],
                ["b.test.", "A", 1, "127.0.0.2"],
                ["backup.test.", "A", 1, "127.0.0.3"],
            ]
        })
    };
    // Without glue, each SRV host's addresses are asked for.
    let dns = DnsServer::start(&zone(false));
    let cfg = config(&dns, "_http._tcp.orders.test", "dns_family = \"ipv4\"");
    let sink = RecordingSink::new();
    let _h = discovery::start(&cfg, sink.clone()).expect("start");
    let want = [("127.0.0.1:8081", 3), ("127.0.0.2:8082", 1)];
    assert!(
        sink.wait_for(0, &want, Duration::from_secs(1)),
        "{:?}",
        sink.latest(0)
    );
    // With glue, and once the priority-10 group is gone, the backup serves.
    let mut z = zone(true);
    z["records"].as_array_mut().unwrap().drain(0..2);
    dns.set(&z);
    assert!(
        sink.wait_for(0, &[("127.0.0.3:9000", 9)], Duration::from_secs(3)),
        "{:?}",
        sink.latest(0)
    );
}
