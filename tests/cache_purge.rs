//! `POST /cache/purge` on the admin listener, against a real origin that
//! counts its requests: by exact URL (every variant), by prefix, by tag
//! (`Cache-Tag` and `Surrogate-Key`), limited to one cache; a bad body
//! purges nothing; the admin token is required when set; and the cache
//! metrics count what happened.

mod common;

use std::time::Duration;

use common::admin::{bearer, SecretFile, TOKEN};
use common::*;

fn origin() -> Upstream {
    Upstream::start("o", |r| {
        let tags = match r.target.as_str() {
            "/a/1" => "cache-tag: red, blue\r\n",
            "/a/2" => "surrogate-key: blue green\r\n",
            _ => "",
        };
        let body = format!(
            "{} {}",
            r.target,
            r.header("accept-language").unwrap_or("-")
        );
        Reply::Raw(
            format!(
                "HTTP/1.1 200 OK\r\ncache-control: max-age=600\r\nvary: accept-language\r\n{tags}content-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    })
}

fn gateway(up: &Upstream, token: &SecretFile) -> Gateway {
    let routes = "[caches.main]\nmax_bytes = 16777216\n\n[caches.other]\nmax_bytes = 16777216\n\n\
         [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\ncache = \"main\"\n";
    Gateway::start(&build(
        &[("admin_token", &token.spec())],
        &[("u", up.addr())],
        routes,
    ))
}

fn purge(gw: &Gateway, body: &str, token: Option<&str>) -> Response {
    let mut c = RawClient::connect(gw.admin_addr());
    c.set_timeout(Duration::from_secs(5));
    let auth = token.map(bearer);
    let h: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    c.roundtrip(&req("POST", "/cache/purge", "admin", &h, body.as_bytes()))
}

/// Fetches every path (both language variants of `/a/1`), then returns
/// how many origin requests fetching them all again costs.
fn refetch_cost(gw: &Gateway, up: &Upstream) -> usize {
    let before = up.requests().len();
    let mut c = gw.client();
    for (path, lang) in [("/a/1", "en"), ("/a/1", "fr"), ("/a/2", "en"), ("/b", "en")] {
        let r = c.roundtrip(&req("GET", path, "h", &[("accept-language", lang)], b""));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("{path} {lang}"));
    }
    up.requests().len() - before
}

#[test]
fn purge_by_url_prefix_and_tag_reaches_every_variant() {
    let up = origin();
    let token = SecretFile::new("purge", TOKEN);
    let gw = gateway(&up, &token);
    assert_eq!(refetch_cost(&gw, &up), 4, "first fetch");
    assert_eq!(refetch_cost(&gw, &up), 0, "all stored");

    let r = purge(&gw, "url:http://h/a/1\n", Some(TOKEN));
    assert_eq!((r.status, r.text().as_str()), (200, "{\"purged\":1}\n"));
    assert_eq!(refetch_cost(&gw, &up), 2, "both variants of /a/1");

    let r = purge(&gw, "prefix:http://h/a/\n", Some(TOKEN));
    assert_eq!(r.text(), "{\"purged\":2}\n");
    assert_eq!(refetch_cost(&gw, &up), 3, "/a/1 twice and /a/2");

    let r = purge(&gw, "tag:blue\n", Some(TOKEN));
    assert_eq!(r.text(), "{\"purged\":2}\n", "Cache-Tag and Surrogate-Key");
    assert_eq!(refetch_cost(&gw, &up), 3);

    let r = purge(&gw, "cache:other\ntag:green\n", Some(TOKEN));
    assert_eq!(r.text(), "{\"purged\":0}\n", "another cache");
    assert_eq!(refetch_cost(&gw, &up), 0);
    let auth = bearer(TOKEN);
    let m = common::admin::admin(
        gw.admin_addr(),
        "GET",
        "/metrics",
        &[("authorization", &auth)],
    );
    let text = m.text();
    let count = |name: &str| metric_in(&text, name);
    assert_eq!(
        count("ringway_cache_invalidations_total{cache=\"main\"}"),
        Some(5.0)
    );
    // 24 requests in 6 rounds, 12 of them to the origin.
    assert_eq!(
        count("ringway_cache_hits_total{cache=\"main\"}"),
        Some(12.0)
    );
    assert_eq!(
        count("ringway_cache_misses_total{cache=\"main\"}"),
        Some(12.0)
    );
    assert_eq!(count("ringway_cache_resources{cache=\"main\"}"), Some(3.0));
}

#[test]
fn a_bad_purge_or_one_without_the_token_purges_nothing() {
    let up = origin();
    let token = SecretFile::new("purge-bad", TOKEN);
    let gw = gateway(&up, &token);
    refetch_cost(&gw, &up);
    let r = purge(&gw, "url:http://h/b\nnope\n", Some(TOKEN));
    assert_error(&r, 400, "invalid_purge");
    let r = purge(&gw, "cache:missing\nurl:http://h/b\n", Some(TOKEN));
    assert_error(&r, 400, "invalid_purge");
    let r = purge(&gw, "url:http://h/b\n", None);
    assert_eq!(r.status, 401, "{}", r.summary());
    assert_eq!(refetch_cost(&gw, &up), 0, "nothing was purged");
}
