//! The data plane's entry: binds the listeners, starts one pinned shard per
//! worker, reports readiness, turns SIGHUP into a reload
//! (`crate::reload`) and SIGTERM/SIGINT into a graceful shutdown.
//!
//! Owns: process-level lifecycle. Must never: run request work on the main
//! thread (it only waits for signals and joins shards).

mod admit;
mod body;
mod cache_fill;
mod cached;
mod conn;
mod exchange;
mod generation;
mod halves;
mod handshake;
mod head;
mod lag;
mod pipeline;
mod proxy;
mod readiness;
mod report;
mod request;
mod respond;
mod ring;
mod scratch;
mod shard;
mod spares;
mod splice;
mod state;
pub mod stream;
mod tunnel;
mod upgrade;
mod wire;

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::AtomicUsize;
use std::sync::{mpsc, Arc};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use socket2::{Domain, Protocol, Socket, Type};

use crate::config::Compiled;
use crate::observe::log::{self, Val};
use crate::observe::Metrics;
use crate::reload::{Reloader, Source, Trigger};

pub use readiness::{Phase, Readiness};

/// Why the gateway could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Runs the gateway until SIGTERM or SIGINT, then shuts down gracefully;
/// SIGHUP reloads the configuration from `source`. `load_time` is how long
/// reading and compiling `cfg` took (a metric).
pub fn run(
    cfg: Arc<Compiled>,
    load_time: std::time::Duration,
    source: Source,
) -> Result<(), StartError> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let workers = match cfg.server.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // Each listener one per shard; either may be absent (config checks
    // that one is there).
    let mut listeners = bind_optional("listen", cfg.server.listen, workers)?;
    let mut tls_listeners = bind_optional("tls_listen", cfg.server.tls_listen, workers)?;
    let addr = first_addr(&listeners)?;
    let tls_addr = first_addr(&tls_listeners)?;
    // One counter set per shard, and one for the admin listener's errors.
    let metrics = Metrics::new(workers);
    // Register before any shard runs so an early signal is not lost.
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| StartError(format!("signal handlers: {e}")))?;

    // Control plane: generation 1 and the threads that follow the
    // generation (health checks, discovery, the registry, the roster tick,
    // the auth file watcher); they stop when `reloader` drops, on return.
    let reloader = Reloader::start(source, cfg.clone(), workers, metrics.clone(), load_time)
        .map_err(StartError)?;
    let registry = reloader.followers().registry();

    // The access log and span exporter: their threads outlive the shards,
    // so the shards' last lines and spans are written.
    let telemetry = crate::observe::telemetry::Telemetry::start(&cfg, workers)
        .map_err(|e| StartError(format!("access log: {e}")))?;

    let readiness = Arc::new(Readiness::default());
    let registry_listen = registry.as_ref().and_then(|r| r.spec().listen);
    if cfg.server.admin_listen.is_some() || registry_listen.is_some() {
        let plane = crate::admin::AdminStart {
            reloader: reloader.clone(),
            readiness: readiness.clone(),
            telemetry: telemetry.stats(),
            registry: registry.clone(),
        };
        let bound = crate::admin::spawn(plane).map_err(|e| bind_error(e.key, e.addr, &e.error))?;
        if let Some(a) = bound.admin {
            log::info("admin listening", &[("addr", Val::Str(&a.to_string()))]);
        }
        if let Some(a) = bound.registry {
            log::info("registry listening", &[("addr", Val::Str(&a.to_string()))]);
        }
    }

    let open_conns = Arc::new(AtomicUsize::new(0));
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut controls = Vec::with_capacity(workers);
    let mut threads = Vec::with_capacity(workers);
    for i in 0..workers {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| StartError(format!("control channel: {e}")))?;
        controls.push(ours);
        let core = pick_core(&cfg.server.cpus, &cores, i);
        let start = shard::ShardStart {
            id: i,
            published: reloader.published(),
            metrics: metrics.clone(),
            open_conns: open_conns.clone(),
            telemetry: telemetry.shard(i),
            core,
            io: cfg.server.io,
            ring_setup: cfg.server.ring_setup,
            listener: listeners.get_mut(i).and_then(Option::take),
            tls_listener: tls_listeners.get_mut(i).and_then(Option::take),
            control: theirs,
            ready: ready_tx.clone(),
        };
        let t = std::thread::Builder::new()
            .name(format!("ringway-shard-{i}"))
            .spawn(move || shard::run(start))
            .map_err(|e| StartError(format!("shard thread: {e}")))?;
        threads.push(t);
    }
    drop(ready_tx);

    let mut io = ("", "");
    for _ in 0..workers {
        match ready_rx.recv() {
            Ok(Ok(kind)) => io = kind,
            Ok(Err(e)) => {
                stop(&mut controls);
                return Err(StartError(e));
            }
            Err(_) => return Err(StartError("a shard exited during start-up".into())),
        }
    }
    readiness.advance(Phase::Ready);
    let (addr, tls_addr) = (addr.map(|a| a.to_string()), tls_addr.map(|a| a.to_string()));
    // Each address only when there is that listener: no empty field.
    let mut fields = Vec::with_capacity(5);
    if let Some(a) = &addr {
        fields.push(("addr", Val::Str(a)));
    }
    if let Some(t) = &tls_addr {
        fields.push(("tls_addr", Val::Str(t)));
    }
    fields.extend([
        ("shards", Val::Num(workers as u64)),
        ("io", Val::Str(io.0)),
        ("ring", Val::Str(io.1)),
    ]);
    log::info("listening", &fields);

    let signal = signals
        .forever()
        .find(|&s| {
            if s == SIGHUP {
                // Logged and counted by `reload`, whichever way it went.
                let _ = reloader.reload(Trigger::Signal);
                return false;
            }
            true
        })
        .unwrap_or(SIGTERM);
    let name = if signal == SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    // Not ready first, then the log line: whoever reads the line (an
    // operator, a test) finds /readyz already answering 503.
    readiness.advance(Phase::Draining);
    let grace = reloader.current().cfg.server.shutdown_grace;
    log::info(
        "shutting down",
        &[
            ("signal", Val::Str(name)),
            ("grace_ms", Val::Num(grace.as_millis() as u64)),
        ],
    );
    stop(&mut controls);
    let dropped: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    telemetry.shutdown();
    if let Some(r) = &registry {
        r.flush();
    }
    log::info(
        "stopped",
        &[("in_flight_dropped", Val::Num(dropped as u64))],
    );
    Ok(())
}

fn stop(controls: &mut [std::os::unix::net::UnixStream]) {
    for c in controls {
        let _ = c.write_all(b"x");
    }
}

/// Shard `i` runs on `cpus[i % len]` when configured, else on the i-th core.
fn pick_core(
    cpus: &Option<Vec<usize>>,
    cores: &[core_affinity::CoreId],
    i: usize,
) -> Option<core_affinity::CoreId> {
    match cpus {
        Some(list) if !list.is_empty() => {
            let want = list[i % list.len()];
            cores.iter().copied().find(|c| c.id == want)
        }
        _ if cores.is_empty() => None,
        _ => Some(cores[i % cores.len()]),
    }
}

/// `bind_all` when `listen` is configured: one slot per shard, each taken
/// by its shard; `None`s otherwise.
fn bind_optional(
    key: &str,
    listen: Option<SocketAddr>,
    workers: usize,
) -> Result<Vec<Option<TcpListener>>, StartError> {
    Ok(match listen {
        Some(a) => bind_all(key, a, workers)?.into_iter().map(Some).collect(),
        None => (0..workers).map(|_| None).collect(),
    })
}

/// The address the first shard's listener is bound to (the port the OS
/// picked for port 0), if there is that listener.
fn first_addr(listeners: &[Option<TcpListener>]) -> Result<Option<SocketAddr>, StartError> {
    match listeners.first() {
        Some(Some(l)) => l
            .local_addr()
            .map(Some)
            .map_err(|e| StartError(format!("listener address: {e}"))),
        _ => Ok(None),
    }
}

/// One `SO_REUSEPORT` listener per shard on the same address; port 0 is
/// resolved by the first bind and reused by the others. `key` names the
/// setting in errors.
fn bind_all(key: &str, listen: SocketAddr, workers: usize) -> Result<Vec<TcpListener>, StartError> {
    if listen.port() != 0 {
        probe(listen).map_err(|e| bind_error(key, listen, &e))?;
    }
    let mut addr = listen;
    let mut out = Vec::with_capacity(workers);
    for _ in 0..workers {
        let l = bind_one(addr).map_err(|e| bind_error(key, listen, &e))?;
        if addr.port() == 0 {
            addr = l
                .local_addr()
                .map_err(|e| StartError(format!("listener address: {e}")))?;
        }
        out.push(l);
    }
    Ok(out)
}

fn bind_one(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_nodelay(true)?;
    s.bind(&addr.into())?;
    s.listen(4096)?;
    Ok(s.into())
}

/// Binds `addr` without `SO_REUSEPORT` and closes it again. `SO_REUSEPORT`
/// lets a second process (another gateway, any program that sets it) share
/// a port and its traffic silently; this bind fails with `EADDRINUSE` while
/// anything listens there, whatever that owner set. `SO_REUSEADDR` only
/// ignores connections in TIME_WAIT, so a restart is not refused.
fn probe(addr: SocketAddr) -> std::io::Result<()> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())
}

/// The start-up error for a failed bind of the `what` listener on `addr`:
/// `EADDRINUSE` is spelled out as "address in use", as the README promises.
pub(crate) fn bind_error(what: &str, addr: SocketAddr, e: &std::io::Error) -> StartError {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => StartError(format!(
            "{what} = {addr}: address in use (another process is listening there)"
        )),
        _ => StartError(format!("{what} = {addr}: {e}")),
    }
}
