//! Moving a long response body from the upstream socket to a plain client
//! socket through a pipe with splice(2), so that its bytes are never copied
//! into and out of the gateway's memory: the kernel hands the socket
//! buffers' pages to the pipe and from the pipe to the client socket.
//!
//! Owns: the shard's spare pipes and the splice loop of one body (length
//! framing only, plain sockets on both ends). Must never: run on a TLS end
//! (the bytes must be decrypted or encrypted in user space), move a byte
//! past the end of the body, or block the shard (every splice is
//! non-blocking; waits are io_uring readiness polls under the same timeouts
//! as the copying pump).
//!
//! Why synchronous splice and not `IORING_OP_SPLICE`: io_uring always runs
//! a splice in an io-wq worker thread (it may block), a thread switch per
//! chunk; here each chunk is one non-blocking system call on the shard.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use monoio::net::TcpStream;

use super::body::PumpFail;
use super::spares::Spares;

/// Bytes a pipe holds (`F_SETPIPE_SZ`; the default is 64 KiB, the most an
/// unprivileged process may ask is `/proc/sys/fs/pipe-max-size`, 1 MiB by
/// default). Larger means fewer splices per body. Past the user's
/// `fs.pipe-user-pages-soft` (64 MiB of pipes, unprivileged users) the
/// kernel refuses the size and gives new pipes two pages: splicing still
/// works, in more calls.
const PIPE_SIZE: usize = 1024 * 1024;

/// A body at least this long goes through a pipe; a shorter one is cheaper
/// to copy than to pay the pipe's extra system calls (measured in
/// bench/RESULTS.md).
pub const SPLICE_MIN: u64 = 256 * 1024;

/// Spare pipes a shard keeps; beyond it, returned ones are closed.
const MAX_POOLED_PIPES: usize = 32;

/// One pipe: read end, write end.
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    fn new() -> std::io::Result<Pipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 writes two descriptors into `fds`.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned here.
        let p = unsafe {
            Pipe {
                read: OwnedFd::from_raw_fd(fds[0]),
                write: OwnedFd::from_raw_fd(fds[1]),
            }
        };
        // Best effort: a smaller pipe only means more splices.
        // SAFETY: plain fcntl on a descriptor we own.
        unsafe {
            libc::fcntl(
                p.write.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                PIPE_SIZE as libc::c_int,
            )
        };
        Ok(p)
    }
}

/// The pipes a shard lends to spliced bodies.
pub struct Pipes(Spares<Pipe>);

impl Default for Pipes {
    fn default() -> Pipes {
        Pipes(Spares::new(MAX_POOLED_PIPES))
    }
}

impl Pipes {
    /// Frees the pipes that stayed unused for a whole period.
    pub fn trim(&self) -> usize {
        self.0.trim()
    }
}

/// Sets `O_NONBLOCK` on a socket: `Some(Some(flags))` with the flags to
/// restore when it had to be set, `Some(None)` when it was set already (the
/// epoll driver's sockets), `None` when fcntl failed.
fn make_nonblocking(fd: RawFd) -> Option<Option<libc::c_int>> {
    // SAFETY: fcntl on a descriptor the caller's stream owns.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return None;
    }
    if flags & libc::O_NONBLOCK != 0 {
        return Some(None);
    }
    // SAFETY: as above.
    (unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } == 0)
        .then_some(Some(flags))
}

/// Puts back the flags `make_nonblocking` changed; false on failure.
fn restore_flags(fd: RawFd, flags: libc::c_int) -> bool {
    // SAFETY: fcntl on a descriptor the caller's stream owns.
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags) == 0 }
}

/// One non-blocking splice of up to `len` bytes; `Ok(None)` would block.
fn splice(from: RawFd, to: RawFd, len: usize, more: bool) -> std::io::Result<Option<usize>> {
    let mut flags = libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE;
    if more {
        flags |= libc::SPLICE_F_MORE;
    }
    // SAFETY: splice between two descriptors we hold, no offsets.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            flags,
        )
    };
    if n >= 0 {
        return Ok(Some(n as usize));
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN | libc::EINTR) => Ok(None),
        _ => Err(e),
    }
}

/// Moves exactly `len` body bytes from `src` to `dst` through a pipe.
/// `Err(None)` before the first byte moved when splicing is not available
/// (no pipe, fcntl refused): the caller copies instead. On any other error
/// the connections are unusable and the pipe is dropped with its bytes.
pub async fn splice_body(
    src: &TcpStream,
    dst: &TcpStream,
    pipes: &Pipes,
    len: u64,
    read_limit: Duration,
    write_limit: Duration,
    moved: &mut u64,
) -> Result<(), Option<PumpFail>> {
    let pipe = match pipes.0.take() {
        Some(p) => p,
        None => Pipe::new().map_err(|_| None)?,
    };
    let (s, d) = (src.as_raw_fd(), dst.as_raw_fd());
    // monoio's io_uring driver creates its sockets blocking (its epoll one
    // non-blocking), and SPLICE_F_NONBLOCK covers only the pipe: a splice
    // from or to a blocking socket would block the shard. Both are made
    // non-blocking for the body and put back after; io_uring's WRITEV on an
    // O_NONBLOCK socket would hand EAGAIN back instead of waiting.
    let Some(restore_s) = make_nonblocking(s) else {
        pipes.0.give(pipe);
        return Err(None);
    };
    let Some(restore_d) = make_nonblocking(d) else {
        let _ = restore_s.map(|f| restore_flags(s, f));
        pipes.0.give(pipe);
        return Err(None);
    };
    let res = pump(s, d, &pipe, len, src, dst, read_limit, write_limit, moved).await;
    let restored = restore_s.map_or(true, |f| restore_flags(s, f))
        & restore_d.map_or(true, |f| restore_flags(d, f));
    if res.is_ok() && restored {
        // Only an empty pipe goes back: the body ended on its last byte.
        pipes.0.give(pipe);
    }
    match (res, restored) {
        (Ok(()), true) => Ok(()),
        (Ok(()), false) => Err(Some(PumpFail::Dst)),
        (Err(e), _) => Err(Some(e)),
    }
}

#[allow(clippy::too_many_arguments)]
async fn pump(
    s: RawFd,
    d: RawFd,
    pipe: &Pipe,
    mut left: u64,
    src: &TcpStream,
    dst: &TcpStream,
    read_limit: Duration,
    write_limit: Duration,
    moved: &mut u64,
) -> Result<(), PumpFail> {
    let (pr, pw) = (pipe.read.as_raw_fd(), pipe.write.as_raw_fd());
    let mut in_pipe = 0usize;
    while left > 0 || in_pipe > 0 {
        let mut progressed = false;
        if left > 0 {
            let want = left.min(PIPE_SIZE as u64) as usize;
            match splice(s, pw, want, false) {
                Ok(Some(0)) => return Err(PumpFail::SrcClosed),
                Ok(Some(n)) => {
                    in_pipe += n;
                    left -= n as u64;
                    progressed = true;
                }
                Ok(None) => {}
                Err(_) => return Err(PumpFail::SrcClosed),
            }
        }
        if in_pipe > 0 {
            match splice(pr, d, in_pipe, left > 0) {
                Ok(Some(n)) if n > 0 => {
                    in_pipe -= n;
                    *moved += n as u64;
                    progressed = true;
                }
                Ok(_) => {}
                Err(_) => return Err(PumpFail::Dst),
            }
        }
        if progressed {
            continue;
        }
        // Neither side moved: wait for the one that holds things up.
        if in_pipe > 0 {
            match monoio::time::timeout(write_limit, dst.writable(false)).await {
                Ok(Ok(())) => {}
                _ => return Err(PumpFail::Dst),
            }
        } else {
            match monoio::time::timeout(read_limit, src.readable(false)).await {
                Ok(Ok(())) => {}
                Err(_) => return Err(PumpFail::SrcTimeout),
                Ok(Err(_)) => return Err(PumpFail::SrcClosed),
            }
        }
    }
    Ok(())
}
