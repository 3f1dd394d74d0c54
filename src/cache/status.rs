//! The `Cache-Status` field (RFC 9211) on every response of a cached
//! route, written as `ringway; hit; ttl=N` or `ringway; fwd=…; …`.
//!
//! Owns: the field's syntax. Must never: decide which case applies (the
//! proxy does, from `freshness` and `store`).

use bytes::BufMut;

use crate::observe::text::push_u64 as number;

/// Why a request went to the origin (`fwd=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fwd {
    /// The cache was not consulted (a method or request it does not serve).
    Bypass,
    /// Nothing stored under the key.
    UriMiss,
    /// The key is stored, but not for this request's `Vary` values.
    VaryMiss,
    /// A stored response needed validation (`fwd-status` says how it went).
    Stale,
    /// The client asked for validation (`no-cache`, `max-age=0`).
    Request,
}

impl Fwd {
    fn as_str(self) -> &'static str {
        match self {
            Fwd::Bypass => "bypass",
            Fwd::UriMiss => "uri-miss",
            Fwd::VaryMiss => "vary-miss",
            Fwd::Stale => "stale",
            Fwd::Request => "request",
        }
    }
}

/// One `Cache-Status` member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStatus {
    /// Served from cache without going forward.
    pub hit: bool,
    /// Why it went forward, when it did.
    pub fwd: Option<Fwd>,
    /// The status the origin answered, when forwarded (`fwd-status`).
    pub fwd_status: Option<u16>,
    /// The response was stored.
    pub stored: bool,
    /// Another request's fetch answered this one (`collapsed`).
    pub collapsed: bool,
    /// Freshness left (negative: stale by that much), when known.
    pub ttl: Option<i64>,
    /// A short reason, e.g. why a response was not stored (`detail=`).
    pub detail: Option<&'static str>,
}

impl CacheStatus {
    /// Appends the field value (without the name or CRLF).
    pub fn write(&self, out: &mut impl BufMut) {
        out.put_slice(b"ringway");
        if self.hit {
            out.put_slice(b"; hit");
        }
        if let Some(f) = self.fwd {
            out.put_slice(b"; fwd=");
            out.put_slice(f.as_str().as_bytes());
        }
        if let Some(s) = self.fwd_status {
            out.put_slice(b"; fwd-status=");
            number(out, u64::from(s));
        }
        if self.stored {
            out.put_slice(b"; stored");
        }
        if self.collapsed {
            out.put_slice(b"; collapsed");
        }
        if let Some(t) = self.ttl {
            out.put_slice(b"; ttl=");
            if t < 0 {
                out.put_u8(b'-');
            }
            number(out, t.unsigned_abs());
        }
        if let Some(d) = self.detail {
            out.put_slice(b"; detail=");
            out.put_slice(d.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_is_written_in_order() {
        let mut out = Vec::new();
        let s = CacheStatus {
            hit: false,
            fwd: Some(Fwd::Stale),
            fwd_status: Some(304),
            stored: true,
            collapsed: true,
            ttl: Some(-12),
            detail: Some("x"),
        };
        s.write(&mut out);
        assert_eq!(
            out,
            b"ringway; fwd=stale; fwd-status=304; stored; collapsed; ttl=-12; detail=x"
        );
        out.clear();
        CacheStatus {
            hit: true,
            ttl: Some(0),
            ..CacheStatus::default()
        }
        .write(&mut out);
        assert_eq!(out, b"ringway; hit; ttl=0");
    }
}
