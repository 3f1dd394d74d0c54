//! Router tests: specificity order, ties by file order, 405 versus 404.

use super::*;

struct R {
    name: &'static str,
    host: HostMatch,
    path: PathMatch,
    headers: Vec<HeaderMatch>,
    methods: &'static [Method],
    ignore_case: bool,
}

fn r(name: &'static str, path: PathMatch) -> R {
    R {
        name,
        host: HostMatch::Any,
        path,
        headers: Vec::new(),
        methods: &[],
        ignore_case: false,
    }
}

fn prefix(p: &str) -> PathMatch {
    PathMatch::Prefix(p.as_bytes().into())
}

fn exact(p: &str) -> PathMatch {
    PathMatch::Exact(p.as_bytes().into())
}

impl R {
    fn host(mut self, h: HostMatch) -> R {
        self.host = h;
        self
    }
    fn header(mut self, n: &str, c: HeaderCond) -> R {
        self.headers.push(HeaderMatch {
            name: n.as_bytes().into(),
            cond: c,
        });
        self
    }
    fn ignore_case(mut self) -> R {
        self.ignore_case = true;
        self
    }
    fn methods(mut self, m: &'static [Method]) -> R {
        self.methods = m;
        self
    }
    fn build(self) -> Route {
        let methods = MethodSet(self.methods.iter().fold(0, |a, m| a | m.bit()));
        let m = Matchers {
            host: self.host,
            path: self.path,
            headers: self.headers,
            methods,
            path_ignore_case: self.ignore_case,
        };
        Route::new(
            self.name,
            0,
            m,
            PathRewrite::None,
            HeaderEdits::default(),
            HeaderEdits::default(),
        )
    }
}

fn router(rs: Vec<R>) -> Router {
    Router::new(rs.into_iter().map(R::build).collect())
}

fn names(rt: &Router) -> Vec<&str> {
    rt.routes().iter().map(|r| &*r.name).collect()
}

fn find<'a>(
    rt: &'a Router,
    m: Method,
    host: Option<&str>,
    path: &str,
    hdrs: &[(&str, &str)],
) -> RouteMatch<'a> {
    let it = hdrs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
    rt.find_in(m, host.map(str::as_bytes), path.as_bytes(), it)
}

fn found(m: RouteMatch<'_>) -> &str {
    match m {
        RouteMatch::Found(r) => &r.name,
        RouteMatch::MethodNotAllowed { allow, .. } => panic!("405 allow {allow}"),
        RouteMatch::NotFound => panic!("404"),
    }
}

fn exact_host(h: &str) -> HostMatch {
    HostMatch::Exact(h.as_bytes().into())
}

fn wild(suffix: &str) -> HostMatch {
    HostMatch::Suffix(suffix.as_bytes().into())
}

#[test]
fn host_specificity_beats_path_specificity() {
    let rt = router(vec![
        r("none", exact("/a")),
        r("wild-short", prefix("/")).host(wild(".com")),
        r("wild-long", prefix("/")).host(wild(".example.com")),
        r("exact", prefix("/")).host(exact_host("a.example.com")),
    ]);
    assert_eq!(names(&rt), ["exact", "wild-long", "wild-short", "none"]);
    assert_eq!(
        found(find(&rt, Method::Get, Some("a.example.com"), "/a", &[])),
        "exact"
    );
    assert_eq!(
        found(find(&rt, Method::Get, Some("b.example.com"), "/a", &[])),
        "wild-long"
    );
    assert_eq!(
        found(find(&rt, Method::Get, Some("x.org.com"), "/a", &[])),
        "wild-short"
    );
    assert_eq!(
        found(find(&rt, Method::Get, Some("x.org"), "/a", &[])),
        "none"
    );
    assert_eq!(found(find(&rt, Method::Get, None, "/a", &[])), "none");
}

#[test]
fn path_specificity_exact_then_longer_prefix() {
    let rt = router(vec![
        r("root", prefix("/")),
        r("api", prefix("/api")),
        r("users", prefix("/api/users")),
        r("me", exact("/api/users/me")),
    ]);
    assert_eq!(names(&rt), ["me", "users", "api", "root"]);
    assert_eq!(
        found(find(&rt, Method::Get, None, "/api/users/me", &[])),
        "me"
    );
    assert_eq!(
        found(find(&rt, Method::Get, None, "/api/users/7", &[])),
        "users"
    );
    assert_eq!(
        found(find(&rt, Method::Get, None, "/api/usersX", &[])),
        "api"
    );
    assert_eq!(found(find(&rt, Method::Get, None, "/x", &[])), "root");
}

#[test]
fn a_route_knows_its_position_in_match_order() {
    let rt = router(vec![
        r("root", prefix("/")),
        r("api", prefix("/api")),
        r("me", exact("/api/me")),
    ]);
    for (i, route) in rt.routes().iter().enumerate() {
        assert_eq!(route.index(), i, "{}", route.name);
    }
    let RouteMatch::Found(api) = find(&rt, Method::Get, None, "/api/x", &[]) else {
        panic!("no match");
    };
    assert_eq!(rt.routes()[api.index()].name.as_ref(), "api");
}

#[test]
fn more_header_matchers_then_method_set_win() {
    let beta = HeaderCond::Equals(b"1".as_slice().into());
    let rt = router(vec![
        r("plain", prefix("/a")),
        r("get-only", prefix("/a")).methods(&[Method::Get]),
        r("one-header", prefix("/a")).header("x-beta", beta.clone()),
        r("two-headers", prefix("/a"))
            .header("x-beta", beta)
            .header("x-tenant", HeaderCond::Present),
    ]);
    assert_eq!(
        names(&rt),
        ["two-headers", "one-header", "get-only", "plain"]
    );
    let both = [("x-beta", "1"), ("x-tenant", "acme")];
    assert_eq!(
        found(find(&rt, Method::Post, None, "/a", &both)),
        "two-headers"
    );
    assert_eq!(
        found(find(&rt, Method::Post, None, "/a", &both[..1])),
        "one-header"
    );
    assert_eq!(found(find(&rt, Method::Get, None, "/a", &[])), "get-only");
    assert_eq!(found(find(&rt, Method::Post, None, "/a", &[])), "plain");
}

#[test]
fn ties_keep_file_order() {
    let rt = router(vec![
        r("first", prefix("/a")),
        r("longer", prefix("/a/b")),
        r("second", prefix("/a")),
        r("third", prefix("/b")),
    ]);
    assert_eq!(names(&rt), ["longer", "first", "second", "third"]);
    assert_eq!(found(find(&rt, Method::Get, None, "/a/x", &[])), "first");
}

#[test]
fn method_mismatch_is_405_with_first_allow_in_specificity_order() {
    let rt = router(vec![
        r("short", prefix("/api")).methods(&[Method::Delete]),
        r("long", prefix("/api/users")).methods(&[Method::Post, Method::Get]),
    ]);
    match find(&rt, Method::Put, None, "/api/users/1", &[]) {
        RouteMatch::MethodNotAllowed { allow, .. } => assert_eq!(allow, "GET, POST"),
        other => panic!("{other:?}"),
    }
    match find(&rt, Method::Put, None, "/api/x", &[]) {
        RouteMatch::MethodNotAllowed { allow, .. } => assert_eq!(allow, "DELETE"),
        other => panic!("{other:?}"),
    }
    // Unknown methods are never in a set.
    assert!(matches!(
        find(&rt, Method::Other, None, "/api/users", &[]),
        RouteMatch::MethodNotAllowed { .. }
    ));
}

#[test]
fn a_later_full_match_beats_an_earlier_method_mismatch() {
    let rt = router(vec![
        r("specific", prefix("/api/users")).methods(&[Method::Get]),
        r("fallback", prefix("/")),
    ]);
    assert_eq!(
        found(find(&rt, Method::Post, None, "/api/users", &[])),
        "fallback"
    );
}

#[test]
fn not_found_when_host_path_or_headers_fail() {
    let rt = router(vec![r("a", prefix("/a"))
        .host(exact_host("h.example"))
        .header("x-off", HeaderCond::Absent)
        .methods(&[Method::Get])]);
    assert_eq!(
        found(find(&rt, Method::Get, Some("H.example:80"), "/a", &[])),
        "a"
    );
    for (host, path, hdrs) in [
        (Some("other"), "/a", &[][..]),
        (None, "/a", &[][..]),
        (Some("h.example"), "/b", &[][..]),
        (Some("h.example"), "/a", &[("X-Off", "1")][..]),
    ] {
        assert!(
            matches!(
                find(&rt, Method::Post, host, path, hdrs),
                RouteMatch::NotFound
            ),
            "{host:?} {path}"
        );
    }
}

#[test]
fn empty_router_finds_nothing() {
    let rt = Router::default();
    assert!(rt.is_empty());
    assert_eq!(rt.len(), 0);
    assert!(matches!(
        find(&rt, Method::Get, None, "/", &[]),
        RouteMatch::NotFound
    ));
}

#[test]
fn allow_is_precomputed_per_route() {
    let rt = router(vec![r("a", prefix("/")).methods(&[
        Method::Patch,
        Method::Get,
        Method::Get,
    ])]);
    assert_eq!(rt.routes()[0].allow(), "GET, PATCH");
    let any = router(vec![r("b", prefix("/"))]);
    assert_eq!(any.routes()[0].allow(), "");
}

#[test]
fn find_reads_a_parsed_head() {
    let rt = router(vec![
        r("tenant", prefix("/api"))
            .host(wild(".example.com"))
            .header("x-tenant", HeaderCond::Equals(b"acme".as_slice().into()))
            .methods(&[Method::Get]),
        r("api", prefix("/api")),
    ]);
    let buf = b"GET /api/x?q=1 HTTP/1.1\r\nHost: A.Example.com:8080\r\nX-Tenant:  acme \r\n\r\n";
    let mut head = RequestHead::new();
    assert_eq!(crate::http::parse_request(buf, 4096, &mut head), Ok(true));
    assert_eq!(found(rt.find(&head, buf, b"/api/x")), "tenant");
    let buf = b"POST /api/x HTTP/1.1\r\nHost: a.example.com\r\nX-Tenant: acme\r\ncontent-length: 0\r\n\r\n";
    assert_eq!(crate::http::parse_request(buf, 4096, &mut head), Ok(true));
    assert_eq!(found(rt.find(&head, buf, b"/api/x")), "api");
    let buf = b"GET /api/x HTTP/1.1\r\nHost: a.example.com\r\nX-Tenant: other\r\n\r\n";
    assert_eq!(crate::http::parse_request(buf, 4096, &mut head), Ok(true));
    assert_eq!(found(rt.find(&head, buf, b"/api/x")), "api");
}

#[test]
fn exact_route_takes_one_trailing_slash_before_the_catch_all() {
    let rt = router(vec![
        r("root", prefix("/")),
        r("secret", exact("/exact/secret")),
    ]);
    for p in ["/exact/secret", "/exact/secret/"] {
        assert_eq!(found(find(&rt, Method::Get, None, p, &[])), "secret", "{p}");
    }
    for p in ["/exact/secret/x", "/exact/secrets", "/exact"] {
        assert_eq!(found(find(&rt, Method::Get, None, p, &[])), "root", "{p}");
    }
}

#[test]
fn case_insensitive_route_is_per_route() {
    let rt = router(vec![
        r("root", prefix("/")),
        r("admin", prefix("/admin")).ignore_case(),
        r("exact", exact("/exact/secret")).ignore_case(),
        r("strict", prefix("/strict")),
    ]);
    for p in ["/admin", "/ADMIN/x", "/aDmIn/"] {
        assert_eq!(found(find(&rt, Method::Get, None, p, &[])), "admin", "{p}");
    }
    for p in ["/exact/secret", "/EXACT/Secret/"] {
        assert_eq!(found(find(&rt, Method::Get, None, p, &[])), "exact", "{p}");
    }
    assert_eq!(
        found(find(&rt, Method::Get, None, "/strict/a", &[])),
        "strict"
    );
    assert_eq!(
        found(find(&rt, Method::Get, None, "/STRICT/a", &[])),
        "root"
    );
    assert_eq!(found(find(&rt, Method::Get, None, "/adminx", &[])), "root");
}
