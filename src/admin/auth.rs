//! The admin API's credentials: `Authorization: Bearer <admin_token>`, and
//! `Bearer <registry token>` for the registry's endpoints.
//!
//! The presented token and the configured one are both hashed with SHA-256
//! and the digests compared without an early exit, so neither the position
//! of the first wrong byte nor the token's length shows in the time taken.
//! Must never: log, echo or keep a presented token, or compare the raw
//! bytes with a short-circuiting `==`.

use ring::digest;

use crate::auth::apikey::ct_eq;
use crate::config::secret::Secret;

/// The `www-authenticate` line of every admin 401.
pub const CHALLENGE: &str = "www-authenticate: Bearer realm=\"ringway-admin\"\r\n";
/// The `www-authenticate` line of every registry 401.
pub const REGISTRY_CHALLENGE: &str = "www-authenticate: Bearer realm=\"ringway-registry\"\r\n";

/// True when no token is configured, or `authorization` carries it.
pub fn allows(token: Option<&Secret>, authorization: Option<&[u8]>) -> bool {
    let Some(token) = token else { return true };
    let Some(presented) = authorization.and_then(bearer) else {
        return false;
    };
    ct_eq(&sha256(token.value()), &sha256(presented))
}

/// The credentials of a `Bearer` authorization value (scheme in any case).
fn bearer(v: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = v.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first() != Some(&b' ') {
        return None;
    }
    Some(rest.trim_ascii_start())
}

fn sha256(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, b).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bearer_token_itself_passes() {
        let t = crate::config::secret::from_temp_file("admin-token-test", "0123456789abcdef\n");
        let ok = |v: &[u8]| allows(Some(&t), Some(v));
        assert!(ok(b"Bearer 0123456789abcdef"));
        assert!(ok(b"bearer  0123456789abcdef"));
        assert!(!ok(b"Bearer 0123456789abcdeF"));
        assert!(!ok(b"Bearer 0123456789abcde"));
        assert!(!ok(b"Basic 0123456789abcdef"));
        assert!(!ok(b"Bearer"));
        assert!(!ok(b"Bearer0123456789abcdef"));
        assert!(!allows(Some(&t), None));
        assert!(allows(None, None));
    }
}
