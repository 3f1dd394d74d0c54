//! Per-shard cache of verified tokens, so a hot token's signature is checked
//! once per shard rather than once per request.
//!
//! Keyed by a keyed SipHash of the token (random key per cache, so clients
//! cannot aim collisions); the full token is kept and compared on a hit, so a
//! collision is a miss, never a wrong identity. Bounded by `cache_size`;
//! an entry is trusted until the token's `exp` (plus leeway) or `cache_ttl_s`
//! after it was verified, whichever is first. Must never: be shared across
//! shards, or serve an entry past its deadline.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::rc::Rc;

use super::jwt::VerifiedToken;

struct Entry {
    token: Box<[u8]>,
    until: u64,
    verified: Rc<VerifiedToken>,
}

/// Verified tokens of one policy on one shard.
pub struct TokenCache {
    map: HashMap<u64, Entry>,
    hasher: RandomState,
    cap: usize,
    ttl_s: u64,
}

impl TokenCache {
    /// A cache of at most `cap` tokens, each trusted at most `ttl_s` seconds.
    pub fn new(cap: usize, ttl_s: u64) -> TokenCache {
        TokenCache {
            map: HashMap::with_capacity(cap.min(1024)),
            hasher: RandomState::new(),
            cap,
            ttl_s,
        }
    }

    /// The verified token for `token` if cached and still within its deadline.
    #[inline]
    pub fn get(&self, token: &[u8], now: u64) -> Option<&Rc<VerifiedToken>> {
        let e = self.map.get(&self.hasher.hash_one(token))?;
        (now < e.until && *e.token == *token).then_some(&e.verified)
    }

    /// Remembers a freshly verified token.
    pub fn insert(&mut self, token: &[u8], verified: Rc<VerifiedToken>, now: u64) {
        if self.cap == 0 {
            return;
        }
        let until = verified
            .expires_at
            .map_or(now + self.ttl_s, |e| e.min(now + self.ttl_s));
        let h = self.hasher.hash_one(token);
        if self.map.len() >= self.cap && !self.map.contains_key(&h) {
            self.map.retain(|_, e| now < e.until);
            if self.map.len() >= self.cap {
                // Still full of live tokens: drop an arbitrary one (the map's
                // order is random per cache), a bounded O(1) eviction.
                if let Some(k) = self.map.keys().next().copied() {
                    self.map.remove(&k);
                }
            }
        }
        let token = token.into();
        self.map.insert(
            h,
            Entry {
                token,
                until,
                verified,
            },
        );
    }

    /// Forgets everything (the key set or revocation list changed).
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(exp: Option<u64>) -> Rc<VerifiedToken> {
        Rc::new(VerifiedToken {
            claims: Default::default(),
            subject: None,
            scopes: Box::default(),
            roles: Box::default(),
            jti: None,
            kid: None,
            expires_at: exp,
            forwarded: Box::default(),
        })
    }

    #[test]
    fn bounded_and_never_past_the_deadline() {
        let mut c = TokenCache::new(2, 60);
        c.insert(b"a", tok(Some(110)), 100);
        c.insert(b"b", tok(None), 100);
        assert!(c.get(b"a", 109).is_some());
        assert!(c.get(b"a", 110).is_none(), "expired with the token");
        assert!(c.get(b"b", 159).is_some());
        assert!(c.get(b"b", 160).is_none(), "ttl bounds tokens without exp");
        assert!(c.get(b"c", 100).is_none());
        c.insert(b"c", tok(None), 105);
        assert_eq!(c.len(), 2);
        assert!(c.get(b"c", 106).is_some());
        c.insert(b"d", tok(None), 106);
        assert_eq!(c.len(), 2, "stays bounded");
        c.clear();
        assert!(c.is_empty());
        let mut off = TokenCache::new(0, 60);
        off.insert(b"a", tok(None), 1);
        assert!(off.get(b"a", 1).is_none());
    }
}
