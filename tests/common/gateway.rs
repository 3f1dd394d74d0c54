//! `Gateway`: the real `ringway` binary run on a temporary config, with its
//! JSON log lines collected from stderr, its listening addresses parsed from
//! them, and helpers for metrics, signals, exit and memory; plus `run_cli`
//! for one-shot invocations (`check`, `--help`, …).
//!
//! Must never: leave a gateway process behind (Drop kills it) or wait on it
//! without a deadline.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::client::RawClient;

/// How long start-up may take before the test fails.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

static CONFIG_SEQ: AtomicUsize = AtomicUsize::new(0);

/// How to spawn the gateway.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpawnOpts {
    /// Install the seccomp filter that makes io_uring syscalls fail with EPERM.
    pub block_io_uring: bool,
}

/// Why `Gateway::try_start` failed.
#[derive(Debug)]
pub struct StartFailure {
    /// Exit status if the process exited.
    pub status: Option<ExitStatus>,
    /// Every stderr line.
    pub logs: Vec<String>,
}

type Logs = Arc<(Mutex<Vec<String>>, Condvar)>;

/// A running gateway process.
pub struct Gateway {
    child: Child,
    addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    admin: Option<SocketAddr>,
    io: String,
    ring: String,
    shards: u64,
    logs: Logs,
    config_path: PathBuf,
    exited: Option<ExitStatus>,
}

/// Writes `toml` to a fresh file in the temp dir and returns its path.
pub fn write_config(toml: &str) -> PathBuf {
    let n = CONFIG_SEQ.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let path = std::env::temp_dir().join(format!(
        "ringway-test-{}-{n}-{nanos}.toml",
        std::process::id()
    ));
    std::fs::write(&path, toml).expect("write config");
    path
}

/// Output of a one-shot `ringway` invocation.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `ringway ARGS` to completion (killed after 20 s).
pub fn run_cli(args: &[&str]) -> CliOutput {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringway"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringway");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let st = child.wait().expect("wait");
            panic!("ringway {args:?} did not exit within 20 s ({st})");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    CliOutput {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

/// Env `RINGWAY_TEST_SERVER`: `key = value` lines (`;`-separated) added to
/// the `[server]` table of every gateway the suite starts, unless the test's
/// own config sets that key. CI runs the whole suite once per I/O mode this
/// way (`io = "epoll"`, `ring_setup = "coop_taskrun"`, …).
fn with_suite_server_keys(toml: &str) -> String {
    let Ok(extra) = std::env::var("RINGWAY_TEST_SERVER") else {
        return toml.to_string();
    };
    let Some(at) = toml.find("[server]\n").map(|i| i + "[server]\n".len()) else {
        return toml.to_string();
    };
    let mut out = toml[..at].to_string();
    for line in extra.split(';').map(str::trim).filter(|l| !l.is_empty()) {
        let key = line.split('=').next().unwrap_or("").trim();
        let set_already = toml
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{key} ")));
        if !set_already {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&toml[at..]);
    out
}

fn parse_json(line: &str) -> Option<serde_json::Value> {
    serde_json::from_str(line).ok()
}

impl Gateway {
    /// Starts the gateway on `toml` and waits until it listens (panics otherwise).
    pub fn start(toml: &str) -> Gateway {
        Self::start_with(toml, SpawnOpts::default())
    }

    /// `start` with spawn options.
    pub fn start_with(toml: &str, opts: SpawnOpts) -> Gateway {
        match Self::try_start(toml, opts) {
            Ok(g) => g,
            Err(f) => panic!(
                "gateway did not start (status {:?}); config:\n{toml}\nstderr:\n{}",
                f.status,
                f.logs.join("\n")
            ),
        }
    }

    /// Starts the gateway; fails if it exits or is not listening within 10 s.
    pub fn try_start(toml: &str, opts: SpawnOpts) -> Result<Gateway, StartFailure> {
        let config_path = write_config(&with_suite_server_keys(toml));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringway"));
        cmd.arg("run")
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if opts.block_io_uring {
            // SAFETY: the hook only calls prctl on a static filter (async-signal-safe).
            unsafe {
                cmd.pre_exec(super::seccomp::install_io_uring_block);
            }
        }
        let mut child = cmd.spawn().expect("spawn ringway");
        let logs: Logs = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let stderr = child.stderr.take().expect("stderr");
        let l2 = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let (m, cv) = &*l2;
                m.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                cv.notify_all();
            }
        });
        let want_admin = toml.contains("admin_listen");
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let lines = lock_logs(&logs).clone();
            let entries: Vec<serde_json::Value> =
                lines.iter().filter_map(|l| parse_json(l)).collect();
            let listening = entries.iter().find(|e| e["msg"] == "listening");
            let admin = entries.iter().find(|e| e["msg"] == "admin listening");
            if let Some(l) = listening {
                if !want_admin || admin.is_some() {
                    // Absent on an HTTPS-only gateway (no server.listen).
                    let addr = l.get("addr").map(|a| {
                        a.as_str()
                            .and_then(|a| a.parse().ok())
                            .unwrap_or_else(|| panic!("bad listening line {l}"))
                    });
                    let admin = admin.map(|a| {
                        a["addr"]
                            .as_str()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or_else(|| panic!("bad admin listening line {a}"))
                    });
                    let tls_addr = l["tls_addr"].as_str().and_then(|a| a.parse().ok());
                    return Ok(Gateway {
                        child,
                        addr,
                        tls_addr,
                        admin,
                        io: l["io"].as_str().unwrap_or_default().to_string(),
                        ring: l["ring"].as_str().unwrap_or_default().to_string(),
                        shards: l["shards"].as_u64().unwrap_or(0),
                        logs,
                        config_path,
                        exited: None,
                    });
                }
            }
            let status = child.try_wait().ok().flatten();
            if status.is_some() || Instant::now() > deadline {
                if status.is_none() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                // Let the reader thread drain what is left.
                std::thread::sleep(Duration::from_millis(100));
                let _ = std::fs::remove_file(&config_path);
                return Err(StartFailure {
                    status,
                    logs: lock_logs(&logs).clone(),
                });
            }
            let (m, cv) = &*logs;
            let g = m.lock().unwrap_or_else(|p| p.into_inner());
            let _ = cv.wait_timeout(g, Duration::from_millis(20));
        }
    }

    /// The plain HTTP listener (panics on an HTTPS-only gateway).
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("the gateway has no server.listen")
    }

    /// The plain HTTP listener, if the gateway has one.
    pub fn plain_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The HTTPS listener's address (`server.tls_listen`); panics without one.
    pub fn tls_addr(&self) -> SocketAddr {
        self.tls_addr.expect("the gateway has no tls_listen")
    }

    /// The admin listener (panics if the config had none).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.expect("no admin_listen in this config")
    }

    /// The `io` field of the listening line.
    pub fn io(&self) -> &str {
        &self.io
    }

    /// The `ring` field of the listening line (`server::ring` mode, or `none`).
    pub fn ring(&self) -> &str {
        &self.ring
    }

    /// The `shards` field of the listening line.
    pub fn shards(&self) -> u64 {
        self.shards
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A new raw client connection to the gateway.
    pub fn client(&self) -> RawClient {
        RawClient::connect(self.addr())
    }

    /// GET /metrics on the admin listener (panics unless 200).
    pub fn metrics(&self) -> String {
        let mut c = RawClient::connect(self.admin_addr());
        c.send(b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
        let r = c.read_response();
        assert_eq!(r.status, 200, "metrics: {}", r.summary());
        r.text()
    }

    /// Value of the sample `name_with_labels` (e.g. `ringway_errors_total{code="x"}`).
    pub fn metric(&self, name: &str) -> Option<f64> {
        metric_in(&self.metrics(), name)
    }

    /// Value of a counter, 0 when the sample is absent.
    pub fn counter(&self, name: &str) -> f64 {
        self.metric(name).unwrap_or(0.0)
    }

    /// Every stderr line so far.
    pub fn logs(&self) -> Vec<String> {
        lock_logs(&self.logs).clone()
    }

    /// Every stderr line that is a JSON object with `msg == msg`.
    pub fn log_entries(&self, msg: &str) -> Vec<serde_json::Value> {
        self.logs()
            .iter()
            .filter_map(|l| parse_json(l))
            .filter(|e| e["msg"] == msg)
            .collect()
    }

    /// Waits until a stderr line contains `substr`.
    pub fn wait_log(&self, substr: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.logs;
        let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if g.iter().any(|l| l.contains(substr)) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = cv
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Replaces the config file the gateway runs on, as a deploy tool
    /// would: written whole beside it, then renamed over it. The suite's
    /// `RINGWAY_TEST_SERVER` keys are added as at start, so a reload does
    /// not change them.
    pub fn rewrite_config(&self, toml: &str) {
        let tmp = self.config_path.with_extension("toml.new");
        std::fs::write(&tmp, with_suite_server_keys(toml)).expect("write config");
        std::fs::rename(&tmp, &self.config_path).expect("rename config");
    }

    /// The config file the gateway was started on.
    pub fn config_path(&self) -> &std::path::Path {
        &self.config_path
    }

    /// Sends signal `sig` to the process.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({sig}) failed");
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.exited.is_some() {
            return self.exited;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.exited = Some(st);
                // Let the stderr reader catch the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return self.exited;
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Peak resident set size (VmHWM) in KiB.
    pub fn vm_hwm_kb(&self) -> u64 {
        self.proc_status_kb("VmHWM:")
    }

    /// Current resident set size (VmRSS) in KiB.
    pub fn vm_rss_kb(&self) -> u64 {
        self.proc_status_kb("VmRSS:")
    }

    fn proc_status_kb(&self, key: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        s.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key} not in /proc/PID/status"))
    }
}

/// Value of sample `name` in Prometheus text `text`.
pub fn metric_in(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let mut it = l.split_whitespace();
        if it.next()? == name {
            it.next()?.parse().ok()
        } else {
            None
        }
    })
}

fn lock_logs(l: &Logs) -> std::sync::MutexGuard<'_, Vec<String>> {
    l.0.lock().unwrap_or_else(|p| p.into_inner())
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- gateway stderr ({}) ----\n{}\n---- end ----",
                self.config_path.display(),
                self.logs().join("\n")
            );
        }
        let _ = std::fs::remove_file(&self.config_path);
    }
}
