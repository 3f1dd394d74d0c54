//! Harness for the loadgen's own tests: the `ringway-loadgen` binary run as a
//! real process (`serve` as an upstream, `run`/`added` as the client), and the
//! gateway suite's scriptable upstream reused as-is for error scenarios.
//!
//! Must never: use anything but 127.0.0.1 and ephemeral ports, or wait on a
//! child without a deadline (a hung loadgen must fail a test, never hang CI).

#![allow(dead_code, unused_imports)]

#[path = "../../../tests/common/poll.rs"]
pub mod poll;
#[path = "../../../tests/common/upstream.rs"]
pub mod upstream;
#[path = "../../../tests/common/wire.rs"]
pub mod wire;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use poll::eventually;
pub use upstream::{Reply, Upstream};

/// Path of the binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ringway-loadgen");

/// A `ringway-loadgen serve` child process, killed on drop.
pub struct Serve {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Serve {
    /// Starts `serve --listen 127.0.0.1:0` with `extra` flags and waits for its address.
    pub fn start(extra: &[&str]) -> Serve {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn serve");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("serve did not report its address in 10 s");
            }
        };
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .expect("listening line")
            .parse()
            .expect("address");
        Serve { child, addr }
    }

    /// `http://ADDR/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The serve counters: (connections, requests).
    pub fn stats(&self) -> (u64, u64) {
        let v = http_get_json(self.addr, "/.loadgen/stats");
        (
            v["connections"].as_u64().unwrap(),
            v["requests"].as_u64().unwrap(),
        )
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One GET over a fresh connection; the JSON body.
pub fn http_get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let body = out.split_once("\r\n\r\n").expect("head").1;
    serde_json::from_str(body).expect("json body")
}

/// What a loadgen command did.
pub struct Outcome {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `ringway-loadgen ARGS`, killing it (and failing) after `limit`.
pub fn loadgen(args: &[&str], limit: Duration) -> Outcome {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn loadgen");
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let t2 = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ringway-loadgen {args:?} ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Outcome {
        code: status.code().unwrap_or(-1),
        stdout: t1.join().unwrap(),
        stderr: t2.join().unwrap(),
    }
}

/// A temporary file path unique to this test process.
pub fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ringway-loadgen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `run URL ARGS --json` and returns the outcome and the parsed JSON.
pub fn run_json(url: &str, args: &[&str]) -> (Outcome, serde_json::Value) {
    let path = temp_path(&format!("run-{}.json", rand_suffix()));
    let p = path.to_str().unwrap().to_string();
    let mut all = vec!["run", url, "--json", &p];
    all.extend_from_slice(args);
    let out = loadgen(&all, Duration::from_secs(60));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no JSON written; stdout {} stderr {}",
            out.stdout, out.stderr
        )
    });
    (out, serde_json::from_str(&text).expect("valid JSON"))
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
