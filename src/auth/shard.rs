//! One shard's authentication state: its token caches and its snapshots of
//! the published key sets and revocation list.
//!
//! Owns the per-request order: catch up with publications (one atomic load
//! each; a change clears the affected caches, so a cached token was always
//! checked against the current keys and list), then cache, then `jwt::verify`.
//! Must never: be shared across shards or block.

use std::rc::Rc;
use std::sync::Arc;

use super::cache::TokenCache;
use super::jwk::Key;
use super::jwt::{self, VerifiedToken};
use super::revoke::Revoked;
use super::{AuthConfig, AuthError, AuthPolicy};
use crate::observe::ShardMetrics;
use crate::reload::publish::{Published, Snapshot};

struct JwtState {
    /// The publication `keys` follows: a reload that keeps it keeps this
    /// state's cache too.
    source: Arc<Published<Vec<Key>>>,
    keys: Snapshot<Vec<Key>>,
    cache: TokenCache,
}

/// Per-shard authentication state, indexed like `AuthConfig::policies`.
pub struct ShardAuth {
    jwt: Vec<Option<JwtState>>,
    revoked: Snapshot<Revoked>,
    metrics: Arc<ShardMetrics>,
}

impl ShardAuth {
    /// State for `cfg`; a policy whose key publication `previous` (the
    /// shard's state of the generation before a reload) follows takes over
    /// its token cache, which `previous` is left without.
    pub fn new(
        cfg: &AuthConfig,
        metrics: Arc<ShardMetrics>,
        mut previous: Option<&mut ShardAuth>,
    ) -> ShardAuth {
        let jwt = cfg
            .policies
            .iter()
            .map(|p| match p {
                AuthPolicy::Jwt(j) => {
                    let fresh = || TokenCache::new(j.cache_size, j.cache_ttl_s);
                    let cache = previous
                        .as_deref_mut()
                        .and_then(|old| {
                            old.jwt
                                .iter_mut()
                                .flatten()
                                .find(|o| Arc::ptr_eq(&o.source, &j.keys))
                        })
                        .filter(|_| j.cache_size > 0)
                        .map(|o| std::mem::replace(&mut o.cache, fresh()));
                    Some(JwtState {
                        source: j.keys.clone(),
                        keys: Snapshot::of(&j.keys),
                        cache: cache.unwrap_or_else(fresh),
                    })
                }
                AuthPolicy::ApiKey(_) | AuthPolicy::Mtls(_) => None,
            })
            .collect();
        ShardAuth {
            jwt,
            revoked: Snapshot::of(&cfg.revoked),
            metrics,
        }
    }

    /// Catches up with a changed revocation list; call once per request
    /// before `jwt`.
    #[inline]
    pub fn refresh(&mut self, cfg: &AuthConfig) {
        if self.revoked.refresh(&cfg.revoked) {
            for s in self.jwt.iter_mut().flatten() {
                s.cache.clear();
            }
        }
    }

    /// Authenticates `token` with JWT policy `idx`, through the cache.
    pub fn jwt(
        &mut self,
        cfg: &AuthConfig,
        idx: usize,
        token: &[u8],
        now: u64,
    ) -> Result<Rc<VerifiedToken>, AuthError> {
        let (Some(Some(st)), AuthPolicy::Jwt(p)) = (self.jwt.get_mut(idx), &cfg.policies[idx])
        else {
            return Err(AuthError::Malformed);
        };
        if st.keys.refresh(&p.keys) {
            st.cache.clear();
        }
        if let Some(v) = st.cache.get(token, now) {
            self.metrics.jwt_cache_hits.inc();
            return Ok(v.clone());
        }
        self.metrics.jwt_verified.inc();
        let v = Rc::new(jwt::verify(
            p,
            st.keys.get(),
            self.revoked.get(),
            token,
            now,
        )?);
        st.cache.insert(token, v.clone(), now);
        Ok(v)
    }
}
