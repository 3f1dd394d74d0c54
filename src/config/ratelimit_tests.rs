//! `[rate_limits.NAME]` and the route keys that use it: compiled forms,
//! every rule with its key and line, and state kept across a reload.

use super::*;
use std::sync::Arc;

use crate::policy::Policy;
use crate::ratelimit::{Algo, Checked, Verdict};
use crate::route::RouteMatch;

/// Lines 1-6: a valid server and one upstream.
const BASE: &str = "[server]
listen = \"127.0.0.1:8080\"

[[upstreams]]
name = \"users\"
targets = [\"127.0.0.1:3001\"]
";

/// BASE, `limits` from line 7, then one route whose keys `extra` follow its name and upstream.
fn cfg(limits: &str, extra: &str) -> String {
    format!("{BASE}{limits}\n[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"users\"\n{extra}\n")
}

const PER_IP: &str =
    "[rate_limits.per_ip]\nkey = \"ip\"\nlimit = 100\nperiod = \"1m\"\nburst = 20\n";

fn errors(src: &str) -> Vec<String> {
    match load_str(src, "t.toml") {
        Ok(_) => panic!("expected errors for:\n{src}"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

fn ok(src: &str) -> Compiled {
    load_str(src, "t.toml").unwrap_or_else(|e| panic!("{src}\n{e}"))
}

fn policies(c: &Compiled) -> &[Policy] {
    let head = crate::http::RequestHead::new();
    match c.router.find(&head, b"", b"/") {
        RouteMatch::Found(r) => &r.policies,
        _ => panic!("route not found"),
    }
}

#[test]
fn compiles_gcra_into_ns_and_the_route_policy_list() {
    let c = ok(&cfg(
        PER_IP,
        "rate_limit = [\"per_ip\"]\nconcurrency_limit = 512",
    ));
    let l = &c.rate_limits[0];
    assert_eq!(
        l.def.algo,
        Algo::Gcra {
            interval: 600_000_000,
            tolerance: 20 * 600_000_000,
            max_delay: 0
        }
    );
    assert_eq!(
        (l.def.limit, l.def.period_secs, l.def.max_keys),
        (100, 60, 100_000)
    );
    // One source may add a sixteenth of the table per period by default.
    assert_eq!(l.def.max_new_keys_per_source, 6_250);
    match policies(&c) {
        [Policy::RateLimit(p), Policy::Concurrency(n)] => {
            assert!(Arc::ptr_eq(&p.limits()[0], l));
            assert_eq!(n.max(), 512);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn windows_and_periods() {
    let src = cfg(
        "[rate_limits.w]\nkey = [\"ip\", \"header:X-Tenant\", \"route\"]\nalgorithm = \"sliding_window\"\nlimit = 7\nperiod = \"2h\"\n",
        "rate_limit = \"w\"",
    );
    let c = ok(&src);
    assert_eq!(
        c.rate_limits[0].def.algo,
        Algo::SlidingWindow {
            limit: 7,
            period: 7_200_000_000_000
        }
    );
}

#[test]
fn rules_name_the_key_and_line() {
    let bad = |limits: &str, route: &str, want: &str| {
        let errs = errors(&cfg(limits, route));
        assert!(
            errs.iter().any(|e| e.contains(want)),
            "want {want:?} in {errs:#?}"
        );
    };
    bad(
        "[rate_limits.a]\nkey = \"ip\"\nlimit = 1\nperiod = \"1w\"\n",
        "",
        "t.toml:10: rate_limits.a.period: \"1w\" is not a period",
    );
    bad(
        "[rate_limits.a]\nkey = \"cookie\"\nlimit = 1\nperiod = \"1s\"\n",
        "",
        "t.toml:8: rate_limits.a.key: unknown key \"cookie\"",
    );
    bad(
        "[rate_limits.a]\nkey = \"ip\"\nperiod = \"1s\"\n",
        "",
        "rate_limits.a.limit: missing required key",
    );
    bad(
        "[rate_limits.a]\nkey = \"ip\"\nlimit = 1\nperiod = \"1s\"\nalgorithm = \"fixed_window\"\nburst = 2\n",
        "",
        "t.toml:12: rate_limits.a.burst: applies only to algorithm = \"gcra\"",
    );
    bad(
        "[rate_limits.a]\nkey = \"ip\"\nlimit = 1\nperiod = \"1s\"\nalgorithm = \"sliding_window\"\non_exhausted = \"delay\"\n",
        "",
        "rate_limits.a.on_exhausted: \"delay\" needs algorithm = \"gcra\"",
    );
    bad(
        "[rate_limits.a]\nkey = \"ip\"\nlimit = 1\nperiod = \"1s\"\nmax_delay_ms = 5\n",
        "",
        "rate_limits.a.max_delay_ms: applies only with on_exhausted = \"delay\"",
    );
    bad(
        "[rate_limits.a]\nkey = \"ip\"\nlimit = 1\nperiod = \"1s\"\nmax_new_keys_per_source = 0\n",
        "",
        "t.toml:11: rate_limits.a.max_new_keys_per_source: 0 is out of range",
    );
    bad(
        "[rate_limits.a]\nkey = \"ip\"\nlimit = 0\nperiod = \"1s\"\n",
        "",
        "rate_limits.a.limit: 0 is out of range",
    );
    bad(
        "[rate_limits.a]\nkey = \"ip\"\nlimit = 1\nperiod = \"365d\"\nburst = 1000\n",
        "",
        "t.toml:11: rate_limits.a.burst: 1000 is too large",
    );
    bad(
        PER_IP,
        "rate_limit = [\"nope\"]",
        "routes[0].rate_limit: unknown rate limit \"nope\" (defined: per_ip)",
    );
    bad(
        PER_IP,
        "concurrency_limit = 0",
        "routes[0].concurrency_limit: 0 is out of range",
    );
    bad(
        PER_IP,
        "rate_limit_headers = false",
        "applies only to a route with `rate_limit`",
    );
}

#[test]
fn identity_keys_need_authentication_on_the_route() {
    for key in ["\"jwt:sub\"", "\"api_key\"", "[\"ip\", \"jwt:tenant\"]"] {
        let limits = format!("[rate_limits.u]\nkey = {key}\nlimit = 1\nperiod = \"1s\"\n");
        // Defining it is fine; using it on a route without authentication is not.
        ok(&cfg(&limits, ""));
        let errs = errors(&cfg(&limits, "rate_limit = \"u\""));
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(
            errs[0].starts_with("t.toml:16: routes[0].rate_limit: rate limit \"u\" is keyed on")
                && errs[0].contains("needs authentication on the route"),
            "{}",
            errs[0]
        );
    }
}

fn charge(c: &Compiled, key: u64) -> Checked {
    c.rate_limits[0].check_key(key, 1)
}

#[test]
fn reload_keeps_state_of_unchanged_limits_only() {
    let one = "[rate_limits.a]\nkey = \"ip\"\nlimit = 1\nperiod = \"1h\"\n";
    let first = ok(&cfg(one, "rate_limit = \"a\""));
    assert!(matches!(charge(&first, 7), Checked::Step(s) if s.verdict == Verdict::Admit));

    // Same definition (the route around it changed): same state, still limited.
    let same = load_str_keeping(
        &cfg(one, "concurrency_limit = 3\nrate_limit = \"a\""),
        "t.toml",
        Some(&first),
    )
    .expect("valid");
    assert!(same.rate_limits[0].shares_state(&first.rate_limits[0]));
    assert!(
        matches!(charge(&same, 7), Checked::Step(s) if matches!(s.verdict, Verdict::Reject(_)))
    );

    // A changed definition starts over.
    let two = "[rate_limits.a]\nkey = \"ip\"\nlimit = 2\nperiod = \"1h\"\n";
    let changed =
        load_str_keeping(&cfg(two, "rate_limit = \"a\""), "t.toml", Some(&same)).expect("valid");
    assert!(!changed.rate_limits[0].shares_state(&first.rate_limits[0]));
    assert!(matches!(charge(&changed, 7), Checked::Step(s) if s.verdict == Verdict::Admit));
}
