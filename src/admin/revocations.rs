//! `/revocations` on the admin listener: list, add and remove entries of the
//! JWT revocation list at run time.
//!
//! `GET` lists the entries (file format); `POST` adds and `DELETE` removes
//! the entries in the body (one `jti:VALUE` or `kid:VALUE` per line). A
//! change is published to every shard at once (they see it on their next
//! request) and written back to `[revocation] file` when one is configured.
//! Must never: publish a partly applied body (a bad line rejects it whole).

use crate::auth::AuthConfig;

/// Handles one request; returns (status line, body).
pub fn handle(auth: &AuthConfig, method: &[u8], body: &[u8]) -> (&'static str, String) {
    let current = auth.revoked.current();
    if method == b"GET" {
        return ("200 OK", current.render());
    }
    let add = match method {
        b"POST" => true,
        b"DELETE" => false,
        _ => return ("405 Method Not Allowed", "use GET, POST or DELETE\n".into()),
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return ("400 Bad Request", "the body is not UTF-8\n".into());
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
            return ("400 Bad Request", format!("line {}: {e}\n", i + 1));
        }
    }
    let rendered = next.render();
    auth.revoked.publish(next);
    if let Some(f) = &auth.revocation_file {
        if let Err(e) = std::fs::write(f, &rendered) {
            return (
                "500 Internal Server Error",
                format!("applied, but not saved to {}: {e}\n", f.display()),
            );
        }
    }
    ("200 OK", rendered)
}
