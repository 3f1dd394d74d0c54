//! The byte tunnel of an upgraded connection (a WebSocket, once the
//! upstream answered 101): bytes are copied both ways until both sides are
//! done, then both sockets close with the connection.
//!
//! Each direction reads from one side and writes what it read to the other,
//! one buffer at a time, so memory is the two buffers the exchange already
//! held. Either end may be plain TCP or TLS (`halves`): each splits into a
//! read half and a write half, so the two directions run at once; the
//! counts are of the tunnelled protocol's bytes (plaintext under TLS). An
//! end of stream is passed on as a half-close (the other side's write side
//! is shut down; under TLS, close_notify then FIN) and the other direction
//! runs on; a failure, the idle timeout (no byte either way for
//! `server.upgrade_idle_timeout_ms`) or the gateway's shutdown ends both at
//! once.
//!
//! Owns: the copy, the half-close, the idle timeout and the byte counts.
//! Must never: look at the bytes (they are the upgraded protocol's, not
//! HTTP), buffer more than one read per direction, or outlive either socket
//! (it only borrows them; the caller closes both).

use std::cell::Cell;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::io::Canceller;
use monoio::net::TcpStream;

use super::halves::{self, Rd, Wr};
use super::wire;

/// How a tunnel ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Both sides ended their stream (each end passed on as a half-close).
    Closed,
    /// No byte either way for the idle timeout.
    Idle,
    /// A read, write or half-close failed (a reset, say), a socket could
    /// not be duplicated, or the shutdown grace period ended.
    Aborted,
}

/// What a tunnel moved and how it ended.
#[derive(Clone, Copy, Debug)]
pub struct Moved {
    /// Bytes written to the upstream.
    pub up: u64,
    /// Bytes written to the client.
    pub down: u64,
    /// How it ended.
    pub end: End,
}

/// The two sockets of an upgraded connection and their first bytes: what
/// each side sent behind the handshake and was already read.
pub struct Ends<'a, C, U> {
    /// The client stream (the connection's own; borrowed).
    pub client: &'a mut C,
    /// Bytes the client sent after its request head.
    pub client_buf: BytesMut,
    /// The upstream stream (a fresh connection, never pooled).
    pub upstream: &'a mut U,
    /// Bytes the upstream sent after its 101 head.
    pub upstream_buf: BytesMut,
}

/// State both directions share.
struct Shared<'s> {
    /// When the last byte moved either way.
    last: Cell<Instant>,
    idle: Duration,
    /// Set once either direction aborted: the other must stop too.
    stop: Cell<Option<End>>,
    /// The shard is shutting down (see `shard::drain`).
    shutting_down: &'s Cell<bool>,
    fds: [RawFd; 2],
}

impl Shared<'_> {
    /// Ends both directions: shutting both sockets down wakes whichever
    /// read is pending on the other side (it returns end of stream).
    fn abort(&self, why: End) {
        if self.stop.get().is_none() {
            self.stop.set(Some(why));
        }
        for fd in self.fds {
            // SAFETY: both sockets are borrowed by `run` for its whole
            // duration, so their fds are open; shutdown does not close them.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
    }
}

/// Copies bytes both ways until both directions are done; the caller then
/// closes both sockets.
pub async fn run<C: halves::End, U: halves::End>(
    ends: Ends<'_, C, U>,
    idle: Duration,
    shutting_down: &Cell<bool>,
) -> Moved {
    let Ends {
        client,
        client_buf,
        upstream,
        upstream_buf,
    } = ends;
    let fds = [client.fd(), upstream.fd()];
    // Each socket is read by one direction while the other writes to it:
    // the reads go through a second descriptor of the same socket (a `dup`
    // per socket, once per upgraded connection), so neither direction
    // needs the other's `&mut`.
    let (Some(client_rd), Some(upstream_rd)) = (duplicate(fds[0]), duplicate(fds[1])) else {
        return Moved {
            up: 0,
            down: 0,
            end: End::Aborted,
        };
    };
    let shared = Shared {
        last: Cell::new(Instant::now()),
        idle,
        stop: Cell::new(None),
        shutting_down,
        fds,
    };
    let (mut client_rd, mut client_wr) = client.split(client_rd);
    let (mut upstream_rd, mut upstream_wr) = upstream.split(upstream_rd);
    let (up, down) = monoio::join!(
        copy(&mut client_rd, &mut upstream_wr, client_buf, &shared),
        copy(&mut upstream_rd, &mut client_wr, upstream_buf, &shared),
    );
    Moved {
        up,
        down,
        end: shared.stop.get().unwrap_or(End::Closed),
    }
}

/// A second monoio stream on the socket behind `fd`.
fn duplicate(fd: RawFd) -> Option<TcpStream> {
    // SAFETY: `fd` belongs to a stream `run` borrows, open for this call.
    let owned = unsafe { BorrowedFd::borrow_raw(fd) }
        .try_clone_to_owned()
        .ok()?;
    TcpStream::from_std(std::net::TcpStream::from(owned)).ok()
}

/// One direction: reads from `src` and writes each read to `dst`, starting
/// with the bytes already in `buf`; returns the bytes written to `dst`.
async fn copy(src: &mut impl Rd, dst: &mut impl Wr, mut buf: BytesMut, sh: &Shared<'_>) -> u64 {
    let mut written = 0u64;
    let mut canceller = Canceller::new();
    loop {
        if !buf.is_empty() {
            let n = buf.len();
            match monoio::time::timeout(sh.idle, dst.write_all(buf)).await {
                Ok((Ok(_), b)) => buf = b,
                // A peer that takes nothing for the idle timeout is idle.
                Err(_) => return end(sh, End::Idle, written),
                Ok((Err(_), _)) => return end(sh, End::Aborted, written),
            }
            written += n as u64;
            sh.last.set(Instant::now());
            buf.clear();
        }
        if sh.stop.get().is_some() {
            return written;
        }
        wire::ensure_spare(&mut buf);
        let (res, b) = read_or_idle(src, buf, sh, &mut canceller).await;
        buf = b;
        match res {
            Read::Bytes => sh.last.set(Instant::now()),
            Read::Eof if sh.stop.get().is_some() => return written,
            // Closing at the end of the shutdown grace period ends the
            // tunnel, whatever the other side does.
            Read::Eof if sh.shutting_down.get() => return end(sh, End::Aborted, written),
            Read::Eof => {
                // A half-close is passed on; the other direction runs on.
                if dst.shutdown().await.is_err() {
                    return end(sh, End::Aborted, written);
                }
                return written;
            }
            Read::Idle => return end(sh, End::Idle, written),
            Read::Failed => return end(sh, End::Aborted, written),
        }
    }
}

fn end(sh: &Shared<'_>, why: End, written: u64) -> u64 {
    sh.abort(why);
    written
}

/// What one read of a direction ended with.
enum Read {
    /// Bytes are in the buffer.
    Bytes,
    /// End of stream (or the socket was shut down by `Shared::abort`).
    Eof,
    /// No byte either way for the idle timeout.
    Idle,
    /// The read failed.
    Failed,
}

/// Reads into the empty `buf`, waking when the tunnel's idle deadline
/// passes: then the read is cancelled, not dropped (a drop could lose bytes
/// the kernel already delivered), and the tunnel is idle only if the other
/// direction moved nothing meanwhile either.
async fn read_or_idle(
    src: &mut impl Rd,
    buf: BytesMut,
    sh: &Shared<'_>,
    canceller: &mut Canceller,
) -> (Read, BytesMut) {
    let mut read = std::pin::pin!(src.read(buf, canceller.handle()));
    loop {
        let wait = (sh.last.get() + sh.idle).saturating_duration_since(Instant::now());
        let done = monoio::select! {
            r = &mut read => Some(r),
            _ = monoio::time::sleep(wait) => None,
        };
        let (res, buf) = match done {
            Some(r) => r,
            // The other direction moved bytes since: wait on.
            None if sh.last.get().elapsed() < sh.idle => continue,
            None => {
                *canceller = std::mem::replace(canceller, Canceller::new()).cancel();
                let (res, buf) = read.await;
                match res {
                    Ok(n) if n > 0 => return (Read::Bytes, buf),
                    Ok(_) => return (Read::Eof, buf),
                    Err(_) => return (Read::Idle, buf),
                }
            }
        };
        return match res {
            Ok(0) => (Read::Eof, buf),
            Ok(_) => (Read::Bytes, buf),
            Err(_) => (Read::Failed, buf),
        };
    }
}
