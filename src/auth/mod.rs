//! Authentication: turning a credential on a request into an `Identity`.
//!
//! Owns the compiled `[auth.NAME]` policies (`JwtPolicy`, `ApiKeyPolicy`,
//! `MtlsPolicy`),
//! JWT verification with `ring` (`jwt`, `jwk`, `b64`), JWK Set loading
//! and its load-time checks (`jwks`), API keys
//! (`apikey`), the per-shard verified-token cache (`cache`), and the
//! lock-free publication of key sets and the revocation list from the
//! control plane to the shards (`publish`, `revoke`, `reload`).
//! Must never: decide an HTTP status (that is `crate::error`), write to a
//! socket, or take a lock on the per-request path (shards see new key sets
//! and revocations through one atomic load per request).

pub mod apikey;
pub mod b64;
pub mod cache;
mod carry;
pub mod identity;
pub mod jwk;
pub mod jwks;
pub mod jwt;
pub mod reload;
pub mod revoke;
pub mod shard;

pub use identity::Identity;

/// Why authentication failed; each maps to one `ErrorCode` in `crate::error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No credential of any accepted kind was sent.
    Missing,
    /// Longer than the policy's `max_token_bytes`.
    TooLarge,
    /// Not three base64url segments of JSON, or a claim of the wrong type.
    Malformed,
    /// `alg` is `none`, unknown, or not in the policy's list.
    AlgNotAllowed,
    /// No key in the set for the token's `kid` (or no `kid` while the set has several keys).
    UnknownKey,
    /// The selected key's type cannot verify the token's `alg`.
    KeyMismatch,
    /// The signature does not verify.
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` has not been reached (beyond the leeway).
    NotYetValid,
    /// `iss` differs from the policy's `issuer`.
    WrongIssuer,
    /// `aud` shares no value with the policy's `audience`.
    WrongAudience,
    /// The token's `jti` or `kid` is on the revocation list.
    Revoked,
    /// The API key matches no configured key.
    BadApiKey,
    /// The client certificate verified, but neither its subject nor a SAN
    /// is in the policy's `allow_subjects`/`allow_sans` (a 403: who the
    /// client is was proven, it is not allowed).
    CertNotAllowed,
}

/// Where a JWT policy reads the token from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer <token>` (the default).
    Bearer,
    /// The whole value of this header (lowercase name).
    Header(Box<[u8]>),
    /// This cookie.
    Cookie(Box<[u8]>),
    /// This query parameter.
    Query(Box<[u8]>),
}

/// A compiled `kind = "jwt"` policy.
#[derive(Debug)]
pub struct JwtPolicy {
    /// The `[auth.NAME]` name.
    pub name: Box<str>,
    /// `algorithms`.
    pub algs: jwk::AlgSet,
    /// The key set, republished when `jwks_file` changes.
    pub keys: std::sync::Arc<crate::reload::publish::Published<Vec<jwk::Key>>>,
    /// `jwks_file`, if the keys come from one (watched for changes).
    pub jwks_file: Option<std::path::PathBuf>,
    /// `issuer`: exact match when set.
    pub issuer: Option<Box<str>>,
    /// `audience`: any-of when non-empty.
    pub audience: Box<[Box<str>]>,
    /// `leeway_s` applied to `exp` and `nbf`.
    pub leeway_s: u64,
    /// `forward_claims`: (claim, lowercase header name), sorted by header.
    pub forward: Box<[(Box<str>, Box<str>)]>,
    /// Where the token is read from.
    pub source: TokenSource,
    /// `max_token_bytes`.
    pub max_token_bytes: usize,
    /// `cache_size`: verified tokens each shard remembers (0 = no cache).
    pub cache_size: usize,
    /// `cache_ttl_s`: longest a verified token is trusted without re-verifying.
    pub cache_ttl_s: u64,
    /// `secret`'s reference (`env:VAR`, `file:PATH`) when the key is one;
    /// the admin API shows this, never the key.
    pub secret_ref: Option<Box<str>>,
}

/// A compiled `kind = "api_key"` policy.
#[derive(Debug)]
pub struct ApiKeyPolicy {
    /// The `[auth.NAME]` name.
    pub name: Box<str>,
    /// Where the key is read from: `Header` or `Query` only.
    pub source: TokenSource,
    /// The configured keys.
    pub keys: Box<[apikey::ApiKey]>,
}

/// A compiled `kind = "mtls"` policy: the TLS client certificate, verified
/// against `tls.client_ca` at the handshake, is the credential.
#[derive(Debug)]
pub struct MtlsPolicy {
    /// The `[auth.NAME]` name.
    pub name: Box<str>,
    /// `allow_subjects`: exact RFC 4514 subjects (`CN=svc,O=Acme`).
    pub allow_subjects: Box<[Box<str>]>,
    /// `allow_sans`: exact SAN values; `*.suffix` covers one DNS label.
    pub allow_sans: Box<[Box<str>]>,
}

/// One compiled `[auth.NAME]` table.
#[derive(Debug)]
pub enum AuthPolicy {
    /// `kind = "jwt"`.
    Jwt(JwtPolicy),
    /// `kind = "api_key"`.
    ApiKey(ApiKeyPolicy),
    /// `kind = "mtls"`.
    Mtls(MtlsPolicy),
}

impl AuthPolicy {
    /// The `[auth.NAME]` name.
    pub fn name(&self) -> &str {
        match self {
            AuthPolicy::Jwt(p) => &p.name,
            AuthPolicy::ApiKey(p) => &p.name,
            AuthPolicy::Mtls(p) => &p.name,
        }
    }
}

/// All `[auth.*]` policies plus the shared revocation list; routes refer to
/// policies by index.
#[derive(Debug, Default)]
pub struct AuthConfig {
    /// Policies in name order.
    pub policies: Vec<AuthPolicy>,
    /// The revocation list every shard checks.
    pub revoked: std::sync::Arc<crate::reload::publish::Published<revoke::Revoked>>,
    /// `[revocation] file`, if the list is loaded from and saved to one.
    pub revocation_file: Option<std::path::PathBuf>,
}

/// Seconds since the Unix epoch (wall clock: `exp`/`nbf` are wall-clock times).
pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
