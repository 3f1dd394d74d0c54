//! A TLS session split into a read half and a write half that run at the
//! same time (the two directions of an upgraded connection's tunnel), for
//! either side of rustls (`ConnectionCommon<D>`: the gateway's server
//! sessions, and client sessions to TLS upstreams).
//!
//! Both halves share the session (`RefCell`, borrowed only between awaits,
//! never across one) and do their socket I/O on their own descriptor of the
//! same socket (the caller hands the read half a duplicate): the read half
//! takes ciphertext from the socket through rustls to plaintext, the write
//! half plaintext through rustls to ciphertext on the socket. Records the
//! read half must send itself (a KeyUpdate answer, an alert) and the write
//! half's records leave through one flush that a two-party lock
//! (`WriteLock`) serialises, so two writes never interleave on the socket;
//! the read half never waits for it (the holder sends what it queued).
//!
//! Owns: the shared session, the ciphertext buffer the flushes share, and
//! the close_notify/end-of-stream mapping of each half. Must never: hold a
//! session borrow across an await, write to the socket without the lock,
//! or buffer more than one socket read of ciphertext (the caller's buffer).

use std::cell::{Cell, RefCell};
use std::io::{BufRead, Write};
use std::rc::Rc;
use std::task::{Poll, Waker};

use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt, CancelHandle, CancelableAsyncReadRent};
use monoio::net::TcpStream;
use monoio::BufResult;
use rustls::ConnectionCommon;

use super::io::{self, Fill};

/// Ciphertext taken per socket read: one full record at most, so what it
/// decrypts to (16 KiB) stays within rustls' received-plaintext limit.
const RX_BYTES: usize = 16 * 1024 + 512;

/// Ciphertext gathered per socket write: two full records, so a 32 KiB
/// read from the other side leaves in one write. Grown to as needed.
const TX_BYTES: usize = 2 * (16 * 1024 + 512);

/// What both halves share.
struct Shared<'a, D> {
    conn: RefCell<&'a mut ConnectionCommon<D>>,
    lock: WriteLock,
    /// Ciphertext on its way out; the lock's holder takes it.
    tx: Cell<Vec<u8>>,
}

/// The read half: ciphertext in, plaintext out.
pub struct ReadHalf<'a, D> {
    tcp: TcpStream,
    sh: Rc<Shared<'a, D>>,
    /// Ciphertext read but not yet taken by rustls, whose plaintext buffer
    /// was full (see `feed`); empty and unallocated but for that moment.
    held: Vec<u8>,
}

/// The write half: plaintext in, ciphertext out.
pub struct WriteHalf<'a, D> {
    tcp: &'a mut TcpStream,
    sh: Rc<Shared<'a, D>>,
}

/// Splits the session `conn` over `tcp` into halves: the read half reads
/// from `rd`, a second descriptor of the same socket, the write half
/// writes to `tcp`. Plaintext rustls already decrypted, then `held`
/// (ciphertext read but not yet taken by rustls), are the read half's
/// first bytes.
pub fn split<'a, D>(
    rd: TcpStream,
    tcp: &'a mut TcpStream,
    conn: &'a mut ConnectionCommon<D>,
    held: Vec<u8>,
) -> (ReadHalf<'a, D>, WriteHalf<'a, D>) {
    let sh = Rc::new(Shared {
        conn: RefCell::new(conn),
        lock: WriteLock::default(),
        tx: Cell::new(Vec::new()),
    });
    (
        ReadHalf {
            tcp: rd,
            sh: sh.clone(),
            held,
        },
        WriteHalf { tcp, sh },
    )
}

impl<D> ReadHalf<'_, D> {
    /// Reads plaintext onto the end of `buf` (into its spare capacity,
    /// never growing it); `Ok(0)` is the end of the peer's stream: its
    /// close_notify, or a TCP end without one (a truncation is passed on
    /// as an end, as a plain tunnel passes a FIN). A protocol error sends
    /// rustls' alert and is an `InvalidData` error.
    pub async fn read(
        &mut self,
        mut buf: BytesMut,
        cancel: CancelHandle,
    ) -> BufResult<usize, BytesMut> {
        loop {
            match self.drain(&mut buf) {
                Drained::Bytes(n) => return (Ok(n), buf),
                Drained::End => return (Ok(0), buf),
                Drained::Empty => {}
            }
            if !self.held.is_empty() {
                let held = std::mem::take(&mut self.held);
                let fed = feed(&mut self.sh.conn.borrow_mut(), &held, &mut self.held);
                if let Err(e) = fed {
                    return (Err(e), buf);
                }
                continue;
            }
            let start = buf.len();
            let end = start + RX_BYTES.min(buf.capacity() - start);
            let (res, slice) = self
                .tcp
                .cancelable_read(buf.slice_mut(start..end), cancel.clone())
                .await;
            buf = slice.into_inner();
            let n = match res {
                Ok(n) => n,
                Err(e) => return (Err(e), buf),
            };
            // rustls copies the ciphertext in: the buffer is free again.
            let fed = feed(
                &mut self.sh.conn.borrow_mut(),
                &buf[start..start + n],
                &mut self.held,
            );
            buf.truncate(start);
            // Whatever rustls queued (a KeyUpdate answer, an alert) leaves
            // now, not with the write half's next record. Never waiting for
            // the lock: a write half stuck on a peer that does not read
            // would stop this direction too (and a peer that reads only
            // once its own write is done would never read again). The
            // holder sends what was queued before it lets go.
            if self.sh.conn.borrow().wants_write() {
                if let Some(_g) = self.sh.lock.try_lock() {
                    if let Err(e) = flush_locked(&self.sh, &mut self.tcp).await {
                        return (Err(e), buf);
                    }
                }
            }
            if let Err(e) = fed {
                return (Err(e), buf);
            }
        }
    }

    /// Moves decrypted plaintext into `buf`'s spare capacity.
    fn drain(&mut self, buf: &mut BytesMut) -> Drained {
        let mut conn = self.sh.conn.borrow_mut();
        let mut reader = conn.reader();
        let mut n = 0;
        loop {
            let room = buf.capacity() - buf.len();
            if room == 0 {
                return Drained::Bytes(n);
            }
            match reader.fill_buf() {
                Ok([]) if n == 0 => return Drained::End,
                Ok([]) => return Drained::Bytes(n),
                Ok(chunk) => {
                    let k = chunk.len().min(room);
                    // Within the spare capacity: no reallocation.
                    buf.extend_from_slice(&chunk[..k]);
                    reader.consume(k);
                    n += k;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return if n == 0 {
                        Drained::Empty
                    } else {
                        Drained::Bytes(n)
                    };
                }
                // The TCP stream ended without close_notify.
                Err(_) if n == 0 => return Drained::End,
                Err(_) => return Drained::Bytes(n),
            }
        }
    }
}

/// `io::feed`, its errors as the tunnel's: a TLS protocol error is
/// `InvalidData`.
fn feed<D>(
    conn: &mut ConnectionCommon<D>,
    input: &[u8],
    held: &mut Vec<u8>,
) -> std::io::Result<()> {
    io::feed(conn, input, held).map_err(|e| match e {
        Fill::Io(e) => e,
        Fill::Tls(e) => std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

/// What `drain` found.
enum Drained {
    Bytes(usize),
    End,
    Empty,
}

impl<D> WriteHalf<'_, D> {
    /// Encrypts all of `buf` and sends it; the result is its length.
    pub async fn write_all(&mut self, buf: BytesMut) -> BufResult<usize, BytesMut> {
        let mut off = 0;
        loop {
            if off < buf.len() {
                // rustls takes up to its send limit (64 KiB) at once; the
                // flush below empties the queue, so the next round takes more.
                match self.sh.conn.borrow_mut().writer().write(&buf[off..]) {
                    Ok(n) => off += n,
                    Err(e) => return (Err(e), buf),
                }
            }
            if let Err(e) = flush(&self.sh, self.tcp).await {
                return (Err(e), buf);
            }
            if off == buf.len() {
                return (Ok(off), buf);
            }
        }
    }

    /// Sends close_notify, then ends the TCP stream's write side (FIN);
    /// reading goes on (TLS 1.3 allows the peer to send after it; a TLS 1.2
    /// peer typically answers with its own close_notify and closes).
    pub async fn shutdown(&mut self) -> std::io::Result<()> {
        self.sh.conn.borrow_mut().send_close_notify();
        let _g = self.sh.lock.lock().await;
        flush_locked(&self.sh, self.tcp).await?;
        self.tcp.shutdown().await
    }
}

/// Sends everything rustls queued, through `tcp`, under the lock: the
/// write half takes it even when nothing is queued, since the read half
/// may be writing what it took from the queue. The holder drains the
/// queue until it is empty, so what the other half queued meanwhile
/// leaves with it.
async fn flush<D>(sh: &Shared<'_, D>, tcp: &mut TcpStream) -> std::io::Result<()> {
    let _g = sh.lock.lock().await;
    flush_locked(sh, tcp).await
}

async fn flush_locked<D>(sh: &Shared<'_, D>, tcp: &mut TcpStream) -> std::io::Result<()> {
    let mut tx = sh.tx.take();
    let res = loop {
        tx.clear();
        let taken = {
            let mut conn = sh.conn.borrow_mut();
            if !conn.wants_write() {
                break Ok(());
            }
            conn.write_tls(&mut Gather(&mut tx))
        };
        if let Err(e) = taken {
            break Err(e);
        }
        let (res, back) = tcp.write_all(tx).await;
        tx = back;
        if let Err(e) = res {
            break Err(e);
        }
    };
    sh.tx.set(tx);
    res
}

/// A `Write` that gathers the queued records into one buffer up to
/// `TX_BYTES` (rustls hands its queue over as one `write_vectored`).
struct Gather<'v>(&'v mut Vec<u8>);

impl Write for Gather<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let k = b.len().min(TX_BYTES.saturating_sub(self.0.len()));
        self.0.extend_from_slice(&b[..k]);
        Ok(k)
    }

    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        let mut n = 0;
        for b in bufs {
            let k = self.write(b)?;
            n += k;
            if k < b.len() {
                break;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A lock for two parties on one thread: the halves' flushes. At most one
/// waits, so one waker slot is enough.
#[derive(Default)]
struct WriteLock {
    busy: Cell<bool>,
    waiter: Cell<Option<Waker>>,
}

struct Guard<'l>(&'l WriteLock);

impl WriteLock {
    fn try_lock(&self) -> Option<Guard<'_>> {
        // A guard only when taken: one made and dropped would release the
        // holder's lock.
        if self.busy.replace(true) {
            None
        } else {
            Some(Guard(self))
        }
    }

    async fn lock(&self) -> Guard<'_> {
        std::future::poll_fn(|cx| {
            if self.busy.get() {
                self.waiter.set(Some(cx.waker().clone()));
                Poll::Pending
            } else {
                self.busy.set(true);
                Poll::Ready(())
            }
        })
        .await;
        Guard(self)
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.0.busy.set(false);
        if let Some(w) = self.0.waiter.take() {
            w.wake();
        }
    }
}

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
