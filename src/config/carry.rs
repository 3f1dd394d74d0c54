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
}
