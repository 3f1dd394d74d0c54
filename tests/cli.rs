//! The `ringway` command line: `--version`, `--help`, `check` on good and
//! bad configs (exit 0 / exit 2 with `FILE:LINE: KEY: MESSAGE` lines), and
//! `run`'s exit codes for a bad config (2) and an address in use (1), also
//! when the owner is another gateway with `SO_REUSEPORT`.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;

const GOOD_MINIMAL: &str = r#"[server]
listen = "127.0.0.1:0"

[[upstreams]]
name = "users"
targets = ["127.0.0.1:3001"]

[[routes]]
name = "users"
path_prefix = "/api/users"
upstream = "users"
"#;

/// Every documented key, as in the configuration reference example.
const GOOD_FULL: &str = r#"[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
workers = 2
io = "auto"
max_connections = 100000
max_header_bytes = 16384
max_body_bytes = 10485760
header_timeout_ms = 10000
idle_timeout_ms = 60000
shutdown_grace_ms = 30000

[[upstreams]]
name = "users"
targets = ["127.0.0.1:3001", { addr = "127.0.0.1:3002", weight = 3 }]
balance = "hash"
hash_key = "header:x-user"
connect_timeout_ms = 5000
response_timeout_ms = 15000
max_idle_per_shard = 64
idle_timeout_ms = 30000
max_connections = 1024
max_pending = 1024
max_requests = 1024
on_no_healthy = "panic"

[upstreams.health]
path = "/healthz"
host = "users.internal"
interval_ms = 1000
timeout_ms = 500
healthy_threshold = 2
unhealthy_threshold = 3
expect_status = "2xx"

[upstreams.outlier]
consecutive_failures = 5
count_5xx = true
failure_ratio = 0.5
window_ms = 10000
min_requests = 20
base_ejection_ms = 30000
max_ejection_ms = 300000
max_ejection_percent = 50
half_open_probes = 3

[upstreams.retry]
retry_on = ["reset", "gateway_error"]
retriable_status = []
attempts = 2
per_try_timeout_ms = 2000
max_replay_bytes = 65536
budget_percent = 20
min_retries_per_s = 10
backoff_base_ms = 25
backoff_max_ms = 250

[[routes]]
name = "users"
path_prefix = "/api/users"
methods = ["GET", "POST"]
host = "api.example.com"
headers = { "x-tenant" = "acme", "x-beta" = true, "x-debug" = false }
upstream = "users"
strip_prefix = "/api"
request_headers = { set = { "x-gateway" = "ringway" }, add = { "x-extra" = "1" }, remove = ["cookie"] }
response_headers = { set = { "x-served-by" = "gw" }, remove = ["server"] }

[[routes]]
name = "users-v2"
path_prefix = "/v2/users"
host = "*.example.com"
upstream = "users"
rewrite_prefix = "/users"

[[routes]]
name = "health"
path = "/health"
upstream = "users"
"#;

fn check(toml: &str) -> (String, CliOutput) {
    let path = write_config(toml);
    let p = path.to_string_lossy().into_owned();
    let out = run_cli(&["check", "--config", &p]);
    let _ = std::fs::remove_file(&path);
    (p, out)
}

/// The stderr lines of the form `PATH:LINE: KEY: MESSAGE`, as (line, key, message).
fn diagnostics(path: &str, stderr: &str) -> Vec<(u32, String, String)> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(path)?.strip_prefix(':')?;
            let (line, rest) = rest.split_once(": ")?;
            let (key, msg) = rest.split_once(": ")?;
            Some((line.parse().ok()?, key.to_string(), msg.to_string()))
        })
        .collect()
}

#[test]
fn version_and_help_exit_0() {
    let out = run_cli(&["--version"]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains(env!("CARGO_PKG_VERSION")), "{out:?}");
    let out = run_cli(&["--help"]);
    assert!(out.status.success(), "{out:?}");
    for word in ["run", "check", "demo"] {
        assert!(
            out.stdout.contains(word),
            "--help does not mention {word}: {}",
            out.stdout
        );
    }
}

#[test]
fn unknown_subcommand_exits_2() {
    let out = run_cli(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn check_accepts_good_configs() {
    for toml in [GOOD_MINIMAL, GOOD_FULL] {
        let (_, out) = check(toml);
        assert!(
            out.status.success(),
            "check rejected a good config: {out:?}\n{toml}"
        );
    }
}

#[test]
fn check_reports_an_unknown_upstream_with_file_and_line() {
    let toml = GOOD_MINIMAL.replace("upstream = \"users\"", "upstream = \"nope\"");
    let (path, out) = check(&toml);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let d = diagnostics(&path, &out.stderr);
    assert_eq!(
        d.len(),
        1,
        "want one `FILE:LINE: KEY: MESSAGE` line, stderr: {}",
        out.stderr
    );
    let (line, key, msg) = &d[0];
    assert_eq!(*line, 11, "wrong line: {}", out.stderr);
    assert!(key.contains("upstream"), "key {key:?}: {}", out.stderr);
    assert!(!msg.trim().is_empty());
}

#[test]
fn check_names_upstream_sub_table_keys() {
    let toml = GOOD_MINIMAL.replace(
        "targets = [\"127.0.0.1:3001\"]\n",
        "targets = [\"127.0.0.1:3001\"]\n[upstreams.health]\ninterval_ms = 100\n\
         [upstreams.retry]\nattempts = 0\n",
    );
    let (path, out) = check(&toml);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let d = diagnostics(&path, &out.stderr);
    let got: Vec<(u32, &str)> = d.iter().map(|(l, k, _)| (*l, k.as_str())).collect();
    assert_eq!(
        got,
        [
            (7, "upstreams[0].health.path"),
            (10, "upstreams[0].retry.attempts")
        ],
        "{}",
        out.stderr
    );
}

#[test]
fn check_reports_every_problem() {
    let toml = GOOD_MINIMAL
        .replace("listen = \"127.0.0.1:0\"", "listen = \"not an address\"")
        .replace("upstream = \"users\"", "upstream = \"nope\"");
    let (path, out) = check(&toml);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let d = diagnostics(&path, &out.stderr);
    let lines: Vec<u32> = d.iter().map(|(l, _, _)| *l).collect();
    assert!(
        lines.contains(&2) && lines.contains(&11),
        "want problems at lines 2 and 11: {}",
        out.stderr
    );
    let listen = d
        .iter()
        .find(|(l, _, _)| *l == 2)
        .map(|(_, k, _)| k.clone())
        .unwrap_or_default();
    assert!(listen.contains("listen"), "key {listen:?}: {}", out.stderr);
}

#[test]
fn check_rejects_path_and_path_prefix_together() {
    let toml = GOOD_MINIMAL.replace(
        "path_prefix = \"/api/users\"",
        "path_prefix = \"/api/users\"\npath = \"/x\"",
    );
    let (path, out) = check(&toml);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let d = diagnostics(&path, &out.stderr);
    assert!(
        d.iter()
            .any(|(l, k, _)| (8..=12).contains(l) && k.starts_with("routes[0]")),
        "want a problem on the route's path keys: {}",
        out.stderr
    );
}

#[test]
fn check_rejects_a_route_without_path() {
    let toml = GOOD_MINIMAL.replace("path_prefix = \"/api/users\"\n", "");
    let (path, out) = check(&toml);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        !diagnostics(&path, &out.stderr).is_empty(),
        "{}",
        out.stderr
    );
}

#[test]
fn check_reports_toml_syntax_errors_with_a_line() {
    let toml = GOOD_MINIMAL.replace("name = \"users\"\ntargets", "name = \"users\nargets");
    let (path, out) = check(&toml);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with(&format!("{path}:5:"))),
        "want `{path}:5: …`: {}",
        out.stderr
    );
}

#[test]
fn a_toml_syntax_error_is_reported_once() {
    // The parser's error recovery used to add a second error on the line
    // (a line ` = `, or a lone `"`) and "duplicate key" for later tables
    // (a lone `[`).
    for (bad, want_line) in [
        (
            GOOD_MINIMAL.replace("\n\n[[upstreams]]", "\n = \n[[upstreams]]"),
            3,
        ),
        (
            GOOD_MINIMAL.replace("\n\n[[upstreams]]", "\n \"\n[[upstreams]]"),
            3,
        ),
        (
            GOOD_MINIMAL.replace("\n\n[[upstreams]]", "\n[\n[[upstreams]]"),
            3,
        ),
    ] {
        let (path, out) = check(&bad);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "want exactly one line: {}", out.stderr);
        assert!(
            lines[0].starts_with(&format!("{path}:{want_line}: ")),
            "want `{path}:{want_line}: …`: {}",
            out.stderr
        );
    }
}

#[test]
fn check_missing_file_fails() {
    let out = run_cli(&["check", "--config", "/nonexistent/ringway-test.toml"]);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr.contains("/nonexistent/ringway-test.toml"),
        "{out:?}"
    );
}

#[test]
fn run_with_a_bad_config_exits_2() {
    let toml = GOOD_MINIMAL.replace("upstream = \"users\"", "upstream = \"nope\"");
    let path = write_config(&toml);
    let p = path.to_string_lossy().into_owned();
    let out = run_cli(&["run", "--config", &p]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(diagnostics(&p, &out.stderr).len(), 1, "{}", out.stderr);
}

#[test]
fn run_on_an_address_in_use_exits_1() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let toml = GOOD_MINIMAL.replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{addr}\""));
    let path = write_config(&toml);
    let p = path.to_string_lossy().into_owned();
    let out = run_cli(&["run", "--config", &p]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("address in use"), "{out:?}");
    assert!(out.stderr.contains(&addr.to_string()), "{out:?}");
    drop(taken);
}

/// The config of a gateway on a fixed `listen` (and an ephemeral admin port).
fn on(listen: &str, admin: &str) -> String {
    GOOD_MINIMAL.replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"{listen}\"\nadmin_listen = \"{admin}\"\nworkers = 2"),
    )
}

#[test]
fn a_second_gateway_on_the_same_listen_exits_1() {
    // SO_REUSEPORT would let both bind and share the traffic silently.
    let free = unused_addr();
    let first = Gateway::start(&on(&free.to_string(), "127.0.0.1:0"));
    let path = write_config(&on(&first.addr().to_string(), "127.0.0.1:0"));
    let p = path.to_string_lossy().into_owned();
    let started = Instant::now();
    let out = run_cli(&["run", "--config", &p]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(out.stderr.contains("address in use"), "{out:?}");
    assert!(out.stderr.contains(&first.addr().to_string()), "{out:?}");
    assert!(!out.stderr.contains("\"listening\""), "{out:?}");
    // The first keeps serving (404: no route matches).
    for _ in 0..10 {
        let mut c = first.client();
        c.send(&get("/nothing-here", "x"));
        assert_eq!(c.read_response().status, 404);
    }
    assert!(first.metrics().contains("ringway_"));
}

#[test]
fn an_admin_listen_in_use_exits_1() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let path = write_config(&on("127.0.0.1:0", &addr.to_string()));
    let p = path.to_string_lossy().into_owned();
    let out = run_cli(&["run", "--config", &p]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("address in use"), "{out:?}");
    assert!(
        out.stderr.contains(&format!("admin_listen = {addr}")),
        "{out:?}"
    );
    drop(taken);
}
