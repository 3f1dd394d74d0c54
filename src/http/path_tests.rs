//! Unit tests for `path.rs` (kept apart so the module stays short).

use super::*;

const DECODE: PathMode = PathMode {
    escaped_slashes: EscapedSlashes::Decode,
    path_params: PathParams::Reject,
};
const STRIP: PathMode = PathMode {
    escaped_slashes: EscapedSlashes::Reject,
    path_params: PathParams::Strip,
};
const BOTH: PathMode = PathMode {
    escaped_slashes: EscapedSlashes::Decode,
    path_params: PathParams::Strip,
};

fn norm(raw: &str) -> Result<String, PathError> {
    norm_in(PathMode::default(), raw)
}

fn norm_in(mode: PathMode, raw: &str) -> Result<String, PathError> {
    let mut out = Vec::new();
    let changed = normalize_path(raw.as_bytes(), mode, &mut out)?;
    assert_eq!(changed, out != raw.as_bytes(), "{raw:?}");
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn brief_examples() {
    let cases = [
        ("/api/users/../admin", "/api/admin"),
        ("/api//users", "/api/users"),
        ("/api/%2e%2e/admin", "/admin"),
        // The brief listed "/api/x" here, but two ".." after "/api/users"
        // climb past "api" under RFC 3986 5.2.4 (and Envoy/Chromium agree).
        ("/api/users/%2E%2E/%2e%2E/x", "/x"),
        ("/api/v1/users/%2E%2E/%2e%2E/x", "/api/x"),
        ("/a/%7euser", "/a/~user"),
        ("/..", "/"),
        ("/a/b/..", "/a/"),
        ("/a/.", "/a/"),
    ];
    for (raw, want) in cases {
        assert_eq!(norm(raw).as_deref(), Ok(want), "{raw:?}");
    }
}

#[test]
fn more_dot_segments() {
    let cases = [
        ("/", "/"),
        ("/.", "/"),
        ("/./", "/"),
        ("/a", "/a"),
        ("/a/", "/a/"),
        ("/a/./b", "/a/b"),
        ("/a/../b", "/b"),
        ("/a/b/../../..", "/"),
        ("/a/b/../../../c", "/c"),
        ("/../../a", "/a"),
        ("/a/../", "/"),
        ("/a/./", "/a/"),
        ("/a/b/c/./../../g", "/a/g"),
        ("/a/..b/c", "/a/..b/c"),
        ("/a/.b/c", "/a/.b/c"),
        ("/a/.%2e/c", "/c"),
        ("/a/%2E./c", "/c"),
        ("/%2e", "/"),
        ("//a///b//", "/a/b/"),
        ("///..//..//x", "/x"),
        ("/a/b/..//c", "/a/c"),
    ];
    for (raw, want) in cases {
        assert_eq!(norm(raw).as_deref(), Ok(want), "{raw:?}");
    }
}

#[test]
fn percent_escapes() {
    let cases = [
        ("/%41%62%30%2D%5F%7E", "/Ab0-_~"),
        ("/a%20b", "/a%20b"),
        ("/a%3fb", "/a%3Fb"),
        ("/%25", "/%25"),
        ("/%252e", "/%252e"),
        ("/%e2%82%ac", "/%E2%82%AC"),
        ("/%3f%23%40%21%24", "/%3F%23%40%21%24"),
    ];
    for (raw, want) in cases {
        assert_eq!(norm(raw).as_deref(), Ok(want), "{raw:?}");
    }
}

#[test]
fn errors() {
    for bad in ["/%zz", "/%4", "/%", "/a%g0", "/%%41"] {
        assert_eq!(norm(bad), Err(PathError::BadPercentEncoding), "{bad:?}");
    }
    assert_eq!(norm("/a%00b"), Err(PathError::NulByte));
    assert_eq!(norm("/a\0b"), Err(PathError::NulByte));
    assert_eq!(norm("a/b"), Err(PathError::NotAbsolute));
    assert_eq!(norm("*"), Err(PathError::NotAbsolute));
    assert_eq!(norm("%2fa"), Err(PathError::NotAbsolute));
}

#[test]
fn escaped_slashes_are_refused_by_default() {
    for bad in [
        "/admin%2Fusers",
        "/admin%2fx",
        "/exact/secret%2f",
        "/public/..%2Fadmin",
        "/a%5Cb",
        "/a%5cb",
        "/a\\b",
        "/admin\\",
        "/%2F..",
        "/a/%2F/../b",
    ] {
        assert_eq!(norm(bad), Err(PathError::EscapedSlash), "{bad:?}");
        assert!(PathError::EscapedSlash.is_ambiguous());
    }
    // One decode by the upstream gives the data "%2F", not a separator.
    assert_eq!(norm("/a%252Fb").as_deref(), Ok("/a%252Fb"));
}

#[test]
fn escaped_slashes_decode_before_dot_segments() {
    let cases = [
        ("/admin%2Fusers", "/admin/users"),
        ("/admin%2fx", "/admin/x"),
        ("/public/..%2Fadmin", "/admin"),
        ("/public/..%5cadmin", "/admin"),
        ("/public\\..\\admin", "/admin"),
        ("/a%2F%2F%5C\\b", "/a/b"),
        ("/exact/secret%2f", "/exact/secret/"),
        ("%2fa", "NotAbsolute"),
    ];
    for (raw, want) in cases {
        let got = norm_in(DECODE, raw).unwrap_or_else(|e| format!("{e:?}"));
        assert_eq!(got, want, "{raw:?}");
    }
    assert_eq!(norm_in(DECODE, "/a;b"), Err(PathError::PathParam));
}

#[test]
fn path_params_are_refused_by_default() {
    for bad in [
        "/admin;x=1",
        "/admin;jsessionid=1/x",
        "/admin%3Bx",
        "/a/%3b",
        "/;",
    ] {
        assert_eq!(norm(bad), Err(PathError::PathParam), "{bad:?}");
        assert_eq!(norm_in(DECODE, bad), Err(PathError::PathParam), "{bad:?}");
    }
}

#[test]
fn path_params_strip_each_segment() {
    let cases = [
        ("/admin;x=1", "/admin"),
        ("/admin;jsessionid=1/x", "/admin/x"),
        ("/a;p/b;q=1;r/c", "/a/b/c"),
        ("/;x/admin", "/admin"),
        ("/admin/..;x/secret", "/secret"),
        ("/a/.;x/b", "/a/b"),
        // `%3B` is data in strip mode: the upstream's one decode gives a literal ';'.
        ("/admin%3Bx", "/admin%3Bx"),
        ("/a%3b;p", "/a%3B"),
        ("/;", "/"),
    ];
    for (raw, want) in cases {
        assert_eq!(norm_in(STRIP, raw).as_deref(), Ok(want), "{raw:?}");
    }
    // Parameter bytes are still checked.
    assert_eq!(norm_in(STRIP, "/a;%zz"), Err(PathError::BadPercentEncoding));
    assert_eq!(norm_in(STRIP, "/a;%00"), Err(PathError::NulByte));
    assert_eq!(norm_in(STRIP, "/a;\\x"), Err(PathError::EscapedSlash));
    assert_eq!(norm_in(STRIP, "/a;x%2Fy/z"), Err(PathError::EscapedSlash));
    assert_eq!(norm_in(STRIP, "/a;%C0%AF"), Err(PathError::BadUtf8));
    assert_eq!(
        norm_in(STRIP, "/admin.;x"),
        Err(PathError::TrailingDotOrSpace)
    );
    // With decoded slashes, a raw '\\' ends a parameter, `%2F` inside one does not.
    assert_eq!(norm_in(BOTH, "/admin;x\\y").as_deref(), Ok("/admin/y"));
    assert_eq!(norm_in(BOTH, "/admin;x%2Fy/z").as_deref(), Ok("/admin/z"));
    assert_eq!(norm_in(BOTH, "/p;x/..%2Fadmin").as_deref(), Ok("/admin"));
}

#[test]
fn trailing_dot_or_space_segments_are_refused() {
    for bad in [
        "/admin.",
        "/admin%2E",
        "/admin%2e/x",
        "/a/b../c",
        "/a/.../c",
        "/admin%20",
        "/admin%20/x",
        "/a/..%20/b",
        "/admin.%20",
        "/x/admin./",
    ] {
        for mode in [PathMode::default(), DECODE, STRIP, BOTH] {
            assert_eq!(
                norm_in(mode, bad),
                Err(PathError::TrailingDotOrSpace),
                "{bad:?}"
            );
        }
    }
    // Inside a segment they are ordinary bytes; whole dot segments are resolved.
    for ok in ["/a.b", "/a%20b", "/.well-known/x", "/a/..", "/a/."] {
        assert!(norm(ok).is_ok(), "{ok:?}");
    }
}

#[test]
fn decoded_bytes_must_be_utf8() {
    for bad in [
        "/%C0%AF",
        "/%c0%ae%c0%ae/admin",
        "/%C1%81",
        "/%E0%80%AF",
        "/%E0%9F%BF",
        "/%F0%80%80%AF",
        "/%F0%8F%BF%BF",
        "/%ED%A0%80",
        "/%F4%90%80%80",
        "/%F5%80%80%80",
        "/%FF",
        "/%80",
        "/%E2%82",
        "/%E2%82/",
        "/%C3",
        "/%C3a",
    ] {
        assert_eq!(norm(bad), Err(PathError::BadUtf8), "{bad:?}");
        assert!(!PathError::BadUtf8.is_ambiguous());
    }
    let cases = [
        ("/%C3%A9", "/%C3%A9"),
        ("/%e0%a0%80", "/%E0%A0%80"),
        ("/%F0%90%80%80", "/%F0%90%80%80"),
        ("/%F4%8F%BF%BF", "/%F4%8F%BF%BF"),
        ("/%ED%9F%BF", "/%ED%9F%BF"),
    ];
    for (raw, want) in cases {
        assert_eq!(norm(raw).as_deref(), Ok(want), "{raw:?}");
    }
    // IIS's `%u` form is not an escape at all.
    assert_eq!(norm("/%u002f"), Err(PathError::BadPercentEncoding));
}

#[test]
fn empty_path_is_root() {
    assert_eq!(norm("").as_deref(), Ok("/"));
}

#[test]
fn unchanged_reports_false_and_buffer_is_reused() {
    let mut out = Vec::with_capacity(64);
    let m = PathMode::default();
    assert_eq!(normalize_path(b"/a/b?c", m, &mut out), Ok(false));
    assert_eq!(out, b"/a/b?c");
    assert_eq!(normalize_path(b"/x/../y", m, &mut out), Ok(true));
    assert_eq!(out, b"/y");
    assert_eq!(
        normalize_path(b"/%zz", m, &mut out),
        Err(PathError::BadPercentEncoding)
    );
    assert_eq!(normalize_path(b"/q", m, &mut out), Ok(false));
    assert_eq!(out, b"/q");
}

#[test]
fn idempotent_on_random_paths() {
    let alphabet: &[&str] = &[
        "/", "a", ".", "..", "%2e", "%2E", "%2f", "%7e", "%41", "b", "//", "%25", ";", "%3b", "\\",
        "%5C", "%20", "%C3%A9",
    ];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut out = Vec::new();
    let mut again = Vec::new();
    let mut accepted = 0;
    for i in 0..8000 {
        let mode = [PathMode::default(), DECODE, STRIP, BOTH][i % 4];
        let mut raw = String::from("/");
        for _ in 0..12 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            raw.push_str(alphabet[(x % alphabet.len() as u64) as usize]);
        }
        if normalize_path(raw.as_bytes(), mode, &mut out).is_err() {
            continue;
        }
        accepted += 1;
        assert!(out.len() <= raw.len().max(1));
        assert!(out.starts_with(b"/"));
        assert!(!out.windows(2).any(|w| w == b"//"), "{raw:?}");
        assert!(
            !out.split(|&b| b == b'/').any(|s| s == b"." || s == b".."),
            "{raw:?}"
        );
        assert_eq!(
            normalize_path(&out, mode, &mut again),
            Ok(false),
            "{raw:?} -> {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    assert!(accepted > 500, "only {accepted} accepted");
}
