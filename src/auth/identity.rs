//! The authenticated identity of the current request, kept on the
//! connection's per-request state (`server::request::RequestCtx::identity`) after
//! phase 5, for forwarding claims and for later policies (rate limiting can
//! key on `jwt:CLAIM` via `claim`, or on `api_key` via `api_key_id`).
//!
//! Must never: own a copy of a verified token per request (it shares the
//! cache's `Rc`) or outlive the request (reset before each one).

use std::rc::Rc;

use super::jwt::VerifiedToken;
use super::{AuthConfig, AuthPolicy};
use crate::tls::ClientCert;

/// Who sent the current request, as far as the gateway checked.
#[derive(Clone, Debug, Default)]
pub enum Identity {
    /// No authentication policy on the route (or not run yet).
    #[default]
    Anonymous,
    /// A verified JWT accepted by policy `policy` (index into `AuthConfig::policies`).
    Jwt {
        /// Index of the accepting policy.
        policy: usize,
        /// The verified claims, shared with the shard's token cache.
        token: Rc<VerifiedToken>,
    },
    /// An API key: policy index and key index within it.
    ApiKey {
        /// Index of the accepting policy.
        policy: usize,
        /// Index of the key in that policy's `keys`.
        key: usize,
    },
    /// A verified TLS client certificate accepted by policy `policy`.
    Mtls {
        /// Index of the accepting policy.
        policy: usize,
        /// The certificate, shared with the connection (parsed once).
        cert: Rc<ClientCert>,
    },
}

impl Identity {
    /// The JWT `sub` claim, or the client certificate's subject.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Identity::Jwt { token, .. } => token.subject.as_deref(),
            Identity::Mtls { cert, .. } => Some(&cert.subject),
            _ => None,
        }
    }

    /// A JWT claim by name (`jwt:CLAIM` keys).
    pub fn claim(&self, name: &str) -> Option<&serde_json::Value> {
        match self {
            Identity::Jwt { token, .. } => token.claims.get(name),
            _ => None,
        }
    }

    /// The `id` of the API key used, if any.
    pub fn api_key_id<'a>(&self, auth: &'a AuthConfig) -> Option<&'a str> {
        match (self, self.policy().map(|p| &auth.policies[p])) {
            (Identity::ApiKey { key, .. }, Some(AuthPolicy::ApiKey(p))) => Some(&p.keys[*key].id),
            _ => None,
        }
    }

    /// Index of the policy that authenticated the request.
    pub fn policy(&self) -> Option<usize> {
        match self {
            Identity::Anonymous => None,
            Identity::Jwt { policy, .. }
            | Identity::ApiKey { policy, .. }
            | Identity::Mtls { policy, .. } => Some(*policy),
        }
    }

    /// Scopes granted: the JWT's `scope`/`scp`, or the API key's `scopes`
    /// (a client certificate grants none).
    pub fn has_scope(&self, auth: &AuthConfig, scope: &str) -> bool {
        match self {
            Identity::Anonymous | Identity::Mtls { .. } => false,
            Identity::Jwt { token, .. } => token.scopes.iter().any(|s| &**s == scope),
            Identity::ApiKey { policy, key } => match &auth.policies[*policy] {
                AuthPolicy::ApiKey(p) => p.keys[*key].scopes.iter().any(|s| &**s == scope),
                AuthPolicy::Jwt(_) | AuthPolicy::Mtls(_) => false,
            },
        }
    }

    /// Roles granted: the JWT's `roles` claim (API keys have none).
    pub fn has_role(&self, role: &str) -> bool {
        match self {
            Identity::Jwt { token, .. } => token.roles.iter().any(|r| &**r == role),
            _ => false,
        }
    }

    /// `name: value\r\n` lines for the policy's `forward_claims` (empty otherwise).
    pub fn forwarded_headers(&self) -> &[u8] {
        match self {
            Identity::Jwt { token, .. } => &token.forwarded,
            _ => b"",
        }
    }
}
