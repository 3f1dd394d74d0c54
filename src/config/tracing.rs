//! `[tracing]`: the compiled trace settings (`TracingSpec`) and the OTLP
//! collector URL (`OtlpEndpoint`).
//!
//! Owns: the defaults (no export, every new trace sampled, request ids as
//! before), the bounds of `sample_ratio` and the syntax of `otlp_endpoint`.
//! Must never: resolve the collector's name or open a socket: the exporter
//! thread does that per batch, so a collector that is down at start stops
//! nothing.

use std::fmt;

use super::compile::{check, one_of};
use super::load::Doc;
use super::model::{TracingFile, SAMPLE_RATIO};
use super::validate;

/// `[tracing]` with defaults applied; present even when the table is absent
/// (trace context propagation is always on, export only with an endpoint).
#[derive(Debug, Clone, PartialEq)]
pub struct TracingSpec {
    /// Where sampled spans are sent, if anywhere.
    pub otlp: Option<OtlpEndpoint>,
    /// Share of new traces sampled, `0.0..=1.0` (a continued trace follows its parent).
    pub sample_ratio: f64,
    /// `request_id = "trace_id"`: a generated request id is the trace id.
    pub request_id_from_trace: bool,
}

impl Default for TracingSpec {
    fn default() -> TracingSpec {
        TracingSpec {
            otlp: None,
            sample_ratio: SAMPLE_RATIO,
            request_id_from_trace: false,
        }
    }
}

/// An OTLP/HTTP collector URL, `http://host[:port]/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpEndpoint {
    /// Host name or IP literal to connect to (an IPv6 literal without brackets).
    pub host: Box<str>,
    /// TCP port (80 when the URL names none).
    pub port: u16,
    /// Path and query the spans are POSTed to.
    pub path: Box<str>,
    /// The `Host` header: the authority as written in the URL.
    pub authority: Box<str>,
}

impl OtlpEndpoint {
    /// Parses and checks `http://host[:port]/path`; the error says how to fix it.
    pub fn parse(url: &str) -> Result<OtlpEndpoint, String> {
        let scheme_is = |s: &str| {
            url.get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s))
        };
        if scheme_is("https://") {
            return Err(format!(
                "{url:?}: https is not supported yet (TLS to the collector comes later); \
                 use http:// to a collector or agent on a trusted network"
            ));
        }
        if !scheme_is("http://") {
            return Err(format!(
                "{url:?} is not an http:// URL (for example \"http://127.0.0.1:4318/v1/traces\")"
            ));
        }
        let rest = &url["http://".len()..];
        let Some(slash) = rest.find('/') else {
            return Err(format!(
                "{url:?} has no path: add the collector's, for example \"/v1/traces\""
            ));
        };
        let (authority, path) = rest.split_at(slash);
        if authority.contains('@') {
            return Err(format!("{url:?}: credentials in the URL are not supported"));
        }
        validate::authority(authority)?;
        validate::request_target(path)?;
        let (host, port) = split_authority(authority);
        let port = match port {
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("{url:?}: port {p:?} must be 1..=65535"))?,
        };
        Ok(OtlpEndpoint {
            host: host.into(),
            port,
            path: path.into(),
            authority: authority.into(),
        })
    }
}

impl fmt::Display for OtlpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority, self.path)
    }
}

/// `host:port`, `[v6]:port` or a bare host (already checked by `validate::authority`).
fn split_authority(a: &str) -> (&str, Option<&str>) {
    if let Some(v6) = a.strip_prefix('[') {
        let (host, rest) = v6.split_once(']').unwrap_or((v6, ""));
        return (host, rest.strip_prefix(':'));
    }
    match a.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (a, None),
    }
}

/// Compiles `[tracing]`; every bad key is reported and replaced by its default.
pub fn compile(doc: &mut Doc<'_>, t: Option<&TracingFile>) -> TracingSpec {
    let Some(t) = t else {
        return TracingSpec::default();
    };
    let otlp = t
        .otlp_endpoint
        .as_deref()
        .and_then(|u| check(doc, "tracing.otlp_endpoint", OtlpEndpoint::parse(u)));
    let sample_ratio = match t.sample_ratio {
        None => SAMPLE_RATIO,
        Some(r) if (0.0..=1.0).contains(&r) => r,
        Some(r) => {
            doc.err(
                "tracing.sample_ratio",
                format!("{r} is out of range: must be between 0.0 and 1.0 (0.1 samples one new trace in ten)"),
            );
            SAMPLE_RATIO
        }
    };
    let choices = [("generate", false), ("trace_id", true)];
    TracingSpec {
        otlp,
        sample_ratio,
        request_id_from_trace: one_of(doc, "tracing.request_id", &t.request_id, &choices),
    }
}
