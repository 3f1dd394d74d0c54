//! The control-plane threads that work on the current generation's
//! upstreams and policies, and how each follows a reload:
//! - the health checker and the auth file watcher ask for the current
//!   generation at every turn (a carried upstream keeps its schedule);
//! - the roster tick calls `Shared::maintain` on the current generation;
//! - DNS and file discovery are restarted only when the set of discovered
//!   upstreams (or their state) changed, so an unrelated reload costs them
//!   nothing; a restarted source keeps the last good set until it answers;
//! - the registry is re-bound: each `discovery = "registry"` upstream of the
//!   new generation gets its service's instances before the reload returns.
//!
//! Owns: starting each thread when a generation first needs it, and
//! stopping the discovery sources a reload replaced. Must never: run on a
//! shard, or leave a registry upstream without its instances after a reload.

use std::sync::Arc;

use super::publish::Published;
use super::Generation;
use crate::config::upstream::Discovery;
use crate::config::Compiled;
use crate::discovery::{self, worker::Worker, DiscoveryHandle, DiscoveryStats, TargetSink};
use crate::registry::Registry;
use crate::upstream::health::{self, HealthChecker};
use crate::upstream::shared::SharedUpstream;

/// The running control-plane threads (each stops when this drops).
#[derive(Default)]
pub struct Followers {
    checker: Option<HealthChecker>,
    roster: Option<Worker>,
    auth: Option<Worker>,
    /// The discovery sources, and which upstream (index, state) each serves.
    discovery: Option<(DiscoveryHandle, Vec<(usize, usize)>)>,
    registry: Option<Arc<Registry>>,
}

impl Followers {
    /// Starts what the published generation needs, and the registry if
    /// `[registry]` is configured (it lives as long as the process).
    pub fn start(published: &Arc<Published<Generation>>) -> Result<Followers, String> {
        let g = published.current();
        let mut f = Followers::default();
        if let Some(spec) = &g.cfg.registry {
            let sink: Arc<dyn TargetSink> = g.upstreams.clone();
            let r = Registry::new(spec, registry_bindings(&g.cfg), sink)
                .map_err(|e| format!("registry thread: {e}"))?;
            f.registry = Some(r);
        }
        f.follow(&g, published)?;
        Ok(f)
    }

    /// Points every thread at generation `g`, which is about to be
    /// published (or was, at start): the sources that feed upstreams
    /// (discovery, the registry) give `g`'s upstreams their sets *before*
    /// any shard can pick a target of them; the threads that read the
    /// generation on every turn (health checks, the roster tick, the auth
    /// file watcher) are started if `g` is the first to need them.
    pub fn follow(
        &mut self,
        g: &Generation,
        published: &Arc<Published<Generation>>,
    ) -> Result<(), String> {
        if self.checker.is_none() && health::any_checked(&g.upstreams) {
            let p = published.clone();
            self.checker = health::spawn(Box::new(move || p.current().upstreams.clone()))
                .map_err(|e| format!("health check thread: {e}"))?;
        }
        let discovered = g
            .cfg
            .upstreams
            .iter()
            .any(|u| u.discovery != Discovery::Static);
        if self.roster.is_none() && discovered {
            let p = published.clone();
            let w = Worker::spawn("ringway-roster", move |stop| {
                while !stop.wait(std::time::Duration::from_millis(500)) {
                    p.current().upstreams.maintain();
                }
            })
            .map_err(|e| format!("roster thread: {e}"))?;
            self.roster = Some(w);
        }
        if self.auth.is_none() && crate::auth::reload::watches(&g.cfg.auth) {
            let p = published.clone();
            let w = crate::auth::reload::spawn(move || p.current().cfg.clone())
                .map_err(|e| format!("auth reload thread: {e}"))?;
            self.auth = Some(w);
        }
        let bound = discovered_by_source(g);
        if self.discovery.as_ref().map(|d| &d.1) != Some(&bound) {
            // The old sources stop (joined) before the new ones publish.
            self.discovery = None;
            let sink: Arc<dyn TargetSink> = Arc::new(Served::of(g));
            let handle = discovery::start(&g.cfg, sink).map_err(|e| format!("discovery: {e}"))?;
            self.discovery = Some((handle, bound));
        }
        if let Some(r) = &self.registry {
            let sink: Arc<dyn TargetSink> = g.upstreams.clone();
            r.rebind(registry_bindings(&g.cfg), sink);
        }
        Ok(())
    }

    /// The built-in registry, when `[registry]` is configured.
    pub fn registry(&self) -> Option<Arc<Registry>> {
        self.registry.clone()
    }

    /// The discovery sources' counters (since they last started).
    pub fn discovery_stats(&self) -> Option<DiscoveryStats> {
        self.discovery.as_ref().map(|d| d.0.stats())
    }
}

/// The discovery sources' sink: the state of each DNS or file upstream, by
/// its index in the generation the sources started with. The sources may
/// outlive that generation (a reload that leaves them as they were), so
/// they hold only the upstreams they feed, not the whole generation.
struct Served(Vec<Option<Arc<SharedUpstream>>>);

impl Served {
    fn of(g: &Generation) -> Served {
        Served(
            g.cfg
                .upstreams
                .iter()
                .zip(g.upstreams.upstreams.iter())
                .map(|(u, s)| discovery::runs_for(u).then(|| s.clone()))
                .collect(),
        )
    }
}

impl TargetSink for Served {
    fn publish(&self, upstream: usize, targets: Vec<discovery::Target>) {
        if let Some(Some(u)) = self.0.get(upstream) {
            u.publish(&targets);
        }
    }
}

/// `(service, upstream index)` of every `discovery = "registry"` upstream.
fn registry_bindings(cfg: &Compiled) -> Vec<(String, usize)> {
    cfg.upstreams
        .iter()
        .enumerate()
        .filter_map(|(i, u)| match &u.discovery {
            Discovery::Registry { service } => Some((service.to_string(), i)),
            _ => None,
        })
        .collect()
}

/// `(index, state identity)` of every DNS or file upstream: sources bound
/// to these need no restart.
fn discovered_by_source(g: &Generation) -> Vec<(usize, usize)> {
    g.cfg
        .upstreams
        .iter()
        .zip(g.upstreams.upstreams.iter())
        .enumerate()
        .filter(|(_, (u, _))| discovery::runs_for(u))
        .map(|(i, (_, s))| (i, Arc::as_ptr(s) as usize))
        .collect()
}
