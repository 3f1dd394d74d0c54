//! Test-only token minting: signing keys generated with `ring` at test time
//! (HMAC, P-256, P-384, Ed25519) or loaded from the test-only RSA fixture,
//! their public JWKs, and compact JWTs with any header and claims.
//!
//! Shared by the integration tests, the unit tests (`auth::jwt` includes it
//! by path) and the benches. Must never: be used to mint anything outside
//! tests; the RSA key in `tests/fixtures` protects nothing.

use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};

use ringway::auth::b64::encode as b64;

/// The test-only RSA-2048 private key (PKCS#1 DER).
pub const RSA_PKCS1: &[u8] = include_bytes!("../fixtures/test-only-rsa-2048.pkcs1.der");

/// A signing key with the JOSE algorithm it signs with.
pub enum Signer {
    /// HMAC with a shared secret; `alg` is HS256/384/512.
    Hmac(Vec<u8>, &'static str),
    /// ECDSA P-256 (ES256) or P-384 (ES384).
    Ec(EcdsaKeyPair, &'static str),
    /// Ed25519 (EdDSA).
    Ed(Ed25519KeyPair),
    /// RSA with RS256/RS384/RS512/PS256/PS384/PS512.
    Rsa(RsaKeyPair, &'static str),
}

impl Signer {
    /// HS256/384/512 with `secret`.
    pub fn hmac(secret: &[u8], alg: &'static str) -> Signer {
        Signer::Hmac(secret.to_vec(), alg)
    }

    /// A fresh P-256 key (ES256).
    pub fn es256() -> Signer {
        Self::ec(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "ES256")
    }

    /// A fresh P-384 key (ES384).
    pub fn es384() -> Signer {
        Self::ec(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "ES384")
    }

    fn ec(algo: &'static signature::EcdsaSigningAlgorithm, alg: &'static str) -> Signer {
        let rng = SystemRandom::new();
        let pk8 = EcdsaKeyPair::generate_pkcs8(algo, &rng).expect("generate ec key");
        Signer::Ec(
            EcdsaKeyPair::from_pkcs8(algo, pk8.as_ref(), &rng).expect("ec key"),
            alg,
        )
    }

    /// A fresh Ed25519 key (EdDSA).
    pub fn eddsa() -> Signer {
        let pk8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("generate ed25519");
        Signer::Ed(Ed25519KeyPair::from_pkcs8(pk8.as_ref()).expect("ed25519 key"))
    }

    /// The test-only RSA key signing with `alg` (RS* or PS*).
    pub fn rsa(alg: &'static str) -> Signer {
        Signer::Rsa(RsaKeyPair::from_der(RSA_PKCS1).expect("rsa fixture"), alg)
    }

    /// The JOSE `alg` this key signs with.
    pub fn alg(&self) -> &'static str {
        match self {
            Signer::Hmac(_, a) | Signer::Ec(_, a) | Signer::Rsa(_, a) => a,
            Signer::Ed(_) => "EdDSA",
        }
    }

    /// The public JWK (for HMAC: the `oct` key) with `kid`.
    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            Signer::Hmac(k, _) => json!({"kty": "oct", "kid": kid, "k": b64(k)}),
            Signer::Ec(k, alg) => {
                let p = k.public_key().as_ref();
                let n = (p.len() - 1) / 2;
                let crv = if *alg == "ES256" { "P-256" } else { "P-384" };
                json!({"kty": "EC", "kid": kid, "crv": crv, "x": b64(&p[1..1 + n]), "y": b64(&p[1 + n..])})
            }
            Signer::Ed(k) => {
                json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(k.public_key().as_ref())})
            }
            Signer::Rsa(k, _) => {
                let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(k.public());
                json!({"kty": "RSA", "kid": kid, "n": b64(&c.n), "e": b64(&c.e)})
            }
        }
    }

    /// Signature over `input` with this key.
    pub fn sign_bytes(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Signer::Hmac(k, alg) => {
                let algo = match *alg {
                    "HS384" => hmac::HMAC_SHA384,
                    "HS512" => hmac::HMAC_SHA512,
                    _ => hmac::HMAC_SHA256,
                };
                hmac::sign(&hmac::Key::new(algo, k), input)
                    .as_ref()
                    .to_vec()
            }
            Signer::Ec(k, _) => k.sign(&rng, input).expect("ecdsa sign").as_ref().to_vec(),
            Signer::Ed(k) => k.sign(input).as_ref().to_vec(),
            Signer::Rsa(k, alg) => {
                let pad: &'static dyn signature::RsaEncoding = match *alg {
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(pad, &rng, input, &mut sig).expect("rsa sign");
                sig
            }
        }
    }

    /// A compact JWT with exactly this header and these claims.
    pub fn token_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self.sign_bytes(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    /// A compact JWT with `{"alg": self.alg(), "typ": "JWT", "kid": kid}`.
    pub fn token(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut h = json!({"alg": self.alg(), "typ": "JWT"});
        if let Some(k) = kid {
            h["kid"] = json!(k);
        }
        self.token_with_header(&h, claims)
    }
}

/// `{"keys": [...]}` from the signers' public JWKs, each with its kid.
pub fn jwks(keys: &[(&Signer, &str)]) -> String {
    let list: Vec<Value> = keys.iter().map(|(s, kid)| s.jwk(kid)).collect();
    json!({ "keys": list }).to_string()
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Unpadded base64url (for hand-built malformed tokens).
pub fn b64url(bytes: &[u8]) -> String {
    b64(bytes)
}

/// SHA-256 hex of an API key, as an operator would compute with `sha256sum`.
pub fn sha256_hex(key: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, key.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
