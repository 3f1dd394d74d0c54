//! The RFC 9111 rules on an injected clock: directive parsing, lifetime,
//! age, reuse, storing and variants.

use super::directives::{each, MaxStale, Request, Response};
use super::freshness::{decide, Expires, Lifetime, Reuse, Times, HEURISTIC_CAP};
use super::storable::{storable, Facts, NotStored};
use super::vary::Vary;
use super::{delta_seconds, http_date, DELTA_MAX};

fn resp(cc: &str) -> Response {
    Response::parse([cc.as_bytes()])
}

fn req(cc: &str) -> Request {
    Request::parse([cc.as_bytes()])
}

/// A 200 received at t=1000 (sent at 999) with `cc` and a Date of 1000.
fn times(cc: &str) -> Times {
    Times {
        status: 200,
        cc: resp(cc),
        date: Some(1000),
        request_time: 999,
        response_time: 1000,
        ..Times::default()
    }
}

#[test]
fn delta_seconds_and_dates() {
    assert_eq!(delta_seconds(b"0"), Some(0));
    assert_eq!(delta_seconds(b"60"), Some(60));
    assert_eq!(delta_seconds(b"99999999999999999999999"), Some(DELTA_MAX));
    for bad in [&b""[..], b"-1", b"1.5", b" 1", b"1s", b"+1"] {
        assert_eq!(delta_seconds(bad), None, "{bad:?}");
    }
    let imf = http_date(b"Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(imf, Some(784111777));
    assert_eq!(http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), imf);
    assert_eq!(http_date(b"Sun Nov  6 08:49:37 1994"), imf);
    assert_eq!(http_date(b"0"), None);
    assert_eq!(http_date(b"tomorrow"), None);
}

#[test]
fn directives_split_on_commas_outside_quotes_in_any_case() {
    let got: Vec<_> = each([&b"max-age=60, , no-cache=\"a, b\""[..], b"PUBLIC"]).collect();
    assert_eq!(
        got,
        vec![
            (&b"max-age"[..], Some(&b"60"[..])),
            (&b"no-cache"[..], Some(&b"a, b"[..])),
            (&b"PUBLIC"[..], None),
        ]
    );
    let r = resp("Max-Age=\"30\", S-MAXAGE=10, no-cache=\"Set-Cookie, X-A\", private=\"x-b\"");
    assert_eq!(r.max_age, Some(30), "a quoted delta is accepted");
    assert_eq!(r.s_maxage, Some(10));
    assert!(
        !r.no_cache && !r.private,
        "qualified forms are not the bare ones"
    );
    assert_eq!(r.no_cache_fields, vec!["set-cookie".into(), "x-a".into()]);
    assert_eq!(r.private_fields, vec!["x-b".into()]);
    let r = resp("no-cache, private, no-store, must-revalidate, proxy-revalidate, public");
    assert!(
        r.no_cache
            && r.private
            && r.no_store
            && r.must_revalidate
            && r.proxy_revalidate
            && r.public
    );
    let r = resp("stale-while-revalidate=30, stale-if-error=600");
    assert_eq!(
        (r.stale_while_revalidate, r.stale_if_error),
        (Some(30), Some(600))
    );
}

#[test]
fn doubtful_freshness_is_stale() {
    assert_eq!(resp("max-age=abc").max_age, Some(0));
    assert_eq!(resp("max-age").max_age, Some(0));
    assert_eq!(
        resp("max-age=60, max-age=120").max_age,
        Some(0),
        "conflicting duplicates"
    );
    assert_eq!(
        resp("max-age=60, max-age=60").max_age,
        Some(60),
        "agreeing duplicates"
    );
    assert_eq!(
        Response::parse([&b"max-age=60"[..], b"max-age=61"]).max_age,
        Some(0),
        "across field lines too"
    );
    assert_eq!(resp("max-age=1e3").max_age, Some(0));
}

#[test]
fn request_directives() {
    let r = req("max-age=5, min-fresh=10, no-cache, no-store, only-if-cached");
    assert_eq!((r.max_age, r.min_fresh), (Some(5), Some(10)));
    assert!(r.no_cache && r.no_store && r.only_if_cached);
    assert_eq!(req("max-stale").max_stale, Some(MaxStale::Any));
    assert_eq!(req("max-stale=30").max_stale, Some(MaxStale::Secs(30)));
    assert_eq!(
        req("max-stale=x").max_stale,
        Some(MaxStale::Secs(0)),
        "invalid accepts none"
    );
    assert_eq!(
        req("min-fresh=x").min_fresh,
        Some(DELTA_MAX),
        "invalid asks too much"
    );
}

#[test]
fn lifetime_prefers_s_maxage_then_max_age_then_expires() {
    assert_eq!(
        times("s-maxage=10, max-age=100").lifetime(0),
        Lifetime::Explicit(10)
    );
    assert_eq!(times("max-age=100").lifetime(0), Lifetime::Explicit(100));
    let mut t = times("");
    t.expires = Some(Expires::At(1300));
    assert_eq!(t.lifetime(0), Lifetime::Explicit(300), "Expires minus Date");
    t.cc = resp("max-age=5");
    assert_eq!(
        t.lifetime(0),
        Lifetime::Explicit(5),
        "max-age beats Expires"
    );
    let mut t = times("");
    t.expires = Some(Expires::Invalid);
    assert_eq!(
        t.lifetime(3600),
        Lifetime::Explicit(0),
        "Expires: 0 is already expired"
    );
    let mut t = times("");
    t.date = None;
    t.expires = Some(Expires::At(1100));
    assert_eq!(
        t.lifetime(0),
        Lifetime::Explicit(100),
        "no Date: the response time"
    );
    t.expires = Some(Expires::At(500));
    assert_eq!(
        t.lifetime(0),
        Lifetime::Explicit(0),
        "an Expires in the past"
    );
}

#[test]
fn heuristics_only_where_the_rfc_allows() {
    let mut t = times("");
    t.last_modified = Some(0);
    assert_eq!(
        t.lifetime(0),
        Lifetime::Heuristic(100),
        "10% of Date - Last-Modified"
    );
    t.date = Some(10 * HEURISTIC_CAP * 10);
    t.response_time = t.date.unwrap();
    assert_eq!(t.lifetime(0), Lifetime::Heuristic(HEURISTIC_CAP), "capped");
    let t = times("");
    assert_eq!(
        t.lifetime(0),
        Lifetime::None,
        "no Last-Modified, no default"
    );
    assert_eq!(
        t.lifetime(120),
        Lifetime::Heuristic(120),
        "the route's default"
    );
    let mut t = times("");
    t.status = 302;
    assert_eq!(
        t.lifetime(120),
        Lifetime::None,
        "302 is not heuristically cacheable"
    );
    t.cc = resp("public");
    assert_eq!(t.lifetime(120), Lifetime::Heuristic(120), "unless public");
    t.status = 404;
    t.cc = resp("");
    assert_eq!(t.lifetime(60), Lifetime::Heuristic(60), "404 is");
}

#[test]
fn age_follows_section_4_2_3() {
    let t = times("max-age=60");
    assert_eq!(t.current_age(1000), 1, "the request's round trip counts");
    assert_eq!(t.current_age(1030), 31, "plus resident time");
    let mut t = times("");
    t.age = 50;
    assert_eq!(
        t.current_age(1000),
        51,
        "Age from upstream caches, corrected"
    );
    let mut t = times("");
    t.date = Some(900);
    assert_eq!(
        t.current_age(1000),
        100,
        "apparent age when the origin clock lags"
    );
    let mut t = times("");
    t.date = Some(2000);
    assert_eq!(
        t.current_age(1000),
        1,
        "a Date in the future gives no negative age"
    );
    assert_eq!(times("").current_age(u64::MAX), DELTA_MAX, "overflow caps");
}

#[test]
fn reuse_fresh_stale_and_validation() {
    let t = times("max-age=60");
    let d = decide(&t, &req(""), 1010, 0);
    assert_eq!((d.reuse, d.age, d.ttl), (Reuse::Fresh, 11, 49));
    // The age is 1 at receipt (the round trip), so t=1058 is age 59, the
    // last fresh second, and t=1059 is age 60: stale, 0 s to live.
    let d = decide(&t, &req(""), 1058, 0);
    assert_eq!((d.reuse, d.ttl), (Reuse::Fresh, 1));
    let d = decide(&t, &req(""), 1059, 0);
    assert_eq!(d.reuse, VALIDATE);
    assert_eq!(d.ttl, 0);
    // Request directives.
    assert_eq!(at(&t, "no-cache", 1010), VALIDATE);
    assert_eq!(at(&t, "max-age=10", 1010), VALIDATE);
    assert_eq!(at(&t, "max-age=11", 1010), Reuse::Fresh);
    assert_eq!(at(&t, "min-fresh=49", 1010), Reuse::Fresh);
    assert_eq!(at(&t, "min-fresh=50", 1010), VALIDATE);
    assert_eq!(at(&t, "max-stale", 5000), Reuse::StaleAccepted);
    assert_eq!(at(&t, "max-stale=10", 1069), Reuse::StaleAccepted);
    assert_eq!(at(&t, "max-stale=10", 1070), VALIDATE);
    // Response no-cache: validate even when fresh.
    let t = times("max-age=60, no-cache");
    assert_eq!(at(&t, "", 1010), VALIDATE);
}

#[test]
fn revalidate_directives_forbid_every_stale_answer() {
    for cc in ["must-revalidate", "proxy-revalidate", "s-maxage=60"] {
        let t = times(&format!(
            "max-age=60, {cc}, stale-while-revalidate=100, stale-if-error=100"
        ));
        for r in ["", "max-stale"] {
            let d = decide(&t, &req(r), 1100, 0);
            assert_eq!(d.reuse, VALIDATE, "{cc} / {r}");
        }
    }
}

#[test]
fn stale_while_revalidate_and_stale_if_error_windows() {
    let t = times("max-age=60, stale-while-revalidate=30, stale-if-error=300");
    // Age is now - 999, so the copy is stale by now - 1059.
    assert_eq!(at(&t, "", 1088), Reuse::StaleWhileRevalidate, "29 s stale");
    assert_eq!(at(&t, "", 1089), Reuse::StaleWhileRevalidate, "30 s stale");
    assert_eq!(
        at(&t, "", 1090),
        Reuse::Validate {
            stale_if_error: true
        }
    );
    assert_eq!(
        at(&t, "", 1359),
        Reuse::Validate {
            stale_if_error: true
        }
    );
    assert_eq!(at(&t, "", 1360), VALIDATE);
    assert_eq!(
        at(&t, "no-cache", 1070),
        Reuse::Validate {
            stale_if_error: true
        },
        "a client's no-cache still validates, with the error fallback"
    );
}

/// The reuse decision for a request with `cc` at `now` (no default TTL).
fn at(t: &Times, cc: &str, now: u64) -> Reuse {
    decide(t, &req(cc), now, 0).reuse
}

/// Validation with no stale fallback.
const VALIDATE: Reuse = Reuse::Validate {
    stale_if_error: false,
};

fn facts(status: u16, lifetime: Lifetime) -> Facts {
    Facts {
        get: true,
        authorization: false,
        status,
        set_cookie: false,
        cache_set_cookie: false,
        cache_authorized: false,
        vary_star: false,
        validator: false,
        lifetime,
    }
}

#[test]
fn storing_rules() {
    let ok = facts(200, Lifetime::Explicit(60));
    let none = req("");
    assert_eq!(storable(&ok, &none, &resp("max-age=60")), Ok(()));
    let f = Facts { get: false, ..ok };
    assert_eq!(
        storable(&f, &none, &resp("max-age=60")),
        Err(NotStored::Method)
    );
    for s in [101, 206, 304] {
        assert_eq!(
            storable(&facts(s, Lifetime::Explicit(60)), &none, &resp("")),
            Err(NotStored::Status),
            "{s}"
        );
    }
    assert_eq!(
        storable(&ok, &none, &resp("max-age=60, no-store")),
        Err(NotStored::NoStore)
    );
    assert_eq!(
        storable(&ok, &req("no-store"), &resp("max-age=60")),
        Err(NotStored::NoStore)
    );
    assert_eq!(
        storable(&ok, &none, &resp("max-age=60, private")),
        Err(NotStored::Private)
    );
    assert_eq!(
        storable(&ok, &none, &resp("max-age=60, private=\"x-user\"")),
        Ok(()),
        "qualified private stores without the field"
    );
    let f = Facts {
        set_cookie: true,
        ..ok
    };
    assert_eq!(
        storable(&f, &none, &resp("max-age=60")),
        Err(NotStored::SetCookie)
    );
    let f = Facts {
        set_cookie: true,
        cache_set_cookie: true,
        ..ok
    };
    assert_eq!(storable(&f, &none, &resp("max-age=60")), Ok(()));
    let f = Facts {
        vary_star: true,
        ..ok
    };
    assert_eq!(
        storable(&f, &none, &resp("max-age=60")),
        Err(NotStored::VaryStar)
    );
    // A 302 with no explicit lifetime is not stored; with one it is.
    assert_eq!(
        storable(&facts(302, Lifetime::None), &none, &resp("")),
        Err(NotStored::Status)
    );
    assert_eq!(
        storable(
            &facts(302, Lifetime::Explicit(5)),
            &none,
            &resp("max-age=5")
        ),
        Ok(())
    );
    // Useless: no lifetime, no validator, no stale-if-error.
    assert_eq!(
        storable(&facts(200, Lifetime::None), &none, &resp("")),
        Err(NotStored::Useless)
    );
    let f = Facts {
        validator: true,
        ..facts(200, Lifetime::None)
    };
    assert_eq!(
        storable(&f, &none, &resp("")),
        Ok(()),
        "a validator makes it reusable after a 304"
    );
    assert_eq!(
        storable(
            &facts(200, Lifetime::Explicit(0)),
            &none,
            &resp("max-age=0, stale-if-error=60")
        ),
        Ok(())
    );
}

#[test]
fn authorization_needs_the_responses_leave() {
    let f = Facts {
        authorization: true,
        ..facts(200, Lifetime::Explicit(60))
    };
    let none = req("");
    assert_eq!(
        storable(&f, &none, &resp("max-age=60")),
        Err(NotStored::Authorization)
    );
    for cc in [
        "max-age=60, public",
        "max-age=60, must-revalidate",
        "s-maxage=60",
    ] {
        assert_eq!(storable(&f, &none, &resp(cc)), Ok(()), "{cc}");
    }
    let f = Facts {
        cache_authorized: true,
        ..f
    };
    assert_eq!(
        storable(&f, &none, &resp("max-age=60")),
        Ok(()),
        "the route opted in"
    );
    assert_eq!(
        storable(&f, &none, &resp("max-age=60, private")),
        Err(NotStored::Private),
        "but never over private"
    );
}

#[test]
fn vary_keys() {
    let v = Vary::parse([
        &b"Accept-Encoding, accept-language"[..],
        b" Accept-Encoding",
    ]);
    assert_eq!(
        v.fields,
        vec!["accept-encoding".into(), "accept-language".into()]
    );
    assert!(!v.star);
    assert!(Vary::parse([&b"accept, *"[..]]).star);
    let headers: Vec<(&str, &[u8])> = vec![
        ("accept-encoding", b" gzip "),
        ("accept-encoding", b"br"),
        ("accept-language", b"en"),
    ];
    let key = |h: &Vec<(&str, &'static [u8])>| {
        v.key(|f| {
            h.iter()
                .filter(|(n, _)| *n == f)
                .map(|(_, val)| *val)
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(
        key(&headers),
        b"accept-encoding:gzip, br\naccept-language:en\n".to_vec()
    );
    let absent: Vec<(&str, &[u8])> = vec![("accept-encoding", b"gzip, br")];
    let empty: Vec<(&str, &[u8])> =
        vec![("accept-encoding", b"gzip, br"), ("accept-language", b"")];
    assert_ne!(key(&absent), key(&empty), "absent and empty differ");
    let one_line: Vec<(&str, &[u8])> =
        vec![("accept-encoding", b"gzip, br"), ("accept-language", b"en")];
    assert_eq!(key(&headers), key(&one_line), "lines join as one list");
}
