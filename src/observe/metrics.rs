//! Counters: one `ShardMetrics` per shard, written only by its shard and
//! summed by an admin thread when `/metrics` is scraped, with the per-route
//! and per-upstream families (`families`) and the process metrics
//! (`process`) rendered beside them.
//!
//! Single-writer atomics: the owner does a relaxed load and store (a plain
//! `mov` on x86), never a locked read-modify-write, so counting costs the
//! same as a non-atomic increment while staying readable from another core.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use super::families::{self, Families};
use super::process::{self, ConfigState};
use crate::error::ErrorCode;

/// A counter with a single writer (its shard) and any number of readers.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one. Only the owning shard may call this.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`. Only the owning shard may call this.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Back to zero (a slot that changed hands). Only the owning shard may call this.
    #[inline]
    pub fn reset(&self) {
        self.0.store(0, Relaxed);
    }

    /// Subtracts one (gauges). Only the owning shard may call this.
    #[inline]
    pub fn dec(&self) {
        self.0.store(self.0.load(Relaxed).wrapping_sub(1), Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Which client-side timeout fired.
#[derive(Clone, Copy, Debug)]
pub enum TimeoutKind {
    /// The request head did not arrive in time.
    Header = 0,
    /// A keep-alive connection idled out between requests.
    Idle = 1,
    /// The client stalled while sending a body or reading a response.
    Body = 2,
    /// An upgraded connection (a WebSocket) carried no byte either way for
    /// `server.upgrade_idle_timeout_ms`.
    Upgrade = 3,
}

const TIMEOUT_KINDS: [&str; 4] = ["header", "idle", "body", "upgrade"];

/// Every counter one shard keeps.
pub struct ShardMetrics {
    /// Request heads parsed.
    pub requests: Counter,
    /// Client connections accepted.
    pub connections_accepted: Counter,
    /// Connections refused over `max_connections`.
    pub connections_rejected: Counter,
    /// Client connections open now (gauge).
    pub connections_active: Counter,
    /// New upstream connections opened.
    pub upstream_connects: Counter,
    /// Requests sent on a pooled upstream connection.
    pub upstream_reused: Counter,
    /// Upstream failures after the response head was forwarded.
    pub upstream_aborted: Counter,
    /// Gateway-generated error responses, indexed by `ErrorCode`.
    pub errors: [Counter; ErrorCode::COUNT],
    /// Client-side timeouts, indexed by `TimeoutKind`.
    pub timeouts: [Counter; 4],
    /// Requests held back by a rate limit in delay mode.
    pub ratelimit_delayed: Counter,
    /// TLS handshakes completed.
    pub tls_handshakes: Counter,
    /// TLS handshakes failed, indexed by `tls::HandshakeFail`.
    pub tls_failures: [Counter; crate::tls::HandshakeFail::COUNT],
    /// JWTs checked by signature (cache misses).
    pub jwt_verified: Counter,
    /// JWTs accepted from the shard's verified-token cache.
    pub jwt_cache_hits: Counter,
    /// Request header fields dropped for a `_` in their name.
    pub headers_dropped: Counter,
    /// Responses by who answered (0: relayed from an upstream, 1: the
    /// gateway itself) and status class (0: 1xx … 4: 5xx).
    pub responses: [[Counter; 5]; 2],
    /// Requests that took at least one upstream retry.
    pub retried_requests: Counter,
    /// Connections upgraded (a 101 relayed, bytes then tunnelled).
    pub upgrades: Counter,
    /// Upgraded connections open now (gauge).
    pub upgrades_active: Counter,
    /// Bytes tunnelled on upgraded connections, client to upstream.
    pub upgrade_bytes_up: Counter,
    /// Bytes tunnelled on upgraded connections, upstream to client.
    pub upgrade_bytes_down: Counter,
    /// Event-loop lag (gauge, µs): the worst lateness of the shard's
    /// 100 ms tick over the last whole second (`server::lag`).
    pub loop_lag_us: AtomicU64,
}

impl Default for ShardMetrics {
    // Written out: `Default` is not derived for arrays longer than 32.
    fn default() -> ShardMetrics {
        ShardMetrics {
            requests: Counter::default(),
            connections_accepted: Counter::default(),
            connections_rejected: Counter::default(),
            connections_active: Counter::default(),
            upstream_connects: Counter::default(),
            upstream_reused: Counter::default(),
            upstream_aborted: Counter::default(),
            errors: std::array::from_fn(|_| Counter::default()),
            timeouts: Default::default(),
            tls_handshakes: Counter::default(),
            tls_failures: Default::default(),
            jwt_verified: Counter::default(),
            jwt_cache_hits: Counter::default(),
            ratelimit_delayed: Counter::default(),
            headers_dropped: Counter::default(),
            responses: Default::default(),
            retried_requests: Counter::default(),
            upgrades: Counter::default(),
            upgrades_active: Counter::default(),
            upgrade_bytes_up: Counter::default(),
            upgrade_bytes_down: Counter::default(),
            loop_lag_us: AtomicU64::default(),
        }
    }
}

impl ShardMetrics {
    /// Counts one client-side timeout.
    pub fn timeout(&self, kind: TimeoutKind) {
        self.timeouts[kind as usize].inc();
    }
}

/// All shards' counters, shared with an admin thread.
#[derive(Clone)]
pub struct Metrics(Arc<Sets>);

struct Sets {
    shards: Vec<Arc<ShardMetrics>>,
    /// The admin listener's own errors: a set no shard writes.
    admin: Arc<ShardMetrics>,
    config: ConfigState,
}

impl Metrics {
    /// One set of counters per shard, and one for the admin listener. (The
    /// per-route and per-upstream rows belong to a configuration
    /// generation: `families::Families`.)
    pub fn new(shards: usize) -> Metrics {
        Metrics(Arc::new(Sets {
            shards: (0..shards).map(|_| Arc::default()).collect(),
            admin: Arc::default(),
            config: ConfigState::new(shards),
        }))
    }

    /// The counters of shard `i`.
    pub fn shard(&self, i: usize) -> Arc<ShardMetrics> {
        self.0.shards[i].clone()
    }

    /// The admin listener's counters.
    pub fn admin(&self) -> Arc<ShardMetrics> {
        self.0.admin.clone()
    }

    /// The configuration gauges (`ringway_config_*`).
    pub fn config(&self) -> &ConfigState {
        &self.0.config
    }

    fn sets(&self) -> impl Iterator<Item = &ShardMetrics> {
        self.0.shards.iter().chain([&self.0.admin]).map(|s| &**s)
    }

    fn sum(&self, f: impl Fn(&ShardMetrics) -> u64) -> u64 {
        self.sets().map(f).sum()
    }

    /// Prometheus text exposition of every counter, summed over shards,
    /// with the running configuration's `families` (of `targets` upstream
    /// targets, for the text's length).
    pub fn render(&self, families: &Families, targets: usize) -> String {
        // The per-target families the admin appends too: ~10 lines a target.
        let targets = targets * 10 * 128;
        let mut out = String::with_capacity(16 * 1024 + families.text_len() + targets);
        let mut one = |name: &str, kind: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        one(
            "ringway_request_heads_total",
            "counter",
            "Request heads parsed.",
            self.sum(|s| s.requests.get()),
        );
        one(
            "ringway_jwt_verified_total",
            "counter",
            "JWTs checked by signature (not found in a shard's token cache).",
            self.sum(|s| s.jwt_verified.get()),
        );
        one(
            "ringway_jwt_cache_hits_total",
            "counter",
            "JWTs accepted from a shard's verified-token cache.",
            self.sum(|s| s.jwt_cache_hits.get()),
        );
        one(
            "ringway_connections_accepted_total",
            "counter",
            "Client connections accepted.",
            self.sum(|s| s.connections_accepted.get()),
        );
        one(
            "ringway_connections_rejected_total",
            "counter",
            "Connections refused over max_connections.",
            self.sum(|s| s.connections_rejected.get()),
        );
        one(
            "ringway_connections_active",
            "gauge",
            "Client connections open now.",
            self.sum(|s| s.connections_active.get()),
        );
        one(
            "ringway_upstream_connects_total",
            "counter",
            "New upstream connections opened.",
            self.sum(|s| s.upstream_connects.get()),
        );
        one(
            "ringway_upstream_reused_total",
            "counter",
            "Requests sent on a pooled upstream connection.",
            self.sum(|s| s.upstream_reused.get()),
        );
        one(
            "ringway_upstream_aborted_total",
            "counter",
            "Upstream failures after the response head was forwarded.",
            self.sum(|s| s.upstream_aborted.get()),
        );
        one(
            "ringway_ratelimit_delayed_total",
            "counter",
            "Requests held back by a rate limit in delay mode.",
            self.sum(|s| s.ratelimit_delayed.get()),
        );
        one(
            "ringway_headers_dropped_total",
            "counter",
            "Request header fields dropped for a '_' in their name (underscores_in_headers = \"drop\").",
            self.sum(|s| s.headers_dropped.get()),
        );
        one(
            "ringway_retried_requests_total",
            "counter",
            "Requests that took at least one upstream retry.",
            self.sum(|s| s.retried_requests.get()),
        );
        one(
            "ringway_upgrades_total",
            "counter",
            "Connections upgraded (a 101 relayed, then bytes tunnelled both ways).",
            self.sum(|s| s.upgrades.get()),
        );
        one(
            "ringway_upgrades_active",
            "gauge",
            "Upgraded connections open now.",
            self.sum(|s| s.upgrades_active.get()),
        );
        let _ = writeln!(out, "# HELP ringway_upgrade_bytes_total Bytes tunnelled on upgraded connections, by direction.\n# TYPE ringway_upgrade_bytes_total counter");
        for (dir, v) in [
            ("to_upstream", self.sum(|s| s.upgrade_bytes_up.get())),
            ("to_client", self.sum(|s| s.upgrade_bytes_down.get())),
        ] {
            let _ = writeln!(
                out,
                "ringway_upgrade_bytes_total{{direction=\"{dir}\"}} {v}"
            );
        }
        let _ = writeln!(out, "# HELP ringway_responses_total Responses sent, by status class and by who answered (relayed from an upstream, or the gateway's own).\n# TYPE ringway_responses_total counter");
        for (src, name) in ["upstream", "gateway"].iter().enumerate() {
            for (i, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
                let v = self.sum(|s| s.responses[src][i].get());
                let _ = writeln!(
                    out,
                    "ringway_responses_total{{class=\"{class}\",source=\"{name}\"}} {v}"
                );
            }
        }
        let _ = writeln!(out, "# HELP ringway_errors_total Gateway-generated error responses by code.\n# TYPE ringway_errors_total counter");
        for code in ErrorCode::ALL {
            let v = self.sum(|s| s.errors[code as usize].get());
            let _ = writeln!(
                out,
                "ringway_errors_total{{code=\"{}\"}} {v}",
                code.as_str()
            );
        }
        let _ = writeln!(out, "# HELP ringway_timeouts_total Client-side timeouts by kind.\n# TYPE ringway_timeouts_total counter");
        for (i, kind) in TIMEOUT_KINDS.iter().enumerate() {
            let v = self.sum(|s| s.timeouts[i].get());
            let _ = writeln!(out, "ringway_timeouts_total{{kind=\"{kind}\"}} {v}");
        }
        let _ = writeln!(out, "# HELP ringway_tls_handshakes_total TLS handshakes completed.\n# TYPE ringway_tls_handshakes_total counter");
        let v = self.sum(|s| s.tls_handshakes.get());
        let _ = writeln!(out, "ringway_tls_handshakes_total {v}");
        let _ = writeln!(out, "# HELP ringway_tls_handshake_failures_total TLS handshakes failed, by reason.\n# TYPE ringway_tls_handshake_failures_total counter");
        for reason in crate::tls::HandshakeFail::ALL {
            let v = self.sum(|s| s.tls_failures[reason as usize].get());
            let r = reason.as_str();
            let _ = writeln!(
                out,
                "ringway_tls_handshake_failures_total{{reason=\"{r}\"}} {v}"
            );
        }
        families::render(families, &mut out);
        process::render(&mut out, self.0.shards.len(), &self.0.config);
        out
    }
}
