//! Fuzzes `parse_request` (several head limits), then on each parsed head the
//! configured header rules (`HeaderRules::apply`, every underscore mode) and
//! the client address behind trusted proxies, `normalize_path` on the parsed
//! path and the chunked decoder on what follows the head. Must never panic;
//! the assertions in `common` turn broken invariants into crashes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringway::http::{parse_request, BodyKind, RequestHead};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let mut head = RequestHead::new();
    let mut out = Vec::new();
    let mut again = Vec::new();
    for max_head in [32, 1024, 64 * 1024] {
        match parse_request(data, max_head, &mut head) {
            Ok(true) => {
                assert!(head.head_len <= max_head);
                assert!(head.headers.len() <= ringway::http::request::MAX_HEADERS);
                common::check_headers(data, head.request_line, &head.headers, head.head_len);
                assert!(head.target.start <= head.path.start && head.path.end <= head.target.end);
                assert!(!matches!(
                    head.body,
                    BodyKind::UntilClose | BodyKind::Length(0)
                ));
                common::check_header_rules(data, &head);
                common::check_path(head.path.get(data), &mut out, &mut again);
                if head.body == BodyKind::Chunked {
                    common::check_chunked(&data[head.head_len..]);
                }
            }
            Ok(false) => assert!(data.len() < max_head),
            Err(_) => {}
        }
    }
    // The raw input also exercises the path and chunked code directly, which
    // reaches far more of them than waiting for a valid head to wrap them.
    common::check_path(data, &mut out, &mut again);
    common::check_chunked(data);
});
