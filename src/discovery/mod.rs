//! Service discovery (control plane): where an upstream's targets come from
//! when they are not fixed in the config file. Each source (`dns`, `file`,
//! the built-in registry) runs off the shards and publishes whole target
//! sets through a `TargetSink`; the upstream side applies a set between
//! requests, carrying every known target's state over by address.
//!
//! `start` runs the sources the config needs (`dns`: one thread for every
//! DNS upstream; `file`: one thread polling every targets file) until its
//! handle drops.
//!
//! Owns: the `Target` a source reports, the `TargetSink` it reports to, and
//! the sources' lifetimes. Must never: run on a shard, block a shard, or
//! drop the last good set because a lookup, a file or a registration went bad.

pub mod dns;
pub mod file;
mod stats;
pub mod targets_json;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::upstream::Discovery;
use crate::config::Compiled;
pub use stats::DiscoveryStats;

/// One target as a discovery source reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// Where to connect.
    pub addr: SocketAddr,
    /// Relative share of requests (≥ 1).
    pub weight: u32,
}

/// Where a discovery source delivers the target sets it finds.
pub trait TargetSink: Send + Sync {
    /// `targets` is now the whole set of upstream `upstream` (an index into
    /// `Compiled::upstreams`), in a stable order (sorted by address), with
    /// no address twice. An empty set is allowed: the upstream then answers
    /// as it does when no target is usable. Called from control-plane
    /// threads only; must not block for long.
    fn publish(&self, upstream: usize, targets: Vec<Target>);
}

/// The running sources; dropping it stops and joins their threads.
pub struct DiscoveryHandle {
    stats: DiscoveryStats,
    _dns: Option<worker::Worker>,
    _file: Option<worker::Worker>,
}

impl DiscoveryHandle {
    /// The sources' counters, for the admin `/metrics`.
    pub fn stats(&self) -> DiscoveryStats {
        self.stats.clone()
    }
}

/// Whether a source of this module (DNS or a file) feeds upstream `u`
/// (static and registry upstreams are fed elsewhere).
pub fn runs_for(u: &crate::config::UpstreamSpec) -> bool {
    matches!(u.discovery, Discovery::Dns(_) | Discovery::File { .. })
}

/// Starts the DNS and file sources `cfg` needs (none: no thread). Each
/// publishes its first sets before this returns (DNS: within
/// `dns::FIRST_ROUND_WAIT`); registry upstreams are not served here.
pub fn start(cfg: &Compiled, sink: Arc<dyn TargetSink>) -> std::io::Result<DiscoveryHandle> {
    let stats = DiscoveryStats::new(cfg);
    let (mut resolved, mut watched) = (Vec::new(), Vec::new());
    let mut system: Option<Vec<SocketAddr>> = None;
    for (i, u) in cfg.upstreams.iter().enumerate() {
        match &u.discovery {
            Discovery::Dns(spec) => {
                // Read once, and only when some upstream needs it.
                let ns = system.get_or_insert_with(dns::system_nameservers);
                resolved.push(dns::Resolved::new(i, u.name.clone(), spec.clone(), ns));
            }
            Discovery::File { path } => {
                watched.push(file::Watched::new(i, u.name.clone(), path.clone()));
            }
            Discovery::Static | Discovery::Registry { .. } => {}
        }
    }
    let dns = match resolved.is_empty() {
        true => None,
        false => Some(dns::start(resolved, sink.clone(), stats.clone())?),
    };
    let file = match watched.is_empty() {
        true => None,
        false => Some(file::start(watched, sink, stats.clone())?),
    };
    Ok(DiscoveryHandle {
        stats,
        _dns: dns,
        _file: file,
    })
}
