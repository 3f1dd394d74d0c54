//! Request path normalisation, as Envoy's `normalize_path` + `merge_slashes`:
//! decode escaped unreserved bytes, canonicalise other escapes, merge slash
//! runs, then remove dot segments (RFC 3986 5.2.4).
//!
//! Must never: decode an escape into a separator or NUL (`%2F` stays `%2F`),
//! allocate (the caller passes a reused buffer), or panic on any input.

/// Why a path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// A '%' not followed by two hex digits.
    BadPercentEncoding,
    /// `%00` or a literal NUL byte.
    NulByte,
    /// The path does not start with '/'.
    NotAbsolute,
}

/// Normalises a request path (no query) into `out` (cleared first, reused by the
/// caller). Returns Ok(true) when `out` differs from `raw`.
///
/// An empty `raw` (absolute-form target without a path) normalises to "/".
pub fn normalize_path(raw: &[u8], out: &mut Vec<u8>) -> Result<bool, PathError> {
    out.clear();
    if raw.is_empty() {
        out.push(b'/');
        return Ok(true);
    }
    if raw[0] != b'/' {
        return Err(PathError::NotAbsolute);
    }
    decode_and_merge(raw, out)?;
    remove_dot_segments(out);
    Ok(out.as_slice() != raw)
}

/// Pass 1: percent-decoding of unreserved bytes, uppercase hex for the
/// rest, and collapsing of '/' runs. Never makes the path longer.
fn decode_and_merge(raw: &[u8], out: &mut Vec<u8>) -> Result<(), PathError> {
    out.reserve(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        match b {
            0 => return Err(PathError::NulByte),
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    raw.get(i + 1).copied().and_then(hex_val),
                    raw.get(i + 2).copied().and_then(hex_val),
                ) else {
                    return Err(PathError::BadPercentEncoding);
                };
                let decoded = (hi << 4) | lo;
                if decoded == 0 {
                    return Err(PathError::NulByte);
                }
                if is_unreserved(decoded) {
                    out.push(decoded);
                } else {
                    out.extend_from_slice(&[b'%', HEX_UPPER[hi as usize], HEX_UPPER[lo as usize]]);
                }
                i += 3;
            }
            b'/' if out.last() == Some(&b'/') => i += 1,
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(())
}

/// Pass 2, in place: RFC 3986 5.2.4 over a path that starts with '/' and has
/// no '//' runs. Each segment is written back as "/seg", never ahead of the
/// read position, so the copy cannot clobber unread input.
fn remove_dot_segments(path: &mut Vec<u8>) {
    let len = path.len();
    let mut w = 0; // path[..w] is the output so far
    let mut r = 1; // start of the current segment (just after its '/')
    loop {
        let end = path[r..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(len, |p| r + p);
        let last = end == len;
        match &path[r..end] {
            b"." => {}
            b".." => {
                w = path[..w].iter().rposition(|&b| b == b'/').unwrap_or(0);
            }
            _ => {
                path[w] = b'/';
                path.copy_within(r..end, w + 1);
                w += 1 + (end - r);
                if last {
                    break;
                }
                r = end + 1;
                continue;
            }
        }
        if last {
            // A trailing "." or ".." leaves a directory: "/a/b/.." is "/a/".
            path[w] = b'/';
            w += 1;
            break;
        }
        r = end + 1;
    }
    path.truncate(w.max(1));
    if w == 0 {
        path[0] = b'/';
    }
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 unreserved: ALPHA DIGIT "-" "." "_" "~".
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
