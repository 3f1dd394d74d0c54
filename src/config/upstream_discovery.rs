//! Compiling an `[[upstreams]]` entry's `discovery` and the keys of each
//! kind: `targets` (static), `dns_name`, `resolver`, `dns_min_ttl_ms`,
//! `dns_max_ttl_ms`, `dns_family` (dns), `targets_file` (file) and
//! `service` (registry).
//!
//! Owns: which key belongs to which kind (a key of another kind is an
//! error on that key), and reading the targets file once at load so that
//! `check` reports a bad one. Must never: resolve a name (that is the DNS
//! source's job, at run time) or decide a default (`upstream` does).

use std::path::PathBuf;
use std::time::Duration;

use super::compile::{check, required};
use super::load::Doc;
use super::upstream::{Discovery, DnsFamily, DnsSpec, DNS_MAX_TTL_MS, DNS_MIN_TTL_MS};
use super::upstream_model::UpstreamFile;
use super::upstream_tables::ordered;
use super::validate;

/// The kinds, and the keys only each one takes.
const KINDS: [(&str, &[&str]); 4] = [
    ("static", &["targets"]),
    (
        "dns",
        &[
            "dns_name",
            "resolver",
            "dns_min_ttl_ms",
            "dns_max_ttl_ms",
            "dns_family",
        ],
    ),
    ("file", &["targets_file"]),
    ("registry", &["service"]),
];

/// `discovery` and its keys; `None` when they do not compile (the errors
/// are recorded; an unknown kind leaves the kinds' keys unjudged).
pub fn discovery(doc: &mut Doc<'_>, p: &str, name: &str, u: &UpstreamFile) -> Option<Discovery> {
    let key = |k: &str| format!("{p}.{k}");
    let kind = match u.discovery.as_deref() {
        None => "static",
        Some(k) => match KINDS.iter().find(|(n, _)| *n == k) {
            Some((n, _)) => n,
            None => {
                doc.err(
                    &key("discovery"),
                    format!("unknown discovery {k:?}: use \"static\", \"dns\", \"file\" or \"registry\""),
                );
                return None;
            }
        },
    };
    for (other, keys) in KINDS.iter().filter(|(n, _)| *n != kind) {
        let written: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| doc.present(&key(k)))
            .collect();
        for k in written {
            let msg = match *other {
                "static" => format!(
                    "only used with discovery = \"static\": with discovery = \"{kind}\" the targets come from {}; remove this key",
                    source(kind)
                ),
                _ => format!(
                    "only used with discovery = \"{other}\" (this upstream's is \"{kind}\"): set that, or remove this key"
                ),
            };
            doc.err(&key(k), msg);
        }
    }
    Some(match kind {
        "dns" => Discovery::Dns(dns(doc, p, u)?),
        "file" => {
            let hint = "the JSON file of targets, like \"targets.json\"";
            let k = key("targets_file");
            let path = PathBuf::from(required(doc, &k, &u.targets_file, hint)?);
            check(doc, &k, crate::discovery::targets_json::read(&path))?;
            Discovery::File { path }
        }
        "registry" => {
            let service = u.service.as_deref().unwrap_or(name);
            check(doc, &key("service"), validate::name(service))?;
            Discovery::Registry {
                service: service.into(),
            }
        }
        _ => Discovery::Static,
    })
}

/// Largest `max_targets`: each slot costs every shard a few hundred bytes
/// of counters, and the upstream a health and an outlier entry.
pub const MAX_TARGETS_LIMIT: u64 = 10_000;

/// Slots of a discovered upstream when `max_targets` is not set.
pub const DEFAULT_MAX_TARGETS: u64 = 256;

/// `max_targets`: how many targets a discovered upstream can hold at once
/// (more are logged and wait for room); a static upstream has exactly its
/// `configured` targets, and the key is refused there.
pub fn max_targets(
    doc: &mut Doc<'_>,
    p: &str,
    d: &Option<Discovery>,
    u: &UpstreamFile,
    configured: usize,
) -> usize {
    let k = format!("{p}.max_targets");
    match (d, u.max_targets) {
        // `discovery` did not compile: its error says what to fix.
        (None, _) | (Some(Discovery::Static), None) => configured,
        (Some(Discovery::Static), Some(_)) => {
            doc.err(
                &k,
                "only used with discovery = \"dns\", \"file\" or \"registry\": a static upstream has exactly its `targets`; remove this key",
            );
            configured
        }
        (_, Some(n)) if !(1..=MAX_TARGETS_LIMIT).contains(&n) => {
            doc.err(&k, format!("must be 1 to {MAX_TARGETS_LIMIT}, got {n}"));
            DEFAULT_MAX_TARGETS as usize
        }
        (_, n) => n.unwrap_or(DEFAULT_MAX_TARGETS) as usize,
    }
}

/// What a kind's targets come from, for error messages.
fn source(kind: &str) -> &'static str {
    match kind {
        "dns" => "`dns_name`",
        "file" => "`targets_file`",
        _ => "the registry",
    }
}

/// The `dns_*` keys and `resolver`.
fn dns(doc: &mut Doc<'_>, p: &str, u: &UpstreamFile) -> Option<DnsSpec> {
    let key = |k: &str| format!("{p}.{k}");
    let hint = "\"host:port\" for A/AAAA records, or \"_service._proto.name\" for SRV";
    let query = required(doc, &key("dns_name"), &u.dns_name, hint)
        .and_then(|s| check(doc, &key("dns_name"), validate::dns_query(s)));
    let resolver = u
        .resolver
        .as_deref()
        .map(|s| check(doc, &key("resolver"), validate::resolver(s)));
    let (min_ttl, max_ttl) = ordered(
        doc,
        p,
        (
            "dns_min_ttl_ms",
            u.dns_min_ttl_ms,
            Duration::from_millis(DNS_MIN_TTL_MS),
        ),
        (
            "dns_max_ttl_ms",
            u.dns_max_ttl_ms,
            Duration::from_millis(DNS_MAX_TTL_MS),
        ),
        "a record's TTL is clamped between the two",
    );
    let family = match u.dns_family.as_deref() {
        None | Some("any") => DnsFamily::Any,
        Some("ipv4") => DnsFamily::Ipv4,
        Some("ipv6") => DnsFamily::Ipv6,
        Some(other) => {
            doc.err(
                &key("dns_family"),
                format!("unknown family {other:?}: use \"any\", \"ipv4\" or \"ipv6\""),
            );
            DnsFamily::Any
        }
    };
    Some(DnsSpec {
        query: query?,
        resolver: resolver.map_or(Some(None), |r| r.map(Some))?,
        min_ttl,
        max_ttl,
        family,
    })
}
