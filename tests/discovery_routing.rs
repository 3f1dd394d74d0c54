//! Discovered targets on the wire: a gateway whose upstream comes from DNS
//! (a real `dnslib` server on loopback) or from a targets file sends its
//! requests to the targets of the latest good answer, stops sending to a
//! target as soon as it is gone from the set, and keeps serving through a
//! failed lookup or a broken file.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use common::dns::DnsServer;
use common::*;

const WAIT: Duration = Duration::from_secs(5);

/// Two echo backends on the same port of 127.0.0.1 and 127.0.0.2 (A
/// records carry an address, the port comes from `dns_name`).
fn pair() -> (Upstream, Upstream) {
    let a = Upstream::echo("a");
    let b = Upstream::start_on(
        SocketAddr::from(([127, 0, 0, 2], a.addr().port())),
        "b",
        |_| Reply::Echo,
    );
    (a, b)
}

fn gateway(upstream: &str) -> Gateway {
    Gateway::start(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\nadmin_listen = \"127.0.0.1:0\"\n\n{upstream}\n\
         [[routes]]\nname = \"all\"\npath_prefix = \"/\"\nupstream = \"orders\"\n"
    ))
}

/// Which backend answered each of `n` requests, on one keep-alive connection.
fn answers(gw: &Gateway, n: usize) -> Vec<String> {
    let mut c = gw.client();
    (0..n)
        .map(|i| {
            let r = c.roundtrip(&get(&format!("/o/{i}"), "h"));
            assert_eq!(r.status, 200, "{}", r.summary());
            r.upstream().unwrap_or("?").to_string()
        })
        .collect()
}

fn only(gw: &Gateway, who: &str) -> bool {
    answers(gw, 10).iter().all(|u| u == who)
}

#[test]
fn requests_follow_the_dns_answers_and_a_failed_lookup_keeps_the_last() {
    let (a, _b) = pair();
    let record = |ip: &str| json!({ "records": [["orders.test.", "A", 1, ip]] });
    let dns = DnsServer::start(&record("127.0.0.1"));
    let gw = gateway(&format!(
        "[[upstreams]]\nname = \"orders\"\ndiscovery = \"dns\"\ndns_name = \"orders.test:{}\"\n\
         resolver = \"{}\"\ndns_min_ttl_ms = 100\ndns_max_ttl_ms = 1000\n",
        a.addr().port(),
        dns.addr
    ));
    assert!(only(&gw, "a"), "the first answer is in place at start");

    dns.set(&record("127.0.0.2"));
    assert!(eventually(WAIT, || only(&gw, "b")), "within a TTL");
    let before = a.requests().len();
    assert!(only(&gw, "b"));
    assert_eq!(a.requests().len(), before, "nothing more reaches a");

    // The server fails: the last good set stays, the failure is counted.
    dns.set(&json!({ "rcode": "SERVFAIL" }));
    assert!(eventually(WAIT, || {
        gw.metric("ringway_discovery_dns_failures_total{upstream=\"orders\"}")
            .is_some_and(|n| n >= 1.0)
    }));
    assert!(only(&gw, "b"));
    let m = gw.metrics();
    assert!(
        m.contains(&format!(
            "ringway_upstream_healthy{{upstream=\"orders\",target=\"127.0.0.2:{}\"}} 1",
            a.addr().port()
        )),
        "{m}"
    );
    assert!(
        !m.contains("target=\"127.0.0.1:"),
        "a is gone from /metrics: {m}"
    );
}

/// Replaces `path` as a deployment tool would: write, then rename.
fn put(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn requests_follow_the_targets_file_and_a_broken_file_changes_nothing() {
    let (a, b) = (Upstream::echo("a"), Upstream::echo("b"));
    let dir = std::env::temp_dir().join(format!("ringway-routing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("targets.json");
    let entry = |u: &Upstream, w: u32| format!("{{\"addr\": \"{}\", \"weight\": {w}}}", u.addr());
    put(&file, &format!("[{}]", entry(&a, 1)));
    let gw = gateway(&format!(
        "[[upstreams]]\nname = \"orders\"\ndiscovery = \"file\"\ntargets_file = {:?}\n",
        file.display().to_string()
    ));
    assert!(only(&gw, "a"));

    put(&file, &format!("[{}, {}]", entry(&a, 1), entry(&b, 1)));
    assert!(eventually(WAIT, || {
        let seen = answers(&gw, 20);
        seen.contains(&"a".to_string()) && seen.contains(&"b".to_string())
    }));

    put(&file, &format!("[{}]", entry(&b, 1)));
    assert!(eventually(WAIT, || only(&gw, "b")));

    put(&file, "[{\"addr\": \"not an address\"}]");
    assert!(eventually(WAIT, || {
        gw.metric("ringway_discovery_file_errors_total{upstream=\"orders\"}")
            .is_some_and(|n| n >= 1.0)
    }));
    assert!(only(&gw, "b"), "the broken file changed nothing");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_ejected_target_stays_ejected_when_the_set_changes() {
    use common::backend::{Backend, Mode};
    use common::resilience::{target_state, target_view};
    let (bad, good, new) = (
        Backend::with_mode("bad", Mode::Fail500),
        Backend::start("good"),
        Backend::start("new"),
    );
    let dir = std::env::temp_dir().join(format!("ringway-eject-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("targets.json");
    let set = |bs: &[&Backend]| {
        let entries: Vec<String> = bs
            .iter()
            .map(|b| format!("{{\"addr\": \"{}\"}}", b.addr()))
            .collect();
        format!("[{}]", entries.join(", "))
    };
    put(&file, &set(&[&bad, &good]));
    let gw = gateway(&format!(
        "[[upstreams]]\nname = \"orders\"\ndiscovery = \"file\"\ntargets_file = {:?}\n\
         [upstreams.outlier]\nconsecutive_failures = 3\nbase_ejection_ms = 60000\n",
        file.display().to_string()
    ));
    let mut c = gw.client();
    assert!(eventually(WAIT, || {
        let _ = c.roundtrip(&get("/o", "h"));
        target_state(&gw, bad.addr()) == "ejected"
    }));
    let ejections = target_view(&gw, bad.addr())["ejections"].clone();
    // A third target joins: the ejected one keeps its state and gets nothing.
    put(&file, &set(&[&bad, &good, &new]));
    assert!(eventually(WAIT, || answers(&gw, 10).contains(&"new".to_string())));
    let hits = bad.hits();
    assert!(answers(&gw, 30).iter().all(|u| u != "bad"));
    assert_eq!(
        bad.hits(),
        hits,
        "the ejected target got requests after the change"
    );
    assert_eq!(target_state(&gw, bad.addr()), "ejected");
    assert_eq!(target_view(&gw, bad.addr())["ejections"], ejections);
    let _ = std::fs::remove_dir_all(&dir);
}
