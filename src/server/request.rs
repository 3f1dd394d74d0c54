//! One request's own state, apart from its connection's: `RequestCtx`
//! (who sent it, its paths, its id, what the policies decided to add) is
//! filled as the pipeline runs, and `Outcome`, the value `pipeline::handle`
//! returns, says how it ended, so counting, logging and the keep-alive
//! decision read one record instead of each path deciding for itself.
//!
//! Owns: both records and the per-request counters an outcome feeds. Must
//! never: do I/O, or outlive the request (the next one starts from
//! `RequestCtx::reset`).

use std::net::IpAddr;

use crate::auth::Identity;
use crate::error::ErrorCode;
use crate::observe::{RequestIdGen, ShardMetrics};

/// Longest request id accepted from a client (longer ones are replaced).
pub const MAX_REQUEST_ID: usize = 128;

/// The current request's state; its buffers are lent by the shard's
/// scratch pool with the connection's working set (see `scratch`).
pub struct RequestCtx {
    /// The request's client: the peer, or the address a trusted proxy
    /// reported (see `http::client_ip`); what `ip` keys count.
    pub client: IpAddr,
    /// The normalised request path.
    pub path: Vec<u8>,
    /// The path after the route's rewrite.
    pub rewritten: Vec<u8>,
    /// The request id.
    pub rid: [u8; MAX_REQUEST_ID],
    /// Length of `rid`.
    pub rid_len: usize,
    /// Who sent the request, set by the auth policy (subject, claims, API
    /// key id; read by later policies and `head`).
    pub identity: Identity,
    /// Response header lines policies add (CORS, RateLimit fields,
    /// `Retry-After`), sent on the proxied response or the gateway's error.
    pub resp_headers: Vec<u8>,
}

impl RequestCtx {
    /// A blank context for a request from `client`.
    pub fn new(client: IpAddr) -> RequestCtx {
        RequestCtx {
            client,
            path: Vec::new(),
            rewritten: Vec::new(),
            rid: [0; MAX_REQUEST_ID],
            rid_len: 0,
            identity: Identity::Anonymous,
            resp_headers: Vec::new(),
        }
    }

    /// Starts the next request from `client`: no identity, no added
    /// headers (the path and id are set as its head is read).
    pub fn reset(&mut self, client: IpAddr) {
        self.client = client;
        self.identity = Identity::Anonymous;
        self.resp_headers.clear();
    }

    /// The request id as text.
    pub fn request_id(&self) -> &str {
        std::str::from_utf8(&self.rid[..self.rid_len]).unwrap_or("")
    }

    /// Sets a freshly generated request id.
    pub fn new_request_id(&mut self, ids: &RequestIdGen) {
        let mut id = [0u8; crate::observe::request_id::ID_LEN];
        ids.next(&mut id);
        self.rid[..id.len()].copy_from_slice(&id);
        self.rid_len = id.len();
    }
}

/// How one request ended.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// Whether the client connection may carry another request.
    pub keep: bool,
    /// The status sent to the client (0 when the client went away first).
    pub status: u16,
    /// True when the response was relayed from an upstream (false: the
    /// gateway answered itself, with an error or a preflight).
    pub relayed: bool,
    /// Retries made (attempts after the first).
    pub retries: u8,
}

impl Outcome {
    /// The gateway answered `code` itself.
    pub fn error(code: ErrorCode, keep: bool) -> Outcome {
        Outcome {
            keep,
            status: code.status(),
            relayed: false,
            retries: 0,
        }
    }

    /// The gateway answered with `status` (no error: a preflight, say).
    pub fn answered(status: u16, keep: bool) -> Outcome {
        Outcome {
            keep,
            status,
            relayed: false,
            retries: 0,
        }
    }

    /// The client went away, or the connection must close with nothing more sent.
    pub fn closed() -> Outcome {
        Outcome::answered(0, false)
    }

    /// Counts the request in the shard's metrics: its status class, who
    /// answered, and whether it took a retry. (The gateway's errors are
    /// counted by code where they are sent, `respond::error`.)
    pub fn count(&self, m: &ShardMetrics) {
        if self.status != 0 {
            let class = usize::from((self.status / 100).clamp(1, 5)) - 1;
            m.responses[usize::from(!self.relayed)][class].inc();
        }
        if self.retries > 0 {
            m.retried_requests.inc();
        }
    }
}
