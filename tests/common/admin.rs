//! Helpers for the admin API's tests: one request to the admin listener,
//! a secret in a temporary file for `admin_token` and JWT secrets, and
//! assertions on the admin responses.
//!
//! Must never: leave a secret file behind (`SecretFile` removes it on drop).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::client::{RawClient, Response};
use super::req;

/// The admin token the tests configure.
pub const TOKEN: &str = "adm-7f3c9e2b41d8a6f0c5e4";

/// A file holding `value` (and a newline), removed on drop.
pub struct SecretFile(PathBuf);

impl SecretFile {
    /// Writes `value` to a fresh file named after `name`.
    pub fn new(name: &str, value: &str) -> SecretFile {
        let p = std::env::temp_dir().join(format!(
            "ringway-admin-test-{}-{name}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&p, format!("{value}\n")).expect("write secret");
        SecretFile(p)
    }

    /// `"file:PATH"`, quoted for TOML.
    pub fn spec(&self) -> String {
        format!("\"file:{}\"", self.0.display())
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A route sending everything to upstream `u`.
pub fn catch_all() -> &'static str {
    "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n"
}

/// One request to the admin listener with extra header lines.
pub fn admin(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut c = RawClient::connect(addr);
    c.set_timeout(Duration::from_secs(5));
    c.roundtrip(&req(method, path, "admin", headers, b""))
}

/// An `Authorization` value carrying `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `r` is `status` with exactly `body`.
pub fn assert_text(r: &Response, status: u16, body: &str) {
    assert_eq!(
        (r.status, r.text().as_str()),
        (status, body),
        "{}",
        r.summary()
    );
}

/// The JSON error's request id is the header's, and a real id.
pub fn assert_request_id(r: &Response) {
    let id = r.header("x-request-id").expect("x-request-id");
    assert_eq!(id.len(), 32, "{}", r.summary());
    assert_eq!(r.json()["error"]["request_id"].as_str(), Some(id));
}

/// The keys of a reload answer's `restart_required` list, in order.
pub fn restart_keys(v: &serde_json::Value) -> Vec<&str> {
    v["restart_required"]
        .as_array()
        .map(|l| l.iter().filter_map(|p| p["key"].as_str()).collect())
        .unwrap_or_default()
}
