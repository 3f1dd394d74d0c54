//! JSON Web Keys (RFC 7517) parsed into the forms `ring` verifies with, and
//! the algorithms (RFC 7518) each key type may be used for.
//!
//! Owns: the key-type/algorithm pairing that blocks algorithm confusion (an
//! RSA or EC public key can never become an HMAC secret: only `oct` keys and
//! `secret` do). Must never: hold private keys, or pick a key for a token
//! (that is `jwt`).

use ring::{hmac, signature};
use serde::Deserialize;

use super::b64;

/// A signature algorithm a policy may accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    /// HMAC SHA-256.
    Hs256,
    /// HMAC SHA-384.
    Hs384,
    /// HMAC SHA-512.
    Hs512,
    /// RSASSA-PKCS1-v1_5 SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 SHA-512.
    Rs512,
    /// RSASSA-PSS SHA-256.
    Ps256,
    /// RSASSA-PSS SHA-384.
    Ps384,
    /// RSASSA-PSS SHA-512.
    Ps512,
    /// ECDSA P-256 SHA-256.
    Es256,
    /// ECDSA P-384 SHA-384.
    Es384,
    /// Ed25519.
    EdDsa,
}

impl Alg {
    /// Every algorithm, in the order the docs list them.
    pub const ALL: [Alg; 12] = [
        Alg::Hs256,
        Alg::Hs384,
        Alg::Hs512,
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::EdDsa,
    ];

    /// The JOSE name (`"RS256"`).
    pub fn name(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Hs384 => "HS384",
            Alg::Hs512 => "HS512",
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// Parses a JOSE name, case-sensitive as RFC 7515 requires; `none` is not an algorithm here.
    pub fn from_name(s: &[u8]) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name().as_bytes() == s)
    }

    /// Bit for an `AlgSet`.
    pub fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// A set of algorithms as a bit mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlgSet(pub u16);

impl AlgSet {
    /// True when `a` is in the set.
    pub fn has(self, a: Alg) -> bool {
        self.0 & a.bit() != 0
    }
}

/// A verification key in `ring`'s form.
pub enum KeyMaterial {
    /// A shared secret; usable for HS* only.
    Hmac(Box<[u8]>),
    /// RSA public key (modulus, exponent, big-endian); usable for RS*/PS*.
    Rsa(signature::RsaPublicKeyComponents<Box<[u8]>>),
    /// Uncompressed P-256 point; ES256 only.
    P256(Box<[u8]>),
    /// Uncompressed P-384 point; ES384 only.
    P384(Box<[u8]>),
    /// Ed25519 public key; EdDSA only.
    Ed25519(Box<[u8]>),
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secret bytes.
        f.write_str(match self {
            KeyMaterial::Hmac(_) => "Hmac(..)",
            KeyMaterial::Rsa(_) => "Rsa(..)",
            KeyMaterial::P256(_) => "P256(..)",
            KeyMaterial::P384(_) => "P384(..)",
            KeyMaterial::Ed25519(_) => "Ed25519(..)",
        })
    }
}

impl KeyMaterial {
    /// Whether this key may verify `alg` (the algorithm-confusion guard).
    pub fn fits(&self, alg: Alg) -> bool {
        use Alg::*;
        match self {
            KeyMaterial::Hmac(_) => matches!(alg, Hs256 | Hs384 | Hs512),
            KeyMaterial::Rsa(_) => matches!(alg, Rs256 | Rs384 | Rs512 | Ps256 | Ps384 | Ps512),
            KeyMaterial::P256(_) => alg == Es256,
            KeyMaterial::P384(_) => alg == Es384,
            KeyMaterial::Ed25519(_) => alg == EdDsa,
        }
    }

    /// Checks `sig` over `msg`; the caller has already checked `fits(alg)`.
    pub fn verify(&self, alg: Alg, msg: &[u8], sig: &[u8]) -> bool {
        use signature::{UnparsedPublicKey as Pk, VerificationAlgorithm};
        let pk = |algo: &'static dyn VerificationAlgorithm, k: &[u8]| {
            Pk::new(algo, k).verify(msg, sig).is_ok()
        };
        match (self, alg) {
            (KeyMaterial::Hmac(k), _) => {
                let algo = match alg {
                    Alg::Hs384 => hmac::HMAC_SHA384,
                    Alg::Hs512 => hmac::HMAC_SHA512,
                    _ => hmac::HMAC_SHA256,
                };
                hmac::verify(&hmac::Key::new(algo, k), msg, sig).is_ok()
            }
            (KeyMaterial::Rsa(k), _) => {
                let params = match alg {
                    Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Alg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Alg::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                    _ => &signature::RSA_PSS_2048_8192_SHA512,
                };
                k.verify(params, msg, sig).is_ok()
            }
            (KeyMaterial::P256(k), _) => pk(&signature::ECDSA_P256_SHA256_FIXED, k),
            (KeyMaterial::P384(k), _) => pk(&signature::ECDSA_P384_SHA384_FIXED, k),
            (KeyMaterial::Ed25519(k), _) => pk(&signature::ED25519, k),
        }
    }
}

/// One key of a set, with its optional `kid`.
#[derive(Debug)]
pub struct Key {
    /// `kid`, if the JWK has one.
    pub kid: Option<Box<str>>,
    /// `alg` pinned by the JWK, if any: the key is used for that algorithm only.
    pub alg: Option<Alg>,
    /// The key itself.
    pub material: KeyMaterial,
}

/// A JWK as written (only the members verification needs).
#[derive(Deserialize)]
struct JwkFile {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
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

fn member(v: &Option<String>, name: &str) -> Result<Vec<u8>, String> {
    let s = v
        .as_deref()
        .ok_or_else(|| format!("missing member `{name}`"))?;
    b64::decode(s.as_bytes()).map_err(|_| format!("member `{name}` is not base64url"))
}

fn point(x: Vec<u8>, y: Vec<u8>, len: usize, crv: &str) -> Result<Box<[u8]>, String> {
    if x.len() != len || y.len() != len {
        return Err(format!("{crv} coordinates must be {len} bytes each"));
    }
    let mut p = Vec::with_capacity(1 + 2 * len);
    p.push(4);
    p.extend_from_slice(&x);
    p.extend_from_slice(&y);
    Ok(p.into())
}

fn parse_key(v: serde_json::Value) -> Result<Key, String> {
    let j: JwkFile = serde_json::from_value(v).map_err(|e| e.to_string())?;
    if j.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err("`use` is not \"sig\"".into());
    }
    let alg = match &j.alg {
        None => None,
        Some(a) => Some(Alg::from_name(a.as_bytes()).ok_or_else(|| format!("unknown alg {a:?}"))?),
    };
    let material = match (j.kty.as_str(), j.crv.as_deref()) {
        ("RSA", _) => {
            let n = member(&j.n, "n")?;
            if n.len() < 256 {
                return Err("RSA modulus shorter than 2048 bits".into());
            }
            KeyMaterial::Rsa(signature::RsaPublicKeyComponents {
                n: n.into(),
                e: member(&j.e, "e")?.into(),
            })
        }
        ("EC", Some("P-256")) => {
            KeyMaterial::P256(point(member(&j.x, "x")?, member(&j.y, "y")?, 32, "P-256")?)
        }
        ("EC", Some("P-384")) => {
            KeyMaterial::P384(point(member(&j.x, "x")?, member(&j.y, "y")?, 48, "P-384")?)
        }
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
        kid: j.kid.map(String::into_boxed_str),
        alg,
        material,
    })
}

/// Parses a JWK Set document; any bad key makes the whole set an error
/// (half a key set would fail tokens in confusing ways).
pub fn parse_set(text: &str) -> Result<Vec<Key>, String> {
    let set: JwksFile = serde_json::from_str(text)
        .map_err(|e| format!("not a JWK Set ({{\"keys\": [...]}}): {e}"))?;
    if set.keys.is_empty() {
        return Err("the JWK Set has no keys".into());
    }
    let mut out = Vec::with_capacity(set.keys.len());
    for (i, k) in set.keys.into_iter().enumerate() {
        out.push(parse_key(k).map_err(|e| format!("keys[{i}]: {e}"))?);
    }
    Ok(out)
}
