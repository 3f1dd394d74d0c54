//! Checks shared by the fuzz targets: span invariants of a parsed head and
//! split-independence of the chunked decoder. Any violation panics, which
//! libFuzzer reports as a crash.

use ringway::http::{
    normalize_path, ChunkedDecoder, EscapedSlashes, HeaderEntry, PathMode, PathParams, Span,
};

/// Every span lies inside the head and header lines tile it exactly.
#[allow(dead_code)]
pub fn check_headers(data: &[u8], first_line: Span, headers: &[HeaderEntry], head_len: usize) {
    assert!(head_len <= data.len());
    assert!(first_line.end as usize <= head_len);
    assert!(first_line.get(data).ends_with(b"\r\n"));
    let mut at = first_line.end;
    for h in headers {
        assert_eq!(h.line.start, at, "header lines must be contiguous");
        assert!(h.line.start <= h.name.start && h.name.end <= h.value.start);
        assert!(h.value.end <= h.line.end && h.line.end as usize <= head_len);
        assert!(h.line.get(data).ends_with(b"\r\n"));
        assert!(!h.name.is_empty());
        at = h.line.end;
    }
    assert_eq!(
        at as usize,
        head_len - 2,
        "last line must end before the empty line"
    );
}

/// Normalising twice changes nothing the second time.
// Only the request target has a path; each target compiles its own copy.
#[allow(dead_code)]
pub fn check_path(raw: &[u8], out: &mut Vec<u8>, again: &mut Vec<u8>) {
    for mode in path_modes() {
        if normalize_path(raw, mode, out).is_ok() {
            assert!(out.starts_with(b"/"));
            assert!(!out.windows(2).any(|w| w == b"//"));
            assert_eq!(normalize_path(out, mode, again), Ok(false), "not idempotent");
        }
    }
}

/// Every combination of `escaped_slashes` and `path_params`.
#[allow(dead_code)]
pub fn path_modes() -> [PathMode; 4] {
    let m = |escaped_slashes, path_params| PathMode {
        escaped_slashes,
        path_params,
    };
    [
        m(EscapedSlashes::Reject, PathParams::Reject),
        m(EscapedSlashes::Decode, PathParams::Reject),
        m(EscapedSlashes::Reject, PathParams::Strip),
        m(EscapedSlashes::Decode, PathParams::Strip),
    ]
}

/// Decodes `body` in one feed and byte by byte; both must agree exactly.
#[allow(dead_code)]
pub fn check_chunked(body: &[u8]) {
    let mut whole = ChunkedDecoder::new(64, 1024);
    let mut payload_whole = 0u64;
    let r1 = whole.feed(body, |r| {
        assert!(r.end <= body.len());
        payload_whole += r.len() as u64;
    });
    let mut split = ChunkedDecoder::new(64, 1024);
    let mut payload_split = 0u64;
    let mut consumed = 0usize;
    let mut r2 = Ok(0);
    for i in 0..body.len() {
        match split.feed(&body[i..i + 1], |r| payload_split += r.len() as u64) {
            Ok(n) => consumed += n,
            Err(e) => {
                r2 = Err(e);
                break;
            }
        }
        if split.is_done() {
            break;
        }
    }
    match (r1, r2) {
        (Ok(n), Ok(_)) => {
            assert_eq!(n, consumed);
            assert_eq!(whole.is_done(), split.is_done());
            assert_eq!(payload_whole, payload_split);
            assert_eq!(whole.payload_bytes(), payload_whole);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("split changed the verdict: {a:?} vs {b:?}"),
    }
}
