//! What a limit counts by: the compiled `key` (ip, header:NAME, route,
//! api_key, jwt:CLAIM, or a list of them) and the hashing of one request's
//! parts into the 64-bit key the table stores.
//!
//! Owns: key parsing (config syntax) and extraction from a request. Must
//! never: allocate per request or fall back silently to another key kind
//! when a part is missing (a missing part hashes as its own "absent" value,
//! so leaving out a header cannot dodge a limit keyed on it).

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;

use crate::http::HeaderEntry;

/// One part of a key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyPart {
    /// The client's IP address: the TCP peer, or behind
    /// `server.trusted_proxies` the client they reported.
    Ip,
    /// Every value of the named header (lowercase name), in order; the
    /// one-value rule (`http::rules`) has refused a second one before this runs.
    Header(Box<[u8]>),
    /// The matched route: one bucket for everyone on the route.
    Route,
    /// The API key authentication accepted (issue 4).
    ApiKey,
    /// A claim of the JWT authentication verified (issue 4).
    JwtClaim(Box<str>),
}

impl KeyPart {
    /// True for parts only an authentication phase can provide.
    pub fn needs_auth(&self) -> bool {
        matches!(self, KeyPart::ApiKey | KeyPart::JwtClaim(_))
    }
}

/// What authentication established about the caller. The auth phase
/// (issue 4) implements this; until a route has authentication, requests
/// carry `Anonymous` and config validation refuses keys that need it.
pub trait Identity {
    /// The accepted API key, if the caller presented one.
    fn api_key(&self) -> Option<&[u8]>;
    /// The value of a verified JWT claim, if present.
    fn claim(&self, name: &str) -> Option<&[u8]>;
}

/// The identity of a request no authentication ran for.
pub struct Anonymous;

impl Identity for Anonymous {
    fn api_key(&self) -> Option<&[u8]> {
        None
    }
    fn claim(&self, _: &str) -> Option<&[u8]> {
        None
    }
}

/// The request parts a key may read, borrowed for one check.
pub struct RequestParts<'a, I: Identity> {
    /// The client's address (`server::request::RequestCtx::client`).
    pub ip: IpAddr,
    /// Header entries (spans into `buf`).
    pub headers: &'a [HeaderEntry],
    /// The buffer the spans point into.
    pub buf: &'a [u8],
    /// Name of the matched route (stable across reloads, unlike an index).
    pub route: &'a [u8],
    /// What authentication established.
    pub identity: &'a I,
}

/// A compiled key: its parts, combined.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeySpec {
    parts: Box<[KeyPart]>,
}

/// The random seed of a limit's key hash (kept with its state, so that
/// nobody can craft a value colliding with another client's key, and a
/// reload that keeps the state keeps the hashes).
pub type Seed = foldhash::fast::RandomState;

impl KeySpec {
    /// A key made of `parts`, combined.
    pub fn new(parts: Vec<KeyPart>) -> KeySpec {
        KeySpec {
            parts: parts.into_boxed_slice(),
        }
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[KeyPart] {
        &self.parts
    }

    /// The 64-bit table key for one request (never 0, the empty-slot mark).
    pub fn hash<I: Identity>(&self, seed: &Seed, r: &RequestParts<'_, I>) -> u64 {
        let mut h = seed.build_hasher();
        for part in self.parts.iter() {
            match part {
                KeyPart::Ip => match r.ip {
                    IpAddr::V4(a) => h.write(&a.octets()),
                    IpAddr::V6(a) => h.write(&a.octets()),
                },
                KeyPart::Header(name) => {
                    let mut n = 0u32;
                    for e in r.headers {
                        if e.name.get(r.buf).eq_ignore_ascii_case(name) {
                            write_value(&mut h, Some(e.value.get(r.buf)));
                            n += 1;
                        }
                    }
                    h.write_u32(n);
                }
                KeyPart::Route => write_value(&mut h, Some(r.route)),
                KeyPart::ApiKey => write_value(&mut h, r.identity.api_key()),
                KeyPart::JwtClaim(c) => write_value(&mut h, r.identity.claim(c)),
            }
        }
        h.finish().max(1)
    }
}

/// Length-prefixed, so `["ab","c"]` and `["a","bc"]` differ and absent differs from empty.
fn write_value(h: &mut impl Hasher, v: Option<&[u8]>) {
    match v {
        Some(v) => {
            h.write_usize(v.len());
            h.write(v);
        }
        None => h.write_usize(usize::MAX),
    }
}
