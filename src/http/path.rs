//! Request path normalisation, as Envoy's `normalize_path` + `merge_slashes`:
//! decode escaped unreserved bytes, canonicalise other escapes, merge slash
//! runs, then remove dot segments (RFC 3986 5.2.4). On top of that, every
//! spelling an upstream may read as another path is refused or resolved
//! here, once, so that routing and the upstream see one path (see
//! `docs/security.md`, "Paths"): `%2F`, `%5C` and `\` (`EscapedSlashes`),
//! `;` parameters (`PathParams`), segments ending in `.` or `%20`, and
//! percent-decoded bytes that are not UTF-8 (overlong `%C0%AF` included).
//!
//! Must never: turn an escape into a separator unless the mode says so,
//! decode into NUL, allocate (the caller passes a reused buffer), or panic
//! on any input.

/// Why a path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// A '%' not followed by two hex digits.
    BadPercentEncoding,
    /// `%00` or a literal NUL byte.
    NulByte,
    /// The path does not start with '/'.
    NotAbsolute,
    /// Decoded bytes that are not UTF-8 (including overlong forms such as `%C0%AF`).
    BadUtf8,
    /// `%2F`, `%5C` or `\` under `escaped_slashes = "reject"`.
    EscapedSlash,
    /// `;` or `%3B` under `path_params = "reject"`.
    PathParam,
    /// A segment ending in `.` or `%20`, which Windows servers strip.
    TrailingDotOrSpace,
}

impl PathError {
    /// True for spellings that are valid but read differently by some
    /// upstreams (answered `ambiguous_path`, not `invalid_path`).
    pub fn is_ambiguous(self) -> bool {
        matches!(
            self,
            PathError::EscapedSlash | PathError::PathParam | PathError::TrailingDotOrSpace
        )
    }
}

/// `server.escaped_slashes`: what `%2F`, `%5C` and a raw `\` mean.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EscapedSlashes {
    /// Refuse the request (the default).
    #[default]
    Reject,
    /// Each is a `/`, before slashes are merged and dot segments removed.
    Decode,
}

/// `server.path_params`: what a `;` in the path means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PathParams {
    /// Refuse `;` and `%3B` (the default).
    #[default]
    Reject,
    /// Drop each segment's `;...` (up to the next separator); `%3B` is data.
    Strip,
}

/// The two normalisation choices of `[server]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathMode {
    /// `escaped_slashes`.
    pub escaped_slashes: EscapedSlashes,
    /// `path_params`.
    pub path_params: PathParams,
}

/// Normalises a request path (no query) into `out` (cleared first, reused by the
/// caller). Returns Ok(true) when `out` differs from `raw`.
///
/// An empty `raw` (absolute-form target without a path) normalises to "/".
pub fn normalize_path(raw: &[u8], mode: PathMode, out: &mut Vec<u8>) -> Result<bool, PathError> {
    out.clear();
    if raw.is_empty() {
        out.push(b'/');
        return Ok(true);
    }
    if raw[0] != b'/' {
        return Err(PathError::NotAbsolute);
    }
    decode_and_merge(raw, mode, out)?;
    remove_dot_segments(out)?;
    Ok(out.as_slice() != raw)
}

/// Pass 1: percent-decoding of unreserved bytes, uppercase hex for the
/// rest, the slash and parameter modes, UTF-8 validation of the decoded
/// bytes, and collapsing of '/' runs. Never makes the path longer.
fn decode_and_merge(raw: &[u8], mode: PathMode, out: &mut Vec<u8>) -> Result<(), PathError> {
    out.reserve(raw.len());
    let decode_slashes = mode.escaped_slashes == EscapedSlashes::Decode;
    let mut utf8 = Utf8::default();
    // Inside a `;` parameter (strip mode): bytes are checked, not written.
    let mut in_param = false;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        // `v` is the byte an upstream sees after one percent-decode.
        let (v, escaped, step) = if b == b'%' {
            let (Some(hi), Some(lo)) = (
                raw.get(i + 1).copied().and_then(hex_val),
                raw.get(i + 2).copied().and_then(hex_val),
            ) else {
                return Err(PathError::BadPercentEncoding);
            };
            ((hi << 4) | lo, true, 3)
        } else {
            (b, false, 1)
        };
        i += step;
        if v == 0 {
            return Err(PathError::NulByte);
        }
        utf8.feed(v)?;
        let separator = match v {
            b'/' if !escaped => true,
            b'/' | b'\\' if !decode_slashes => return Err(PathError::EscapedSlash),
            // Parameters end at a raw separator only (as Tomcat and Spring
            // strip them before decoding), so `;x%2Fy` is one parameter.
            b'\\' if !escaped => true,
            b'/' | b'\\' => !in_param,
            _ => false,
        };
        if separator {
            in_param = false;
            if out.last() != Some(&b'/') {
                out.push(b'/');
            }
            continue;
        }
        if in_param {
            continue;
        }
        if v == b';' {
            match mode.path_params {
                PathParams::Reject => return Err(PathError::PathParam),
                PathParams::Strip if !escaped => {
                    in_param = true;
                    continue;
                }
                PathParams::Strip => {}
            }
        }
        if !escaped || is_unreserved(v) {
            out.push(v);
        } else {
            out.extend_from_slice(&[
                b'%',
                HEX_UPPER[(v >> 4) as usize],
                HEX_UPPER[(v & 15) as usize],
            ]);
        }
    }
    utf8.finish()
}

/// Incremental UTF-8 check (RFC 3629 table: no overlong forms, no
/// surrogates, nothing above U+10FFFF) over the decoded bytes.
#[derive(Default)]
struct Utf8 {
    /// Continuation bytes still expected.
    need: u8,
    /// Bounds of the next continuation byte.
    lo: u8,
    hi: u8,
}

impl Utf8 {
    #[inline]
    fn feed(&mut self, b: u8) -> Result<(), PathError> {
        if self.need > 0 {
            if b < self.lo || b > self.hi {
                return Err(PathError::BadUtf8);
            }
            self.need -= 1;
            (self.lo, self.hi) = (0x80, 0xBF);
            return Ok(());
        }
        (self.need, self.lo, self.hi) = match b {
            0x00..=0x7F => return Ok(()),
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xE1..=0xEF => (2, 0x80, 0xBF),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return Err(PathError::BadUtf8),
        };
        Ok(())
    }

    fn finish(&self) -> Result<(), PathError> {
        match self.need {
            0 => Ok(()),
            _ => Err(PathError::BadUtf8),
        }
    }
}

/// Pass 2, in place: RFC 3986 5.2.4 over a path that starts with '/' and has
/// no '//' runs. Each segment is written back as "/seg", never ahead of the
/// read position, so the copy cannot clobber unread input.
fn remove_dot_segments(path: &mut Vec<u8>) -> Result<(), PathError> {
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
            seg => {
                if seg.last() == Some(&b'.') || seg.ends_with(b"%20") {
                    return Err(PathError::TrailingDotOrSpace);
                }
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
    Ok(())
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
