//! API keys: only SHA-256 hashes live in the configuration, and a presented
//! key is hashed and compared with every configured hash in constant time.
//!
//! Must never: stop comparing at the first matching or mismatching byte or
//! key (the time taken must not tell which key, or how much of one, matched),
//! or keep the plaintext of a presented key beyond the request.

use ring::digest;

/// One configured key.
#[derive(Clone, Debug)]
pub struct ApiKey {
    /// `id`: names the key in logs and for rate limiting (`api_key`).
    pub id: Box<str>,
    /// SHA-256 of the key.
    pub sha256: [u8; 32],
    /// `scopes` the key grants.
    pub scopes: Box<[Box<str>]>,
}

/// Equality of two 32-byte hashes without data-dependent branches.
#[inline(never)]
pub fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for i in 0..32 {
        diff |= a[i] ^ b[i];
    }
    // black_box keeps the compiler from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// The index of the key whose hash matches `presented`, checking all keys.
pub fn find(keys: &[ApiKey], presented: &[u8]) -> Option<usize> {
    let d = digest::digest(&digest::SHA256, presented);
    let mut h = [0u8; 32];
    h.copy_from_slice(d.as_ref());
    let mut found = None;
    for (i, k) in keys.iter().enumerate() {
        if ct_eq(&k.sha256, &h) {
            found = Some(i);
        }
    }
    found
}

/// Parses 64 hex digits (either case) into a hash.
pub fn parse_sha256_hex(s: &str) -> Result<[u8; 32], String> {
    let b = s.as_bytes();
    if b.len() != 64 || !b.iter().all(u8::is_ascii_hexdigit) {
        return Err(
            "expected 64 hex digits (the SHA-256 of the key, e.g. `printf %s KEY | sha256sum`)"
                .into(),
        );
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hex = std::str::from_utf8(pair).unwrap_or("00");
        out[i] = u8::from_str_radix(hex, 16).unwrap_or(0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_hash_only() {
        let hex = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"; // "foo"
        let keys = [
            ApiKey {
                id: "a".into(),
                sha256: [0; 32],
                scopes: Box::default(),
            },
            ApiKey {
                id: "b".into(),
                sha256: parse_sha256_hex(hex).expect("hex"),
                scopes: Box::default(),
            },
        ];
        assert_eq!(find(&keys, b"foo"), Some(1));
        assert_eq!(find(&keys, b"fo"), None);
        assert_eq!(find(&keys, hex.as_bytes()), None);
        assert!(parse_sha256_hex("xyz").is_err());
        assert!(ct_eq(&[1; 32], &[1; 32]) && !ct_eq(&[1; 32], &[2; 32]));
    }
}
