//! Unit tests for `matcher.rs` (kept apart so the module stays short).

use super::*;

fn exact(h: &str) -> HostMatch {
    HostMatch::Exact(h.as_bytes().into())
}

#[test]
fn host_exact_ignores_case_port_and_trailing_dot() {
    let m = exact("api.example.com");
    for ok in [
        "api.example.com",
        "API.Example.COM",
        "api.example.com:8080",
        "api.example.com.",
    ] {
        assert!(m.matches(Some(ok.as_bytes())), "{ok}");
    }
    assert!(m.matches(Some(b"api.example.com.:443")));
    for no in [
        "example.com",
        "xapi.example.com",
        "api.example.co",
        "a.api.example.com",
        "",
    ] {
        assert!(!m.matches(Some(no.as_bytes())), "{no}");
    }
    assert!(!m.matches(None));
}

#[test]
fn host_wildcard_matches_subdomains_not_apex() {
    let m = HostMatch::Suffix(b".example.com".as_slice().into());
    assert!(m.matches(Some(b"a.example.com")));
    assert!(m.matches(Some(b"a.b.example.com:81")));
    assert!(m.matches(Some(b"A.EXAMPLE.com.")));
    assert!(!m.matches(Some(b"example.com")));
    assert!(!m.matches(Some(b".example.com")));
    assert!(!m.matches(Some(b"aexample.com")));
    assert!(!m.matches(None));
}

#[test]
fn host_any_matches_everything_including_absent() {
    assert!(HostMatch::Any.matches(None));
    assert!(HostMatch::Any.matches(Some(b"whatever:1")));
}

#[test]
fn host_ipv6_literal_port_is_stripped() {
    let m = exact("[::1]");
    assert!(m.matches(Some(b"[::1]:8080")));
    assert!(m.matches(Some(b"[::1]")));
    assert!(!m.matches(Some(b"[::2]")));
    assert_eq!(bare_host(b"[::1"), b"[::1");
}

#[test]
fn prefix_is_segment_aware() {
    let p = b"/api/users";
    for ok in [
        "/api/users",
        "/api/users/",
        "/api/users/7",
        "/api/users/7/x",
    ] {
        assert!(prefix_matches(p, ok.as_bytes()), "{ok}");
    }
    for no in ["/api/usersX", "/api/user", "/api", "/", "/API/users"] {
        assert!(!prefix_matches(p, no.as_bytes()), "{no}");
    }
}

#[test]
fn prefix_with_trailing_slash_and_root() {
    assert!(prefix_matches(b"/api/", b"/api/x"));
    assert!(prefix_matches(b"/api/", b"/api/"));
    assert!(!prefix_matches(b"/api/", b"/api"));
    for any in ["/", "/x", "/a/b/c"] {
        assert!(prefix_matches(b"/", any.as_bytes()));
    }
}

#[test]
fn exact_path_is_byte_equality_with_one_optional_trailing_slash() {
    let m = PathMatch::Exact(b"/health".as_slice().into());
    assert!(m.matches(b"/health", false));
    // Issue 10: `/health/` is the same resource to Express and Spring.
    assert!(m.matches(b"/health/", false));
    assert!(!m.matches(b"/health//", false));
    assert!(!m.matches(b"/health/x", false));
    assert!(!m.matches(b"/healthz", false));
    assert!(!m.matches(b"/healthz/", false));
    assert!(!m.matches(b"/Health", false));
    assert!(!m.matches(b"/healt/", false));
    let dir = PathMatch::Exact(b"/dir/".as_slice().into());
    assert!(dir.matches(b"/dir/", false));
    assert!(!dir.matches(b"/dir//", false));
    assert!(!dir.matches(b"/dir", false));
    let root = PathMatch::Exact(b"/".as_slice().into());
    assert!(root.matches(b"/", false));
    assert!(!root.matches(b"//", false));
}

#[test]
fn case_insensitive_path_matching() {
    let ex = PathMatch::Exact(b"/exact/Secret".as_slice().into());
    for ok in ["/exact/secret", "/EXACT/SECRET", "/Exact/sEcReT/"] {
        assert!(ex.matches(ok.as_bytes(), true), "{ok}");
        assert!(!ex.matches(ok.as_bytes(), false), "{ok}");
    }
    assert!(ex.matches(b"/exact/Secret", false));
    assert!(!ex.matches(b"/exact/secreT2", true));
    let p = PathMatch::Prefix(b"/admin".as_slice().into());
    for ok in ["/ADMIN", "/Admin/", "/aDmIn/users"] {
        assert!(p.matches(ok.as_bytes(), true), "{ok}");
        assert!(!p.matches(ok.as_bytes(), false), "{ok}");
    }
    for no in ["/ADMINX", "/ADMI", "/", "/%41DMIN"] {
        assert!(!p.matches(no.as_bytes(), true), "{no}");
    }
    // Only ASCII letters fold: a decoded non-ASCII byte never matches one.
    assert!(!PathMatch::Prefix(b"/k".as_slice().into()).matches("/\u{212a}".as_bytes(), true));
}

fn hm(name: &str, cond: HeaderCond) -> HeaderMatch {
    HeaderMatch {
        name: name.as_bytes().into(),
        cond,
    }
}

fn hs<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone {
    pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))
}

#[test]
fn header_equals_is_case_insensitive_name_exact_trimmed_value() {
    let m = hm("x-tenant", HeaderCond::Equals(b"acme".as_slice().into()));
    assert!(m.matches(hs(&[("X-Tenant", "acme")])));
    assert!(m.matches(hs(&[("x-tenant", " \tacme  ")])));
    assert!(!m.matches(hs(&[("x-tenant", "ACME")])));
    assert!(!m.matches(hs(&[("x-tenant", "acme, other")])));
    assert!(!m.matches(hs(&[("x-other", "acme")])));
    assert!(!m.matches(hs(&[])));
}

#[test]
fn header_any_occurrence_counts() {
    let m = hm("x-tenant", HeaderCond::Equals(b"acme".as_slice().into()));
    assert!(m.matches(hs(&[
        ("x-tenant", "other"),
        ("a", "b"),
        ("X-TENANT", "acme")
    ])));
}

#[test]
fn header_present_and_absent() {
    let present = hm("x-beta", HeaderCond::Present);
    let absent = hm("x-beta", HeaderCond::Absent);
    let with = [("X-Beta", "")];
    assert!(present.matches(hs(&with)));
    assert!(!absent.matches(hs(&with)));
    assert!(!present.matches(hs(&[("x-betas", "1")])));
    assert!(absent.matches(hs(&[("x-betas", "1")])));
}

#[test]
fn trim_ows_edges() {
    assert_eq!(trim_ows(b""), b"");
    assert_eq!(trim_ows(b"  \t "), b"");
    assert_eq!(trim_ows(b" a b "), b"a b");
}

#[test]
fn method_set() {
    let s = MethodSet(Method::Get.bit() | Method::Post.bit());
    assert!(s.allows(Method::Get));
    assert!(!s.allows(Method::Put));
    assert!(!s.allows(Method::Other));
    assert!(MethodSet::default().allows(Method::Other));
    assert_eq!(s.allow_header(), "GET, POST");
    let all = MethodSet(KNOWN_METHODS.iter().fold(0, |a, m| a | m.bit()));
    assert_eq!(
        all.allow_header(),
        "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE, CONNECT"
    );
}

#[test]
fn ranks_order() {
    assert!(exact("a").rank() > HostMatch::Suffix(b".a.b.c".as_slice().into()).rank());
    assert!(
        HostMatch::Suffix(b".b.c".as_slice().into()).rank()
            > HostMatch::Suffix(b".c".as_slice().into()).rank()
    );
    assert!(HostMatch::Suffix(b".c".as_slice().into()).rank() > HostMatch::Any.rank());
    let ex = PathMatch::Exact(b"/".as_slice().into());
    assert!(ex.rank() > PathMatch::Prefix(b"/very/long/prefix".as_slice().into()).rank());
    assert!(
        PathMatch::Prefix(b"/a/b".as_slice().into()).rank()
            > PathMatch::Prefix(b"/a".as_slice().into()).rank()
    );
}
