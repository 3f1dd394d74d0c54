//! The `[[upstreams]]` table as plain serde structs: its keys, their value
//! shapes, and its sub-tables `health`, `outlier` and `retry`.
//!
//! Owns: key names and shapes (a target is a string or a table,
//! `expect_status` is `"2xx"` or a list). Every field is optional so that
//! each key is judged in `upstreams`, which also applies the defaults.
//! Must never: validate meaning or hold defaults (`upstream` and `model` do).

use std::fmt;

use serde::de::{self, value::MapAccessDeserializer, Deserializer, Visitor};
use serde::Deserialize;

/// One `[[upstreams]]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFile {
    pub name: Option<String>,
    pub targets: Option<Vec<TargetFile>>,
    pub balance: Option<String>,
    pub hash_key: Option<String>,
    pub connect_timeout_ms: Option<u64>,
    pub response_timeout_ms: Option<u64>,
    pub max_idle_per_shard: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    pub max_connections: Option<u64>,
    pub max_pending: Option<u64>,
    pub max_requests: Option<u64>,
    pub on_no_healthy: Option<String>,
    pub health: Option<HealthFile>,
    pub outlier: Option<OutlierFile>,
    pub retry: Option<RetryFile>,
    pub discovery: Option<String>,
    pub service: Option<String>,
    pub dns_name: Option<String>,
    pub resolver: Option<String>,
    pub dns_min_ttl_ms: Option<u64>,
    pub dns_max_ttl_ms: Option<u64>,
    pub dns_family: Option<String>,
    pub targets_file: Option<String>,
    pub max_targets: Option<u64>,
    pub tls: Option<bool>,
    pub ca_file: Option<String>,
    pub sni: Option<String>,
    pub tls_verify: Option<bool>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
}

/// `[upstreams.health]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthFile {
    pub path: Option<String>,
    pub host: Option<String>,
    pub interval_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub healthy_threshold: Option<u64>,
    pub unhealthy_threshold: Option<u64>,
    pub expect_status: Option<ExpectStatusFile>,
}

/// `[upstreams.outlier]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlierFile {
    pub consecutive_failures: Option<u64>,
    pub count_5xx: Option<bool>,
    pub failure_ratio: Option<f64>,
    pub window_ms: Option<u64>,
    pub min_requests: Option<u64>,
    pub base_ejection_ms: Option<u64>,
    pub max_ejection_ms: Option<u64>,
    pub max_ejection_percent: Option<u64>,
    pub half_open_probes: Option<u64>,
}

/// `[upstreams.retry]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryFile {
    pub retry_on: Option<Vec<String>>,
    pub retriable_status: Option<Vec<u64>>,
    pub attempts: Option<u64>,
    pub per_try_timeout_ms: Option<u64>,
    pub max_replay_bytes: Option<u64>,
    pub budget_percent: Option<u64>,
    pub min_retries_per_s: Option<u64>,
    pub backoff_base_ms: Option<u64>,
    pub backoff_max_ms: Option<u64>,
}

/// One `targets` entry: `"host:port"`, or `{ addr = "host:port", weight = N }`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TargetFile {
    pub addr: Option<String>,
    pub weight: Option<u64>,
}

/// The table form of a target, so that its unknown keys are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetTable {
    addr: Option<String>,
    weight: Option<u64>,
}

impl<'de> Deserialize<'de> for TargetFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TargetFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"host:port\" or a table { addr = \"host:port\", weight = N }")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<TargetFile, E> {
                Ok(TargetFile {
                    addr: Some(s.to_owned()),
                    weight: None,
                })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<TargetFile, A::Error> {
                let t = TargetTable::deserialize(MapAccessDeserializer::new(map))?;
                Ok(TargetFile {
                    addr: t.addr,
                    weight: t.weight,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `expect_status`: a class such as `"2xx"`, or a list of statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectStatusFile {
    /// `"2xx"` (the only class accepted; checked in `upstreams`).
    Class(String),
    /// `[200, 204]`.
    List(Vec<u64>),
}

impl<'de> Deserialize<'de> for ExpectStatusFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ExpectStatusFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"2xx\" or a list of statuses such as [200, 204]")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ExpectStatusFile, E> {
                Ok(ExpectStatusFile::Class(s.to_owned()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<u64>()? {
                    out.push(s);
                }
                Ok(ExpectStatusFile::List(out))
            }
        }
        d.deserialize_any(V)
    }
}
