//! Loading a JWK Set (RFC 7517) into verification keys, refusing at load
//! what would otherwise fail on every token.
//!
//! Owns: which keys of a set may verify (`use` absent or `sig`, `key_ops`
//! absent or listing `verify`, `alg` not an encryption algorithm: others are
//! skipped and reported, as IdPs publish encryption keys beside signing
//! keys), and the checks of every usable key: unique `kid`, EC points on
//! their curve, RSA modulus and exponent within what `ring` verifies with,
//! HMAC lengths for the policy's algorithms. Must never: accept half a set
//! (one bad usable key fails the whole set) or log (callers report `skipped`).

use ring::agreement;
use ring::rand::SystemRandom;
use ring::signature::RsaPublicKeyComponents;
use serde::Deserialize;

use super::b64;
use super::jwk::{check_hmac_len, Alg, AlgSet, Key, KeyMaterial};

/// A parsed set: the keys that may verify, and one line per key left out.
#[derive(Debug)]
pub struct KeySet {
    /// Usable keys, in file order.
    pub keys: Vec<Key>,
    /// `keys[i] (kid "x"): why` for every skipped key.
    pub skipped: Vec<String>,
}

/// JWE key-management algorithms (RFC 7518 §4.1): a key naming one encrypts.
const ENCRYPTION_ALGS: &[&str] = &[
    "RSA1_5",
    "RSA-OAEP",
    "RSA-OAEP-256",
    "RSA-OAEP-384",
    "RSA-OAEP-512",
    "A128KW",
    "A192KW",
    "A256KW",
    "dir",
    "ECDH-ES",
    "ECDH-ES+A128KW",
    "ECDH-ES+A192KW",
    "ECDH-ES+A256KW",
    "A128GCMKW",
    "A192GCMKW",
    "A256GCMKW",
    "PBES2-HS256+A128KW",
    "PBES2-HS384+A192KW",
    "PBES2-HS512+A256KW",
];

/// Largest RSA modulus `ring` verifies with (`RSA_*_2048_8192_*`).
const RSA_MAX_BITS: usize = 8192;
/// Smallest RSA modulus accepted.
const RSA_MIN_BITS: usize = 2048;
/// Largest public exponent `ring` accepts (2^33 - 1).
const RSA_MAX_E: u64 = (1 << 33) - 1;

/// A JWK as written (only the members verification needs).
#[derive(Deserialize)]
struct JwkFile {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    k: Option<String>,
}

#[derive(Deserialize)]
struct JwksFile {
    keys: Vec<serde_json::Value>,
}

/// Why a key is not for verifying, or `None` when it is.
fn not_for_verifying(j: &JwkFile) -> Option<String> {
    if let Some(u) = j.use_.as_deref().filter(|u| *u != "sig") {
        return Some(format!("`use` is {u:?}, not \"sig\""));
    }
    if let Some(ops) = j
        .key_ops
        .as_ref()
        .filter(|o| !o.iter().any(|x| x == "verify"))
    {
        return Some(format!("`key_ops` {ops:?} does not list \"verify\""));
    }
    let alg = j.alg.as_deref().filter(|a| ENCRYPTION_ALGS.contains(a));
    alg.map(|a| format!("`alg` {a:?} is an encryption algorithm"))
}

fn member(v: &Option<String>, name: &str) -> Result<Vec<u8>, String> {
    let s = v
        .as_deref()
        .ok_or_else(|| format!("missing member `{name}`"))?;
    b64::decode(s.as_bytes()).map_err(|_| format!("member `{name}` is not base64url"))
}

/// The uncompressed point `x || y`, checked to lie on the curve: `ring`
/// validates a peer key fully in ECDH, so one agreement with a fresh
/// ephemeral key is the check (cheap, and only at load).
fn ec_point(
    j: &JwkFile,
    curve: &'static agreement::Algorithm,
    len: usize,
) -> Result<Box<[u8]>, String> {
    let crv = j.crv.as_deref().unwrap_or_default();
    let (x, y) = (member(&j.x, "x")?, member(&j.y, "y")?);
    if x.len() != len || y.len() != len {
        return Err(format!("{crv} coordinates must be {len} bytes each"));
    }
    let mut p = Vec::with_capacity(1 + 2 * len);
    p.push(4);
    p.extend_from_slice(&x);
    p.extend_from_slice(&y);
    let rng = SystemRandom::new();
    let on_curve = agreement::EphemeralPrivateKey::generate(curve, &rng)
        .and_then(|me| {
            agreement::agree_ephemeral(me, &agreement::UnparsedPublicKey::new(curve, &p), |_| ())
        })
        .is_ok();
    if !on_curve {
        return Err(format!("(x, y) is not a point on {crv}"));
    }
    Ok(p.into())
}

/// Big-endian bytes without leading zeros (some IdPs pad `n` with one).
fn minimal(mut b: Vec<u8>) -> Vec<u8> {
    let zeros = b.iter().take_while(|&&x| x == 0).count();
    b.drain(..zeros);
    b
}

fn rsa(j: &JwkFile) -> Result<KeyMaterial, String> {
    let n = minimal(member(&j.n, "n")?);
    let e = minimal(member(&j.e, "e")?);
    let bits = n
        .first()
        .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(format!(
            "RSA modulus is {bits} bits; {RSA_MIN_BITS} to {RSA_MAX_BITS} are accepted"
        ));
    }
    if n.last().is_some_and(|b| b & 1 == 0) {
        return Err("RSA modulus is even".into());
    }
    let ev = (e.len() <= 8).then(|| e.iter().fold(0u64, |v, &b| v << 8 | u64::from(b)));
    match ev {
        Some(v) if (3..=RSA_MAX_E).contains(&v) && v & 1 == 1 => {}
        _ => {
            return Err(format!(
                "RSA exponent `e` must be odd, at least 3 and below 2^33 (is {})",
                ev.map_or_else(|| "larger".to_string(), |v| v.to_string())
            ))
        }
    }
    Ok(KeyMaterial::Rsa(RsaPublicKeyComponents {
        n: n.into(),
        e: e.into(),
    }))
}

fn parse_key(j: &JwkFile, algs: AlgSet) -> Result<Key, String> {
    let alg = match &j.alg {
        None => None,
        Some(a) => Some(Alg::from_name(a.as_bytes()).ok_or_else(|| format!("unknown alg {a:?}"))?),
    };
    let material = match (j.kty.as_str(), j.crv.as_deref()) {
        ("RSA", _) => rsa(j)?,
        ("EC", Some("P-256")) => KeyMaterial::P256(ec_point(j, &agreement::ECDH_P256, 32)?),
        ("EC", Some("P-384")) => KeyMaterial::P384(ec_point(j, &agreement::ECDH_P384, 48)?),
        ("OKP", Some("Ed25519")) => {
            let x = member(&j.x, "x")?;
            if x.len() != 32 {
                return Err("Ed25519 key must be 32 bytes".into());
            }
            KeyMaterial::Ed25519(x.into())
        }
        ("oct", _) => {
            let k = member(&j.k, "k")?;
            if k.len() < 32 {
                return Err("oct key shorter than 32 bytes".into());
            }
            check_hmac_len(k.len(), algs, alg)?;
            KeyMaterial::Hmac(k.into())
        }
        (kty, crv) => return Err(format!("unsupported key type {kty:?} (crv {crv:?})")),
    };
    if let Some(a) = alg {
        if !material.fits(a) {
            return Err(format!("alg {} does not fit key type {}", a.name(), j.kty));
        }
    }
    Ok(Key {
        kid: j.kid.as_deref().map(Into::into),
        alg,
        material,
    })
}

/// `keys[i]` plus the kid when there is one, to name a key in a message.
fn label(i: usize, kid: Option<&str>) -> String {
    match kid {
        Some(k) => format!("keys[{i}] (kid {k:?})"),
        None => format!("keys[{i}]"),
    }
}

/// Parses a JWK Set document for a policy accepting `algs`. Keys not meant
/// for verifying are skipped; any bad usable key, a repeated `kid`, or no
/// usable key at all makes the whole set an error (half a key set would
/// fail tokens in confusing ways).
pub fn parse_set(text: &str, algs: AlgSet) -> Result<KeySet, String> {
    let set: JwksFile = serde_json::from_str(text)
        .map_err(|e| format!("not a JWK Set ({{\"keys\": [...]}}): {e}"))?;
    if set.keys.is_empty() {
        return Err("the JWK Set has no keys".into());
    }
    let mut out = KeySet {
        keys: Vec::with_capacity(set.keys.len()),
        skipped: Vec::new(),
    };
    let mut index = Vec::with_capacity(set.keys.len());
    for (i, v) in set.keys.into_iter().enumerate() {
        let kid = v.get("kid").and_then(|k| k.as_str()).map(str::to_owned);
        let name = label(i, kid.as_deref());
        let j: JwkFile = serde_json::from_value(v).map_err(|e| format!("{name}: {e}"))?;
        if let Some(why) = not_for_verifying(&j) {
            out.skipped.push(format!("{name}: {why}"));
            continue;
        }
        let key = parse_key(&j, algs).map_err(|e| format!("{name}: {e}"))?;
        if let Some(k) = key.kid.as_deref() {
            if let Some(p) = out.keys.iter().position(|o| o.kid.as_deref() == Some(k)) {
                return Err(format!(
                    "{name}: kid {k:?} is also the kid of keys[{}]",
                    index[p]
                ));
            }
        }
        index.push(i);
        out.keys.push(key);
    }
    if out.keys.is_empty() {
        return Err(format!(
            "no key of the JWK Set may verify signatures ({})",
            out.skipped.join("; ")
        ));
    }
    Ok(out)
}

#[cfg(test)]
#[path = "jwks_tests.rs"]
mod tests;
