//! Shared harness for the wire-level integration tests: a real gateway
//! process (`gateway`), a scriptable real upstream (`upstream`) and a
//! switchable, killable one (`backend`), an OTLP/HTTP collector that
//! decodes the spans it receives (`otlp`), a raw TCP client (`client`),
//! HTTP/1.1 framing helpers both sides use (`wire`), helpers for the
//! upstream-resilience tests (`resilience`), the admin API's tests
//! (`admin`) and the registry's (`registry`), and the seccomp filter that
//! hides io_uring from the gateway (`seccomp`).
//!
//! Must never: use anything but loopback (127.0.0.1, or 127.0.0.2 as a
//! second client address) and ephemeral ports, or block
//! without a timeout (a hung gateway must fail a test, never hang CI).

// Each test file compiles this module on its own and uses a subset of it.
#![allow(dead_code, unused_imports)]

pub mod admin;
pub mod backend;
pub mod client;
pub mod config;
pub mod dns;
pub mod gateway;
pub mod mint;
pub mod otlp;
pub mod poll;
pub mod python;
pub mod registry;
pub mod resilience;
pub mod seccomp;
pub mod sink;
pub mod upstream;
pub mod wire;
pub mod ws;

pub use client::{RawClient, ReadOpts, Response};
pub use config::{
    build, catch_all_on, rate_limit_section, server_section, unused_addr, upstream_section,
};
pub use gateway::{metric_in, run_cli, write_config, CliOutput, Gateway, SpawnOpts};
pub use poll::eventually;
pub use upstream::{chunked_response, fixed_response, Received, Reply, Upstream};
pub use wire::{chunk, fnv1a, pattern, pattern_fnv, Fnv};

use std::time::{Duration, Instant};

/// A simple GET request for `path` with `Host: host`, as bytes.
pub fn get(path: &str, host: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

/// An HTTP/1.1 request with extra header lines and a Content-Length body
/// (Content-Length is added when `body` is non-empty).
pub fn req(
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Asserts `r` is a gateway error with `status` and `code`.
pub fn assert_error(r: &Response, status: u16, code: &str) {
    assert_eq!(
        r.status,
        status,
        "expected {status} {code}, got: {}",
        r.summary()
    );
    assert_eq!(
        r.error_code().as_deref(),
        Some(code),
        "expected code {code}, got: {}",
        r.summary()
    );
}
