//! Helpers for the upstream-resilience wire tests: a config with one
//! upstream `u` (weighted targets, keys, sub-tables such as
//! `[upstreams.health]`) behind a catch-all route, the admin `/upstreams`
//! view of one target, Prometheus samples summed by label, and client load
//! from several threads that records every request's outcome.
//!
//! Must never: wait without a deadline (every client read has the client
//! timeout, every load thread a stop flag or a request count).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::client::{RawClient, ReadOpts};
use super::config::server_section;
use super::gateway::Gateway;

/// `[upstreams.health]` keys for quick checks: every 100 ms, two results
/// to change state, on `backend::HEALTH_PATH`.
pub const FAST_HEALTH: &[(&str, &str)] = &[
    ("path", "\"/healthz\""),
    ("interval_ms", "100"),
    ("timeout_ms", "100"),
    ("healthy_threshold", "2"),
    ("unhealthy_threshold", "2"),
];

/// A whole config: test `[server]`, one upstream `u` with `targets`
/// (address, weight), its raw `keys`, its sub-tables (`("health", keys)`
/// becomes `[upstreams.health]`), and a catch-all route to it.
pub fn resilient_config(
    targets: &[(SocketAddr, u32)],
    keys: &[(&str, &str)],
    tables: &[(&str, &[(&str, &str)])],
) -> String {
    let t: Vec<String> = targets
        .iter()
        .map(|(a, w)| match w {
            1 => format!("\"{a}\""),
            w => format!("{{ addr = \"{a}\", weight = {w} }}"),
        })
        .collect();
    let mut out = server_section(&[]);
    out.push_str(&format!(
        "[[upstreams]]\nname = \"u\"\ntargets = [{}]\n",
        t.join(", ")
    ));
    for (k, v) in keys {
        out.push_str(&format!("{k} = {v}\n"));
    }
    for (table, kv) in tables {
        out.push_str(&format!("\n[upstreams.{table}]\n"));
        for (k, v) in kv.iter() {
            out.push_str(&format!("{k} = {v}\n"));
        }
    }
    out.push_str("\n[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n");
    out
}

/// Each address with weight 1.
pub fn unweighted(addrs: &[SocketAddr]) -> Vec<(SocketAddr, u32)> {
    addrs.iter().map(|a| (*a, 1)).collect()
}

/// `GET /upstreams` on the admin listener, as JSON (panics unless 200).
pub fn upstreams_view(gw: &Gateway) -> serde_json::Value {
    let mut c = RawClient::connect(gw.admin_addr());
    c.send(b"GET /upstreams HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 200, "GET /upstreams: {}", r.summary());
    r.json()
}

/// The `/upstreams` entry of the target at `addr` (the object whose
/// `addr` is it, wherever it sits in the document; panics if none).
pub fn target_view(gw: &Gateway, addr: SocketAddr) -> serde_json::Value {
    let doc = upstreams_view(gw);
    target_in(&doc, addr)
        .cloned()
        .unwrap_or_else(|| panic!("no target with addr {addr} in /upstreams: {doc}"))
}

/// The entry of the target at `addr` in a `/upstreams` document.
pub fn target_in(doc: &serde_json::Value, addr: SocketAddr) -> Option<&serde_json::Value> {
    find_addr(doc, &addr.to_string())
}

fn find_addr<'a>(v: &'a serde_json::Value, addr: &str) -> Option<&'a serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => {
            if m.get("addr").and_then(|a| a.as_str()) == Some(addr) {
                return Some(v);
            }
            m.values().find_map(|c| find_addr(c, addr))
        }
        serde_json::Value::Array(a) => a.iter().find_map(|c| find_addr(c, addr)),
        _ => None,
    }
}

/// The outlier `state` of the target at `addr` (`active`, `ejected`, `half_open`).
pub fn target_state(gw: &Gateway, addr: SocketAddr) -> String {
    let t = target_view(gw, addr);
    t["state"]
        .as_str()
        .unwrap_or_else(|| panic!("no string state in {t}"))
        .to_string()
}

/// Whether the health checks see the target at `addr` as healthy.
pub fn target_healthy(gw: &Gateway, addr: SocketAddr) -> bool {
    let t = target_view(gw, addr);
    t["healthy"]
        .as_bool()
        .unwrap_or_else(|| panic!("no bool healthy in {t}"))
}

/// Sum of every sample of `name` whose labels include all of `labels`
/// (in any order, other labels allowed); 0 when none.
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((m, r)) => (m, r.trim_end_matches('}')),
                None => (series, ""),
            };
            let have: Vec<&str> = rest.split(',').collect();
            (metric == name && wanted.iter().all(|w| have.contains(&w.as_str())))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// What one client request got.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// When it was sent.
    pub sent: Instant,
    /// Time to the whole response (or to the failure).
    pub latency: Duration,
    /// Status, if a response came back.
    pub status: Option<u16>,
    /// Gateway error code, if any.
    pub code: Option<String>,
    /// `x-upstream` of the response.
    pub upstream: Option<String>,
    /// Why no response came back.
    pub error: Option<String>,
}

impl Outcome {
    /// A 2xx came back.
    pub fn ok(&self) -> bool {
        matches!(self.status, Some(s) if (200..300).contains(&s))
    }
}

/// One client connection that reconnects after a failure or a close.
pub struct Client {
    addr: SocketAddr,
    conn: Option<RawClient>,
}

impl Client {
    /// A client of `addr` (connects on first use).
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None }
    }

    /// Sends `bytes` and reads one response, recording what happened.
    pub fn send(&mut self, bytes: &[u8]) -> Outcome {
        let sent = Instant::now();
        let res = self.exchange(bytes);
        let latency = sent.elapsed();
        match res {
            Ok(r) => {
                if r.says_close() {
                    self.conn = None;
                }
                Outcome {
                    sent,
                    latency,
                    status: Some(r.status),
                    code: r.error_code(),
                    upstream: r.upstream().map(str::to_string),
                    error: None,
                }
            }
            Err(e) => {
                self.conn = None;
                Outcome {
                    sent,
                    latency,
                    status: None,
                    code: None,
                    upstream: None,
                    error: Some(e),
                }
            }
        }
    }

    fn exchange(&mut self, bytes: &[u8]) -> Result<super::client::Response, String> {
        if self.conn.is_none() {
            self.conn = Some(RawClient::try_connect(self.addr).map_err(|e| e.to_string())?);
        }
        let c = self.conn.as_mut().ok_or("no connection")?;
        c.try_send(bytes).map_err(|e| format!("send: {e}"))?;
        c.try_read_response(ReadOpts::default())
    }
}

/// Makes the request bytes of (thread, sequence number).
pub type MakeRequest = Arc<dyn Fn(usize, usize) -> Vec<u8> + Send + Sync>;

/// Client threads sending requests one after another, each on its own
/// keep-alive connection, until stopped or `per_thread` requests each.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Outcome>>>,
}

impl Load {
    /// Starts `threads` clients of `addr`, pausing `pause` between requests.
    pub fn start(
        addr: SocketAddr,
        threads: usize,
        per_thread: usize,
        pause: Duration,
        make: MakeRequest,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|t| {
                let (stop, make) = (stop.clone(), make.clone());
                std::thread::spawn(move || {
                    let mut c = Client::new(addr);
                    let mut out = Vec::new();
                    for i in 0..per_thread {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        out.push(c.send(&make(t, i)));
                        if !pause.is_zero() {
                            std::thread::sleep(pause);
                        }
                    }
                    out
                })
            })
            .collect();
        Load { stop, threads }
    }

    /// Whether every client has sent all its requests.
    pub fn finished(&self) -> bool {
        self.threads.iter().all(|t| t.is_finished())
    }

    /// Stops the clients after their current request; every outcome, by time sent.
    pub fn stop(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::SeqCst);
        self.join()
    }

    /// Waits for the clients to finish; every outcome, by time sent.
    pub fn join(self) -> Vec<Outcome> {
        let mut all: Vec<Outcome> = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().expect("load thread panicked"))
            .collect();
        all.sort_by_key(|o| o.sent);
        all
    }
}

/// `threads` clients each sending `per_thread` requests as fast as they are
/// answered; every outcome.
pub fn run_requests(
    addr: SocketAddr,
    threads: usize,
    per_thread: usize,
    make: MakeRequest,
) -> Vec<Outcome> {
    Load::start(addr, threads, per_thread, Duration::ZERO, make).join()
}

/// A GET of `/load/THREAD/SEQ`.
pub fn load_get() -> MakeRequest {
    Arc::new(|t, i| format!("GET /load/{t}/{i} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes())
}

/// The outcomes that were not 2xx, summarised for an assertion message.
pub fn failures(outcomes: &[Outcome]) -> Vec<String> {
    outcomes
        .iter()
        .filter(|o| !o.ok())
        .map(|o| {
            format!(
                "{:?} {:?} {:?} after {:?}",
                o.status, o.code, o.error, o.latency
            )
        })
        .collect()
}
