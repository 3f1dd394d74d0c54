//! The TLS listener's side of a new connection: the handshake, bounded by
//! `server.header_timeout_ms`, then the same connection task as plain HTTP
//! (`conn::serve`) over `Stream::Tls`.
//!
//! Owns: counting and logging handshakes that fail, by reason. Must never:
//! let a failed or stalled handshake hold its connection slot (it is given
//! back here), or answer a non-TLS client in plain HTTP.

use std::net::SocketAddr;
use std::rc::Rc;

use monoio::net::TcpStream;

use super::state::Shard;
use super::stream::Stream;
use crate::observe::log::{self, Val};
use crate::tls::HandshakeFail;

/// Serves a connection accepted on the TLS listener. The first request's
/// header timeout starts once the handshake is done.
pub async fn serve_tls(sh: Rc<Shard>, tcp: TcpStream, peer: SocketAddr) {
    let g = sh.gen();
    let limit = g.cfg.server.header_timeout;
    // A reload cannot remove [tls] while the listener runs (reload::restart
    // keeps it); the check is for a config built some other way.
    let Some(config) = g.cfg.tls.as_ref().map(|t| t.live().config.clone()) else {
        sh.close_conn();
        return;
    };
    // The connection must not keep a generation alive while it waits.
    drop(g);
    let _ = tcp.set_nodelay(true);
    match crate::tls::accept(tcp, config, limit).await {
        Ok(s) => {
            sh.metrics.tls_handshakes.inc();
            super::conn::serve(sh, Stream::Tls(Box::new(s)), peer).await
        }
        Err(reason) => {
            failed(&sh, reason, peer);
            sh.close_conn();
        }
    }
}

fn failed(sh: &Shard, reason: HandshakeFail, peer: SocketAddr) {
    sh.metrics.tls_failures[reason as usize].inc();
    let peer = peer.ip().to_string();
    log::info(
        "tls handshake failed",
        &[
            ("reason", Val::Str(reason.as_str())),
            ("peer", Val::Str(&peer)),
        ],
    );
}
