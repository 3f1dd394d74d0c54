//! The revocation list: `jti` values and key ids that are refused even with
//! a valid signature.
//!
//! Owns the list's file format (one entry per line, `jti:VALUE` or
//! `kid:VALUE`, `#` comments) and its in-memory form. Publication to the
//! shards is `crate::reload::publish::Published`; the admin endpoint is in `crate::admin`.
//! Must never: be consulted for a token already in a shard's cache under
//! the same list generation (the cache is cleared when the list changes).

use std::collections::HashSet;

/// Revoked token ids and key ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Revoked {
    /// Revoked `jti` claim values.
    pub jti: HashSet<Box<str>>,
    /// Revoked `kid` header values (every token signed with that key).
    pub kid: HashSet<Box<str>>,
}

impl Revoked {
    /// True when the token with this `jti`/`kid` is revoked.
    pub fn denies(&self, jti: Option<&str>, kid: Option<&str>) -> bool {
        jti.is_some_and(|j| self.jti.contains(j)) || kid.is_some_and(|k| self.kid.contains(k))
    }

    /// Parses the file format; errors name the 1-based line.
    pub fn parse(text: &str) -> Result<Revoked, String> {
        let mut r = Revoked::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            r.add(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        }
        Ok(r)
    }

    /// Adds one `jti:VALUE` or `kid:VALUE` entry.
    pub fn add(&mut self, entry: &str) -> Result<(), String> {
        let (kind, value) = entry
            .split_once(':')
            .ok_or_else(|| format!("{entry:?} is not `jti:VALUE` or `kid:VALUE`"))?;
        let value = value.trim();
        if value.is_empty() || value.len() > 512 || value.chars().any(char::is_control) {
            return Err(format!(
                "{entry:?}: the value must be 1 to 512 printable characters"
            ));
        }
        let set = match kind.trim() {
            "jti" => &mut self.jti,
            "kid" => &mut self.kid,
            other => return Err(format!("unknown entry kind {other:?}: use jti or kid")),
        };
        set.insert(value.into());
        Ok(())
    }

    /// Removes one entry; returns whether it was present.
    pub fn remove(&mut self, entry: &str) -> Result<bool, String> {
        let mut one = Revoked::default();
        one.add(entry)?;
        let gone = one.jti.iter().filter(|j| self.jti.remove(*j)).count()
            + one.kid.iter().filter(|k| self.kid.remove(*k)).count();
        Ok(gone > 0)
    }

    /// The file format, sorted (what the admin endpoint lists and saves).
    pub fn render(&self) -> String {
        let mut lines: Vec<String> = self
            .jti
            .iter()
            .map(|j| format!("jti:{j}"))
            .chain(self.kid.iter().map(|k| format!("kid:{k}")))
            .collect();
        lines.sort();
        lines.iter().map(|l| format!("{l}\n")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_add_remove_render() {
        let mut r = Revoked::parse("# c\njti:abc\n\nkid: k1 \n").expect("parse");
        assert!(r.denies(Some("abc"), None));
        assert!(r.denies(None, Some("k1")));
        assert!(!r.denies(Some("k1"), Some("abc")));
        assert_eq!(r.render(), "jti:abc\nkid:k1\n");
        assert_eq!(r.remove("jti:abc"), Ok(true));
        assert_eq!(r.remove("jti:abc"), Ok(false));
        assert!(Revoked::parse("x").unwrap_err().contains("line 1"));
        assert!(Revoked::parse("sub:x").is_err());
        assert!(r.add("jti:").is_err());
    }
}
