//! Unit tests for `path.rs` (kept apart so the module stays short).

use super::*;

fn norm(raw: &str) -> Result<String, PathError> {
    let mut out = Vec::new();
    let changed = normalize_path(raw.as_bytes(), &mut out)?;
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
        ("/a%2fb", "/a%2Fb"),
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
        ("/a/b../c", "/a/b../c"),
        ("/a/.../c", "/a/.../c"),
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
        ("/%2f%2F", "/%2F%2F"),
        ("/%5c..", "/%5C.."),
        ("/a%20b", "/a%20b"),
        ("/a%3fb", "/a%3Fb"),
        ("/%25", "/%25"),
        ("/%252e", "/%252e"),
        ("/%e2%82%ac", "/%E2%82%AC"),
        ("/%2F..", "/%2F.."),
        ("/a/%2F/../b", "/a/b"),
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
fn empty_path_is_root() {
    assert_eq!(norm("").as_deref(), Ok("/"));
}

#[test]
fn unchanged_reports_false_and_buffer_is_reused() {
    let mut out = Vec::with_capacity(64);
    assert_eq!(normalize_path(b"/a/b?c", &mut out), Ok(false));
    assert_eq!(out, b"/a/b?c");
    assert_eq!(normalize_path(b"/x/../y", &mut out), Ok(true));
    assert_eq!(out, b"/y");
    assert_eq!(
        normalize_path(b"/%zz", &mut out),
        Err(PathError::BadPercentEncoding)
    );
    assert_eq!(normalize_path(b"/q", &mut out), Ok(false));
    assert_eq!(out, b"/q");
}

#[test]
fn idempotent_on_random_paths() {
    let alphabet: &[&str] = &[
        "/", "a", ".", "..", "%2e", "%2E", "%2f", "%7e", "%41", "b", "//", "%25",
    ];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut out = Vec::new();
    let mut again = Vec::new();
    for _ in 0..2000 {
        let mut raw = String::from("/");
        for _ in 0..12 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            raw.push_str(alphabet[(x % alphabet.len() as u64) as usize]);
        }
        normalize_path(raw.as_bytes(), &mut out).unwrap();
        assert!(out.len() <= raw.len().max(1));
        assert!(out.starts_with(b"/"));
        assert!(!out.windows(2).any(|w| w == b"//"), "{raw:?}");
        assert!(
            !out.split(|&b| b == b'/').any(|s| s == b"." || s == b".."),
            "{raw:?}"
        );
        assert_eq!(
            normalize_path(&out, &mut again),
            Ok(false),
            "{raw:?} -> {:?}",
            String::from_utf8_lossy(&out)
        );
    }
}
