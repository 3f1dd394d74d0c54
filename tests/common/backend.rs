//! `Backend`: a test upstream whose behaviour is switched while it runs
//! (`Mode`: answer, answer slowly, fail, stall, close, fail only its health
//! checks), that can be killed and restarted on the same port, and that
//! counts the requests (with their arrival times) and the health checks it
//! received, across restarts.
//!
//! Must never: count a health check as a request, or stall a connection
//! longer than `STALL_MAX` (a stall also ends when the mode changes or the
//! backend is killed).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::upstream::{Received, Reply, Upstream};

/// The path of the gateway's active health checks in these tests.
pub const HEALTH_PATH: &str = "/healthz";
/// How long `Mode::Slow` waits before answering a request.
pub const SLOW: Duration = Duration::from_millis(50);
/// Longest stall of one connection.
const STALL_MAX: Duration = Duration::from_secs(30);

/// What a backend does with each request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// 200 echo, health checks pass.
    Ok,
    /// Requests answered after `SLOW`; health checks pass at once.
    Slow,
    /// 500 to everything, health checks included.
    Fail500,
    /// 503 to everything, health checks included.
    Fail503,
    /// Reads the request, then never answers until the mode changes.
    Stall,
    /// Reads the request, then closes without a byte.
    Close,
    /// Requests answered 200, health checks 503.
    HealthFail,
}

const MODES: [Mode; 7] = [
    Mode::Ok,
    Mode::Slow,
    Mode::Fail500,
    Mode::Fail503,
    Mode::Stall,
    Mode::Close,
    Mode::HealthFail,
];

struct State {
    name: String,
    mode: AtomicU8,
    /// Bumped by each kill, so a stalled handler of a dead incarnation ends.
    epoch: AtomicU64,
    hits: Mutex<Vec<Instant>>,
    checks: AtomicUsize,
}

impl State {
    fn mode(&self) -> Mode {
        MODES[self.mode.load(Ordering::SeqCst) as usize]
    }
}

/// A switchable, killable upstream.
pub struct Backend {
    addr: SocketAddr,
    state: Arc<State>,
    up: Option<Upstream>,
}

impl Backend {
    /// Starts a backend named `name` (its `x-upstream`) answering 200.
    pub fn start(name: &str) -> Backend {
        Self::with_mode(name, Mode::Ok)
    }

    /// Starts a backend in `mode`.
    pub fn with_mode(name: &str, mode: Mode) -> Backend {
        let state = Arc::new(State {
            name: name.to_string(),
            mode: AtomicU8::new(mode as u8),
            epoch: AtomicU64::new(0),
            hits: Mutex::new(Vec::new()),
            checks: AtomicUsize::new(0),
        });
        let up = Upstream::start(name, handler(state.clone()));
        Backend {
            addr: up.addr(),
            state,
            up: Some(up),
        }
    }

    /// Its address (the same across restarts).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Switches its behaviour for every request from now on.
    pub fn set(&self, mode: Mode) {
        self.state.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Stops listening and shuts every connection down, as a killed process.
    pub fn kill(&mut self) {
        self.state.epoch.fetch_add(1, Ordering::SeqCst);
        self.up = None;
    }

    /// Listens again on the same port (mode and counts are kept).
    pub fn restart(&mut self) {
        assert!(self.up.is_none(), "{} is running", self.name());
        let name = self.state.name.clone();
        self.up = Some(Upstream::start_on(
            self.addr,
            &name,
            handler(self.state.clone()),
        ));
    }

    /// Requests received so far (health checks excluded).
    pub fn hits(&self) -> usize {
        lock(&self.state.hits).len()
    }

    /// Requests received at or after `t`.
    pub fn hits_since(&self, t: Instant) -> usize {
        lock(&self.state.hits).iter().filter(|h| **h >= t).count()
    }

    /// Arrival time of the last request.
    pub fn last_hit(&self) -> Option<Instant> {
        lock(&self.state.hits).last().copied()
    }

    /// Health checks received so far.
    pub fn checks(&self) -> usize {
        self.state.checks.load(Ordering::SeqCst)
    }
}

/// One backend per name, all in `mode`.
pub fn fleet(names: &[&str], mode: Mode) -> Vec<Backend> {
    names.iter().map(|n| Backend::with_mode(n, mode)).collect()
}

/// Their addresses.
pub fn addrs(bs: &[Backend]) -> Vec<SocketAddr> {
    bs.iter().map(Backend::addr).collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn handler(state: Arc<State>) -> impl Fn(&Received) -> Reply + Send + Sync + 'static {
    let epoch = state.epoch.load(Ordering::SeqCst);
    move |rec: &Received| reply(&state, epoch, rec)
}

fn reply(st: &State, epoch: u64, rec: &Received) -> Reply {
    let check = rec.target.split('?').next() == Some(HEALTH_PATH);
    if check {
        st.checks.fetch_add(1, Ordering::SeqCst);
    } else {
        lock(&st.hits).push(Instant::now());
    }
    let mut mode = st.mode();
    if mode == Mode::Stall {
        let end = Instant::now() + STALL_MAX;
        while st.mode() == Mode::Stall
            && st.epoch.load(Ordering::SeqCst) == epoch
            && Instant::now() < end
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        if st.epoch.load(Ordering::SeqCst) != epoch {
            return Reply::Close;
        }
        mode = st.mode();
    }
    match (mode, check) {
        (Mode::Ok | Mode::Stall | Mode::Slow, true) | (Mode::Ok | Mode::Stall, false) => {
            Reply::Echo
        }
        (Mode::HealthFail, false) => Reply::Echo,
        (Mode::Slow, false) => Reply::Delay(SLOW, Box::new(Reply::Echo)),
        (Mode::Fail500, _) => Reply::Raw(status_response(500, &st.name)),
        (Mode::Fail503, _) | (Mode::HealthFail, true) => Reply::Raw(status_response(503, &st.name)),
        (Mode::Close, _) => Reply::Close,
    }
}

/// A keep-alive response with `status` and a short body, stamped `x-upstream: name`.
pub fn status_response(status: u16, name: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} Backend Says So\r\ncontent-length: 4\r\nx-upstream: {name}\r\n\r\nfail"
    )
    .into_bytes()
}
