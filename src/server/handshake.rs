//! The TLS listener's side of a new connection: the handshake, bounded by
//! `server.header_timeout_ms`, reading the client's SNI and verified
//! certificate once (`tls::Peer`), then the same connection task as plain
//! HTTP (`conn::serve`) over `Stream::Tls`.
//!
//! Owns: counting and logging handshakes that fail, by reason. Must never:
//! let a failed or stalled handshake hold its connection slot (it is given
//! back here), or answer a non-TLS client in plain HTTP.

use std::net::SocketAddr;
use std::rc::Rc;

use monoio::net::TcpStream;

use super::state::Shard;
use super::stream::{Stream, TlsConn};
use crate::observe::log::{self, Val};
use crate::tls::{ClientAuth, HandshakeFail, Peer, TlsStream};

/// Serves a connection accepted on the TLS listener. The first request's
/// header timeout starts once the handshake is done.
pub async fn serve_tls(sh: Rc<Shard>, tcp: TcpStream, peer: SocketAddr) {
    let g = sh.gen();
    let limit = g.cfg.server.header_timeout;
    // A reload cannot remove [tls] while the listener runs (reload::restart
    // keeps it); the check is for a config built some other way.
    let Some((config, client_auth)) = g
        .cfg
        .tls
        .as_ref()
        .map(|t| (t.live().config.clone(), t.client_auth()))
    else {
        sh.close_conn();
        return;
    };
    // The connection must not keep a generation alive while it waits.
    drop(g);
    let _ = tcp.set_nodelay(true);
    let done = crate::tls::accept(tcp, config, limit)
        .await
        .and_then(|io| with_peer(io, client_auth));
    match done {
        Ok(t) => {
            sh.metrics.tls_handshakes.inc();
            super::conn::serve(sh, Stream::Tls(Box::new(t)), peer).await
        }
        Err(reason) => {
            failed(&sh, reason, peer);
            sh.close_conn();
        }
    }
}

/// The connection with what its handshake proved about the client, read
/// once here.
fn with_peer(io: TlsStream, client_auth: Option<ClientAuth>) -> Result<TlsConn, HandshakeFail> {
    let s = io.session();
    let leaf = s.peer_certificates().and_then(|c| c.first());
    // rustls enforces this in a full handshake; checked here too so that no
    // resumed session can ever run without a certificate under `required`
    // (`tls::resume` keeps such tickets out).
    if client_auth == Some(ClientAuth::Required) && leaf.is_none() {
        return Err(HandshakeFail::ClientCertMissing);
    }
    match Peer::new(s.server_name(), client_auth, leaf) {
        Ok(peer) => Ok(TlsConn { io, peer }),
        Err(_) => Err(HandshakeFail::ClientCertInvalid),
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
