//! The configuration file as plain serde structs, one per TOML table, and
//! the documented defaults (`[[upstreams]]`'s structs are in `upstream_model`).
//!
//! Owns: key names, value types and default values. Every field is optional
//! here so that each key can be deserialized on its own (one bad key never
//! hides another); required keys and bounds are checked in `compile`.
//! Must never: validate meaning, resolve addresses or build runtime types.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// `server.workers` default: one shard per CPU.
pub const WORKERS: u64 = 0;
/// `server.max_connections` default.
pub const MAX_CONNECTIONS: u64 = 100_000;
/// `server.max_header_bytes` default.
pub const MAX_HEADER_BYTES: u64 = 16 * 1024;
/// `server.max_body_bytes` default (10 MiB).
pub const MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// `server.header_timeout_ms` default.
pub const HEADER_TIMEOUT_MS: u64 = 10_000;
/// `server.idle_timeout_ms` default.
pub const IDLE_TIMEOUT_MS: u64 = 60_000;
/// `server.body_timeout_ms` default (nginx's `client_body_timeout`).
pub const BODY_TIMEOUT_MS: u64 = 60_000;
/// `server.shutdown_grace_ms` default.
pub const SHUTDOWN_GRACE_MS: u64 = 30_000;
/// `server.upgrade_idle_timeout_ms` default: an upgraded connection (a
/// WebSocket) with no byte either way for this long is closed, as nginx's
/// `proxy_read_timeout` does (60 s there too).
pub const UPGRADE_IDLE_TIMEOUT_MS: u64 = 60_000;
/// `upstreams[].connect_timeout_ms` default (Envoy's). Well above Linux's
/// 1 s first SYN retransmit: a SYN dropped by a full accept queue is resent
/// after 1 s, and a 1 s timeout would turn that into a 504.
pub const CONNECT_TIMEOUT_MS: u64 = 5_000;
/// `upstreams[].response_timeout_ms` default.
pub const RESPONSE_TIMEOUT_MS: u64 = 15_000;
/// `upstreams[].max_idle_per_shard` default.
pub const MAX_IDLE_PER_SHARD: u64 = 64;
/// `rate_limits.*.max_keys` default: 1.6 MB of state per limit.
pub const RATE_LIMIT_MAX_KEYS: u64 = 100_000;
/// `rate_limits.*.max_delay_ms` default (delay mode).
pub const RATE_LIMIT_MAX_DELAY_MS: u64 = 1_000;
/// Shortest `server.admin_token`, in bytes.
pub const ADMIN_TOKEN_MIN_BYTES: usize = 16;
/// `upstreams[].idle_timeout_ms` default.
pub const UPSTREAM_IDLE_TIMEOUT_MS: u64 = 30_000;

/// `auth.NAME.leeway_s` default.
pub const LEEWAY_S: u64 = 30;
/// `auth.NAME.max_token_bytes` default.
pub const MAX_TOKEN_BYTES: u64 = 8192;
/// `auth.NAME.cache_size` default (tokens per shard).
pub const TOKEN_CACHE_SIZE: u64 = 4096;
/// `auth.NAME.cache_ttl_s` default.
pub const TOKEN_CACHE_TTL_S: u64 = 300;

/// `registry.max_instances_per_service` default.
pub const REGISTRY_MAX_PER_SERVICE: u64 = 256;
/// `registry.max_instances` default (all services together).
pub const REGISTRY_MAX_INSTANCES: u64 = 4096;
/// Largest `registry.max_instances`: each instance may carry
/// `registry::MAX_METADATA_BYTES` of metadata.
pub const REGISTRY_MAX_INSTANCES_LIMIT: u64 = 100_000;
/// `registry.min_ttl_s` default.
pub const REGISTRY_MIN_TTL_S: u64 = 1;
/// `registry.max_ttl_s` default: an hour.
pub const REGISTRY_MAX_TTL_S: u64 = 3600;
/// `registry.default_ttl_s` default: the `ttl_s` of a registration without one.
pub const REGISTRY_DEFAULT_TTL_S: u64 = 30;
/// Largest `registry.max_ttl_s`: one day.
pub const REGISTRY_TTL_LIMIT_S: u64 = 86_400;

/// `routes[].validate.max_body_bytes` default when `json = true`.
pub const VALIDATE_JSON_MAX_BODY: u64 = 64 * 1024;
/// Largest `routes[].validate.max_body_bytes`: such bodies may be buffered whole.
pub const VALIDATE_MAX_BODY: u64 = 16 * 1024 * 1024;

/// `tracing.sample_ratio` default: every new trace is sampled, as Envoy's
/// `random_sampling` (100 %) and the OpenTelemetry SDKs' default sampler
/// (parent-based, always on) do; lower it where the collector cannot keep up.
pub const SAMPLE_RATIO: f64 = 1.0;

/// `routes[].cors.max_age_s` default.
pub const CORS_MAX_AGE_S: u64 = 600;
/// `security_headers.strict-transport-security = true`: one year; no
/// `includeSubDomains` or `preload`, which commit other hosts and are the
/// operator's to give as a value.
pub const HSTS_DEFAULT: &str = "max-age=31536000";
/// `security_headers = true`: the headers sent, in order. HSTS is not among
/// them: it is opted into per route (`strict-transport-security = true` or
/// a value) and then sent on TLS connections only (docs/tls.md).
pub const SECURITY_HEADERS: [(&str, &str); 3] = [
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
];

/// The `[server]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    pub listen: Option<String>,
    pub tls_listen: Option<String>,
    pub workers: Option<u64>,
    pub cpus: Option<Vec<u64>>,
    pub io: Option<String>,
    pub ring_setup: Option<String>,
    pub max_connections: Option<u64>,
    pub max_header_bytes: Option<u64>,
    pub max_body_bytes: Option<u64>,
    pub header_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    pub body_timeout_ms: Option<u64>,
    pub shutdown_grace_ms: Option<u64>,
    pub upgrade_idle_timeout_ms: Option<u64>,
    pub admin_listen: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
    pub underscores_in_headers: Option<String>,
    pub singleton_headers: Option<Vec<String>>,
    pub escaped_slashes: Option<String>,
    pub path_params: Option<String>,
    pub admin_token: Option<String>,
    pub watch: Option<bool>,
}

/// The `[tls]` table (docs/tls.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    pub min_version: Option<String>,
    pub certificates: Option<Vec<TlsCertFile>>,
    pub client_ca: Option<String>,
    pub client_auth: Option<String>,
}

/// One `[[tls.certificates]]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsCertFile {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub names: Option<Vec<String>>,
    pub default: Option<bool>,
}

/// The `[access_log]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogFile {
    pub output: Option<String>,
    pub format: Option<String>,
    pub sample: Option<f64>,
}

/// One `[[routes]]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    pub name: Option<String>,
    pub path: Option<String>,
    pub path_prefix: Option<String>,
    pub methods: Option<Vec<String>>,
    pub host: Option<String>,
    pub headers: Option<BTreeMap<String, HeaderCondFile>>,
    pub upstream: Option<String>,
    pub strip_prefix: Option<String>,
    pub rewrite_prefix: Option<String>,
    pub request_headers: Option<EditsFile>,
    pub response_headers: Option<EditsFile>,
    pub rate_limit: Option<NamesFile>,
    pub concurrency_limit: Option<u64>,
    pub rate_limit_headers: Option<bool>,
    pub auth: Option<Vec<String>>,
    pub require: Option<RequireFile>,
    pub validate: Option<ValidateFile>,
    pub cors: Option<CorsFile>,
    pub security_headers: Option<SecurityHeadersFile>,
    pub case_sensitive: Option<bool>,
    pub original_path_header: Option<String>,
    pub upgrade: Option<Vec<String>>,
    pub cache: Option<RouteCacheFile>,
}

/// One `[caches.NAME]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheFile {
    pub max_bytes: Option<u64>,
    pub max_object_bytes: Option<u64>,
    pub lock_timeout_ms: Option<u64>,
}

/// A route's `cache`: a cache name, or a table with the name and options.
#[derive(Debug)]
pub enum RouteCacheFile {
    /// `cache = "NAME"`.
    Name(String),
    /// `cache = { name = "NAME", … }`.
    Table(RouteCacheTable),
}

impl<'de> Deserialize<'de> for RouteCacheFile {
    // By hand rather than `untagged`, so a bad key in the table is named
    // ("unknown field `x`, expected one of …"), not "no variant matched".
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RouteCacheFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a cache name or a table { name = \"NAME\", … }")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RouteCacheFile, E> {
                Ok(RouteCacheFile::Name(s.to_owned()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RouteCacheFile, A::Error> {
                let t = RouteCacheTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RouteCacheFile::Table(t))
            }
        }
        d.deserialize_any(V)
    }
}

/// The table form of a route's `cache`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteCacheTable {
    pub name: Option<String>,
    pub key: Option<Vec<String>>,
    pub default_ttl_s: Option<u64>,
    pub cache_authorized: Option<bool>,
    pub cache_set_cookie: Option<bool>,
}

/// One `[rate_limits.NAME]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitFile {
    pub key: Option<NamesFile>,
    pub algorithm: Option<String>,
    pub limit: Option<u64>,
    pub period: Option<String>,
    pub burst: Option<u64>,
    pub max_keys: Option<u64>,
    pub max_new_keys_per_source: Option<u64>,
    pub on_exhausted: Option<String>,
    pub max_delay_ms: Option<u64>,
}

/// A string or a list of strings (`key`, `rate_limit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamesFile(pub Vec<String>);

impl<'de> Deserialize<'de> for NamesFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NamesFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<NamesFile, E> {
                Ok(NamesFile(vec![s.to_owned()]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<NamesFile, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(NamesFile(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A route's `cors`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsFile {
    pub origins: Option<Vec<String>>,
    pub methods: Option<Vec<String>>,
    pub headers: Option<Vec<String>>,
    pub credentials: Option<bool>,
    pub max_age_s: Option<u64>,
}

/// `security_headers`: `true`/`false`, or a table of overrides where a
/// header maps to a value, `true` (the default value) or `false` (omit).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SecurityHeadersFile {
    /// `true` = the defaults, `false` = none.
    On(bool),
    /// The defaults with these overrides.
    Overrides(BTreeMap<String, HeaderCondFile>),
}

/// A route's `validate`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateFile {
    pub content_types: Option<Vec<String>>,
    pub required_headers: Option<Vec<String>>,
    pub json: Option<bool>,
    pub max_body_bytes: Option<u64>,
}

/// A route's `require`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequireFile {
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
}

/// One `[auth.NAME]` table (keys of both kinds; `compile` checks which apply).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    pub kind: Option<String>,
    pub algorithms: Option<Vec<String>>,
    pub jwks_file: Option<String>,
    pub secret: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<Vec<String>>,
    pub leeway_s: Option<u64>,
    pub forward_claims: Option<BTreeMap<String, String>>,
    pub from_header: Option<String>,
    pub from_cookie: Option<String>,
    pub from_query: Option<String>,
    pub max_token_bytes: Option<u64>,
    pub cache_size: Option<u64>,
    pub cache_ttl_s: Option<u64>,
    pub header: Option<String>,
    pub query: Option<String>,
    pub keys: Option<Vec<ApiKeyFile>>,
    pub allow_subjects: Option<Vec<String>>,
    pub allow_sans: Option<Vec<String>>,
}

/// One entry of an API-key policy's `keys`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyFile {
    pub id: Option<String>,
    pub sha256: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// The `[revocation]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationFile {
    pub file: Option<String>,
}

/// The `[tracing]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracingFile {
    pub otlp_endpoint: Option<String>,
    pub sample_ratio: Option<f64>,
    pub request_id: Option<String>,
}

/// The `[registry]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryFile {
    pub token: Option<String>,
    pub state_file: Option<String>,
    pub listen: Option<String>,
    pub allow_cidrs: Option<Vec<String>>,
    pub max_instances_per_service: Option<u64>,
    pub max_instances: Option<u64>,
    pub min_ttl_s: Option<u64>,
    pub max_ttl_s: Option<u64>,
    pub default_ttl_s: Option<u64>,
}

/// `request_headers` / `response_headers`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditsFile {
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// A `headers` value: a string to compare, or `true`/`false` for presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderCondFile {
    /// `"value"`: exact value.
    Value(String),
    /// `true` = present, `false` = absent.
    Present(bool),
}

impl<'de> Deserialize<'de> for HeaderCondFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HeaderCondFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string (exact value) or a boolean (true = present, false = absent)")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<HeaderCondFile, E> {
                Ok(HeaderCondFile::Present(b))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<HeaderCondFile, E> {
                Ok(HeaderCondFile::Value(s.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}
