//! JSON Web Keys (RFC 7517) parsed into the forms `ring` verifies with, and
//! the algorithms (RFC 7518) each key type may be used for.
//!
//! Owns: the key-type/algorithm pairing that blocks algorithm confusion (an
//! RSA or EC public key can never become an HMAC secret: only `oct` keys and
//! `secret` do), and the HMAC secret length rule. Parsing and validating a
//! JWK Set is `jwks`. Must never: hold private keys, or pick a key for a
//! token (that is `jwt`).

use ring::{hmac, signature};

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

    /// For HS*: the hash output size, the shortest secret RFC 7518 §3.2 allows.
    pub fn hmac_min_len(self) -> Option<usize> {
        match self {
            Alg::Hs256 => Some(32),
            Alg::Hs384 => Some(48),
            Alg::Hs512 => Some(64),
            _ => None,
        }
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
#[derive(Clone)]
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

/// Same kind and same bytes (a reload compares a policy's new key set with
/// the one it runs; never on a request).
impl PartialEq for KeyMaterial {
    fn eq(&self, other: &KeyMaterial) -> bool {
        use KeyMaterial::*;
        match (self, other) {
            (Hmac(a), Hmac(b)) | (P256(a), P256(b)) | (P384(a), P384(b)) => a == b,
            (Ed25519(a), Ed25519(b)) => a == b,
            (Rsa(a), Rsa(b)) => a.n == b.n && a.e == b.e,
            _ => false,
        }
    }
}

impl Eq for KeyMaterial {}

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// `kid`, if the JWK has one.
    pub kid: Option<Box<str>>,
    /// `alg` pinned by the JWK, if any: the key is used for that algorithm only.
    pub alg: Option<Alg>,
    /// The key itself.
    pub material: KeyMaterial,
}

/// Checks an HMAC secret of `len` bytes against every HS* algorithm it may
/// verify: those of `algs`, narrowed to `pinned` when the key names one.
pub fn check_hmac_len(len: usize, algs: AlgSet, pinned: Option<Alg>) -> Result<(), String> {
    let need = Alg::ALL
        .into_iter()
        .filter(|a| algs.has(*a) && !pinned.is_some_and(|p| p != *a))
        .filter_map(|a| Some((a, a.hmac_min_len()?)))
        .max_by_key(|(_, n)| *n);
    match need {
        Some((a, n)) if len < n => Err(format!(
            "the secret is {len} bytes; {} needs at least {n} (RFC 7518 §3.2: no shorter than the hash output)",
            a.name()
        )),
        _ => Ok(()),
    }
}
