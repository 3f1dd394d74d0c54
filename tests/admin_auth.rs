//! The admin API's protection: `admin_token` required on everything but
//! `/healthz` (401 `admin_unauthorized` in the JSON error shape, with
//! `www-authenticate`, before the path or a body is looked at), revocation
//! writes open only on a loopback listener without a token, and `ringway
//! check`/`run` refusing a non-loopback admin listener without a token.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::admin::*;
use common::*;

#[test]
fn the_admin_token_guards_every_endpoint_but_healthz() {
    let token = SecretFile::new("token", TOKEN);
    let toml = build(
        &[("admin_token", &token.spec())],
        &[("u", unused_addr())],
        catch_all(),
    );
    let gw = Gateway::start(&toml);
    let a = gw.admin_addr();
    let good = bearer(TOKEN);
    let wrong = bearer("adm-7f3c9e2b41d8a6f0c5e5");
    let paths = [
        "/metrics",
        "/readyz",
        "/routes",
        "/config",
        "/upstreams",
        "/shards",
        "/revocations",
        "/no-such-endpoint",
    ];
    for path in paths {
        for auth in [
            None,
            Some(wrong.as_str()),
            Some("Basic YWRtaW4="),
            Some(TOKEN),
        ] {
            let headers: Vec<(&str, &str)> =
                auth.map(|v| ("Authorization", v)).into_iter().collect();
            let r = admin(a, "GET", path, &headers);
            assert_error(&r, 401, "admin_unauthorized");
            assert_eq!(
                r.header("www-authenticate"),
                Some("Bearer realm=\"ringway-admin\""),
                "{path}: {}",
                r.summary()
            );
            assert_request_id(&r);
            assert!(!r.text().contains(TOKEN), "{}", r.text());
        }
        let r = admin(a, "GET", path, &[("Authorization", &good)]);
        match path {
            "/no-such-endpoint" => assert_error(&r, 404, "admin_not_found"),
            _ => assert_eq!(r.status, 200, "{path}: {}", r.summary()),
        }
    }
    // The scheme is case-insensitive; the token is not.
    let lower = format!("bearer {TOKEN}");
    assert_eq!(
        admin(a, "GET", "/shards", &[("Authorization", &lower)]).status,
        200
    );
    let upper = bearer(&TOKEN.to_uppercase());
    assert_error(
        &admin(a, "GET", "/shards", &[("Authorization", &upper)]),
        401,
        "admin_unauthorized",
    );

    // Liveness needs no secret.
    let r = admin(a, "GET", "/healthz", &[]);
    assert_text(&r, 200, "ok\n");

    // A revocation without the token changes nothing, and its body is
    // never asked for (no 100 Continue).
    let mut c = RawClient::connect(a);
    c.set_timeout(Duration::from_secs(5));
    c.send(b"POST /revocations HTTP/1.1\r\nHost: admin\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n");
    assert_error(&c.read_response(), 401, "admin_unauthorized");
    let list = admin(a, "GET", "/revocations", &[("Authorization", &good)]);
    assert!(!list.text().contains("jti:"), "{}", list.text());
    let mut c = RawClient::connect(a);
    let add = req(
        "POST",
        "/revocations",
        "admin",
        &[("Authorization", &good)],
        b"jti:x1\n",
    );
    assert_eq!(c.roundtrip(&add).status, 200);
    let list = admin(a, "GET", "/revocations", &[("Authorization", &good)]);
    assert!(list.text().contains("jti:x1"), "{}", list.text());

    // Counted (8 paths × 4 bad credentials, the upper-cased token, the
    // POST) and logged like every admin error, without the token.
    let metrics = admin(a, "GET", "/metrics", &[("Authorization", &good)]).text();
    assert_eq!(
        metric_in(
            &metrics,
            "ringway_errors_total{code=\"admin_unauthorized\"}"
        ),
        Some(34.0)
    );
    assert!(gw.logs().iter().all(|l| !l.contains(TOKEN)));
}

#[test]
fn without_a_token_the_loopback_listener_is_open_to_revocation_writes() {
    let gw = Gateway::start(&build(&[], &[("u", unused_addr())], catch_all()));
    let mut c = RawClient::connect(gw.admin_addr());
    let r = c.roundtrip(&req("POST", "/revocations", "admin", &[], b"kid:old\n"));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.text(), "kid:old\n");
    let r = admin(gw.admin_addr(), "GET", "/config", &[]);
    assert_eq!(r.json()["server"]["admin_token"], serde_json::Value::Null);
}

#[test]
fn check_refuses_a_public_admin_listener_without_a_token() {
    let token = SecretFile::new("check", TOKEN);
    let short = SecretFile::new("short", "abc123");
    let conf = |admin: &str, token: Option<&str>| {
        let mut s = vec![("admin_listen", admin)];
        s.extend(token.map(|t| ("admin_token", t)));
        write_config(&build(&s, &[("u", unused_addr())], catch_all()))
    };
    let run = |cmd: &str, path: &PathBuf| {
        let p = path.to_string_lossy().into_owned();
        let out = run_cli(&[cmd, "--config", &p]);
        let _ = std::fs::remove_file(path);
        (p, out)
    };
    for cmd in ["check", "run"] {
        for public in ["\"0.0.0.0:0\"", "\"[::]:0\"", "\"192.0.2.1:9901\""] {
            let (p, out) = run(cmd, &conf(public, None));
            assert_eq!(out.status.code(), Some(2), "{cmd} {public}: {out:?}");
            let line = out
                .stderr
                .lines()
                .find(|l| l.starts_with(&p))
                .unwrap_or_else(|| panic!("no diagnostic: {out:?}"));
            assert!(
                line.contains(": server.admin_listen: ")
                    && line.contains("is not a loopback address")
                    && line.contains("server.admin_token"),
                "{line}"
            );
        }
    }
    // With a token a public listener is accepted (check does not bind).
    let (_, out) = run("check", &conf("\"0.0.0.0:9901\"", Some(&token.spec())));
    assert!(out.status.success(), "{out:?}");
    // Loopback needs none, in either family.
    for lo in ["\"127.0.0.1:0\"", "\"[::1]:0\""] {
        let (_, out) = run("check", &conf(lo, None));
        assert!(out.status.success(), "{lo}: {out:?}");
    }
    // A token is read from env:/file: only, and must be long enough.
    for (bad, says) in [
        ("\"adm-inline-token-123456\"", "never inline"),
        (short.spec().as_str(), "at least 16"),
        ("\"env:RINGWAY_TEST_UNSET_ADMIN_TOKEN\"", "is not set"),
    ] {
        let (p, out) = run("check", &conf("\"0.0.0.0:0\"", Some(bad)));
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        let errs: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with(&p)).collect();
        // One error, on the token: the listener is not blamed twice.
        assert_eq!(errs.len(), 1, "{bad}: {errs:?}");
        assert!(
            errs[0].contains(": server.admin_token: ") && errs[0].contains(says),
            "{}",
            errs[0]
        );
        assert!(!errs[0].contains("abc123"), "{}", errs[0]);
    }
}
