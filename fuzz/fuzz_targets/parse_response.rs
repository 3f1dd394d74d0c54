//! Fuzzes `parse_response` for each request method that changes framing,
//! and the chunked decoder on what follows the head. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringway::http::{parse_response, BodyKind, Method, ResponseHead};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let mut head = ResponseHead::new();
    for method in [Method::Get, Method::Head, Method::Connect] {
        for max_head in [32, 64 * 1024] {
            match parse_response(data, max_head, method, &mut head) {
                Ok(true) => {
                    assert!(head.head_len <= max_head);
                    assert!((100..=999).contains(&head.status));
                    common::check_headers(data, head.status_line, &head.headers, head.head_len);
                    if head.body == BodyKind::UntilClose {
                        assert!(!head.keep_alive);
                    }
                    if method == Method::Head {
                        assert_eq!(head.body, BodyKind::Empty);
                    }
                    if head.body == BodyKind::Chunked {
                        common::check_chunked(&data[head.head_len..]);
                    }
                }
                Ok(false) => assert!(data.len() < max_head),
                Err(_) => {}
            }
        }
    }
});
