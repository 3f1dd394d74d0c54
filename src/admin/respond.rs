//! Writing the one response of an admin connection: a 200 with its body,
//! or the gateway's JSON error for a `Refusal` (counted in
//! `ringway_errors_total` and logged as `admin request rejected`). Every
//! response carries the request id, `cache-control: no-store` and
//! `connection: close`; the answer to a `HEAD` has no body.
//!
//! Must never: choose a status (`crate::error`), or put a credential in a
//! response or a log line.

use std::io::Write;
use std::net::TcpStream;

use super::{Admin, Refusal};
use crate::error;
use crate::observe::log::{self, Val};

/// An admin connection and what its response must say.
pub struct Exchange {
    /// The client's socket.
    pub s: TcpStream,
    /// The request id every response and log line carries.
    pub rid: String,
    /// The request was `HEAD`: headers only.
    pub head_only: bool,
}

impl Exchange {
    /// A connection whose request has id `rid`.
    pub fn new(s: TcpStream, rid: String) -> Exchange {
        Exchange {
            s,
            rid,
            head_only: false,
        }
    }

    /// Writes a 200 with `body`.
    pub fn ok(&mut self, ctype: &str, body: &str) -> std::io::Result<()> {
        self.write((200, ctype), body, "")
    }

    /// Writes a success (`200`, `201`) with `body`.
    pub fn reply(&mut self, status: u16, ctype: &str, body: &str) -> std::io::Result<()> {
        self.write((status, ctype), body, "")
    }

    /// Writes the JSON error of `r`, counts and logs it.
    pub fn refuse(&mut self, admin: &Admin, r: &Refusal) -> std::io::Result<()> {
        let code = r.code;
        admin.count(code);
        let client = self
            .s
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        log::warn(
            "admin request rejected",
            &[
                ("status", Val::Num(u64::from(code.status()))),
                ("code", Val::Str(code.as_str())),
                ("request_id", Val::Str(&self.rid)),
                ("client", Val::Str(&client)),
            ],
        );
        let mut body = String::with_capacity(192);
        error::write_json_body_detail(&mut body, code, &self.rid, &r.detail);
        self.write((code.status(), "application/json"), &body, &r.headers)
    }

    fn write(
        &mut self,
        (status, ctype): (u16, &str),
        body: &str,
        extra: &str,
    ) -> std::io::Result<()> {
        let reason = match status {
            200 => "OK",
            201 => "Created",
            s => error::reason_phrase(s),
        };
        // What the admin API says describes this moment (and `/config` the
        // deployment): no cache should keep it.
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nx-request-id: {}\r\ncache-control: no-store\r\n{extra}connection: close\r\n\r\n",
            body.len(),
            self.rid,
        );
        self.s.write_all(head.as_bytes())?;
        if self.head_only {
            return Ok(());
        }
        self.s.write_all(body.as_bytes())
    }
}

/// `v` indented for a person reading it with curl, ending in a newline.
pub fn pretty_json(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}
