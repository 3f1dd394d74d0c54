//! The compiled form of an `[[upstreams]]` table's resilience settings:
//! balancing, active health checks, outlier ejection, circuit-breaking
//! thresholds and retries. Plain data, built once by `config::compile`.
//!
//! Owns: the defaults (documented in `docs/config.md` and
//! `docs/upstreams.md`). Must never: hold runtime state; that lives in
//! `crate::upstream` and is keyed by target address.

use std::time::Duration;

/// Default `dns_min_ttl_ms`: no name is asked for more than once a second.
pub const DNS_MIN_TTL_MS: u64 = 1_000;
/// Default `dns_max_ttl_ms`: a name is asked for at least every 5 minutes.
pub const DNS_MAX_TTL_MS: u64 = 300_000;

/// How an upstream spreads requests over its targets (`balance`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Balance {
    /// Smooth weighted round robin (nginx's algorithm).
    #[default]
    RoundRobin,
    /// Power of two choices over requests in flight, weighted.
    LeastRequest,
    /// Power of two choices over peak-EWMA latency × (in flight + 1).
    Ewma,
    /// Consistent hashing of a request key (`hash_key`).
    Hash(HashKey),
}

impl Balance {
    /// The name used in the config file.
    pub fn name(&self) -> &'static str {
        match self {
            Balance::RoundRobin => "round_robin",
            Balance::LeastRequest => "least_request",
            Balance::Ewma => "ewma",
            Balance::Hash(_) => "hash",
        }
    }
}

/// What `balance = "hash"` hashes (`hash_key`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashKey {
    /// The client address (after `trusted_proxies`).
    Ip,
    /// A request header's value; the name is lower-case.
    Header(Box<str>),
    /// A cookie's value.
    Cookie(Box<str>),
    /// The normalised path (without the query).
    Path,
    /// A claim of the verified JWT (string or number).
    JwtClaim(Box<str>),
}

/// What to do when every target is ejected or unhealthy (`on_no_healthy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnNoHealthy {
    /// Spread over all targets anyway, as Envoy's panic mode.
    #[default]
    Panic,
    /// Answer 503 `no_healthy_upstream`.
    Reject,
}

/// Circuit-breaking thresholds, for all shards together (Envoy's defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open connections to the upstream (`max_connections`).
    pub max_connections: u32,
    /// Requests waiting for a connection to open (`max_pending`).
    pub max_pending: u32,
    /// Requests in flight to the upstream (`max_requests`).
    pub max_requests: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            max_pending: 1024,
            max_requests: 1024,
        }
    }
}

/// Which response statuses an active health check accepts (`expect_status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectStatus {
    /// Any 2xx (`"2xx"`, the default).
    Success,
    /// Exactly these statuses.
    List(Box<[u16]>),
}

impl ExpectStatus {
    /// Whether `status` counts as healthy.
    pub fn accepts(&self, status: u16) -> bool {
        match self {
            ExpectStatus::Success => (200..300).contains(&status),
            ExpectStatus::List(l) => l.contains(&status),
        }
    }
}

/// Active health checking (`[upstreams.health]`); absent means off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthSpec {
    /// Path of the GET each check sends.
    pub path: Box<str>,
    /// Host header of the check (default: the target's address).
    pub host: Option<Box<str>>,
    /// Time between checks of one target (jittered by up to 10 %).
    pub interval: Duration,
    /// Time allowed for connect, request and response head together.
    pub timeout: Duration,
    /// Consecutive passes that make an unhealthy target healthy.
    pub healthy_threshold: u32,
    /// Consecutive failures that make a healthy target unhealthy.
    pub unhealthy_threshold: u32,
    /// Statuses that pass.
    pub expect: ExpectStatus,
}

impl HealthSpec {
    /// Checks of `path` with every other key at its default: every second,
    /// 500 ms allowed, 2 passes to return, 3 failures to leave, any 2xx.
    pub fn new(path: Box<str>) -> HealthSpec {
        HealthSpec {
            path,
            host: None,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            expect: ExpectStatus::Success,
        }
    }
}

/// Passive outlier ejection (`[upstreams.outlier]`); on by default.
#[derive(Clone, Debug, PartialEq)]
pub struct OutlierSpec {
    /// Consecutive failures that eject a target (0 turns this rule off).
    pub consecutive_failures: u32,
    /// Whether a 5xx answer counts as a failure (connect errors, resets and
    /// timeouts always do).
    pub count_5xx: bool,
    /// Failure ratio over `window` that ejects a target, once `min_requests`
    /// were seen in it; `None` turns this rule off.
    pub failure_ratio: Option<f64>,
    /// The window of `failure_ratio`.
    pub window: Duration,
    /// Requests a window needs before its ratio counts.
    pub min_requests: u32,
    /// First ejection's length; the n-th lasts n × this, up to `max_ejection`.
    pub base_ejection: Duration,
    /// Longest ejection.
    pub max_ejection: Duration,
    /// Largest share of the targets ejected at once (floor of the product).
    pub max_ejection_percent: u32,
    /// Probe requests let through once an ejection ends (half-open); that
    /// many successes in a row return the target, one failure ejects it again.
    pub half_open_probes: u32,
}

impl Default for OutlierSpec {
    fn default() -> OutlierSpec {
        OutlierSpec {
            consecutive_failures: 5,
            count_5xx: true,
            failure_ratio: None,
            window: Duration::from_secs(10),
            min_requests: 20,
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            max_ejection_percent: 50,
            half_open_probes: 3,
        }
    }
}

/// What a retry may be made for (`retry_on`), as bit flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RetryOn(pub u8);

impl RetryOn {
    /// The connection reset or closed before a complete response head.
    pub const RESET: RetryOn = RetryOn(1);
    /// No response head within the per-try timeout.
    pub const TIMEOUT: RetryOn = RetryOn(2);
    /// Any 5xx answer.
    pub const STATUS_5XX: RetryOn = RetryOn(4);
    /// 502, 503 or 504 answers.
    pub const GATEWAY_ERROR: RetryOn = RetryOn(8);
    /// A status in `retriable_status`.
    pub const RETRIABLE_STATUS: RetryOn = RetryOn(16);

    /// Whether every flag of `other` is set.
    pub fn has(self, other: RetryOn) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
}

impl std::ops::BitOr for RetryOn {
    type Output = RetryOn;
    fn bitor(self, o: RetryOn) -> RetryOn {
        RetryOn(self.0 | o.0)
    }
}

/// Retries (`[upstreams.retry]`). Connect failures are retried once on
/// another target whatever this says, since nothing was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySpec {
    /// Conditions that allow a retry.
    pub retry_on: RetryOn,
    /// Statuses retried with `retriable_status` in `retry_on`.
    pub retriable_status: Box<[u16]>,
    /// Tries in all, the first included.
    pub attempts: u32,
    /// Time allowed per try until the response head (default: the
    /// upstream's `response_timeout_ms`).
    pub per_try_timeout: Option<Duration>,
    /// Largest request body kept in memory so it can be sent again.
    pub max_replay_bytes: usize,
    /// Retries allowed as a share of requests, all shards together.
    pub budget_percent: u32,
    /// Retries allowed per second on top of the share.
    pub min_retries_per_s: u32,
    /// First backoff before a retry (jittered, doubling per try).
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
}

impl Default for RetrySpec {
    fn default() -> RetrySpec {
        RetrySpec {
            retry_on: RetryOn::RESET | RetryOn::GATEWAY_ERROR,
            retriable_status: Box::new([]),
            attempts: 2,
            per_try_timeout: None,
            max_replay_bytes: 65536,
            budget_percent: 20,
            min_retries_per_s: 10,
            backoff_base: Duration::from_millis(25),
            backoff_max: Duration::from_millis(250),
        }
    }
}

/// Where an upstream's targets come from (`discovery`). For every kind but
/// `Static`, `UpstreamSpec::targets` is empty at load and the set arrives
/// at run time through `crate::discovery`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Discovery {
    /// `targets` in the file, resolved once at load.
    #[default]
    Static,
    /// Re-resolved DNS records (`dns_name`).
    Dns(DnsSpec),
    /// A watched JSON file (`targets_file`).
    File {
        /// The file; relative paths are from the working directory.
        path: std::path::PathBuf,
    },
    /// The built-in registry (`service`).
    Registry {
        /// The registry service name.
        service: Box<str>,
    },
}

impl Discovery {
    /// The name used in the config file.
    pub fn name(&self) -> &'static str {
        match self {
            Discovery::Static => "static",
            Discovery::Dns(_) => "dns",
            Discovery::File { .. } => "file",
            Discovery::Registry { .. } => "registry",
        }
    }
}

/// `discovery = "dns"`: what to resolve, where, and how often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsSpec {
    /// The records asked for.
    pub query: DnsQuery,
    /// `resolver`; `None`: the nameservers of `/etc/resolv.conf`.
    pub resolver: Option<std::net::SocketAddr>,
    /// Shortest time between two resolutions (`dns_min_ttl_ms`).
    pub min_ttl: Duration,
    /// Longest time between two resolutions (`dns_max_ttl_ms`).
    pub max_ttl: Duration,
    /// Which address records are asked for (`dns_family`).
    pub family: DnsFamily,
}

/// `dns_name`: A/AAAA records of a host on a fixed port, or SRV records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsQuery {
    /// `"host:port"`: the host's addresses, each on `port`, weight 1.
    Host {
        /// Fully qualified host name, lower-case, without a trailing dot.
        host: Box<str>,
        /// The port every address gets.
        port: u16,
    },
    /// `"_service._proto.name"`: SRV records give hosts, ports and weights.
    Srv(Box<str>),
}

/// `dns_family`: which address records are asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DnsFamily {
    /// A and AAAA.
    #[default]
    Any,
    /// A only.
    Ipv4,
    /// AAAA only.
    Ipv6,
}

impl std::fmt::Display for DnsQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsQuery::Host { host, port } => write!(f, "{host}:{port}"),
            DnsQuery::Srv(name) => f.write_str(name),
        }
    }
}
