//! `/revocations` on the admin listener: list, add and remove entries of the
//! JWT revocation list at run time.
//!
//! `GET` lists the entries (file format); `POST` adds and `DELETE` removes
//! the entries in the body (one `jti:VALUE` or `kid:VALUE` per line). A
//! change is published to every shard at once (they see it on their next
//! request) and written back to `[revocation] file` when one is configured.
//! Must never: publish a partly applied body (a bad line rejects it whole).

use crate::auth::AuthConfig;
use crate::error::ErrorCode;

/// What went wrong: the error code and the detail its message gets.
pub type Refusal = (ErrorCode, String);

/// Handles one request; returns the body of the 200 answer.
pub fn handle(auth: &AuthConfig, method: &str, body: &[u8]) -> Result<String, Refusal> {
    let current = auth.revoked.current();
    let add = match method {
        "GET" => return Ok(current.render()),
        "POST" => true,
        "DELETE" => false,
        _ => return Err((ErrorCode::AdminMethodNotAllowed, format!("use {ALLOW}"))),
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return Err((ErrorCode::InvalidRevocation, "the body is not UTF-8".into()));
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
            return Err((ErrorCode::InvalidRevocation, format!("line {}: {e}", i + 1)));
        }
    }
    let rendered = next.render();
    auth.revoked.publish(next);
    if let Some(f) = &auth.revocation_file {
        if let Err(e) = std::fs::write(f, &rendered) {
            return Err((
                ErrorCode::RevocationNotSaved,
                format!("{}: {e}", f.display()),
            ));
        }
    }
    Ok(rendered)
}

/// The methods `/revocations` allows (the `allow` header of a 405).
pub const ALLOW: &str = "GET, POST, DELETE";
