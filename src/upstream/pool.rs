//! Per-shard upstream connection pools.
//!
//! Each shard keeps, per upstream, a LIFO stack of idle keep-alive
//! connections (the most recently used one is the most likely to still be
//! open), bounded by `max_idle_per_shard` and expired after `idle_timeout`.
//! Plain `RefCell`s: a pool is only ever touched by its own shard's thread.
//! A connection is plain or TLS (`tls = true`): opening one runs the TLS
//! handshake too, within the same connect timeout, and a TLS connection is
//! pooled and reused like a plain one.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;
use monoio::net::TcpStream;
use rustls::ClientConnection;

use super::breaker::ConnSlot;
use super::shared::TargetStats;
use super::UpstreamError;
use crate::config::UpstreamSpec;
use crate::observe::log::{self, Val};
use crate::server::stream::TlsConn;
use crate::tls::{Peer, Shake, TlsFail};

/// An upstream connection's stream: plain TCP, or TLS (rustls' client side).
pub type UpstreamStream = crate::server::stream::Stream<ClientConnection>;

/// Size of the read buffer each upstream connection owns.
pub const UPSTREAM_BUF: usize = 32 * 1024;

/// A connection to one target of one upstream, owned by one shard.
pub struct UpstreamConn {
    /// The socket, or the TLS session over it.
    pub stream: UpstreamStream,
    /// Read buffer for response heads and bodies.
    pub buf: BytesMut,
    /// The target's slot in the upstream (`super::roster`).
    pub target: usize,
    /// The target's address.
    pub addr: SocketAddr,
    /// True when this connection came out of the idle pool.
    pub reused: bool,
    idle_since: Instant,
    /// Its place under the upstream's `max_connections`, freed on drop.
    _slot: ConnSlot,
}

/// One upstream's idle connections on one shard.
pub struct Pool {
    /// Idle connections per target slot, most recently used last.
    idle: RefCell<Vec<VecDeque<UpstreamConn>>>,
}

impl Pool {
    /// An empty pool for `slots` target slots.
    pub fn new(slots: usize) -> Pool {
        Pool {
            idle: RefCell::new((0..slots).map(|_| VecDeque::new()).collect()),
        }
    }

    /// An idle connection to slot `target` that has not expired.
    pub fn checkout(&self, target: usize, spec: &UpstreamSpec) -> Option<UpstreamConn> {
        let mut idle = self.idle.borrow_mut();
        let idle = idle.get_mut(target)?;
        while let Some(mut c) = idle.pop_back() {
            if c.idle_since.elapsed() < spec.idle_timeout {
                c.reused = true;
                return Some(c);
            }
        }
        None
    }

    /// Returns a connection whose last exchange completed cleanly.
    /// `holder` is the address slot `conn.target` holds as this shard last
    /// applied its set: a connection to another address is closed instead,
    /// since its target left while the response was relayed (its attempt
    /// ended at the response head), and the slot may already be another
    /// target's, whose requests must not go over it.
    pub fn checkin(&self, spec: &UpstreamSpec, mut conn: UpstreamConn, holder: SocketAddr) {
        // Leftover bytes mean the upstream sent more than the framing said:
        // the connection is out of sync and must not carry another request.
        if spec.max_idle_per_shard == 0 || !conn.buf.is_empty() || conn.addr != holder {
            return;
        }
        conn.idle_since = Instant::now();
        let mut idle = self.idle.borrow_mut();
        let total: usize = idle.iter().map(VecDeque::len).sum();
        let target = conn.target;
        if total >= spec.max_idle_per_shard {
            // Over the bound: drop the oldest connection of the fullest target.
            if let Some(q) = idle.iter_mut().max_by_key(|q| q.len()) {
                q.pop_front();
            }
        }
        if let Some(q) = idle.get_mut(target) {
            q.push_back(conn);
        }
    }

    /// Closes idle connections older than the upstream's idle timeout.
    pub fn sweep(&self, spec: &UpstreamSpec) {
        for q in self.idle.borrow_mut().iter_mut() {
            q.retain(|c| c.idle_since.elapsed() < spec.idle_timeout);
        }
    }

    /// Closes the idle connections to slot `target` (it changed hands, or
    /// was given up).
    pub fn forget(&self, target: usize) {
        if let Some(q) = self.idle.borrow_mut().get_mut(target) {
            q.clear();
        }
    }

    /// Closes every idle connection (shutdown, or the upstream left the
    /// configuration).
    pub fn clear(&self) {
        self.idle.borrow_mut().iter_mut().for_each(VecDeque::clear);
    }
}

/// Opens a new connection to `addr` within the upstream's connect timeout,
/// which covers the TLS handshake of a `tls = true` upstream too (as
/// Envoy's does). A TLS failure is counted on `stats` and logged.
pub async fn connect(
    spec: &UpstreamSpec,
    target: usize,
    addr: SocketAddr,
    slot: ConnSlot,
    stats: &TargetStats,
) -> Result<UpstreamConn, UpstreamError> {
    let stream = match monoio::time::timeout(spec.connect_timeout, open(spec, addr)).await {
        Err(_) => return Err(UpstreamError::ConnectTimeout),
        Ok(Err(Opened::Tcp)) => return Err(UpstreamError::Unavailable),
        Ok(Err(Opened::Tls(shake))) => {
            let (reason, detail) = match &shake {
                Shake::Closed => (TlsFail::Closed, "closed during the handshake".into()),
                Shake::Tls(e) => (TlsFail::classify(e), e.to_string()),
            };
            return Err(tls_failed(spec, addr, stats, reason, &detail));
        }
        Ok(Ok(s)) => s,
    };
    Ok(UpstreamConn {
        stream,
        buf: BytesMut::with_capacity(UPSTREAM_BUF),
        target,
        addr,
        reused: false,
        idle_since: Instant::now(),
        _slot: slot,
    })
}

/// What failed while opening a connection.
enum Opened {
    Tcp,
    Tls(Shake),
}

async fn open(spec: &UpstreamSpec, addr: SocketAddr) -> Result<UpstreamStream, Opened> {
    let tcp = TcpStream::connect_addr(addr)
        .await
        .map_err(|_| Opened::Tcp)?;
    let _ = tcp.set_nodelay(true);
    let Some(tls) = &spec.tls else {
        return Ok(UpstreamStream::Plain(tcp));
    };
    let name = tls.name_for(addr);
    match crate::tls::connect(tcp, tls.config.clone(), name).await {
        Ok(io) => Ok(UpstreamStream::Tls(Box::new(TlsConn {
            io,
            peer: Peer::default(),
        }))),
        Err(e) => Err(Opened::Tls(e)),
    }
}

/// The error for a TLS failure with `addr`, counted and logged with
/// rustls' explanation (`detail`): the one place either is done.
pub fn tls_failed(
    spec: &UpstreamSpec,
    addr: SocketAddr,
    stats: &TargetStats,
    reason: TlsFail,
    detail: &str,
) -> UpstreamError {
    stats.tls_failures[reason as usize].inc();
    let target = addr.to_string();
    log::warn(
        "upstream TLS failed",
        &[
            ("upstream", Val::Str(&spec.name)),
            ("target", Val::Str(&target)),
            ("reason", Val::Str(reason.as_str())),
            ("detail", Val::Str(detail)),
        ],
    );
    UpstreamError::Tls(reason)
}

/// The error a failed read or write on `conn` stands for: `otherwise`,
/// unless the TLS session failed (a TLS 1.3 upstream refuses a client
/// certificate only after the handshake), which is counted and logged.
pub fn io_failed(
    spec: &UpstreamSpec,
    conn: &mut UpstreamConn,
    stats: &TargetStats,
    otherwise: UpstreamError,
) -> UpstreamError {
    let UpstreamStream::Tls(t) = &mut conn.stream else {
        return otherwise;
    };
    match t.io.failure() {
        Some(e) => tls_failed(
            spec,
            conn.addr,
            stats,
            TlsFail::classify(&e),
            &e.to_string(),
        ),
        None => otherwise,
    }
}
