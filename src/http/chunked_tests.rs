//! Unit tests for `chunked.rs` (kept apart so the module stays short).

use super::*;

/// Outcome of decoding: consumed bytes, payload, done flag, or the error.
type Outcome = Result<(usize, Vec<u8>, bool), ChunkError>;

/// Feeds `input` in pieces of `step` bytes (0 = all at once) the way a
/// connection loop does: each call gets the unconsumed rest of what arrived.
fn decode_split(input: &[u8], step: usize) -> Outcome {
    let mut d = ChunkedDecoder::new(64, 256);
    let mut payload = Vec::new();
    let mut pos = 0;
    let mut arrived = if step == 0 { input.len() } else { 0 };
    loop {
        if step != 0 {
            arrived = (arrived + step).min(input.len());
        }
        let chunk = &input[pos..arrived];
        let n = d.feed(chunk, |r| payload.extend_from_slice(&chunk[r]))?;
        assert!(n <= chunk.len());
        pos += n;
        if d.is_done() || arrived == input.len() {
            assert_eq!(d.payload_bytes(), payload.len() as u64);
            return Ok((pos, payload, d.is_done()));
        }
    }
}

/// Decodes in one feed, then checks every split size gives the same answer.
fn decode(input: &[u8]) -> Outcome {
    let whole = decode_split(input, 0);
    for step in [1, 2, 3, 5, 7, 16] {
        assert_eq!(
            decode_split(input, step),
            whole,
            "step {step} on {:?}",
            String::from_utf8_lossy(input)
        );
    }
    whole
}

fn done(input: &[u8], payload: &[u8]) {
    let (n, p, is_done) = decode(input).unwrap();
    assert!(is_done, "{:?}", String::from_utf8_lossy(input));
    assert_eq!(n, input.len());
    assert_eq!(p, payload);
}

fn fails(input: &[u8], e: ChunkError) {
    assert_eq!(
        decode(input),
        Err(e),
        "{:?}",
        String::from_utf8_lossy(input)
    );
}

#[test]
fn basic_bodies() {
    done(b"0\r\n\r\n", b"");
    done(b"5\r\nhello\r\n0\r\n\r\n", b"hello");
    done(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world");
    done(
        b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n",
        b"0123456789abcdefghij",
    );
    done(b"0000000000000003\r\nabc\r\n0\r\n\r\n", b"abc");
    done(b"3\r\n\r\n\r\r\n0\r\n\r\n", b"\r\n\r");
}

#[test]
fn stops_at_end_of_body() {
    let input = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    let (n, p, is_done) = decode(input).unwrap();
    assert!(is_done);
    assert_eq!(n, input.len() - 16);
    assert_eq!(p, b"abc");
    let mut d = ChunkedDecoder::new(64, 64);
    assert_eq!(d.feed(input, |_| {}), Ok(input.len() - 16));
    assert_eq!(d.feed(b"more", |_| panic!("no data after done")), Ok(0));
    d.reset();
    assert!(!d.is_done());
    assert_eq!(d.payload_bytes(), 0);
    assert_eq!(d.feed(b"0\r\n\r\n", |_| {}), Ok(5));
}

#[test]
fn incomplete_bodies() {
    for partial in [
        &b""[..],
        b"5",
        b"5\r",
        b"5\r\nhel",
        b"5\r\nhello\r",
        b"5\r\nhello\r\n0\r\n\r",
        b"0\r\nX: y\r\n",
    ] {
        let (n, _, is_done) = decode(partial).unwrap();
        assert!(!is_done);
        assert_eq!(n, partial.len());
    }
}

#[test]
fn bad_sizes() {
    for bad in [
        &b"\r\n"[..],
        b" 5\r\nhello\r\n0\r\n\r\n",
        b"+5\r\nhello\r\n0\r\n\r\n",
        b"-5\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"g\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\rhello",
        b"5 \r\nhello\r\n0\r\n\r\n",
        b"5\t\r\n",
        b"00000000000000001\r\n",
        b"5;\r\n",
        b"5;a=\r\n",
        b"5;a=\"x\r\n",
        b"5;a b\r\n",
        b"5;a=b c\r\n",
        b"5;a=\"x\"y\r\n",
        b"5;=b\r\n",
        b"5;a=\"\x01\"\r\n",
        b"5;a\n",
        b"5,\r\n",
    ] {
        fails(bad, ChunkError::BadSize);
    }
}

#[test]
fn extensions_accepted() {
    done(b"5;foo\r\nhello\r\n0\r\n\r\n", b"hello");
    done(b"5;foo=bar\r\nhello\r\n0;last\r\n\r\n", b"hello");
    done(b"5 ; foo = bar ;baz\r\nhello\r\n0\r\n\r\n", b"hello");
    done(b"5;foo=\"a \\\" ;b\"\r\nhello\r\n0\r\n\r\n", b"hello");
    done(b"5;a=\"q\" ;b\r\nhello\r\n0\r\n\r\n", b"hello");
    done(b"5;a;b;c=d\r\nhello\r\n0\r\n\r\n", b"hello");
}

#[test]
fn bad_terminators() {
    fails(b"5\r\nhelloX\r\n0\r\n\r\n", ChunkError::BadTerminator);
    fails(b"5\r\nhello\n0\r\n\r\n", ChunkError::BadTerminator);
    fails(b"5\r\nhello\rX", ChunkError::BadTerminator);
    fails(b"5\r\nhello world\r\n0\r\n\r\n", ChunkError::BadTerminator);
}

#[test]
fn trailers() {
    done(b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nY:\r\n\r\n", b"abc");
    done(b"0\r\nX: a b\tc\r\n\r\n", b"");
    for bad in [
        &b"0\r\nX : y\r\n\r\n"[..],
        b"0\r\n: y\r\n\r\n",
        b"0\r\nNoColon\r\n\r\n",
        b"0\r\n y: z\r\n\r\n",
        b"0\r\nX: y\n\r\n",
        b"0\r\nX: y\r\r\n",
        b"0\r\nX: a\x00b\r\n\r\n",
        b"0\r\n\n",
        b"0\r\n\rX",
    ] {
        fails(bad, ChunkError::BadTrailer);
    }
}

#[test]
fn bounds() {
    let mut d = ChunkedDecoder::new(8, 10);
    assert_eq!(
        d.feed(b"5;abcdef\r\n", |_| {}),
        Err(ChunkError::LineTooLong)
    );
    let mut d = ChunkedDecoder::new(8, 10);
    assert_eq!(d.feed(b"5;abcd\r\nhello\r\n0\r\n\r\n", |_| {}), Ok(20));
    let mut d = ChunkedDecoder::new(8, 10);
    assert_eq!(
        d.feed(b"0\r\nX: 123456\r\n\r\n", |_| {}),
        Err(ChunkError::TrailersTooLarge)
    );
    let mut d = ChunkedDecoder::new(8, 10);
    assert_eq!(d.feed(b"0\r\nX: 12345\r\n\r\n", |_| {}), Ok(15));
    // A zero trailer bound still admits the final empty line.
    let mut d = ChunkedDecoder::new(8, 0);
    assert_eq!(d.feed(b"0\r\n\r\n", |_| {}), Ok(5));
    assert!(d.is_done());
}

#[test]
fn errors_are_sticky() {
    let mut d = ChunkedDecoder::new(64, 64);
    assert_eq!(d.feed(b"z", |_| {}), Err(ChunkError::BadSize));
    assert_eq!(d.feed(b"0\r\n\r\n", |_| {}), Err(ChunkError::BadSize));
    assert_eq!(d.feed(b"", |_| {}), Err(ChunkError::BadSize));
    assert!(!d.is_done());
}

#[test]
fn huge_sizes_do_not_overflow() {
    let mut d = ChunkedDecoder::new(64, 64);
    let mut seen = 0;
    assert_eq!(
        d.feed(b"ffffffffffffffff\r\nabc", |r| seen += r.len()),
        Ok(21)
    );
    assert_eq!(seen, 3);
    assert_eq!(d.payload_bytes(), 3);
}

#[test]
fn random_splits_match_single_feed() {
    // Deterministic xorshift so failures reproduce.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..300 {
        let mut body = Vec::new();
        let mut want = Vec::new();
        for _ in 0..(next() % 5) {
            let len = (next() % 20) as usize + 1;
            body.extend_from_slice(format!("{len:x}").as_bytes());
            if next() % 2 == 0 {
                body.extend_from_slice(b";e=\"v\"");
            }
            body.extend_from_slice(b"\r\n");
            for _ in 0..len {
                let b = (next() % 256) as u8;
                body.push(b);
                want.push(b);
            }
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"0\r\nT: v\r\n\r\ntail");
        let (n, got, is_done) = decode(&body).unwrap();
        assert!(is_done);
        assert_eq!(n, body.len() - 4);
        assert_eq!(got, want);
        // Corrupt one byte: whatever the verdict, every split must agree.
        let i = (next() as usize) % body.len();
        body[i] = (next() % 256) as u8;
        let _ = decode(&body);
    }
}
