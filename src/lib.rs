//! ringway: a thread-per-core HTTP/1.1 API gateway on io_uring.
//!
//! Layout follows the path of a request: `server` accepts and drives each
//! connection (plain, or TLS terminated by `tls`) through the phases in
//! `server::pipeline`, using `http` for the
//! wire format, `route` to pick a route, `policy` for the per-route checks
//! (with `auth` for credentials and `ratelimit` for rate and concurrency
//! limits), `upstream` to reach a backend and `observe` to count and log.
//! `config` and `admin` are the control plane: they build and expose, the
//! shards only read; `reload` publishes each configuration generation to
//! the shards (at start and on every reload); `discovery` and `registry`
//! (the built-in service registry) are control plane too, and report target
//! sets. `demo` holds the bundled demo's sample services.

// Lets test-only helpers shared with `tests/` (by path) name the crate `ringway`.
#[cfg(test)]
extern crate self as ringway;

pub mod admin;
pub mod auth;
pub mod cache;
pub mod config;
pub mod demo;
pub mod discovery;
pub mod error;
pub mod http;
pub mod observe;
pub mod policy;
pub mod ratelimit;
pub mod registry;
pub mod reload;
pub mod route;
pub mod server;
pub mod tls;
pub mod upstream;
