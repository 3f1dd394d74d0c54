//! One shard's view of a configuration generation: the compiled config,
//! the shard's upstream selectors and pools, its token caches, and the
//! metric rows, as one value that each request holds from its first byte
//! to its last (`Conn::g`), so a reload never changes the rules under a
//! request in flight.
//!
//! Owns: building the shard's view of a newly published generation from
//! the view it replaces, carrying over what the control plane kept (an
//! upstream's selector, slots and pooled connections; a JWT policy's token
//! cache). Must never: be built on a request's path while the generation
//! is unchanged (`Shard::gen` pays one atomic load for that), or be shared
//! with another shard.

use std::cell::RefCell;
use std::sync::Arc;

use crate::auth::shard::ShardAuth;
use crate::config::Compiled;
use crate::observe::families::Families;
use crate::observe::ShardMetrics;
use crate::reload::Generation;
use crate::upstream::ShardUpstreams;

/// A shard's view of one configuration generation.
pub struct Gen {
    /// The compiled configuration.
    pub cfg: Arc<Compiled>,
    /// Target selection, keep-alive pools, and the upstreams' shared state.
    pub upstreams: ShardUpstreams,
    /// Token caches and key/revocation snapshots (`crate::auth::shard`).
    pub auth: RefCell<ShardAuth>,
    /// The per-route and per-upstream metric rows.
    pub families: Arc<Families>,
}

impl Gen {
    /// Shard `shard`'s view of `g`; `previous` is the view it replaces,
    /// whose carried parts it takes over.
    pub fn new(
        g: &Generation,
        shard: usize,
        metrics: Arc<ShardMetrics>,
        previous: Option<&Gen>,
    ) -> Gen {
        let upstreams = ShardUpstreams::new(
            &g.cfg,
            shard,
            g.upstreams.clone(),
            previous.map(|p| &p.upstreams),
        );
        // A request of the previous generation never holds its auth state
        // across an await; should one, its caches are simply not carried.
        let mut old_auth = previous.and_then(|p| p.auth.try_borrow_mut().ok());
        let auth = ShardAuth::new(&g.cfg.auth, metrics, old_auth.as_deref_mut());
        Gen {
            cfg: g.cfg.clone(),
            upstreams,
            auth: RefCell::new(auth),
            families: g.families.clone(),
        }
    }
}
