//! Configuration: the control plane's view of the TOML file.
//!
//! `load_file`/`load_str` parse the file once into serde structs (`model`),
//! report every problem with its key path and line (`load`, `validate`,
//! `compile`, `routes`), and compile the result into `Compiled`: plain
//! settings plus the `route::Router`, shared read-only by every shard.
//! Must never: be touched per request; the shards read only `Compiled`.

mod access_log;
mod auth;
mod auth_mtls;
mod auth_routes;
mod caches;
mod carry;
mod compile;
mod headers;
mod load;
mod model;
mod policies;
mod ratelimits;
mod registry;
mod routes;
pub mod secret;
mod tls;
mod tracing;
pub mod upstream;
mod upstream_discovery;
mod upstream_model;
mod upstream_tables;
mod upstream_tls;
mod upstreams;
mod validate;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub use access_log::{AccessLogSpec, LogFormat, LogOutput};
pub use load::{ConfigError, ConfigErrors};
pub use registry::RegistrySpec;
pub use tls::reload as reload_certificates;
pub use tracing::{OtlpEndpoint, TracingSpec};
/// The syntax of route and upstream names (1 to 64 of `A-Z a-z 0-9 - _ .`, not `.` or `..`);
/// the registry holds its service names and instance ids to it too.
pub use validate::name as check_name;

/// Reads and compiles a configuration file; a read error is one `ConfigError` without a line.
pub fn load_file(path: &Path) -> Result<Compiled, ConfigErrors> {
    let origin = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(src) => load_str(&src, &origin),
        Err(e) => Err(read_error(origin, &e)),
    }
}

/// Parses, validates and compiles `src`; `origin` names the file in errors.
pub fn load_str(src: &str, origin: &str) -> Result<Compiled, ConfigErrors> {
    load_str_keeping(src, origin, None)
}

/// `load_str` for a reload: every piece of state whose definition is
/// unchanged from `previous` is carried over instead of starting afresh
/// (`carry`: rate and concurrency limits, key sets, token caches,
/// revocations).
pub fn load_str_keeping(
    src: &str,
    origin: &str,
    previous: Option<&Compiled>,
) -> Result<Compiled, ConfigErrors> {
    let (mut doc, model) = load::parse(src, origin);
    let old = previous.map_or(&[][..], |p| &p.rate_limits[..]);
    let compiled = model.and_then(|m| compile::compile(&mut doc, m, old));
    match compiled {
        Some(mut c) if doc.ok() => {
            if let Some(p) = previous {
                carry::carry(&mut c, p);
            }
            Ok(c)
        }
        _ => Err(doc.into_errors()),
    }
}

/// `load_file` for a reload (`load_str_keeping`).
pub fn load_file_keeping(path: &Path, previous: &Compiled) -> Result<Compiled, ConfigErrors> {
    let origin = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(src) => load_str_keeping(&src, &origin, Some(previous)),
        Err(e) => Err(read_error(origin, &e)),
    }
}

fn read_error(origin: String, e: &std::io::Error) -> ConfigErrors {
    ConfigErrors(vec![ConfigError {
        origin,
        line: None,
        key: String::new(),
        message: format!("cannot read the configuration: {e}"),
    }])
}

/// The whole compiled configuration, immutable once built.
#[derive(Debug)]
pub struct Compiled {
    /// `[server]`.
    pub server: ServerSettings,
    /// `[[upstreams]]`, in file order (routes refer to them by index).
    pub upstreams: Vec<UpstreamSpec>,
    /// The compiled `[[routes]]`.
    pub router: crate::route::Router,
    /// `[rate_limits.NAME]`, in name order (routes hold them too).
    pub rate_limits: Vec<std::sync::Arc<crate::ratelimit::Limiter>>,
    /// `[auth.NAME]` policies and the revocation list (routes refer to policies by index).
    pub auth: crate::auth::AuthConfig,
    /// `[tracing]`, defaults when the table is absent.
    pub tracing: TracingSpec,
    /// `[access_log]`; `None` when the table is absent (no access log).
    pub access_log: Option<AccessLogSpec>,
    /// `[registry]`; `None` when the table is absent (no registry API).
    pub registry: Option<RegistrySpec>,
    /// `[tls]`; `None` when the table is absent (no TLS listener).
    pub tls: Option<std::sync::Arc<crate::tls::TlsSpec>>,
    /// `[caches.NAME]`, in name order (routes hold them too); carried
    /// across reloads by name and sizes.
    pub caches: Vec<std::sync::Arc<crate::cache::named::Named>>,
}

/// `[server]` with defaults applied.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The plain HTTP listener's address (port 0: the OS picks one, shared
    /// by all shards); `None` for an HTTPS-only gateway (`tls_listen` set).
    pub listen: Option<SocketAddr>,
    /// `tls_listen`: the HTTPS listener's address, if any (port 0 as for `listen`).
    pub tls_listen: Option<SocketAddr>,
    /// Number of shards; 0 = one per CPU.
    pub workers: usize,
    /// Shard `i` is pinned to `cpus[i % len]`; `None` = the i-th available core.
    pub cpus: Option<Vec<usize>>,
    /// Which I/O driver to use.
    pub io: IoMode,
    /// `ring_setup`: the io_uring setup flags (`server::ring`).
    pub ring_setup: RingSetup,
    /// Open client connections allowed across all shards.
    pub max_connections: usize,
    /// Largest request head accepted.
    pub max_header_bytes: usize,
    /// Largest request body accepted.
    pub max_body_bytes: u64,
    /// Time allowed to receive a complete request head.
    pub header_timeout: Duration,
    /// Time a keep-alive connection may idle between requests.
    pub idle_timeout: Duration,
    /// Longest wait between two reads of a request body.
    pub body_timeout: Duration,
    /// Time in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    /// An upgraded connection (`routes[].upgrade`) with no byte either way
    /// for this long is closed.
    pub upgrade_idle_timeout: Duration,
    /// Where the admin API is served, if anywhere.
    pub admin_listen: Option<SocketAddr>,
    /// `trusted_proxies`: peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: crate::http::client_ip::TrustedProxies,
    /// `underscores_in_headers` and the one-value header set (the
    /// `singleton_headers` plus every header a key, credential or matcher reads).
    pub header_rules: crate::http::rules::HeaderRules,
    /// `escaped_slashes` and `path_params`: how paths are normalised.
    pub path_mode: crate::http::PathMode,
    /// `admin_token`: the Bearer token every admin endpoint but `/healthz`
    /// requires, when set.
    pub admin_token: Option<std::sync::Arc<secret::Secret>>,
    /// `watch`: reload when the configuration file changes (polled).
    pub watch: bool,
}

/// `server.io`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoMode {
    /// io_uring, falling back to epoll when it cannot be set up.
    Auto,
    /// io_uring or fail to start.
    IoUring,
    /// epoll only.
    Epoll,
}

/// `server.ring_setup`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RingSetup {
    /// The best mode the kernel accepts, falling back to the next.
    #[default]
    Auto,
    /// `SINGLE_ISSUER | DEFER_TASKRUN` or no io_uring.
    DeferTaskrun,
    /// `COOP_TASKRUN | TASKRUN_FLAG` or no io_uring.
    CoopTaskrun,
    /// No setup flags.
    Plain,
}

/// One `[[upstreams]]` entry with defaults applied and targets resolved.
/// Equal specs are "the same upstream" to a reload, which keeps its state.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamSpec {
    /// The name routes refer to.
    pub name: Box<str>,
    /// Where the targets come from; for every kind but static, `targets`
    /// and `weights` are empty here and `crate::discovery` publishes the sets.
    pub discovery: upstream::Discovery,
    /// Target slots (`crate::upstream::roster`): the configured targets for
    /// a static upstream, `max_targets` for a discovered one.
    pub max_targets: usize,
    /// Resolved target addresses; a target is known by its address.
    pub targets: Box<[SocketAddr]>,
    /// Each target's weight (same order as `targets`, each ≥ 1).
    pub weights: Box<[u32]>,
    /// How requests are spread over the targets.
    pub balance: upstream::Balance,
    /// What to do when every target is ejected or unhealthy.
    pub on_no_healthy: upstream::OnNoHealthy,
    /// Circuit-breaking thresholds.
    pub limits: upstream::Limits,
    /// Active health checks, when configured.
    pub health: Option<upstream::HealthSpec>,
    /// Passive outlier ejection.
    pub outlier: upstream::OutlierSpec,
    /// Retries and their budget.
    pub retry: upstream::RetrySpec,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed until the response head, and between body reads.
    pub response_timeout: Duration,
    /// Idle keep-alive connections kept per shard for this upstream (all targets together).
    pub max_idle_per_shard: usize,
    /// How long a pooled idle connection may be reused.
    pub idle_timeout: Duration,
    /// `tls = true`: the client configuration its connections start from.
    /// Compared by its settings and the bytes of the files they name.
    pub tls: Option<std::sync::Arc<crate::tls::UpstreamTls>>,
}

#[cfg(test)]
mod access_log_tests;
#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod header_tests;
#[cfg(test)]
mod ratelimit_tests;
#[cfg(test)]
mod registry_tests;
#[cfg(test)]
mod route_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;
#[cfg(test)]
mod tracing_tests;
#[cfg(test)]
mod upstream_discovery_tests;
#[cfg(test)]
mod upstream_table_tests;
#[cfg(test)]
mod upstream_tests;
#[cfg(test)]
mod upstream_tls_tests;
