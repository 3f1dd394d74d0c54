//! Test-only `UpstreamSpec` values built in code (no TOML): targets on
//! 127.0.0.1 ports 3001…, the given weights and balance, every other
//! setting at its default.
//!
//! Shared by unit tests (`upstream::select` includes it by path) and the
//! benches. Must never: open a socket; the addresses are only names.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ringway::config::upstream::Balance;
use ringway::config::UpstreamSpec;

/// An upstream named "test" with one target per weight.
pub fn upstream_spec(balance: Balance, weights: &[u32]) -> UpstreamSpec {
    UpstreamSpec {
        name: "test".into(),
        discovery: Default::default(),
        max_targets: weights.len(),
        targets: (0..weights.len())
            .map(|i| SocketAddr::from((Ipv4Addr::LOCALHOST, 3001 + i as u16)))
            .collect(),
        weights: weights.into(),
        balance,
        on_no_healthy: Default::default(),
        limits: Default::default(),
        health: None,
        outlier: Default::default(),
        retry: Default::default(),
        connect_timeout: Duration::from_secs(5),
        response_timeout: Duration::from_secs(30),
        max_idle_per_shard: 64,
        idle_timeout: Duration::from_secs(60),
        tls: None,
    }
}
