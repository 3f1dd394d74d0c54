//! The configured header rules, applied to every parsed request head before
//! anything reads it: names containing `_` dropped or refused
//! (`server.underscores_in_headers`), and the one-value set (the headers
//! rate-limit keys, credential sources and route matchers read, plus
//! `server.singleton_headers`), each allowed once and without a comma.
//!
//! Must never: allocate per request (dropping is an in-place `retain` on the
//! head's reused header list) or look a name up in a map.

use super::{HeaderEntry, HttpError, RequestHead};

/// `server.underscores_in_headers`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Underscores {
    /// Remove such fields before anything sees them (nginx's default).
    #[default]
    Drop,
    /// Answer 400 `invalid_header_name`.
    Reject,
    /// Treat them like any other field.
    Allow,
}

/// One header of the one-value set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneValue {
    /// Lowercase name.
    pub name: Box<[u8]>,
    /// True when a comma inside the value is legitimate (`Authorization`
    /// auth-params), so only a second field is refused.
    pub commas_ok: bool,
}

/// Most names the one-value set may hold (the size of the seen-bitmap).
pub const MAX_ONE_VALUE: usize = 256;

/// The compiled configured rules.
#[derive(Clone, Debug, Default)]
pub struct HeaderRules {
    /// What to do with a name containing `_`.
    pub underscores: Underscores,
    /// Headers that must appear at most once, as one value.
    pub one_value: Box<[OneValue]>,
}

impl HeaderRules {
    /// Applies the rules to `head` (spans into `buf`); returns how many
    /// fields were dropped for an underscore.
    pub fn apply(&self, buf: &[u8], head: &mut RequestHead) -> Result<usize, HttpError> {
        let mut dropped = 0;
        if self.underscores != Underscores::Allow {
            let underscore = |e: &HeaderEntry| e.name.get(buf).contains(&b'_');
            if head.headers.iter().any(underscore) {
                if self.underscores == Underscores::Reject {
                    return Err(HttpError::UnderscoreInName);
                }
                let before = head.headers.len();
                head.headers.retain(|e| !underscore(e));
                dropped = before - head.headers.len();
            }
        }
        if self.one_value.is_empty() {
            return Ok(dropped);
        }
        let mut seen = [0u64; MAX_ONE_VALUE / 64];
        for e in &head.headers {
            let name = e.name.get(buf);
            let Some(i) = self
                .one_value
                .iter()
                .position(|o| name.eq_ignore_ascii_case(&o.name))
            else {
                continue;
            };
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            let list = !self.one_value[i].commas_ok && e.value.get(buf).contains(&b',');
            if seen[word] & bit != 0 || list {
                return Err(HttpError::AmbiguousHeader);
            }
            seen[word] |= bit;
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_request;

    fn rules(underscores: Underscores, names: &[&str]) -> HeaderRules {
        HeaderRules {
            underscores,
            one_value: names
                .iter()
                .map(|n| OneValue {
                    name: n.as_bytes().into(),
                    commas_ok: *n == "authorization",
                })
                .collect(),
        }
    }

    fn apply(r: &HeaderRules, headers: &str) -> Result<(usize, Vec<String>), HttpError> {
        let raw = format!("GET / HTTP/1.1\r\nHost: h\r\n{headers}\r\n");
        let mut head = RequestHead::new();
        assert_eq!(parse_request(raw.as_bytes(), 8192, &mut head), Ok(true));
        let n = r.apply(raw.as_bytes(), &mut head)?;
        let names = head
            .headers
            .iter()
            .map(|e| String::from_utf8_lossy(e.name.get(raw.as_bytes())).into_owned())
            .collect();
        Ok((n, names))
    }

    #[test]
    fn underscores_dropped_refused_or_allowed() {
        let h = "x_user_id: admin\r\nX-A: 1\r\nX_User_Id: b\r\nx-user_id: c\r\n";
        let drop = rules(Underscores::Drop, &[]);
        assert_eq!(apply(&drop, h), Ok((3, vec!["Host".into(), "X-A".into()])));
        let reject = rules(Underscores::Reject, &[]);
        assert_eq!(apply(&reject, h), Err(HttpError::UnderscoreInName));
        assert_eq!(apply(&reject, "X-A: a_b\r\n").map(|r| r.0), Ok(0));
        let allow = rules(Underscores::Allow, &[]);
        assert_eq!(apply(&allow, h).map(|r| r.1.len()), Ok(5));
    }

    #[test]
    fn one_value_headers_once_and_without_commas() {
        let r = rules(Underscores::Drop, &["x-tenant", "authorization"]);
        for ok in [
            "x-tenant: a\r\n",
            "X-Tenant:  a b \r\n",
            "Authorization: Digest a=1, b=2\r\n",
            "x-other: 1\r\nx-other: 2,3\r\n",
        ] {
            assert!(apply(&r, ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "x-tenant: a\r\nx-tenant: a\r\n",
            "x-tenant: a\r\nX-TENANT: b\r\n",
            "x-tenant: a, b\r\n",
            "x-tenant: a,b\r\n",
            "x-tenant: ,\r\n",
            "x-tenant: a\t,b\r\n",
        ] {
            assert_eq!(
                apply(&r, bad).map(|r| r.0),
                Err(HttpError::AmbiguousHeader),
                "{bad:?}"
            );
        }
        // Dropped before the count: an underscore spelling is not a second field.
        assert!(apply(&r, "x-tenant: a\r\nx_tenant: b\r\n").is_ok());
    }

    #[test]
    fn the_bitmap_covers_every_slot() {
        let names: Vec<String> = (0..MAX_ONE_VALUE).map(|i| format!("h{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let r = rules(Underscores::Allow, &refs);
        let last = &names[MAX_ONE_VALUE - 1];
        assert!(apply(&r, &format!("{last}: 1\r\nh0: 1\r\n")).is_ok());
        assert_eq!(
            apply(&r, &format!("{last}: 1\r\n{last}: 2\r\n")).map(|r| r.0),
            Err(HttpError::AmbiguousHeader)
        );
    }
}
