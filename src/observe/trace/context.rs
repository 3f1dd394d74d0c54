//! W3C Trace Context (level 1): reading the client's `traceparent`, choosing
//! this request's trace, span and sampling decision, and writing the one
//! `traceparent` line sent upstream.
//!
//! Owns: the header's syntax, the parent-based sampling rule and the hex
//! forms of the ids (header, access log, request id). Must never: allocate
//! or make a syscall (it runs once per request on a shard), or keep an
//! incoming id it has not validated.

use super::ids::TraceIds;
use crate::http::header::trim_ows;

/// Length of a version-00 `traceparent` value.
pub const TRACEPARENT_LEN: usize = 55;
/// Length of the line `write_traceparent` writes, CRLF included.
pub const TRACEPARENT_LINE_LEN: usize = NAME.len() + TRACEPARENT_LEN + 2;

const NAME: &[u8] = b"traceparent: ";
/// The one trace flag level 1 defines.
const SAMPLED: u8 = 0x01;
/// 2^64 as a float: `ratio × 2^64` is the sampling threshold.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// One request's place in a trace: the trace it belongs to, the span the
/// gateway opens for it, and whether that trace is sampled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace id: the client's when its `traceparent` was valid, else new.
    pub trace_id: [u8; 16],
    /// The client's span (the incoming `traceparent`'s parent id), if any.
    pub parent_id: Option<[u8; 8]>,
    /// The gateway's own span for this request; the upstream's parent.
    pub span_id: [u8; 8],
    /// Whether this request's span is recorded (and the flag sent upstream).
    pub sampled: bool,
}

impl TraceContext {
    /// Continues the trace of a valid `incoming` header (its trace id, its span
    /// as parent, its sampled flag), else starts a new one sampled by
    /// `ratio_samples`; either way with a fresh span id.
    pub fn start(incoming: Option<&[u8]>, ids: &TraceIds, sample_ratio: f64) -> TraceContext {
        let span_id = ids.span_id();
        match incoming.and_then(parse_traceparent) {
            Some((trace_id, parent, flags)) => TraceContext {
                trace_id,
                parent_id: Some(parent),
                span_id,
                sampled: flags & SAMPLED != 0,
            },
            None => {
                let trace_id = ids.trace_id();
                TraceContext {
                    trace_id,
                    parent_id: None,
                    span_id,
                    sampled: ratio_samples(&trace_id, sample_ratio),
                }
            }
        }
    }

    /// True when the client's trace is continued; only then is its
    /// `tracestate` forwarded (W3C: a `tracestate` without a valid
    /// `traceparent` is discarded).
    pub fn continues_trace(&self) -> bool {
        self.parent_id.is_some()
    }

    /// The `trace-flags` sent upstream: only the sampled bit (level 1).
    pub fn flags(&self) -> u8 {
        if self.sampled {
            SAMPLED
        } else {
            0
        }
    }

    /// The header value sent upstream: `00-<trace>-<our span>-<flags>`.
    pub fn traceparent_value(&self) -> [u8; TRACEPARENT_LEN] {
        let mut v = [b'-'; TRACEPARENT_LEN];
        v[..2].copy_from_slice(b"00");
        to_hex(&self.trace_id, &mut v[3..35]);
        to_hex(&self.span_id, &mut v[36..52]);
        to_hex(&[self.flags()], &mut v[53..55]);
        v
    }

    /// The whole header line, `traceparent: …\r\n`, for a gather list.
    pub fn traceparent_line(&self) -> [u8; TRACEPARENT_LINE_LEN] {
        let mut line = [0u8; TRACEPARENT_LINE_LEN];
        let (name, rest) = line.split_at_mut(NAME.len());
        name.copy_from_slice(NAME);
        rest[..TRACEPARENT_LEN].copy_from_slice(&self.traceparent_value());
        rest[TRACEPARENT_LEN..].copy_from_slice(b"\r\n");
        line
    }

    /// Appends `traceparent_line` to `out` (a `Vec<u8>` or a `BytesMut`).
    pub fn write_traceparent<B: bytes::BufMut>(&self, out: &mut B) {
        out.put_slice(&self.traceparent_line());
    }

    /// The trace id as 32 lowercase hex digits (also a request id's length).
    pub fn trace_hex(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        to_hex(&self.trace_id, &mut out);
        out
    }

    /// The gateway's span id as 16 lowercase hex digits.
    pub fn span_hex(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        to_hex(&self.span_id, &mut out);
        out
    }

    /// The client's span id as 16 lowercase hex digits, when the trace was continued.
    pub fn parent_hex(&self) -> Option<[u8; 16]> {
        self.parent_id.map(|p| {
            let mut out = [0u8; 16];
            to_hex(&p, &mut out);
            out
        })
    }
}

/// Parses a `traceparent` value into (trace id, parent id, flags), or `None`
/// when it is invalid (W3C Trace Context level 1, section 3.2). Optional
/// whitespace around the value is not part of it (RFC 9110 5.5) and is
/// ignored; anything else out of place makes the whole value invalid.
pub fn parse_traceparent(v: &[u8]) -> Option<([u8; 16], [u8; 8], u8)> {
    let v = trim_ows(v);
    if v.len() < TRACEPARENT_LEN || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let [version] = from_hex::<1>(&v[..2])?;
    let rest_ok = match version {
        0xff => false,
        0x00 => v.len() == TRACEPARENT_LEN,
        // A later version may append fields, each after a dash; its first
        // 55 characters are read as version 00 (forward compatibility).
        _ => v.len() == TRACEPARENT_LEN || v[TRACEPARENT_LEN] == b'-',
    };
    if !rest_ok {
        return None;
    }
    let trace_id = from_hex::<16>(&v[3..35])?;
    let parent_id = from_hex::<8>(&v[36..52])?;
    let [flags] = from_hex::<1>(&v[53..55])?;
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    Some((trace_id, parent_id, flags))
}

/// The sampling decision for a new trace: its id's last 8 bytes, read as a
/// big-endian u64, below `ratio × 2^64`. Every hop that applies the same
/// ratio to the same trace id decides the same way.
pub fn ratio_samples(trace_id: &[u8; 16], ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio.is_nan() || ratio <= 0.0 {
        return false;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&trace_id[8..]);
    // Below 2^64 here, so the conversion is exact up to float rounding.
    u64::from_be_bytes(low) < (ratio * TWO_POW_64) as u64
}

/// Writes `bytes` as lowercase hex into `out` (twice as long).
pub fn to_hex(bytes: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
}

/// `N` bytes from exactly `2N` lowercase hex digits.
fn from_hex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// One lowercase hex digit (the spec's HEXDIGLC: uppercase is invalid).
fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}
