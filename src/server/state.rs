//! Per-shard state: everything a shard owns and its connections share.
//!
//! Owns: the shard's view of the configuration generation new requests
//! start on (`gen`, switched between requests when the control plane
//! publishes another), counters, working sets, and the registry of open
//! connections used for graceful shutdown. Must never: be shared with
//! another thread (it is `!Send` on purpose; only the published
//! generation, the counters and the global connection count cross cores).

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::BytesMut;

use super::generation::Gen;
use crate::observe::metrics::TimeoutKind;
use crate::observe::{Metrics, RequestIdGen, ShardMetrics};
use crate::reload::publish::Published;
use crate::reload::Generation;

/// One shard's context, shared by its tasks through `Rc`.
pub struct Shard {
    /// Index of this shard.
    pub id: usize,
    /// The generation requests start on (`gen`).
    current: RefCell<Rc<Gen>>,
    /// The `published` counter `current` was built at.
    seen: Cell<u64>,
    /// Where the control plane publishes configuration generations.
    published: Arc<Published<Generation>>,
    /// Every shard's counters and the configuration gauges.
    all_metrics: Metrics,
    /// This shard's counters.
    pub metrics: Arc<ShardMetrics>,
    /// Request-id generator.
    pub ids: RequestIdGen,
    /// This shard's access-log and span handles.
    pub telemetry: crate::observe::telemetry::ShardTelemetry,
    /// Trace and span ids for this shard's requests.
    pub trace_ids: crate::observe::trace::TraceIds,
    /// Spare per-request working sets, lent to busy connections.
    pub scratch: super::scratch::ScratchPool,
    /// Large buffers lent to pumps of long bodies.
    pub bodies: super::body::BodyBufs,
    /// Pipes lent to long response bodies moved with splice.
    pub pipes: super::splice::Pipes,
    /// Open client connections, for closing idle ones at shutdown.
    pub conns: ConnRegistry,
    /// Set once shutdown begins: connections close after their current request.
    pub shutting_down: Cell<bool>,
    /// Open client connections across all shards (for `max_connections`);
    /// touched once per connection, never per request.
    pub open_conns: Arc<AtomicUsize>,
    date: RefCell<(u64, [u8; 29])>,
}

impl Shard {
    /// A shard's state, on the generation published now.
    pub fn new(
        id: usize,
        published: Arc<Published<Generation>>,
        all_metrics: Metrics,
        open_conns: Arc<AtomicUsize>,
        telemetry: crate::observe::telemetry::ShardTelemetry,
    ) -> Shard {
        let metrics = all_metrics.shard(id);
        let seen = published.generation();
        let g = published.current();
        let first = Gen::new(&g, id, metrics.clone(), None);
        all_metrics.config().shard_runs(id, g.number);
        let scratch = super::scratch::ScratchPool::new(g.cfg.server.max_header_bytes);
        Shard {
            id,
            current: RefCell::new(Rc::new(first)),
            seen: Cell::new(seen),
            published,
            all_metrics,
            metrics,
            ids: RequestIdGen::new(id),
            trace_ids: crate::observe::trace::TraceIds::new(),
            telemetry,
            scratch,
            bodies: Default::default(),
            pipes: Default::default(),
            conns: ConnRegistry::default(),
            shutting_down: Cell::new(false),
            open_conns,
            date: RefCell::new((0, [b' '; 29])),
        }
    }

    /// The generation a request starting now runs on: the current one, or,
    /// when the control plane published another since, the shard's view of
    /// that one, built now (between requests) from the view it replaces.
    /// One acquire load when nothing changed.
    #[inline]
    pub fn gen(&self) -> Rc<Gen> {
        if self.published.generation() != self.seen.get() {
            self.switch();
        }
        self.current.borrow().clone()
    }

    #[cold]
    fn switch(&self) {
        // The counter first: a publication after it is seen next time.
        let seen = self.published.generation();
        let g = self.published.current();
        let old = self.current.borrow().clone();
        let next = Gen::new(&g, self.id, self.metrics.clone(), Some(&old));
        *self.current.borrow_mut() = Rc::new(next);
        self.seen.set(seen);
        self.all_metrics.config().shard_runs(self.id, g.number);
    }

    /// The current generation without switching (shutdown, the shard's
    /// own ticks).
    pub fn current(&self) -> Rc<Gen> {
        self.current.borrow().clone()
    }

    /// Reserves a slot under the global connection limit.
    pub fn try_open_conn(&self) -> bool {
        let max = self.gen().cfg.server.max_connections;
        let prev = self.open_conns.fetch_add(1, Ordering::AcqRel);
        if prev >= max {
            self.open_conns.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Releases a slot taken by `try_open_conn`.
    pub fn close_conn(&self) {
        self.open_conns.fetch_sub(1, Ordering::AcqRel);
    }

    /// The current IMF-fixdate, formatted at most once per second.
    pub fn http_date(&self, out: &mut BytesMut) {
        let now = SystemTime::now();
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut d = self.date.borrow_mut();
        if d.0 != secs {
            let s = httpdate::fmt_http_date(now);
            if s.len() == 29 {
                d.1.copy_from_slice(s.as_bytes());
            }
            d.0 = secs;
        }
        out.extend_from_slice(&d.1);
    }
}

/// A connection's handle in its shard's `ConnRegistry`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnId(u32);

/// Open client connections: whether each is idle (waiting for its next
/// request), so shutdown can close exactly those, and the deadlines of
/// parked ones.
///
/// A parked connection's timeout lives here, in one heap per shard, rather
/// than as a timer inside each connection's task: a monoio timer entry is
/// cache-line padded and would be most of what an idle connection costs.
/// `expire_parked` pops the due ones and shuts their sockets down, which
/// wakes their tasks; each task then sees it expired.
#[derive(Default)]
pub struct ConnRegistry {
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
    open: Cell<usize>,
    /// (deadline, slot, park generation); an entry whose generation no
    /// longer matches its slot is stale (the connection woke up) and skipped.
    deadlines: RefCell<BinaryHeap<Reverse<(Instant, u32, u32)>>>,
}

#[derive(Clone, Copy)]
struct Slot {
    fd: RawFd,
    /// Bumped when the connection parks and when it wakes.
    gen: u32,
    in_use: bool,
    idle: bool,
    parked: bool,
    expired: bool,
    /// Parked before its first request (its deadline is the header timeout).
    first: bool,
}

impl ConnRegistry {
    /// Registers a connection, idle until its first byte.
    pub fn add(&self, fd: RawFd) -> ConnId {
        let slot = Slot {
            fd,
            gen: 0,
            in_use: true,
            idle: true,
            parked: false,
            expired: false,
            first: true,
        };
        self.open.set(self.open.get() + 1);
        let mut slots = self.slots.borrow_mut();
        match self.free.borrow_mut().pop() {
            Some(i) => {
                let gen = slots[i as usize].gen;
                slots[i as usize] = Slot { gen, ..slot };
                ConnId(i)
            }
            None => {
                slots.push(slot);
                ConnId((slots.len() - 1) as u32)
            }
        }
    }

    /// Forgets a closed connection.
    pub fn remove(&self, id: ConnId) {
        let mut slots = self.slots.borrow_mut();
        let s = &mut slots[id.0 as usize];
        s.in_use = false;
        s.parked = false;
        s.gen = s.gen.wrapping_add(1);
        self.free.borrow_mut().push(id.0);
        self.open.set(self.open.get() - 1);
    }

    /// Marks the connection idle (no request in progress) or busy.
    #[inline]
    pub fn set_idle(&self, id: ConnId, idle: bool) {
        self.slots.borrow_mut()[id.0 as usize].idle = idle;
    }

    /// The connection parks until `deadline` unless bytes come first;
    /// `first`: no request came on it yet (the deadline is the header
    /// timeout, not the idle timeout).
    pub fn park(&self, id: ConnId, deadline: Instant, first: bool) {
        let mut slots = self.slots.borrow_mut();
        let s = &mut slots[id.0 as usize];
        s.gen = s.gen.wrapping_add(1);
        s.parked = true;
        s.expired = false;
        s.first = first;
        let mut heap = self.deadlines.borrow_mut();
        heap.push(Reverse((deadline, id.0, s.gen)));
        // Entries of connections that woke up stay until their deadline;
        // rebuild when they dominate so a client that parks often (one
        // request every few hundred ms) cannot grow the heap.
        if heap.len() > 64 && heap.len() > 4 * self.open.get() {
            heap.retain(|Reverse((_, i, g))| slots[*i as usize].gen == *g);
        }
    }

    /// The parked connection woke; true when it woke because its deadline
    /// passed (its socket is shut down).
    pub fn unpark(&self, id: ConnId) -> bool {
        let mut slots = self.slots.borrow_mut();
        let s = &mut slots[id.0 as usize];
        s.gen = s.gen.wrapping_add(1);
        s.parked = false;
        s.expired
    }

    /// Shuts down the sockets of parked connections whose deadline is not
    /// after `now`, each counted by `count` first (so the timeout is on
    /// `/metrics` before the client sees the close); returns the earliest
    /// deadline left.
    pub fn expire(&self, now: Instant, mut count: impl FnMut(TimeoutKind)) -> Option<Instant> {
        let mut heap = self.deadlines.borrow_mut();
        let mut slots = self.slots.borrow_mut();
        while let Some(Reverse((at, i, g))) = heap.peek().copied() {
            if at > now {
                return Some(at);
            }
            heap.pop();
            let s = &mut slots[i as usize];
            if s.in_use && s.parked && s.gen == g && !s.expired {
                s.expired = true;
                count(if s.first {
                    TimeoutKind::Header
                } else {
                    TimeoutKind::Idle
                });
                // SAFETY: the fd is open (a slot is released before its close).
                unsafe { libc::shutdown(s.fd, libc::SHUT_RDWR) };
            }
        }
        None
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.open.get()
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.open.get() == 0
    }

    /// Shuts down every idle connection's socket so its pending read ends.
    pub fn close_idle(&self) {
        self.shut_down(|s| s.idle);
    }

    /// Shuts down every open connection's socket (the shutdown grace period
    /// is over): pending reads end, writes fail, and each task winds down.
    pub fn close_all(&self) {
        self.shut_down(|_| true);
    }

    fn shut_down(&self, which: impl Fn(&Slot) -> bool) {
        for s in self.slots.borrow().iter() {
            if s.in_use && which(s) {
                // SAFETY: the fd is open (a slot is released before its close).
                unsafe { libc::shutdown(s.fd, libc::SHUT_RDWR) };
            }
        }
    }
}
