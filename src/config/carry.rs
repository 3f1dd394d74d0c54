//! What a reload keeps of the running configuration's state: the one place
//! that decides, per piece of state a `Compiled` holds, when the new
//! definition is "the same" and the running state goes on.
//!
//! - Rate limits (counters and keys): the same definition, whatever the
//!   name or the routes that use it (done while compiling, `ratelimits`).
//! - Concurrency limits (requests in flight): a route with the same name
//!   and the same `concurrency_limit`, so requests that started on the old
//!   configuration keep counting against the limit new ones see.
//! - Authentication: `auth::AuthConfig::carry_from` (key sets, token
//!   caches, revocations).
//! - An upstream's TLS client configuration: the same name and the same
//!   definition (TLS settings and file contents included), so its session
//!   cache goes on and reconnects after a reload still resume.
//!
//! - Response caches (what is stored): the same name and the same
//!   `max_bytes` and `max_object_bytes`; every route naming the cache is
//!   pointed at the running one. A changed size starts an empty store.
//!
//! Upstream state (targets, health, ejections, pools) is carried by
//! `upstream::Shared::carry` and the shards, not here: it is not part of
//! `Compiled`. Must never: carry state into a definition that differs
//! (a changed limit starts afresh), or mutate `old`.

use crate::policy::Policy;

use super::Compiled;

/// Makes `new` share `old`'s state wherever the definition is unchanged.
pub fn carry(new: &mut Compiled, old: &Compiled) {
    for r in new.router.routes_mut() {
        let Some(prev) = old.router.routes().iter().find(|o| o.name == r.name) else {
            continue;
        };
        let running = prev.policies.iter().find_map(|p| match p {
            Policy::Concurrency(c) => Some(c),
            _ => None,
        });
        for p in r.policies.iter_mut() {
            if let (Policy::Concurrency(c), Some(old_c)) = (p, running) {
                if c.max() == old_c.max() {
                    *c = old_c.clone();
                }
            }
        }
    }
    new.auth.carry_from(&old.auth);
    for c in new.caches.iter_mut() {
        if let Some(prev) = old.caches.iter().find(|o| o.same_store(c)) {
            // The store and its table go on; routes keep the new
            // definition's lock timeout (`RouteCache::lock_timeout`).
            *c = prev.clone();
        }
    }
    for r in new.router.routes_mut() {
        if let Some(rc) = r.cache.as_deref_mut() {
            if let Some(c) = new.caches.iter().find(|c| c.name == rc.cache.name) {
                rc.cache = c.clone();
            }
        }
    }
    for u in new.upstreams.iter_mut() {
        if let Some(prev) = old.upstreams.iter().find(|o| o.name == u.name && **o == *u) {
            u.tls = prev.tls.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::auth::AuthPolicy;
    use crate::config::{load_str, load_str_keeping, Compiled};
    use crate::policy::Policy;

    fn secret_file(tag: &str, text: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("ringway-carry-{}-{tag}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A config with JWT policy `j` (`issuer`), keyed by `secret`, and a
    /// route `r` with `concurrency_limit = limit`.
    fn text(secret: &std::path::Path, issuer: &str, limit: u32) -> String {
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\
             [[upstreams]]\nname = \"u\"\ntargets = [\"127.0.0.1:1\"]\n\
             [auth.j]\nkind = \"jwt\"\nalgorithms = [\"HS256\"]\nsecret = \"file:{}\"\nissuer = \"{issuer}\"\n\
             [revocation]\n\
             [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\nauth = [\"j\"]\nconcurrency_limit = {limit}\n",
            secret.display()
        )
    }

    fn keys(c: &Compiled) -> &Arc<crate::reload::publish::Published<Vec<crate::auth::jwk::Key>>> {
        match &c.auth.policies[0] {
            AuthPolicy::Jwt(j) => &j.keys,
            AuthPolicy::ApiKey(_) | AuthPolicy::Mtls(_) => panic!("jwt expected"),
        }
    }

    fn concurrency(c: &Compiled) -> &Arc<crate::ratelimit::ConcurrencyLimit> {
        let r = &c.router.routes()[0];
        r.policies
            .iter()
            .find_map(|p| match p {
                Policy::Concurrency(l) => Some(l),
                _ => None,
            })
            .expect("concurrency limit")
    }

    #[test]
    fn unchanged_definitions_share_state_and_changed_ones_do_not() {
        let s = secret_file("a", &"k".repeat(32));
        let old = load_str(&text(&s, "iss", 2), "t.toml").unwrap();
        let held = concurrency(&old).try_acquire().expect("a slot");
        let same = load_str_keeping(&text(&s, "iss", 2), "t.toml", Some(&old)).unwrap();
        assert!(
            Arc::ptr_eq(keys(&same), keys(&old)),
            "same policy, same keys"
        );
        assert!(Arc::ptr_eq(&same.auth.revoked, &old.auth.revoked));
        assert!(Arc::ptr_eq(concurrency(&same), concurrency(&old)));
        assert_eq!(
            concurrency(&same).in_flight(),
            1,
            "the request in flight counts"
        );
        drop(held);

        // Another issuer: a cached token was checked against the old rule.
        let other = load_str_keeping(&text(&s, "other", 3), "t.toml", Some(&old)).unwrap();
        assert!(!Arc::ptr_eq(keys(&other), keys(&old)));
        assert!(
            !Arc::ptr_eq(concurrency(&other), concurrency(&old)),
            "3 is a new limit"
        );
        // A rotated secret: new keys, not the old publication.
        let s2 = secret_file("b", &"z".repeat(32));
        let rotated = load_str_keeping(&text(&s2, "iss", 2), "t.toml", Some(&old)).unwrap();
        assert!(!Arc::ptr_eq(keys(&rotated), keys(&old)));
        assert!(*keys(&rotated).current() != *keys(&old).current());
    }

    #[test]
    fn an_unchanged_tls_upstream_keeps_its_client_configuration() {
        let text = |sni: &str| {
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n\
                 [[upstreams]]\nname = \"u\"\ntargets = [\"127.0.0.1:1\"]\ntls = true\nsni = \"{sni}\"\n\
                 [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n"
            )
        };
        let tls = |c: &Compiled| c.upstreams[0].tls.clone().expect("tls");
        let old = load_str(&text("a.test"), "t.toml").unwrap();
        let same = load_str_keeping(&text("a.test"), "t.toml", Some(&old)).unwrap();
        assert!(Arc::ptr_eq(&tls(&same), &tls(&old)), "sessions go on");
        let other = load_str_keeping(&text("b.test"), "t.toml", Some(&old)).unwrap();
        assert!(!Arc::ptr_eq(&tls(&other), &tls(&old)));
    }
}
