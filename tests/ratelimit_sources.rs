//! No one client can deny a limit's other clients: a client sending 3000
//! distinct `x-tenant` values against `max_keys = 1000` adds only its
//! per-source budget of new keys (`max_new_keys_per_source`, by default
//! max_keys / 16) and then gets 429 `rate_limit_new_keys` for new values
//! only; its existing tenants keep their buckets, and a new tenant from
//! another client address (127.0.0.2) is admitted.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::*;

fn tenant(t: &str) -> Vec<u8> {
    req("GET", "/x", "h", &[("x-tenant", t)], b"")
}

#[test]
fn one_client_cannot_fill_the_table_for_everyone_else() {
    let up = Upstream::echo("a");
    let limits = rate_limit_section(
        "per_tenant",
        &[
            ("key", "\"header:x-tenant\""),
            ("limit", "3"),
            // One long window: new-key budgets are per aligned window, and a
            // run that straddled a 1-minute boundary got a second budget
            // (92 admitted instead of 62, once, on a loaded machine).
            ("period", "\"1d\""),
            ("burst", "2"),
            ("max_keys", "1000"),
        ],
    );
    let route = "[[routes]]\nname = \"api\"\npath_prefix = \"/\"\nupstream = \"a\"\nrate_limit = \"per_tenant\"\n";
    let gw = Gateway::start(&(build(&[], &[("a", up.addr())], "") + &limits + route));
    let mut attacker = gw.client();
    let (mut ok, mut refused) = (0, 0);
    for i in 0..3000 {
        let r = attacker.roundtrip(&tenant(&format!("t-{i}")));
        match r.status {
            200 => ok += 1,
            _ => {
                assert_error(&r, 429, "rate_limit_new_keys");
                assert!(r.header("retry-after").is_some(), "{}", r.summary());
                refused += 1;
            }
        }
    }
    // 1000 / 16 new keys per window for this client, exactly.
    assert_eq!((ok, refused), (62, 2938));
    assert_eq!(
        gw.counter("ringway_errors_total{code=\"rate_limit_new_keys\"}"),
        2938.0
    );
    // Its existing tenants keep working (burst 2: 2 more each).
    assert_eq!(attacker.roundtrip(&tenant("t-0")).status, 200);
    assert_eq!(attacker.roundtrip(&tenant("t-61")).status, 200);
    // Another client address is not affected: its new tenants are admitted.
    let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    for t in ["fresh-1", "fresh-2", "t-2999"] {
        let mut c = RawClient::connect_from(gw.addr(), other);
        let r = c.roundtrip(&tenant(t));
        assert_eq!(r.status, 200, "{t}: {}", r.summary());
    }
}
