//! The `Validate` policy: required headers, allowed content types, a body
//! size bound and well-formed JSON, all checked before any upstream is
//! contacted.
//!
//! Head checks run in phase 5 with the other policies. The JSON check needs
//! the body: the pipeline reads it into the connection buffer (bounded by
//! `max_body_bytes`, which is why such routes need `Content-Length`) and
//! `check_body` parses it in place with serde's `IgnoredAny`, which builds
//! no values and copies nothing. Must never: buffer more than
//! `max_body_bytes`, or accept a body it did not fully see.

use serde::de::IgnoredAny;

use super::Denied;
use crate::error::ErrorCode;
use crate::http::{BodyKind, RequestHead};

/// A compiled `validate` table.
#[derive(Clone, Debug, Default)]
pub struct ValidateRule {
    /// Lowercase media types (`type/subtype`); empty = any.
    pub content_types: Box<[Box<[u8]>]>,
    /// Lowercase header names that must be present.
    pub required_headers: Box<[Box<[u8]>]>,
    /// The body must be well-formed JSON.
    pub json: bool,
    /// Largest body accepted on this route (requires Content-Length).
    pub max_body_bytes: Option<u64>,
}

impl ValidateRule {
    /// How many body bytes the pipeline must buffer before `check_body`.
    pub fn body_to_buffer(&self, head: &RequestHead) -> Option<u64> {
        match head.body {
            BodyKind::Length(n) if self.json && n > 0 => Some(n),
            _ => None,
        }
    }
}

fn deny(code: ErrorCode) -> Denied {
    Denied {
        code,
        headers: String::new(),
    }
}

/// The checks that need only the head.
pub fn check_head(rule: &ValidateRule, head: &RequestHead, buf: &[u8]) -> Result<(), Denied> {
    let has = |name: &[u8]| {
        head.headers
            .iter()
            .any(|h| h.name.get(buf).eq_ignore_ascii_case(name))
    };
    if !rule.required_headers.iter().all(|n| has(n)) {
        return Err(deny(ErrorCode::MissingHeader));
    }
    let has_body = head.body != BodyKind::Empty;
    if let (Some(max), BodyKind::Length(n)) = (rule.max_body_bytes, head.body) {
        if n > max {
            return Err(deny(ErrorCode::BodyTooLarge));
        }
    }
    if head.body == BodyKind::Chunked && (rule.json || rule.max_body_bytes.is_some()) {
        return Err(deny(ErrorCode::LengthRequired));
    }
    if has_body && !rule.content_types.is_empty() {
        let ct = head
            .headers
            .iter()
            .find(|h| h.name.get(buf).eq_ignore_ascii_case(b"content-type"))
            .map(|h| media_type(h.value.get(buf)));
        let ok = ct.is_some_and(|ct| {
            rule.content_types
                .iter()
                .any(|t| t.eq_ignore_ascii_case(ct))
        });
        if !ok {
            return Err(deny(ErrorCode::UnsupportedMediaType));
        }
    }
    Ok(())
}

/// The body check, on the complete body.
pub fn check_body(rule: &ValidateRule, body: &[u8]) -> Result<(), Denied> {
    if rule.json && serde_json::from_slice::<IgnoredAny>(body).is_err() {
        return Err(deny(ErrorCode::InvalidJson));
    }
    Ok(())
}

/// `type/subtype` of a Content-Type value, without parameters.
fn media_type(v: &[u8]) -> &[u8] {
    let end = v.iter().position(|&b| b == b';').unwrap_or(v.len());
    let t = &v[..end];
    let s = t.iter().position(|&b| b != b' ').unwrap_or(t.len());
    let e = t
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(s, |e| e + 1);
    &t[s..e]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_and_json() {
        assert_eq!(
            media_type(b"application/json; charset=utf-8"),
            b"application/json"
        );
        assert_eq!(media_type(b" text/plain "), b"text/plain");
        let r = ValidateRule {
            json: true,
            ..ValidateRule::default()
        };
        assert!(check_body(&r, br#"{"a":[1,2,{"b":null}]}"#).is_ok());
        for bad in [&b"{"[..], b"{\"a\":1,}", b"[1] [2]", b"", b"nul"] {
            assert_eq!(
                check_body(&r, bad).err().map(|d| d.code),
                Some(ErrorCode::InvalidJson)
            );
        }
    }
}
