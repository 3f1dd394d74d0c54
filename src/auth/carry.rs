//! What a reload keeps of the running authentication state: a JWT
//! policy's published key set (so each shard's verified-token cache stays
//! valid) and the revocation list (with every revocation the admin API
//! added since the last load).
//!
//! Owns: the rule for "the same policy" and "the same list". Must never:
//! keep a key the new file no longer has, or drop a revocation while the
//! list's source is unchanged.

use super::{AuthConfig, AuthPolicy, JwtPolicy};

impl AuthConfig {
    /// Takes over `old`'s state where the new definition keeps it (a JWT
    /// policy is "the same" when every setting but its keys is: a token a
    /// shard cached was checked against exactly these rules):
    /// - a JWT policy with the same `jwks_file` keeps
    ///   its key publication; if the keys read now differ (the file changed
    ///   since the watcher last looked) they are published into it, which
    ///   clears the shards' token caches as a watched change does;
    /// - a JWT policy with the same name and algorithms and an identical
    ///   inline key set keeps its publication unchanged;
    /// - the revocation list is kept when `[revocation] file` is the same
    ///   (or absent in both), so revocations made through the admin API
    ///   survive; a different file starts from that file.
    pub fn carry_from(&mut self, old: &AuthConfig) {
        for p in self.policies.iter_mut() {
            let AuthPolicy::Jwt(new) = p else { continue };
            let same = old.policies.iter().find_map(|o| match o {
                AuthPolicy::Jwt(o) if same_rules(o, new) => Some(o),
                _ => None,
            });
            let Some(o) = same else { continue };
            let fresh = new.keys.current();
            let running = o.keys.current();
            match (&new.jwks_file, &o.jwks_file) {
                (Some(a), Some(b)) if a == b => {
                    if *fresh != *running {
                        o.keys.publish(fresh.to_vec());
                    }
                    new.keys = o.keys.clone();
                }
                (None, None) if *fresh == *running => new.keys = o.keys.clone(),
                _ => {}
            }
        }
        if self.revocation_file == old.revocation_file {
            self.revoked = old.revoked.clone();
        }
    }
}

/// Every setting of a JWT policy but its key set is the same.
fn same_rules(a: &JwtPolicy, b: &JwtPolicy) -> bool {
    a.name == b.name
        && a.algs == b.algs
        && a.jwks_file == b.jwks_file
        && a.secret_ref == b.secret_ref
        && a.issuer == b.issuer
        && a.audience == b.audience
        && a.leeway_s == b.leeway_s
        && a.forward == b.forward
        && a.source == b.source
        && a.max_token_bytes == b.max_token_bytes
        && a.cache_size == b.cache_size
        && a.cache_ttl_s == b.cache_ttl_s
}
