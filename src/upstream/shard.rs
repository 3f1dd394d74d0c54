//! One shard's view of the upstreams: its selectors, its copy of each
//! upstream's target slots, its retry-budget handles, its keep-alive pools,
//! and the one place an exchange's result is reported.
//!
//! Owns: applying a new target set on this shard (`refresh`: between
//! picks, one acquire load when nothing changed), `report` (every attempt's
//! result goes to the balancer, the outlier detector and the counters from
//! here, once). Must never: block, lock, or write another shard's counters.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::budget::BudgetShard;
use super::outlier::Transition;
use super::pool::{Pool, UpstreamConn};
use super::roster::Members;
use super::select::Selector;
use super::shared::{Attempt, Shared, SharedUpstream, TargetStats};
use crate::config::upstream::Balance;
use crate::config::{Compiled, UpstreamSpec};
use crate::observe::log::{self, Val};
use crate::reload::publish::Snapshot;

/// One shard's view of one configuration generation's upstreams.
pub struct ShardUpstreams {
    /// This shard's index (for its counters).
    pub shard: usize,
    ups: Box<[Rc<ShardUpstream>]>,
    /// The shared state.
    pub shared: Arc<Shared>,
    rng: std::cell::Cell<u64>,
}

/// One upstream on one shard. A reload that carries the upstream's shared
/// state over carries this too: the selector's in-flight and latency
/// figures, the slots as last applied, and the pooled connections.
struct ShardUpstream {
    shared: Arc<SharedUpstream>,
    /// The selector, over the slots as last applied.
    selector: RefCell<Selector>,
    /// The slots as this shard last applied them.
    members: RefCell<Snapshot<Members>>,
    /// This shard's handle on the retry budget.
    budget: BudgetShard,
    /// Idle keep-alive connections.
    pool: Pool,
}

impl ShardUpstreams {
    /// Shard `shard`'s view of `shared` (built from `cfg`): each upstream
    /// whose shared state `previous` already viewed is that same view (a
    /// reload), the others fresh, their selectors seeded per shard.
    pub fn new(
        cfg: &Compiled,
        shard: usize,
        shared: Arc<Shared>,
        previous: Option<&ShardUpstreams>,
    ) -> ShardUpstreams {
        // By the address of the shared state each previous view follows
        // (this runs on the shard, once per reload: no scan per upstream).
        let kept: std::collections::HashMap<*const SharedUpstream, &Rc<ShardUpstream>> = previous
            .map(|p| p.ups.iter().map(|o| (Arc::as_ptr(&o.shared), o)).collect())
            .unwrap_or_default();
        let ups = cfg
            .upstreams
            .iter()
            .zip(shared.upstreams.iter())
            .enumerate()
            .map(|(i, (spec, u))| {
                let kept = kept.get(&Arc::as_ptr(u)).map(|o| Rc::clone(o));
                kept.unwrap_or_else(|| {
                    let members = Snapshot::of(u.roster.published());
                    let selector = Selector::over(&spec.balance, members.get(), seed(shard, i));
                    Rc::new(ShardUpstream {
                        shared: u.clone(),
                        selector: RefCell::new(selector),
                        members: RefCell::new(members),
                        budget: BudgetShard::new(u.budget.clone()),
                        pool: Pool::new(u.slots()),
                    })
                })
            })
            .collect();
        let rng = previous.map_or(seed(shard, usize::MAX) | 1, |p| p.rng.get());
        ShardUpstreams {
            shard,
            ups,
            shared,
            rng: std::cell::Cell::new(rng),
        }
    }

    /// Catches up with upstream `up`'s published targets: a new set is
    /// applied to the selector, this shard's counters of a slot that changed
    /// hands are zeroed and its pooled connections to it closed. One acquire
    /// load when nothing changed.
    pub fn refresh(&self, up: usize) {
        let Some(u) = self.ups.get(up) else {
            return;
        };
        let roster = &u.shared.roster;
        if u.members.borrow().generation() == roster.published().generation() {
            return;
        }
        let old = u.members.borrow().value();
        let mut snap = u.members.borrow_mut();
        snap.refresh(roster.published());
        let new = snap.get();
        for t in 0..new.slots.len() {
            let was = old.get(t).map(|m| m.addr);
            if was != new.get(t).map(|m| m.addr) {
                u.pool.forget(t);
                if new.get(t).is_some() {
                    self.stats(up, t).reset();
                }
            }
        }
        u.selector.borrow_mut().apply(new);
        roster.applied(self.shard, snap.generation());
    }

    /// `refresh` for every upstream, then closes expired idle connections
    /// (the shard's periodic tick, so an idle shard applies changes too and
    /// a freed slot can be reused).
    pub fn refresh_all(&self) {
        for up in 0..self.ups.len() {
            self.refresh(up);
        }
        for u in self.ups.iter() {
            u.pool.sweep(&u.shared.spec);
        }
    }

    /// An idle connection to slot `t` of `up` that has not expired.
    pub fn checkout(&self, up: usize, t: usize) -> Option<UpstreamConn> {
        let u = self.ups.get(up)?;
        u.pool.checkout(t, &u.shared.spec)
    }

    /// Returns a connection to `up`'s pool after a clean exchange (closed
    /// instead when its slot changed hands meanwhile: `Pool::checkin`).
    pub fn checkin(&self, up: usize, conn: UpstreamConn) {
        if let Some(u) = self.ups.get(up) {
            let holder = u.members.borrow().get().addr(conn.target);
            u.pool.checkin(&u.shared.spec, conn, holder);
        }
    }

    /// Closes every idle upstream connection (shutdown).
    pub fn clear_pools(&self) {
        for u in self.ups.iter() {
            u.pool.clear();
        }
    }

    /// The address in slot `t` of `up`, as this shard last applied it.
    pub fn addr(&self, up: usize, t: usize) -> SocketAddr {
        self.ups[up].members.borrow().get().addr(t)
    }

    /// The number of targets `up` has, as this shard last applied it.
    pub fn targets(&self, up: usize) -> usize {
        self.ups[up].members.borrow().get().active.len()
    }

    /// The selector's pick for `up` (see `Selector::pick`).
    pub fn pick(
        &self,
        up: usize,
        key: u64,
        tried: &[usize],
        usable: impl Fn(usize) -> bool,
        now: u64,
    ) -> Option<usize> {
        self.ups[up].selector.borrow().pick(key, tried, usable, now)
    }

    /// In-flight count and EWMA of slot `t` of `up` on this shard.
    pub fn selector_stats(&self, up: usize, t: usize, now: u64) -> (u32, u64) {
        self.ups[up].selector.borrow().stats(t, now)
    }

    /// Shard counters for target `t` of `up`.
    #[inline]
    pub fn stats(&self, up: usize, t: usize) -> &TargetStats {
        self.ups[up].shared.stats(self.shard, t)
    }

    /// The one report of an attempt's result: balancer, outlier detector
    /// and counters. `latency_ns` runs from the attempt's start to its end
    /// (the response head, or the failure).
    pub fn report(
        &self,
        spec: &UpstreamSpec,
        up: usize,
        t: usize,
        a: Attempt,
        latency_ns: u64,
        now: u64,
    ) {
        let st = self.stats(up, t);
        st.in_flight.dec();
        let (ok, failure) = match a {
            Attempt::Status(s) => {
                st.responses[(s / 100).clamp(1, 5) as usize - 1].inc();
                (true, s >= 500 && spec.outlier.count_5xx)
            }
            _ => {
                st.failures.inc();
                (false, true)
            }
        };
        let sel = self.ups[up].selector.borrow();
        sel.end(t, latency_ns, ok, now);
        if spec.balance == Balance::Ewma {
            st.ewma_ns.store(sel.estimate(t), Relaxed);
        }
        match self.ups[up].shared.outlier.report(t, failure, now) {
            Some(Transition::Ejected { until }) => {
                st.ejections.inc();
                log::warn(
                    "upstream target ejected",
                    &[
                        ("upstream", Val::Str(&spec.name)),
                        ("target", Val::Str(&self.addr(up, t).to_string())),
                        ("for_ms", Val::Num(until.saturating_sub(now) / 1_000_000)),
                    ],
                );
            }
            Some(Transition::Returned) => log::info(
                "upstream target returned",
                &[
                    ("upstream", Val::Str(&spec.name)),
                    ("target", Val::Str(&self.addr(up, t).to_string())),
                ],
            ),
            None => {}
        }
    }

    /// A client request for `up` arrived: it funds a share of a retry.
    #[inline]
    pub fn deposit(&self, up: usize, now: u64) {
        self.ups[up].budget.deposit(now);
    }

    /// Takes one retry from `up`'s budget, if it can pay for it.
    pub fn try_withdraw(&self, up: usize, now: u64) -> bool {
        self.ups[up].budget.try_withdraw(now)
    }

    /// An attempt at `t` starts.
    #[inline]
    pub fn start(&self, up: usize, t: usize) {
        self.stats(up, t).in_flight.inc();
        self.ups[up].selector.borrow().start(t);
    }

    /// An attempt at `t` ended for a reason that says nothing about the
    /// target (the client failed, a pooled connection had gone stale, the
    /// breaker refused): in-flight is released, nothing else is recorded.
    pub fn abandon(&self, up: usize, t: usize, latency_ns: u64, now: u64) {
        self.stats(up, t).in_flight.dec();
        self.ups[up].selector.borrow().end(t, latency_ns, true, now);
    }

    /// A random number from this shard's generator (hash keys of requests
    /// without one, backoff jitter).
    pub fn random(&self) -> u64 {
        // xorshift64*: state never 0 (seeded from splitmix, which is not 0 here).
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn seed(shard: usize, up: usize) -> u64 {
    // splitmix64 of the pair: distinct, well-mixed seeds per (shard, upstream).
    let mut z = ((shard as u64) << 32 | up as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
