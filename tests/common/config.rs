//! TOML snippets for test configurations: a `[server]` section with test
//! defaults (ephemeral ports, 2 shards) that individual keys can override,
//! and `[[upstreams]]` entries.
//!
//! Must never: pick a fixed port.

use std::net::{SocketAddr, TcpListener};

/// Default `[server]` keys for tests, in order.
const SERVER_DEFAULTS: &[(&str, &str)] = &[
    ("listen", "\"127.0.0.1:0\""),
    ("admin_listen", "\"127.0.0.1:0\""),
    ("workers", "2"),
    ("io", "\"auto\""),
    ("max_connections", "100000"),
    ("max_header_bytes", "16384"),
    ("max_body_bytes", "10485760"),
    ("header_timeout_ms", "10000"),
    ("idle_timeout_ms", "60000"),
    ("shutdown_grace_ms", "30000"),
];

/// A `[server]` section: the test defaults with `overrides` (key, raw TOML
/// value) replacing or adding keys.
pub fn server_section(overrides: &[(&str, &str)]) -> String {
    let mut out = String::from("[server]\n");
    for (k, v) in SERVER_DEFAULTS {
        let v = overrides
            .iter()
            .find(|(ok, _)| ok == k)
            .map(|(_, ov)| *ov)
            .unwrap_or(v);
        out.push_str(&format!("{k} = {v}\n"));
    }
    for (k, v) in overrides {
        if !SERVER_DEFAULTS.iter().any(|(dk, _)| dk == k) {
            out.push_str(&format!("{k} = {v}\n"));
        }
    }
    out.push('\n');
    out
}

/// An `[[upstreams]]` entry named `name` with `targets` and extra raw `key = value` pairs.
pub fn upstream_section(name: &str, targets: &[SocketAddr], extra: &[(&str, &str)]) -> String {
    let t: Vec<String> = targets.iter().map(|a| format!("\"{a}\"")).collect();
    let mut out = format!(
        "[[upstreams]]\nname = \"{name}\"\ntargets = [{}]\n",
        t.join(", ")
    );
    for (k, v) in extra {
        out.push_str(&format!("{k} = {v}\n"));
    }
    out.push('\n');
    out
}

/// A loopback address on which nothing listens (bound, then released).
pub fn unused_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// A whole config: `[server]` with `server` overrides, one `[[upstreams]]`
/// per (name, address) with default timeouts, then the raw `routes` TOML.
pub fn build(server: &[(&str, &str)], upstreams: &[(&str, SocketAddr)], routes: &str) -> String {
    let mut out = server_section(server);
    for (name, addr) in upstreams {
        out.push_str(&upstream_section(name, &[*addr], &[]));
    }
    out.push_str(routes);
    out
}

/// One upstream `u` at `addr` behind a catch-all route, on the I/O driver `io`.
pub fn catch_all_on(io: &str, addr: SocketAddr) -> String {
    build(
        &[("io", &format!("\"{io}\""))],
        &[("u", addr)],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    )
}

/// A `[rate_limits.NAME]` table with raw `key = value` pairs.
pub fn rate_limit_section(name: &str, keys: &[(&str, &str)]) -> String {
    let mut out = format!("[rate_limits.{name}]\n");
    for (k, v) in keys {
        out.push_str(&format!("{k} = {v}\n"));
    }
    out.push('\n');
    out
}
