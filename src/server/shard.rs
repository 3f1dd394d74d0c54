//! One shard: an OS thread pinned to a core, running its own monoio runtime
//! (io_uring built as `server::ring` says, or epoll where io_uring is
//! unavailable) with its own
//! `SO_REUSEPORT` listeners (`listen`, and `tls_listen` when set), an
//! accept loop on each, and its connections.
//!
//! Owns: the runtime, the accept loop, and the shard's part of graceful
//! shutdown. Must never: share mutable state with another shard.

use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::io::AsyncReadRent;
use monoio::net::{TcpListener, UnixStream};

use super::respond;
use super::ring::{self, RingMode};
use super::state::Shard;
use super::stream::Stream;
use crate::config::IoMode;
use crate::observe::log::{self, Val};
use crate::observe::Metrics;
use crate::reload::publish::Published;
use crate::reload::Generation;

/// The I/O driver a shard runs on and, for io_uring, its ring mode
/// (`server::ring`); `("epoll", "none")` otherwise.
pub type IoKind = (&'static str, &'static str);

/// What a shard reports once its listener is ready (or why it is not).
pub type Ready = Result<IoKind, String>;

/// Everything a shard thread is started with. The shard's own state is
/// built on its thread (it is `!Send`), from these parts.
pub struct ShardStart {
    /// Index of this shard.
    pub id: usize,
    /// Where the control plane publishes configuration generations.
    pub published: Arc<Published<Generation>>,
    /// Every shard's counters and the configuration gauges.
    pub metrics: Metrics,
    /// Open client connections across all shards.
    pub open_conns: Arc<AtomicUsize>,
    /// This shard's access-log and span handles.
    pub telemetry: crate::observe::telemetry::ShardTelemetry,
    /// The core to pin to, if any.
    pub core: Option<core_affinity::CoreId>,
    /// Which I/O driver to use.
    pub io: IoMode,
    /// `server.ring_setup`.
    pub ring_setup: crate::config::RingSetup,
    /// The shard's plain HTTP listener (`server.listen`), if configured.
    pub listener: Option<std::net::TcpListener>,
    /// Its HTTPS listener (`server.tls_listen`), if configured.
    pub tls_listener: Option<std::net::TcpListener>,
    /// The shard's end of the control channel: one byte means "shut down".
    pub control: std::os::unix::net::UnixStream,
    /// Where readiness is reported.
    pub ready: Sender<Ready>,
}

/// Runs a shard to completion on the current thread; returns the number of
/// connections still open when the shutdown grace period ended.
pub fn run(start: ShardStart) -> usize {
    if let Some(core) = start.core {
        core_affinity::set_for_current(core);
    }
    let id = start.id;
    let use_uring = match start.io {
        IoMode::Epoll => false,
        IoMode::IoUring | IoMode::Auto => true,
    };
    if use_uring {
        let setup = start.ring_setup;
        match ring::build(setup) {
            Ok((mut rt, mode)) => {
                let preferred = RingMode::candidates(setup)[0];
                if id == 0 && mode != preferred {
                    log::info(
                        "io_uring setup flags unavailable on this kernel, using fewer",
                        &[
                            ("wanted", Val::Str(preferred.as_str())),
                            ("ring", Val::Str(mode.as_str())),
                        ],
                    );
                }
                return rt.block_on(shard_main(start, ("io_uring", mode.as_str())));
            }
            Err(e) if start.io == IoMode::Auto => {
                if id == 0 {
                    log::warn(
                        "io_uring unavailable, falling back to epoll",
                        &[("error", Val::Str(&e.to_string()))],
                    );
                }
            }
            Err(e) => {
                let _ = start.ready.send(Err(format!("io_uring unavailable: {e}")));
                return 0;
            }
        }
    }
    match monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
    {
        Ok(mut rt) => rt.block_on(shard_main(start, ("epoll", "none"))),
        Err(e) => {
            let _ = start
                .ready
                .send(Err(format!("cannot start epoll runtime: {e}")));
            0
        }
    }
}

async fn shard_main(start: ShardStart, io: IoKind) -> usize {
    let ShardStart {
        id,
        published,
        metrics,
        open_conns,
        telemetry,
        listener,
        tls_listener,
        control,
        ready,
        ..
    } = start;
    let sh = Rc::new(Shard::new(id, published, metrics, open_conns, telemetry));
    let listener = match listener.map(to_monoio).transpose() {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!("listener: {e}")));
            return 0;
        }
    };
    let tls_listener = match tls_listener.map(to_monoio).transpose() {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!("tls listener: {e}")));
            return 0;
        }
    };
    let control = match control
        .set_nonblocking(true)
        .and_then(|_| UnixStream::from_std(control))
    {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(format!("control channel: {e}")));
            return 0;
        }
    };
    let fds = [&listener, &tls_listener].map(|l| l.as_ref().map(|l| l.as_raw_fd()));
    monoio::spawn(watch_control(sh.clone(), control, fds));
    let tls_loop = tls_listener.map(|l| monoio::spawn(accept_loop(sh.clone(), l, true)));
    monoio::spawn(sweep_pools(sh.clone()));
    monoio::spawn(expire_parked(sh.clone()));
    monoio::spawn(super::lag::watch(sh.clone()));
    if sh.telemetry.access.is_some() {
        monoio::spawn(flush_access_log(sh.clone()));
    }
    let _ = ready.send(Ok(io));

    if let Some(l) = listener {
        accept_loop(sh.clone(), l, false).await;
    }
    if let Some(t) = tls_loop {
        t.await;
    }
    drain(&sh).await
}

fn to_monoio(l: std::net::TcpListener) -> std::io::Result<TcpListener> {
    l.set_nonblocking(true)?;
    TcpListener::from_std(l)
}

/// Accepts on one listener until shutdown; `tls` connections are served
/// after a TLS handshake (`crate::tls`).
async fn accept_loop(sh: Rc<Shard>, listener: TcpListener, tls: bool) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if sh.shutting_down.get() {
                    break;
                }
                if !sh.try_open_conn() {
                    let sh = sh.clone();
                    // Over the limit a TLS client gets no handshake: the
                    // 503 is for plain HTTP, a TLS client sees a close.
                    monoio::spawn(async move {
                        respond::refuse_connection(&sh, Stream::Plain(stream), !tls).await
                    });
                    continue;
                }
                sh.metrics.connections_accepted.inc();
                if tls {
                    monoio::spawn(super::handshake::serve_tls(sh.clone(), stream, peer));
                } else {
                    monoio::spawn(super::conn::serve(sh.clone(), Stream::Plain(stream), peer));
                }
            }
            Err(_) if sh.shutting_down.get() => break,
            Err(e) => {
                // Out of descriptors or memory: back off instead of spinning.
                log::error("accept failed", &[("error", Val::Str(&e.to_string()))]);
                monoio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Waits for the control byte, then starts this shard's shutdown.
/// `listen_fds`: the plain and the TLS listener, where configured.
async fn watch_control(sh: Rc<Shard>, mut control: UnixStream, listen_fds: [Option<RawFd>; 2]) {
    let buf = vec![0u8; 1];
    let _ = control.read(buf).await;
    sh.shutting_down.set(true);
    for fd in listen_fds.into_iter().flatten() {
        // Wakes the pending accept; the listener is closed by its accept loop.
        // SAFETY: each listener outlives this call (it is dropped after its
        // accept returns).
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    }
    sh.conns.close_idle();
    sh.current().upstreams.clear_pools();
}

/// Lets in-flight requests (and upgraded connections) finish within the
/// grace period, then closes what is left; returns how many were left.
async fn drain(sh: &Rc<Shard>) -> usize {
    let deadline = Instant::now() + sh.current().cfg.server.shutdown_grace;
    while !sh.conns.is_empty() && Instant::now() < deadline {
        // Connections that became idle since the signal close here.
        sh.conns.close_idle();
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    let left = sh.conns.len();
    if left > 0 {
        // Shut down, not just dropped with the runtime: the clients see a
        // close now, and an upgraded connection's tunnel ends and records
        // its line (`tunnel`), within `CLOSE_WAIT`.
        const CLOSE_WAIT: Duration = Duration::from_millis(200);
        sh.conns.close_all();
        let until = Instant::now() + CLOSE_WAIT;
        while !sh.conns.is_empty() && Instant::now() < until {
            monoio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    sh.current().upstreams.clear_pools();
    // The lines of the requests that finished while draining.
    sh.telemetry.flush();
    left
}

/// Hands the access-log lines gathered in the last `FLUSH_EVERY` to the
/// writer, so a quiet shard's lines do not wait for a full buffer.
async fn flush_access_log(sh: Rc<Shard>) {
    const FLUSH_EVERY: Duration = Duration::from_millis(100);
    while !sh.shutting_down.get() {
        monoio::time::sleep(FLUSH_EVERY).await;
        sh.telemetry.flush();
    }
}

/// Times out parked connections (`ConnRegistry`): wakes at the earliest
/// deadline, or every `PARKED_TICK` so a newly parked connection with a
/// nearer deadline waits at most that much longer than it should.
async fn expire_parked(sh: Rc<Shard>) {
    const PARKED_TICK: Duration = Duration::from_millis(100);
    while !sh.shutting_down.get() {
        let now = Instant::now();
        let next = sh
            .conns
            .expire(now, |k| sh.metrics.timeout(k))
            .map_or(PARKED_TICK, |at| (at - now).min(PARKED_TICK));
        monoio::time::sleep(next).await;
    }
}

/// Once a second: takes up a configuration generation no request has
/// picked up, applies target-set changes no request has picked up (so an
/// idle shard lets go of removed targets too, and their slots can be
/// reused), closes expired idle upstream connections and frees the working
/// sets and body buffers a burst left unused.
async fn sweep_pools(sh: Rc<Shard>) {
    loop {
        monoio::time::sleep(Duration::from_secs(1)).await;
        if sh.shutting_down.get() {
            return;
        }
        sh.gen().upstreams.refresh_all();
        if sh.scratch.trim() + sh.bodies.trim() + sh.pipes.trim() > 0 {
            release_freed_memory();
        }
    }
}

/// Hands pages freed on this thread back to the OS. mimalloc would purge
/// them only when this thread next allocates or frees enough, and a shard
/// whose connections all went idle does neither, so a burst's peak would
/// stay resident. Called only after a trim freed something: a steady load
/// never pays for it.
fn release_freed_memory() {
    // SAFETY: mi_collect only walks and purges the calling thread's own heap
    // (and abandoned segments); it has no preconditions.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
