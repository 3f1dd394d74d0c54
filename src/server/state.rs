//! Per-shard state: everything a shard owns and its connections share.
//!
//! Owns: the immutable compiled config handle, counters, working-set and upstream
//! pools, and the registry of open connections used for graceful shutdown.
//! Must never: be shared with another thread (it is `!Send` on purpose; only
//! `cfg`, the counters and the global connection count cross cores).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::BytesMut;

use crate::config::Compiled;
use crate::observe::{RequestIdGen, ShardMetrics};
use crate::upstream::UpstreamPools;

/// One shard's context, shared by its tasks through `Rc`.
pub struct Shard {
    /// Index of this shard.
    pub id: usize,
    /// The compiled configuration (immutable, shared by all shards).
    pub cfg: Arc<Compiled>,
    /// This shard's counters.
    pub metrics: Arc<ShardMetrics>,
    /// Request-id generator.
    pub ids: RequestIdGen,
    /// Upstream keep-alive pools.
    pub pools: UpstreamPools,
    /// Spare per-request working sets, lent to busy connections.
    pub scratch: super::scratch::ScratchPool,
    /// Large buffers lent to pumps of long bodies.
    pub bodies: super::body::BodyBufs,
    /// Open client connections, for closing idle ones at shutdown.
    pub conns: ConnRegistry,
    /// Set once shutdown begins: connections close after their current request.
    pub shutting_down: Cell<bool>,
    /// Open client connections across all shards (for `max_connections`);
    /// touched once per connection, never per request.
    pub open_conns: Arc<AtomicUsize>,
    /// Token caches and key/revocation snapshots (`crate::auth::shard`).
    pub auth: RefCell<crate::auth::shard::ShardAuth>,
    date: RefCell<(u64, [u8; 29])>,
}

impl Shard {
    /// A shard's state.
    pub fn new(
        id: usize,
        cfg: Arc<Compiled>,
        metrics: Arc<ShardMetrics>,
        open_conns: Arc<AtomicUsize>,
    ) -> Shard {
        let pools = UpstreamPools::new(&cfg.upstreams);
        let auth = RefCell::new(crate::auth::shard::ShardAuth::new(
            &cfg.auth,
            metrics.clone(),
        ));
        let scratch = super::scratch::ScratchPool::new(cfg.server.max_header_bytes);
        Shard {
            id,
            cfg,
            metrics,
            ids: RequestIdGen::new(id),
            pools,
            scratch,
            bodies: Default::default(),
            conns: ConnRegistry::default(),
            shutting_down: Cell::new(false),
            open_conns,
            auth,
            date: RefCell::new((0, [b' '; 29])),
        }
    }

    /// Reserves a slot under the global connection limit.
    pub fn try_open_conn(&self) -> bool {
        let max = self.cfg.server.max_connections;
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

/// Open client connections, each with a flag saying whether it is idle
/// (waiting for the next request) so shutdown can close exactly those.
#[derive(Default)]
pub struct ConnRegistry {
    next: Cell<u64>,
    open: RefCell<HashMap<u64, OpenConn>>,
}

/// A registered connection: its socket and its shared idle flag.
type OpenConn = (RawFd, Rc<Cell<bool>>);

impl ConnRegistry {
    /// Registers a connection; the returned flag is its idle state.
    pub fn add(&self, fd: RawFd) -> (u64, Rc<Cell<bool>>) {
        let id = self.next.get();
        self.next.set(id + 1);
        let idle = Rc::new(Cell::new(true));
        self.open.borrow_mut().insert(id, (fd, idle.clone()));
        (id, idle)
    }

    /// Forgets a closed connection.
    pub fn remove(&self, id: u64) {
        self.open.borrow_mut().remove(&id);
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.open.borrow().len()
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.open.borrow().is_empty()
    }

    /// Shuts down every idle connection's socket so its pending read ends.
    pub fn close_idle(&self) {
        for (fd, idle) in self.open.borrow().values() {
            if idle.get() {
                // SAFETY: the fd is open (removed from the registry before close).
                unsafe { libc::shutdown(*fd, libc::SHUT_RDWR) };
            }
        }
    }
}
