//! The checker against real sockets on 127.0.0.1: backends that answer 200
//! or 500, stall, or are not there; the board must follow within bounded time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::*;
use crate::config::upstream::{ExpectStatus, HealthSpec};
use crate::config::Compiled;
use crate::upstream::Shared;

#[path = "../../../tests/common/poll.rs"]
mod poll;
use poll::eventually;

const OK: u8 = 0;
const FAIL: u8 = 1;
const STALL: u8 = 2;

/// A backend on a test thread whose answer `mode` picks.
struct Backend {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    fn start(mode: u8) -> Backend {
        Backend::on(TcpListener::bind("127.0.0.1:0").unwrap(), mode)
    }

    fn on(listener: TcpListener, mode: u8) -> Backend {
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let mode = Arc::new(AtomicU8::new(mode));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, r, s) = (mode.clone(), requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut stalled = Vec::new();
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((c, _)) => {
                        if let Some(c) = serve(c, m.load(Ordering::Relaxed), &r) {
                            stalled.push(c);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Backend {
            addr,
            mode,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::Relaxed);
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request head and answers as `mode` says; a stalled connection
/// is handed back to be held open, unanswered.
fn serve(mut c: TcpStream, mode: u8, seen: &Mutex<Vec<Vec<u8>>>) -> Option<TcpStream> {
    c.set_nonblocking(false).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut req = Vec::new();
    let mut b = [0u8; 1024];
    while !req.ends_with(b"\r\n\r\n") {
        match c.read(&mut b) {
            Ok(0) | Err(_) => return None,
            Ok(n) => req.extend_from_slice(&b[..n]),
        }
    }
    seen.lock().unwrap().push(req);
    let answer: &[u8] = match mode {
        OK => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        FAIL => b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        _ => return Some(c),
    };
    let _ = c.write_all(answer);
    None
}

/// A port nothing listens on: bound, then closed.
fn refused_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn spec(interval_ms: u64, timeout_ms: u64, healthy: u32, unhealthy: u32) -> HealthSpec {
    HealthSpec {
        path: "/healthz".into(),
        host: None,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        healthy_threshold: healthy,
        unhealthy_threshold: unhealthy,
        expect: ExpectStatus::Success,
    }
}

/// A config whose upstream `i` has `targets[i]` and `health[i]`.
fn config(targets: &[&[SocketAddr]], health: Vec<Option<HealthSpec>>) -> Arc<Compiled> {
    use std::fmt::Write as _;
    let mut src = String::from("[server]\nlisten = \"127.0.0.1:0\"\n");
    for (i, ts) in targets.iter().enumerate() {
        let list: Vec<String> = ts.iter().map(|a| format!("\"{a}\"")).collect();
        let _ = write!(
            src,
            "\n[[upstreams]]\nname = \"up{i}\"\ntargets = [{}]\n",
            list.join(", ")
        );
    }
    let mut cfg = crate::config::load_str(&src, "t.toml").unwrap_or_else(|e| panic!("{e}"));
    for (u, h) in cfg.upstreams.iter_mut().zip(health) {
        u.health = h;
    }
    Arc::new(cfg)
}

/// Every upstream's board, addressed by (upstream, slot) as the tests read it.
struct Board(Arc<Shared>);

impl Board {
    fn is_healthy(&self, up: usize, t: usize) -> bool {
        self.0
            .upstreams
            .get(up)
            .map_or(true, |u| u.health.is_healthy(t))
    }

    fn detail(&self, up: usize, t: usize) -> super::TargetHealth {
        match self.0.upstreams.get(up) {
            Some(u) => u.health.detail(t),
            None => HealthBoard::new(0, false).detail(t),
        }
    }
}

/// The checker's view of a fixed generation: always `shared`.
fn source(shared: &Arc<Shared>) -> super::Source {
    let s = shared.clone();
    Box::new(move || s.clone())
}

/// Starts the board and the checker for `cfg`.
fn run(cfg: &Arc<Compiled>) -> (Board, HealthChecker) {
    let shared = Arc::new(Shared::new(cfg, 1));
    let checker = spawn(source(&shared)).unwrap().unwrap();
    (Board(shared), checker)
}

/// Generous on a loaded 2-core machine; a pass takes a fraction of this.
const BOUND: Duration = Duration::from_secs(5);

#[test]
fn a_500_takes_the_target_out_and_a_200_brings_it_back() {
    let b = Backend::start(OK);
    let cfg = config(&[&[b.addr]], vec![Some(spec(50, 1000, 2, 3))]);
    let (board, _checker) = run(&cfg);
    assert!(board.is_healthy(0, 0), "starts healthy");
    assert!(eventually(BOUND, || board.detail(0, 0).checks >= 2));
    let d = board.detail(0, 0);
    assert_eq!(d.last, Some(CheckResult::Status(200)));
    assert!(
        d.checked && d.healthy && d.passes >= 2 && d.failures == 0,
        "{d:?}"
    );
    assert!(d.last_ns > 0);

    b.set(FAIL);
    assert!(
        eventually(BOUND, || !board.is_healthy(0, 0)),
        "{:?}",
        board.detail(0, 0)
    );
    let d = board.detail(0, 0);
    assert_eq!(d.last, Some(CheckResult::Status(500)));
    assert!(d.failures >= 3 && d.failed_checks >= 3, "{d:?}");
    assert_eq!(d.transitions, 1);

    b.set(OK);
    assert!(
        eventually(BOUND, || board.is_healthy(0, 0)),
        "{:?}",
        board.detail(0, 0)
    );
    let d = board.detail(0, 0);
    assert!(d.passes >= 2, "{d:?}");
    assert_eq!(d.transitions, 2);
}

#[test]
fn a_closed_port_is_taken_out_and_rejoins_when_it_listens_again() {
    let addr = refused_addr();
    let cfg = config(&[&[addr]], vec![Some(spec(50, 1000, 1, 2))]);
    let (board, _checker) = run(&cfg);
    assert!(eventually(BOUND, || !board.is_healthy(0, 0)));
    assert_eq!(board.detail(0, 0).last, Some(CheckResult::Refused));

    let _b = Backend::on(TcpListener::bind(addr).unwrap(), OK);
    assert!(
        eventually(BOUND, || board.is_healthy(0, 0)),
        "{:?}",
        board.detail(0, 0)
    );
    assert_eq!(board.detail(0, 0).last, Some(CheckResult::Status(200)));
}

/// One upstream: target 0 stalls, target 1 answers 200.
fn stalled_and_good(h: HealthSpec) -> (Backend, Backend, Arc<Compiled>) {
    let stalled = Backend::start(STALL);
    let good = Backend::start(OK);
    let cfg = config(&[&[stalled.addr, good.addr]], vec![Some(h)]);
    (stalled, good, cfg)
}

#[test]
fn a_stalled_target_fails_by_its_timeout_without_delaying_others() {
    let (_stalled, _good, cfg) = stalled_and_good(spec(50, 400, 1, 2));
    let t0 = Instant::now();
    let (board, _checker) = run(&cfg);
    assert!(
        eventually(BOUND, || !board.is_healthy(0, 0)),
        "{:?}",
        board.detail(0, 0)
    );
    let took = t0.elapsed();
    let d = board.detail(0, 0);
    assert_eq!(d.last, Some(CheckResult::Timeout));
    // Two timed-out checks: not before two timeouts, less a coarse-clock
    // tick or two (the first check starts within 5 ms of spawning).
    assert!(took >= Duration::from_millis(780), "{took:?}");
    // Meanwhile the other target was checked about every 50 ms.
    let g = board.detail(0, 1);
    assert!(g.healthy && g.failed_checks == 0, "{g:?}");
    assert!(
        g.checks as u128 >= took.as_millis() / 50 / 2,
        "{} checks in {took:?}",
        g.checks
    );
}

#[test]
fn checks_send_the_path_host_and_agent_and_honour_expect_status() {
    let b = Backend::start(OK);
    let mut h = spec(50, 1000, 1, 1);
    h.path = "/status?deep=1".into();
    h.host = Some("api.internal".into());
    h.expect = ExpectStatus::List(Box::new([204]));
    let cfg = config(&[&[b.addr]], vec![Some(h)]);
    let (board, _checker) = run(&cfg);
    assert!(eventually(BOUND, || !board.is_healthy(0, 0)));
    assert_eq!(board.detail(0, 0).last, Some(CheckResult::Status(200)));
    let first = b.requests.lock().unwrap()[0].clone();
    assert_eq!(
        String::from_utf8_lossy(&first),
        "GET /status?deep=1 HTTP/1.1\r\nHost: api.internal\r\nUser-Agent: ringway-health\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn unchecked_upstreams_stay_healthy_and_need_no_thread() {
    let cfg = config(&[&[refused_addr(), refused_addr()]], vec![None]);
    let shared = Arc::new(Shared::new(&cfg, 1));
    let board = Board(shared.clone());
    assert!(spawn(source(&shared)).unwrap().is_none());
    assert!(board.is_healthy(0, 0) && board.is_healthy(0, 1));
    let d = board.detail(0, 1);
    assert!(
        !d.checked && d.healthy && d.checks == 0 && d.last.is_none(),
        "{d:?}"
    );
    // Out of range reads as healthy, never a panic.
    assert!(board.is_healthy(0, 2) && board.is_healthy(1, 0));
    assert!(board.detail(7, 7).healthy);
}

#[test]
fn only_checked_upstreams_are_checked() {
    let dead = refused_addr();
    let cfg = config(&[&[dead], &[dead]], vec![None, Some(spec(50, 1000, 1, 1))]);
    let (board, _checker) = run(&cfg);
    assert!(eventually(BOUND, || !board.is_healthy(1, 0)));
    assert!(board.is_healthy(0, 0));
    assert_eq!(board.detail(0, 0).checks, 0);
}

#[test]
fn stop_is_prompt_even_with_a_check_in_flight() {
    let b = Backend::start(STALL);
    let cfg = config(&[&[b.addr]], vec![Some(spec(1000, 10_000, 1, 1))]);
    let (_board, checker) = run(&cfg);
    assert!(eventually(BOUND, || !b.requests.lock().unwrap().is_empty()));
    let t = Instant::now();
    checker.stop();
    // About 1 ms in practice (the stop wakes poll(2) at once); the bound is
    // twice the ~100 ms promised, for a loaded machine.
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
}

/// CPU time (ticks) of every checker thread in this process, summed.
fn checker_cpu_ticks() -> u64 {
    let mut sum = 0;
    for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim() != "ringway-health" {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<u64> = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|v| v.parse().ok())
            .collect();
        sum += f.iter().sum::<u64>();
    }
    sum
}

#[test]
fn the_checker_sleeps_between_checks_and_deadlines() {
    let (_stalled, _good, cfg) = stalled_and_good(spec(50, 5_000, 1, 1));
    let (board, _checker) = run(&cfg);
    assert!(eventually(BOUND, || board.detail(0, 1).checks >= 1));
    let before = checker_cpu_ticks();
    let t = Instant::now();
    assert!(eventually(BOUND, || t.elapsed() >= Duration::from_secs(1)));
    let used = checker_cpu_ticks().saturating_sub(before);
    // A busy loop would burn ~100 ticks (1 s at 100 Hz); ~20 checks cost ~0.
    assert!(used < 30, "checker threads used {used} ticks in 1 s");
    assert!(board.detail(0, 1).checks >= 5);
}

#[test]
fn the_checker_follows_the_target_set() {
    use crate::discovery::{Target, TargetSink};
    let (a, b, c) = (Backend::start(OK), Backend::start(FAIL), Backend::start(OK));
    let cfg = config(&[&[a.addr, b.addr]], vec![Some(spec(50, 1000, 1, 2))]);
    let shared = Arc::new(Shared::new(&cfg, 1));
    let _checker = spawn(source(&shared)).unwrap().unwrap();
    let board = Board(shared.clone());
    assert!(eventually(BOUND, || !board.is_healthy(0, 1)), "b fails");
    let target = |addr| Target { addr, weight: 1 };
    // b leaves: its checks stop.
    shared.publish(0, vec![target(a.addr)]);
    std::thread::sleep(Duration::from_millis(400));
    let seen = b.requests.lock().unwrap().len();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        b.requests.lock().unwrap().len(),
        seen,
        "b is no longer checked"
    );
    // c joins in b's slot once the (only) shard applied b's removal: it
    // starts healthy, with no history of b's, and is checked from then on.
    let roster = &shared.upstreams[0].roster;
    roster.applied(0, roster.current().generation);
    shared.publish(0, vec![target(a.addr), target(c.addr)]);
    assert_eq!(roster.current().slot_of(c.addr), Some(1));
    assert!(board.is_healthy(0, 1));
    assert_eq!(board.detail(0, 1).transitions, 0);
    assert!(eventually(BOUND, || !c.requests.lock().unwrap().is_empty()));
    assert!(eventually(BOUND, || board.detail(0, 1).last
        == Some(CheckResult::Status(200))));
    assert!(board.is_healthy(0, 1) && board.is_healthy(0, 0));
}
