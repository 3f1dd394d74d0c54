//! Strict base64url (RFC 4648 §5, no padding) decoding for JWT segments and
//! JWK members.
//!
//! Owns: rejecting anything a lenient decoder would accept (padding, the
//! standard alphabet's `+` and `/`, whitespace, non-zero trailing bits), so
//! one token has exactly one encoding. Must never: allocate beyond the
//! caller's output buffer.

/// Why a base64url string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadBase64;

fn sextet(b: u8) -> Result<u32, BadBase64> {
    Ok(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return Err(BadBase64),
    } as u32)
}

/// Decodes unpadded base64url `input`, appending to `out`.
pub fn decode_into(input: &[u8], out: &mut Vec<u8>) -> Result<(), BadBase64> {
    if input.len() % 4 == 1 {
        return Err(BadBase64);
    }
    out.reserve(input.len() * 3 / 4);
    let mut chunks = input.chunks_exact(4);
    for c in &mut chunks {
        let n = sextet(c[0])? << 18 | sextet(c[1])? << 12 | sextet(c[2])? << 6 | sextet(c[3])?;
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    let rest = chunks.remainder();
    match rest.len() {
        0 => {}
        2 => {
            let n = sextet(rest[0])? << 18 | sextet(rest[1])? << 12;
            // Non-zero unused bits would give a second spelling of the same bytes.
            if n & 0xffff != 0 {
                return Err(BadBase64);
            }
            out.push((n >> 16) as u8);
        }
        _ => {
            let n = sextet(rest[0])? << 18 | sextet(rest[1])? << 12 | sextet(rest[2])? << 6;
            if n & 0xff != 0 {
                return Err(BadBase64);
            }
            out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8]);
        }
    }
    Ok(())
}

/// Decodes unpadded base64url into a new vector.
pub fn decode(input: &[u8]) -> Result<Vec<u8>, BadBase64> {
    let mut out = Vec::new();
    decode_into(input, &mut out).map(|()| out)
}

/// Encodes bytes as unpadded base64url (tests, benches and tooling mint tokens with it).
pub fn encode(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        let take = c.len() + 1;
        for i in 0..take {
            s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_lenient_forms() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(decode(encode(&data).as_bytes()), Ok(data));
        }
        assert_eq!(decode(b"aGk"), Ok(b"hi".to_vec()));
        for bad in [&b"aGk="[..], b"a", b"aGl", b"a+b/", b"aG k", b"aGj"] {
            assert_eq!(
                decode(bad),
                Err(BadBase64),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
