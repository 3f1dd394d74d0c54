//! The `dns` source: one control-plane thread for every DNS upstream of the
//! process. It resolves each one when due, publishes the set when it
//! changed, and schedules the next resolution from the smallest TTL of the
//! answer, clamped to `[dns_min_ttl_ms, dns_max_ttl_ms]`.
//!
//! A failed or empty resolution (timeout, SERVFAIL, NXDOMAIN, no record)
//! keeps the last good set, counts `ringway_discovery_dns_failures_total`,
//! logs once per run of failures (and once when it ends), and is retried
//! after a backoff from `dns_min_ttl_ms` doubling up to `dns_max_ttl_ms`.
//!
//! Owns: the thread and each DNS upstream's schedule and last set. Must
//! never: run on a shard, use getaddrinfo, or publish an empty set because
//! a resolution failed.

mod answer;
mod exchange;
mod lookup;
pub mod resolv_conf;
mod schedule;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::worker::{Stop, Worker};
use super::{DiscoveryStats, Target, TargetSink};
use crate::config::upstream::DnsSpec;
use crate::observe::log::{self, Val};
use schedule::Schedule;

/// How long `start` waits for the first resolution of every upstream, so
/// that the shards start with sets; past it they start empty and the sets
/// arrive when the answers do.
pub const FIRST_ROUND_WAIT: Duration = Duration::from_secs(3);

/// One DNS upstream.
pub struct Resolved {
    upstream: usize,
    name: Box<str>,
    spec: DnsSpec,
    servers: Vec<SocketAddr>,
    schedule: Schedule,
    last: Option<Vec<Target>>,
}

impl Resolved {
    /// Upstream `upstream` (named `name`), asking `spec.resolver` or else
    /// `system` (the resolv.conf nameservers); due at once.
    pub fn new(upstream: usize, name: Box<str>, spec: DnsSpec, system: &[SocketAddr]) -> Resolved {
        let servers = spec.resolver.map_or_else(|| system.to_vec(), |r| vec![r]);
        let schedule = Schedule::new(spec.min_ttl, spec.max_ttl, Instant::now());
        Resolved {
            upstream,
            name,
            spec,
            servers,
            schedule,
            last: None,
        }
    }

    /// Resolves once and acts on the outcome.
    fn round(&mut self, sink: &dyn TargetSink, stats: &DiscoveryStats, stop: &Stop) {
        let servers = &self.servers;
        let stopping = || stop.requested();
        let ask = |n: &hickory_proto::rr::Name, rt| lookup::ask_each(servers, n, rt, &stopping);
        let outcome = lookup::resolve(&self.spec.query, self.spec.family, &ask);
        let now = Instant::now();
        let dns_name = self.spec.query.to_string();
        match outcome {
            Ok((set, ttl)) => {
                let ended = self.schedule.succeeded(now, ttl);
                if ended > 0 {
                    log::info(
                        "dns resolution recovered",
                        &[
                            ("upstream", Val::Str(&self.name)),
                            ("dns_name", Val::Str(&dns_name)),
                            ("failures", Val::Num(u64::from(ended))),
                        ],
                    );
                }
                if self.last.as_ref() != Some(&set) {
                    log::info(
                        "dns targets changed",
                        &[
                            ("upstream", Val::Str(&self.name)),
                            ("dns_name", Val::Str(&dns_name)),
                            ("targets", Val::Num(set.len() as u64)),
                        ],
                    );
                    stats.published(self.upstream, set.len());
                    sink.publish(self.upstream, set.clone());
                    self.last = Some(set);
                }
            }
            Err(e) => {
                stats.failed(self.upstream);
                if self.schedule.failed(now) == 1 {
                    let kept = self.last.as_ref().map_or(0, Vec::len) as u64;
                    log::warn(
                        "dns resolution failed, keeping the last good set",
                        &[
                            ("upstream", Val::Str(&self.name)),
                            ("dns_name", Val::Str(&dns_name)),
                            ("error", Val::Str(&e.to_string())),
                            ("targets", Val::Num(kept)),
                        ],
                    );
                }
            }
        }
    }
}

/// The nameservers of `/etc/resolv.conf`, for upstreams without `resolver`.
pub fn system_nameservers() -> Vec<SocketAddr> {
    resolv_conf::nameservers(Path::new("/etc/resolv.conf"))
}

/// Starts the thread, and waits up to `FIRST_ROUND_WAIT` for its first
/// round, so that the shards usually start with every set.
pub fn start(
    mut list: Vec<Resolved>,
    sink: Arc<dyn TargetSink>,
    stats: DiscoveryStats,
) -> std::io::Result<Worker> {
    let (ready, first_round) = sync_channel::<()>(1);
    let worker = Worker::spawn("ringway-discovery-dns", move |stop: Stop| {
        let mut ready = Some(ready);
        loop {
            for r in list.iter_mut() {
                if stop.requested() {
                    return;
                }
                if r.schedule.due(Instant::now()) {
                    r.round(&*sink, &stats, &stop);
                }
            }
            if let Some(tx) = ready.take() {
                let _ = tx.send(());
            }
            let next = list.iter().map(|r| r.schedule.next()).min();
            let wait = next.map_or(Duration::from_secs(60), |n| {
                n.saturating_duration_since(Instant::now())
            });
            if stop.wait(wait) {
                return;
            }
        }
    })?;
    let _ = first_round.recv_timeout(FIRST_ROUND_WAIT);
    Ok(worker)
}
