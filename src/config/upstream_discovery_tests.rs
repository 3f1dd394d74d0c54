//! `discovery` and its keys: each kind compiled, each key refused with a
//! kind it does not belong to, and the targets file judged at load.

use super::route_tests::only;
use super::upstream::*;
use super::upstream_tests::{ms, ok, up};

/// A `[registry]` table (its token in a file under the temp dir), to
/// append to a config with a `discovery = "registry"` upstream.
fn registry_table(tag: &str) -> String {
    let p = std::env::temp_dir().join(format!("ringway-cfg-{}-{tag}.token", std::process::id()));
    std::fs::write(&p, "reg-0123456789abcdef0123").unwrap();
    format!(
        "\n[registry]\ntoken = \"file:{}\"\nlisten = \"127.0.0.1:9902\"\n",
        p.display()
    )
}

/// A targets file under the temp dir with `text`, unique to `tag`.
fn targets_file(tag: &str, text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("ringway-cfg-{}-{tag}.json", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn static_is_the_default() {
    let u = ok(&up("targets = [\"127.0.0.1:3001\"]"));
    assert_eq!(u.discovery, Discovery::Static);
    let u = ok(&up(
        "discovery = \"static\"\ntargets = [\"127.0.0.1:3001\"]",
    ));
    assert_eq!((u.discovery, u.targets.len()), (Discovery::Static, 1));
}

#[test]
fn dns_with_every_key() {
    let u = ok(&up(r#"discovery = "dns"
dns_name = "Orders.Internal:8080"
resolver = "127.0.0.1:5353"
dns_min_ttl_ms = 500
dns_max_ttl_ms = 60000
dns_family = "ipv6""#));
    let want = DnsSpec {
        query: DnsQuery::Host {
            host: "orders.internal".into(),
            port: 8080,
        },
        resolver: Some("127.0.0.1:5353".parse().unwrap()),
        min_ttl: ms(500),
        max_ttl: ms(60_000),
        family: DnsFamily::Ipv6,
    };
    assert_eq!(u.discovery, Discovery::Dns(want));
    assert!(u.targets.is_empty() && u.weights.is_empty());
}

#[test]
fn dns_defaults_and_srv() {
    let u = ok(&up(
        "discovery = \"dns\"\ndns_name = \"_http._tcp.orders.internal\"",
    ));
    let want = DnsSpec {
        query: DnsQuery::Srv("_http._tcp.orders.internal".into()),
        resolver: None,
        min_ttl: ms(1000),
        max_ttl: ms(300_000),
        family: DnsFamily::Any,
    };
    assert_eq!(u.discovery, Discovery::Dns(want));
    // A default gives way to a written bound, as for the other pairs.
    let u = ok(&up(
        "discovery = \"dns\"\ndns_name = \"a:1\"\ndns_max_ttl_ms = 200",
    ));
    let Discovery::Dns(d) = u.discovery else {
        panic!()
    };
    assert_eq!((d.min_ttl, d.max_ttl), (ms(200), ms(200)));
}

#[test]
fn dns_errors_name_their_key() {
    let dns = |rest: &str| up(&format!("discovery = \"dns\"\n{rest}"));
    // A missing key is reported on its table's line.
    let m = only(&dns(""), "upstreams[0].dns_name", 4);
    assert!(m.contains("missing required key"), "{m}");
    let m = only(
        &dns("dns_name = \"orders.internal\""),
        "upstreams[0].dns_name",
        7,
    );
    assert!(m.contains("no port"), "{m}");
    let m = only(
        &dns("dns_name = \"10.0.0.1:80\""),
        "upstreams[0].dns_name",
        7,
    );
    assert!(m.contains("discovery = \"static\""), "{m}");
    let m = only(
        &dns("dns_name = \"a:1\"\nresolver = \"dns.internal\""),
        "upstreams[0].resolver",
        8,
    );
    assert!(m.contains("not an IP address"), "{m}");
    let src = dns("dns_name = \"a:1\"\ndns_min_ttl_ms = 5000\ndns_max_ttl_ms = 1000");
    let m = only(&src, "upstreams[0].dns_min_ttl_ms", 8);
    assert!(m.contains("at most dns_max_ttl_ms"), "{m}");
    let m = only(
        &dns("dns_name = \"a:1\"\ndns_min_ttl_ms = 0"),
        "upstreams[0].dns_min_ttl_ms",
        8,
    );
    assert!(m.contains("out of range"), "{m}");
    let m = only(
        &dns("dns_name = \"a:1\"\ndns_family = \"inet\""),
        "upstreams[0].dns_family",
        8,
    );
    assert!(m.contains("\"ipv4\""), "{m}");
}

#[test]
fn unknown_kind() {
    let m = only(&up("discovery = \"consul\""), "upstreams[0].discovery", 6);
    assert!(
        m.contains("\"static\", \"dns\", \"file\" or \"registry\""),
        "{m}"
    );
}

#[test]
fn keys_of_another_kind_are_refused() {
    let cases = [
        (
            "discovery = \"dns\"\ndns_name = \"a:1\"\ntargets = [\"127.0.0.1:1\"]",
            "targets",
            "`dns_name`",
        ),
        (
            "discovery = \"registry\"\ntargets = []",
            "targets",
            "the registry",
        ),
        (
            "discovery = \"file\"\ntargets_file = \"F\"\ntargets = [\"127.0.0.1:1\"]",
            "targets",
            "`targets_file`",
        ),
        (
            "targets = [\"127.0.0.1:1\"]\ndns_name = \"a:1\"",
            "dns_name",
            "discovery = \"dns\"",
        ),
        (
            "targets = [\"127.0.0.1:1\"]\nservice = \"s\"",
            "service",
            "discovery = \"registry\"",
        ),
        (
            "targets = [\"127.0.0.1:1\"]\ntargets_file = \"x.json\"",
            "targets_file",
            "discovery = \"file\"",
        ),
        (
            "discovery = \"dns\"\ndns_name = \"a:1\"\nservice = \"s\"",
            "service",
            "this upstream's is \"dns\"",
        ),
        (
            "discovery = \"registry\"\nresolver = \"10.0.0.2\"",
            "resolver",
            "discovery = \"dns\"",
        ),
        (
            "discovery = \"file\"\ntargets_file = \"F\"\ndns_min_ttl_ms = 5",
            "dns_min_ttl_ms",
            "discovery = \"dns\"",
        ),
    ];
    let file = targets_file("kinds", "[]");
    let registry = registry_table("kinds");
    for (body, key, want) in cases {
        let mut src = up(&body.replace("\"F\"", &format!("{:?}", file.display().to_string())));
        if body.contains("\"registry\"") {
            src.push_str(&registry);
        }
        let line = 6 + src
            .lines()
            .skip(5)
            .position(|l| l.starts_with(&format!("{key} =")))
            .unwrap();
        let m = only(&src, &format!("upstreams[0].{key}"), line);
        assert!(m.contains(want), "{body}: {m}");
    }
    std::fs::remove_file(file).unwrap();
}

#[test]
fn static_needs_targets_and_others_start_empty() {
    let m = only(&up(""), "upstreams[0].targets", 4);
    assert!(m.contains("missing required key"), "{m}");
    let registry = registry_table("empty");
    let u = ok(&(up("discovery = \"registry\"") + &registry));
    assert_eq!(
        u.discovery,
        Discovery::Registry {
            service: "users".into()
        }
    );
    assert!(u.targets.is_empty());
    let u = ok(&(up("discovery = \"registry\"\nservice = \"users-v2\"") + &registry));
    assert_eq!(
        u.discovery,
        Discovery::Registry {
            service: "users-v2".into()
        }
    );
    let m = only(
        &(up("discovery = \"registry\"\nservice = \"a b\"") + &registry),
        "upstreams[0].service",
        7,
    );
    assert!(m.contains("invalid name"), "{m}");
}

#[test]
fn targets_file_is_read_at_load() {
    let good = targets_file("good", r#"[{"addr": "127.0.0.1:3001", "weight": 2}]"#);
    let src = up(&format!(
        "discovery = \"file\"\ntargets_file = {:?}",
        good.display().to_string()
    ));
    let u = ok(&src);
    assert_eq!(u.discovery, Discovery::File { path: good.clone() });
    // The set itself arrives through `discovery::start`, not the compiled spec.
    assert!(u.targets.is_empty());
    let bad = targets_file("bad", r#"[{"addr": "127.0.0.1:3001"}, {"addr": "nope"}]"#);
    let src = up(&format!(
        "discovery = \"file\"\ntargets_file = {:?}",
        bad.display().to_string()
    ));
    let m = only(&src, "upstreams[0].targets_file", 7);
    assert!(m.contains("bad.json: [1].addr: \"nope\""), "{m}");
    let m = only(
        &up("discovery = \"file\"\ntargets_file = \"/nonexistent/t.json\""),
        "upstreams[0].targets_file",
        7,
    );
    assert!(m.contains("cannot read /nonexistent/t.json"), "{m}");
    let m = only(&up("discovery = \"file\""), "upstreams[0].targets_file", 4);
    assert!(m.contains("missing required key"), "{m}");
    for f in [good, bad] {
        std::fs::remove_file(f).unwrap();
    }
}

#[test]
fn max_targets_sizes_a_discovered_upstream_only() {
    let static_up = ok(&up("targets = [\"127.0.0.1:3001\", \"127.0.0.1:3002\"]"));
    assert_eq!(static_up.max_targets, 2);
    let dns = |rest: &str| up(&format!("discovery = \"dns\"\ndns_name = \"a:1\"\n{rest}"));
    assert_eq!(ok(&dns("")).max_targets, 256);
    assert_eq!(ok(&dns("max_targets = 3")).max_targets, 3);
    let m = only(&dns("max_targets = 0"), "upstreams[0].max_targets", 8);
    assert!(m.contains("must be 1 to 10000"), "{m}");
    let m = only(
        &up("targets = [\"127.0.0.1:3001\"]\nmax_targets = 4"),
        "upstreams[0].max_targets",
        7,
    );
    assert!(m.contains("static upstream"), "{m}");
}

#[test]
fn registry_needs_the_registry_table() {
    let m = only(&up("discovery = \"registry\""), "upstreams[0].discovery", 6);
    assert!(m.contains("[registry]"), "{m}");
}
