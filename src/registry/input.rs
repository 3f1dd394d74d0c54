//! What a registry client may send: its paths in one spelling only
//! (`path`), service names and instance ids in the upstream-name syntax,
//! and the registration body (`addr`, `weight`,
//! `ttl_s`, `metadata`), each bounded; every refusal's text starts with the
//! name of the field it is about (`addr: …`).
//!
//! Owns: the bounds of a registration. Must never: resolve a host name
//! (an address is an IP literal), or accept a field it does not know.

use std::net::SocketAddr;

use serde_json::{Map, Value};

use crate::config::RegistrySpec;
use crate::http::client_ip::Cidr;

/// Largest `weight`.
pub const MAX_WEIGHT: u32 = 1000;
/// Largest `metadata`, as compact JSON.
pub const MAX_METADATA_BYTES: usize = 4096;
/// Largest request body on a registry endpoint.
pub const MAX_BODY: usize = 8192;
/// The fields of a registration body.
pub const FIELDS: [&str; 4] = ["addr", "weight", "ttl_s", "metadata"];

/// A checked registration body.
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    /// Where the instance listens.
    pub addr: SocketAddr,
    /// Its weight (default 1).
    pub weight: u32,
    /// Its TTL (default `registry.default_ttl_s`).
    pub ttl_s: u32,
    /// Its metadata (default `{}`).
    pub metadata: Map<String, Value>,
}

/// `service` or `id` (as `field`) in the upstream-name syntax, and not
/// `.` or `..`, which are legal characters but dot segments as a whole.
pub fn name(field: &str, s: &str) -> Result<(), String> {
    if s == "." || s == ".." {
        return Err(dot_segment(field, s));
    }
    crate::config::check_name(s).map_err(|e| format!("{field}: {e}"))
}

/// The raw path (as sent, before any normalisation) of a registry request
/// in its one spelling: no `%` escape, no `.` or `..` segment, no empty
/// segment (`//`, a trailing `/`). The listener would decode, resolve and
/// merge these into some other path; the registry refuses them instead,
/// so that the name a client sees stored is the name it sent. A refusal
/// names the field the segment stands for (`service`, `id`) or `path`.
pub fn path(raw: &str) -> Result<(), String> {
    let segs: Vec<&str> = raw.strip_prefix('/').unwrap_or(raw).split('/').collect();
    let shown: String = raw.chars().take(120).collect();
    for (i, &seg) in segs.iter().enumerate() {
        if seg.is_empty() && i + 1 == segs.len() {
            return Err(format!("path: {shown:?} ends in '/'; send it without"));
        }
        let field = field_at(&segs, i);
        if seg.is_empty() {
            return Err(format!("{field}: {shown:?} has an empty segment ('//')"));
        }
        if seg == "." || seg == ".." {
            return Err(dot_segment(field, seg));
        }
        if seg.contains('%') {
            let seg: String = seg.chars().take(80).collect();
            return Err(format!(
                "{field}: {seg:?} is percent-encoded; registry names are sent as they are (A-Z a-z 0-9 - _ .)"
            ));
        }
    }
    Ok(())
}

/// Which field segment `i` of `/registry/services/{service}/instances/{id}`
/// is; `path` for the fixed words and anything past the shape.
fn field_at(segs: &[&str], i: usize) -> &'static str {
    let under = segs.get(..2) == Some(&["registry", "services"][..]);
    match i {
        2 if under => "service",
        4 if under && segs.get(3) == Some(&"instances") => "id",
        _ => "path",
    }
}

fn dot_segment(field: &str, s: &str) -> String {
    format!(
        "{field}: {s:?} is a dot segment, which the registry neither resolves nor takes as a name"
    )
}

/// Parses and checks a registration body.
pub fn registration(body: &[u8], spec: &RegistrySpec) -> Result<Registration, String> {
    let example = r#"{"addr": "10.0.0.5:8080", "weight": 1, "ttl_s": 30, "metadata": {}}"#;
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the body is not a JSON object ({e}); send {example}"))?;
    let Value::Object(fields) = v else {
        return Err(format!("the body is not a JSON object; send {example}"));
    };
    if let Some(k) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        let k = k.chars().take(64).collect::<String>();
        return Err(format!(
            "{k}: unknown field (the fields are addr, weight, ttl_s and metadata)"
        ));
    }
    let addr = match fields.get("addr") {
        None => return Err(format!("addr: missing; send {example}")),
        Some(Value::String(s)) => self::addr(s, &spec.allow_cidrs)?,
        Some(_) => return Err("addr: must be a string \"IP:PORT\"".into()),
    };
    let weight = match fields.get("weight") {
        None => 1,
        Some(v) => bounded("weight", v, 1, MAX_WEIGHT)?,
    };
    let ttl_s = match fields.get("ttl_s") {
        None => spec.default_ttl_s,
        Some(v) => bounded("ttl_s", v, spec.min_ttl_s, spec.max_ttl_s)?,
    };
    let metadata = match fields.get("metadata") {
        None => Map::new(),
        Some(v) => metadata(v)?,
    };
    Ok(Registration {
        addr,
        weight,
        ttl_s,
        metadata,
    })
}

/// An `IP:PORT` literal (IPv6 in brackets) an instance can be reached on:
/// no host name, port 1..=65535, not an unspecified, multicast or
/// broadcast address, inside one of `allow` unless it is empty. An
/// IPv4-mapped IPv6 address is taken as its IPv4 address.
pub fn addr(s: &str, allow: &[Cidr]) -> Result<SocketAddr, String> {
    let shown: String = s.chars().take(80).collect();
    let mut a: SocketAddr = s.parse().map_err(|_| {
        format!("addr: {shown:?} is not IP:PORT (for example \"10.0.0.5:8080\" or \"[fd00::5]:8080\"; host names are not accepted)")
    })?;
    a.set_ip(a.ip().to_canonical());
    let ip = a.ip();
    if a.port() == 0 {
        return Err(format!(
            "addr: {shown:?} has port 0, which cannot be connected to"
        ));
    }
    let broadcast = matches!(ip, std::net::IpAddr::V4(v4) if v4.is_broadcast());
    if ip.is_unspecified() || ip.is_multicast() || broadcast {
        return Err(format!(
            "addr: {shown:?} is not an address an instance can be reached on"
        ));
    }
    if !allow.is_empty() && !allow.iter().any(|c| c.contains(ip)) {
        return Err(format!("addr: {ip} is outside registry.allow_cidrs"));
    }
    Ok(a)
}

/// A whole number in `lo..=hi`.
fn bounded(field: &str, v: &Value, lo: u32, hi: u32) -> Result<u32, String> {
    v.as_u64()
        .filter(|n| (u64::from(lo)..=u64::from(hi)).contains(n))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("{field}: {v} is not a whole number between {lo} and {hi}"))
}

/// A JSON object of at most `MAX_METADATA_BYTES` as compact JSON.
pub fn metadata(v: &Value) -> Result<Map<String, Value>, String> {
    let Value::Object(m) = v else {
        return Err("metadata: must be a JSON object".into());
    };
    let len = serde_json::to_string(m).map_or(usize::MAX, |s| s.len());
    if len > MAX_METADATA_BYTES {
        return Err(format!(
            "metadata: {len} bytes as JSON, more than the {MAX_METADATA_BYTES} allowed"
        ));
    }
    Ok(m.clone())
}
