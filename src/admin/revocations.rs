//! `/revocations` on the admin listener: list, add and remove entries of the
//! JWT revocation list at run time.
//!
//! `GET` lists the entries (file format); `POST` adds and `DELETE` removes
//! the entries in the body (one `jti:VALUE` or `kid:VALUE` per line). A
//! change is published to every shard at once (they see it on their next
//! request) and written back to `[revocation] file` when one is configured.
//! Who may write: with `server.admin_token` set, only a request carrying it
//! (the gate in `admin::mod` checks before this runs); without one, whoever
//! reaches the listener, which `config` then only allows on loopback.
//! Must never: publish a partly applied body (a bad line rejects it whole).

use super::Refusal;
use crate::auth::AuthConfig;
use crate::error::ErrorCode;
use crate::http::Method;

/// Handles one request; returns the body of the 200 answer.
pub fn handle(auth: &AuthConfig, method: Method, body: &[u8]) -> Result<String, Refusal> {
    let current = auth.revoked.current();
    let add = match method {
        Method::Get => return Ok(current.render()),
        Method::Post => true,
        Method::Delete => false,
        _ => return Err(ErrorCode::AdminMethodNotAllowed.into()),
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(Refusal::detail(
            ErrorCode::InvalidRevocation,
            "the body is not UTF-8",
        ));
    };
    let mut next = (*current).clone();
    for (i, line) in text.lines().map(str::trim).enumerate() {
        if line.is_empty() {
            continue;
        }
        let r = if add {
            next.add(line)
        } else {
            next.remove(line).map(|_| ())
        };
        if let Err(e) = r {
            let line = format!("line {}: {e}", i + 1);
            return Err(Refusal::detail(ErrorCode::InvalidRevocation, line));
        }
    }
    let rendered = next.render();
    auth.revoked.publish(next);
    if let Some(f) = &auth.revocation_file {
        if let Err(e) = std::fs::write(f, &rendered) {
            let why = format!("{}: {e}", f.display());
            return Err(Refusal::detail(ErrorCode::RevocationNotSaved, why));
        }
    }
    Ok(rendered)
}

/// The methods `/revocations` allows (the `allow` header of a 405).
pub const ALLOW: &str = "GET, POST, DELETE";
