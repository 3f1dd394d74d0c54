//! `parse_traceparent` against every way to spell the header wrong, and
//! `TraceContext::start`'s choices: continue or restart, parent-based and
//! ratio sampling, and the line sent upstream.

use super::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

const TRACE_BYTES: [u8; 16] = [
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
];
const PARENT_BYTES: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];

fn parse(s: &str) -> Option<([u8; 16], [u8; 8], u8)> {
    parse_traceparent(s.as_bytes())
}

fn invalid(cases: &[String]) {
    for c in cases {
        assert_eq!(parse(c), None, "accepted {c:?}");
    }
}

#[test]
fn the_spec_example_parses() {
    assert_eq!(parse(VALID), Some((TRACE_BYTES, PARENT_BYTES, 0x01)));
    let unsampled = format!("00-{TRACE}-{PARENT}-00");
    assert_eq!(parse(&unsampled), Some((TRACE_BYTES, PARENT_BYTES, 0x00)));
    // Unknown flag bits are carried in the result; only bit 0 means sampled.
    let flags = format!("00-{TRACE}-{PARENT}-ff");
    assert_eq!(parse(&flags).map(|p| p.2), Some(0xff));
}

#[test]
fn uppercase_hex_is_invalid() {
    invalid(&[
        VALID.to_ascii_uppercase(),
        format!("00-{}-{PARENT}-01", TRACE.to_ascii_uppercase()),
        format!("00-{TRACE}-{}-01", "00F067AA0BA902B7"),
        format!("00-{TRACE}-{PARENT}-0A"),
        format!("0A-{TRACE}-{PARENT}-01"),
        format!("00-4bf92f3577b34da6a3ce929d0e0e473A-{PARENT}-01"),
    ]);
}

#[test]
fn non_hex_characters_are_invalid() {
    for (i, c) in VALID.char_indices().filter(|(_, c)| *c != '-') {
        for bad in ['g', 'z', 'x', '.', '+', '_', '\0', 'é'] {
            let mut s = VALID.to_owned();
            s.replace_range(i..i + c.len_utf8(), &bad.to_string());
            assert_eq!(parse(&s), None, "accepted {s:?}");
        }
    }
}

#[test]
fn wrong_lengths_are_invalid() {
    invalid(&[
        String::new(),
        "00".into(),
        "00-".into(),
        VALID[..54].to_owned(),
        format!("{VALID}1"),
        format!("{VALID}-"),
        format!("{VALID}-00"),
        format!("00-{}-{PARENT}-01", &TRACE[..31]),
        format!("00-{TRACE}0-{PARENT}-01"),
        format!("00-{TRACE}-{}-01", &PARENT[..15]),
        format!("00-{TRACE}-{PARENT}0-01"),
        format!("00-{TRACE}-{PARENT}-1"),
        format!("00-{TRACE}-{PARENT}-001"),
        format!("0-{TRACE}-{PARENT}-01"),
        format!("000-{TRACE}-{PARENT}-01"),
        format!("00-{TRACE}-{PARENT}"),
    ]);
}

#[test]
fn dashes_out_of_place_are_invalid() {
    invalid(&[
        format!("00{TRACE}-{PARENT}-01-"),
        format!("00-{TRACE}{PARENT}-01--"),
        format!("00-{TRACE}-{PARENT}01-"),
        format!("00--{TRACE}-{PARENT}-01"),
        format!("00-{TRACE}--{PARENT}-01"),
        format!("00-{TRACE}-{PARENT}--01"),
        format!("00_{TRACE}_{PARENT}_01"),
        format!("00-{TRACE}-{PARENT}_01"),
        format!("00:{TRACE}-{PARENT}-01"),
        "-------------------------------------------------------".into(),
    ]);
}

#[test]
fn whitespace_inside_is_invalid_and_around_is_not_part_of_the_value() {
    invalid(&[
        format!("00- {}-{PARENT}-01", &TRACE[1..]),
        format!("00-{TRACE} -{}-01", &PARENT[1..]),
        format!("00 {TRACE}-{PARENT}-01"),
        format!("00-{TRACE}-{PARENT}-0 1"),
        format!("00-{TRACE}\t{PARENT}-01"),
        format!("00-{TRACE}-{PARENT}-01\r\n"),
        format!("\n{VALID}"),
        format!("{VALID} x"),
    ]);
    // Leading and trailing spaces and tabs are HTTP's optional whitespace.
    for s in [
        format!(" {VALID}"),
        format!("{VALID}\t"),
        format!(" \t{VALID} "),
    ] {
        assert_eq!(parse(&s), Some((TRACE_BYTES, PARENT_BYTES, 1)), "{s:?}");
    }
}

#[test]
fn zero_ids_are_invalid() {
    invalid(&[
        format!("00-{}-{PARENT}-01", "0".repeat(32)),
        format!("00-{TRACE}-{}-01", "0".repeat(16)),
        format!("00-{}-{}-01", "0".repeat(32), "0".repeat(16)),
    ]);
    // Zero halves are fine: only the all-zero id is reserved.
    let half = format!("00-{}{}-{PARENT}-01", "0".repeat(16), &TRACE[16..]);
    assert!(parse(&half).is_some());
}

#[test]
fn version_ff_is_invalid() {
    invalid(&[
        format!("ff-{TRACE}-{PARENT}-01"),
        format!("ff-{TRACE}-{PARENT}-01-extra"),
    ]);
}

#[test]
fn later_versions_read_the_first_55_characters() {
    for v in ["01", "cc", "fe"] {
        let exact = format!("{v}-{TRACE}-{PARENT}-01");
        assert_eq!(
            parse(&exact),
            Some((TRACE_BYTES, PARENT_BYTES, 1)),
            "{exact}"
        );
        let longer = format!("{v}-{TRACE}-{PARENT}-00-what-the-future-will-bring");
        assert_eq!(
            parse(&longer),
            Some((TRACE_BYTES, PARENT_BYTES, 0)),
            "{longer}"
        );
        let bare_dash = format!("{v}-{TRACE}-{PARENT}-01-");
        assert!(parse(&bare_dash).is_some(), "{bare_dash}");
        // What follows the 55 characters must start with a dash.
        invalid(&[
            format!("{v}-{TRACE}-{PARENT}-01x"),
            format!("{v}-{TRACE}-{PARENT}-011"),
            format!("{v}-{TRACE}-{PARENT}-01.future"),
        ]);
        // And the first 55 are held to version 00's rules.
        invalid(&[
            format!("{v}-{}-{PARENT}-01", "0".repeat(32)),
            format!("{v}-{TRACE}-{PARENT}-0G"),
            format!("{v}-{}-{PARENT}-01", TRACE.to_ascii_uppercase()),
        ]);
    }
}

#[test]
fn non_ascii_bytes_are_invalid() {
    let mut bytes = VALID.as_bytes().to_vec();
    bytes[10] = 0xc3;
    assert_eq!(parse_traceparent(&bytes), None);
    assert_eq!(parse_traceparent(&[0xff; 55]), None);
}

#[test]
fn a_valid_header_is_continued_with_a_fresh_span() {
    let ids = TraceIds::from_seed(7);
    let ctx = TraceContext::start(Some(VALID.as_bytes()), &ids, 0.0);
    assert_eq!(ctx.trace_id, TRACE_BYTES);
    assert_eq!(ctx.parent_id, Some(PARENT_BYTES));
    assert_ne!(ctx.span_id, PARENT_BYTES);
    assert_ne!(ctx.span_id, [0; 8]);
    assert!(ctx.sampled, "the parent's flag wins over a ratio of 0");
    assert!(ctx.continues_trace());
    let again = TraceContext::start(Some(VALID.as_bytes()), &ids, 0.0);
    assert_ne!(
        again.span_id, ctx.span_id,
        "every request gets its own span"
    );
}

#[test]
fn an_unsampled_parent_is_followed() {
    let ids = TraceIds::from_seed(7);
    let header = format!("00-{TRACE}-{PARENT}-00");
    let ctx = TraceContext::start(Some(header.as_bytes()), &ids, 1.0);
    assert!(!ctx.sampled, "the parent's flag wins over a ratio of 1");
    assert_eq!(ctx.flags(), 0);
}

#[test]
fn absent_or_invalid_headers_start_a_new_trace() {
    let ids = TraceIds::from_seed(7);
    let bad = VALID.to_ascii_uppercase();
    for incoming in [None, Some(bad.as_bytes()), Some(&b""[..])] {
        let ctx = TraceContext::start(incoming, &ids, 1.0);
        assert_ne!(ctx.trace_id, TRACE_BYTES);
        assert_ne!(ctx.trace_id, [0; 16]);
        assert_eq!(ctx.parent_id, None);
        assert!(!ctx.continues_trace());
        assert!(ctx.sampled);
        assert_eq!(ctx.parent_hex(), None);
    }
    let a = TraceContext::start(None, &ids, 1.0);
    let b = TraceContext::start(None, &ids, 1.0);
    assert_ne!(a.trace_id, b.trace_id);
}

#[test]
fn new_traces_are_sampled_by_the_trace_ids_low_bytes() {
    let mut id = [0xffu8; 16];
    id[8..].copy_from_slice(&(u64::MAX / 4).to_be_bytes());
    assert!(ratio_samples(&id, 0.5));
    assert!(!ratio_samples(&id, 0.2));
    assert!(ratio_samples(&id, 0.26));
    // The high bytes play no part.
    id[..8].copy_from_slice(&[0; 8]);
    assert!(ratio_samples(&id, 0.26) && !ratio_samples(&id, 0.2));
    let max = [0xffu8; 16];
    assert!(ratio_samples(&max, 1.0), "ratio 1 samples every id");
    let mut min = [0u8; 16];
    min[15] = 1;
    assert!(!ratio_samples(&min, 0.0), "ratio 0 samples none");
    assert!(!ratio_samples(&min, f64::NAN));
    assert!(ratio_samples(&min, 1e-18));
}

#[test]
fn the_sampled_share_follows_the_ratio() {
    let ids = TraceIds::from_seed(42);
    let n = 20_000;
    let sampled = (0..n)
        .filter(|_| TraceContext::start(None, &ids, 0.1).sampled)
        .count();
    // Binomial(20000, 0.1): sd ≈ 42, so ±300 is beyond 7 sd.
    assert!((1_700..=2_300).contains(&sampled), "{sampled} of {n}");
    let none = (0..1000)
        .filter(|_| TraceContext::start(None, &ids, 0.0).sampled)
        .count();
    assert_eq!(none, 0);
}

#[test]
fn every_hop_with_the_same_ratio_agrees() {
    let ids = TraceIds::from_seed(3);
    for _ in 0..1000 {
        let first = TraceContext::start(None, &ids, 0.3);
        let hop = ratio_samples(&first.trace_id, 0.3);
        assert_eq!(first.sampled, hop);
    }
}

#[test]
fn one_traceparent_line_with_our_span_as_parent() {
    let ids = TraceIds::from_seed(11);
    let ctx = TraceContext::start(Some(VALID.as_bytes()), &ids, 1.0);
    let line = ctx.traceparent_line();
    let text = std::str::from_utf8(&line).expect("ascii");
    let span = std::str::from_utf8(&ctx.span_hex())
        .expect("ascii")
        .to_owned();
    assert_eq!(text, format!("traceparent: 00-{TRACE}-{span}-01\r\n"));
    assert_eq!(line.len(), TRACEPARENT_LINE_LEN);
    let mut v = Vec::new();
    ctx.write_traceparent(&mut v);
    assert_eq!(v, line);
    let mut b = bytes::BytesMut::new();
    ctx.write_traceparent(&mut b);
    assert_eq!(&b[..], &line[..]);
    // What we send parses back to our own span.
    let value = ctx.traceparent_value();
    assert_eq!(
        parse_traceparent(&value),
        Some((TRACE_BYTES, ctx.span_id, 1))
    );
    let unsampled = TraceContext {
        sampled: false,
        ..ctx
    };
    assert!(unsampled.traceparent_line().ends_with(b"-00\r\n"));
}

#[test]
fn hex_forms_for_logs_and_request_ids() {
    let ids = TraceIds::from_seed(5);
    let ctx = TraceContext::start(Some(VALID.as_bytes()), &ids, 1.0);
    assert_eq!(&ctx.trace_hex(), TRACE.as_bytes());
    assert_eq!(
        ctx.parent_hex().as_ref().map(|p| &p[..]),
        Some(PARENT.as_bytes())
    );
    let span = ctx.span_hex();
    assert!(span
        .iter()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)));
    let mut back = [0u8; 8];
    for (i, b) in back.iter_mut().enumerate() {
        let pair = std::str::from_utf8(&span[2 * i..2 * i + 2]).expect("ascii");
        *b = u8::from_str_radix(pair, 16).expect("hex");
    }
    assert_eq!(back, ctx.span_id);
    assert_eq!(ctx.trace_hex().len(), crate::observe::request_id::ID_LEN);
}
