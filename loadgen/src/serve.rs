//! The reference upstream: a minimal HTTP/1.1 responder on monoio, as cheap
//! per request as we can make it. It is the "direct" baseline and the upstream
//! of every comparison.
//!
//! Each worker thread owns an `SO_REUSEPORT` listener and its connections; the
//! response bytes are built once. Two shared relaxed counters (connections,
//! requests) let a comparison report each proxy's upstream connection reuse;
//! they are read with `GET /.loadgen/stats`, which is answered here and never
//! counted. It must never allocate per request on the common path.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

use crate::cli::ServeArgs;
use crate::pacer::Pacer;

/// The path that reports the counters as JSON.
pub const STATS_PATH: &str = "/.loadgen/stats";

/// Counters shared by all worker threads.
#[derive(Default, Debug)]
pub struct Counters {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Requests answered (stats requests excluded).
    pub requests: AtomicU64,
    /// Connections open now.
    pub open: AtomicI64,
}

struct Responses {
    ok: Bytes,
    bad: Bytes,
    unsupported: Bytes,
}

fn responses(a: &ServeArgs) -> Responses {
    let body: Vec<u8> = if a.body_size == 13 {
        b"hello, world\n".to_vec()
    } else {
        (0..a.body_size).map(|i| b'a' + (i % 26) as u8).collect()
    };
    let mut ok = if a.chunked {
        format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n", body.len())
            .into_bytes()
    } else {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes()
    };
    ok.extend_from_slice(&body);
    if a.chunked {
        if body.is_empty() {
            // A zero-size first chunk would already be the last one.
            ok.truncate(ok.len() - 3);
            ok.extend_from_slice(b"\r\n");
        } else {
            ok.extend_from_slice(b"\r\n0\r\n\r\n");
        }
    }
    let fixed = |status: &str| {
        Bytes::from(
            format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .into_bytes(),
        )
    };
    Responses {
        ok: Bytes::from(ok),
        bad: fixed("400 Bad Request"),
        unsupported: fixed("501 Not Implemented"),
    }
}

/// Binds every worker's listener and starts the workers; returns the bound address.
pub fn start(args: &ServeArgs, counters: Arc<Counters>) -> std::io::Result<SocketAddr> {
    let wanted: SocketAddr = args.listen.parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{}: not an address", args.listen),
        )
    })?;
    let first = bind(wanted)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..args.threads.max(1) {
        listeners.push(bind(addr)?);
    }
    for (i, l) in listeners.into_iter().enumerate() {
        let args = args.clone();
        let counters = counters.clone();
        let cpu = (!args.cpus.is_empty()).then(|| args.cpus[i % args.cpus.len()]);
        std::thread::Builder::new()
            .name(format!("serve-{i}"))
            .spawn(move || {
                if let Some(c) = cpu {
                    core_affinity::set_for_current(core_affinity::CoreId { id: c });
                }
                worker(l, args, counters)
            })?;
    }
    Ok(addr)
}

fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.bind(&addr.into())?;
    s.listen(4096)?;
    Ok(s.into())
}

fn worker(l: std::net::TcpListener, args: ServeArgs, counters: Arc<Counters>) {
    let uring = monoio::utils::detect_uring();
    let fut = async move {
        let uring = uring;
        let listener = match TcpListener::from_std(l) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ringway-loadgen serve: listener: {e}");
                return;
            }
        };
        let resp = Rc::new(responses(&args));
        let stall = Rc::new(std::cell::Cell::new(0u64));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            counters.connections.fetch_add(1, Ordering::Relaxed);
            counters.open.fetch_add(1, Ordering::Relaxed);
            let ctx = ConnCtx {
                resp: resp.clone(),
                counters: counters.clone(),
                delay: Duration::from_micros(args.delay_us),
                stall_every: args.stall_every,
                stall: Duration::from_millis(args.stall_ms),
                stall_count: stall.clone(),
                uring,
            };
            monoio::spawn(async move {
                serve_conn(stream, &ctx).await;
                ctx.counters.open.fetch_sub(1, Ordering::Relaxed);
            });
        }
    };
    if uring {
        if let Some(mut rt) = crate::ring::uring_runtime() {
            rt.block_on(fut);
            return;
        }
    }
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("the epoll runtime builds wherever threads do");
    rt.block_on(fut);
}

struct ConnCtx {
    resp: Rc<Responses>,
    counters: Arc<Counters>,
    delay: Duration,
    stall_every: u64,
    stall: Duration,
    stall_count: Rc<std::cell::Cell<u64>>,
    uring: bool,
}

enum Parsed {
    Partial,
    Bad,
    Chunked,
    Request {
        len: usize,
        body: usize,
        close: bool,
        stats: bool,
    },
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Bad,
    };
    let mut body = 0usize;
    let mut close = req.version == Some(0);
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                Some(n) => body = n,
                None => return Parsed::Bad,
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Chunked;
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = h.value.eq_ignore_ascii_case(b"close");
        }
    }
    let stats = req.path == Some(STATS_PATH);
    Parsed::Request {
        len,
        body,
        close,
        stats,
    }
}

async fn serve_conn(mut s: TcpStream, ctx: &ConnCtx) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut pacer = Pacer::new(ctx.uring);
    // Body bytes of the current request still to be skipped.
    let mut skip = 0usize;
    loop {
        if skip > 0 && !buf.is_empty() {
            let n = skip.min(buf.len());
            buf.drain(..n);
            skip -= n;
        }
        if skip == 0 && !buf.is_empty() {
            match parse(&buf) {
                Parsed::Partial => {}
                Parsed::Bad => return write_close(s, ctx.resp.bad.clone()).await,
                Parsed::Chunked => return write_close(s, ctx.resp.unsupported.clone()).await,
                Parsed::Request {
                    len,
                    body,
                    close,
                    stats,
                } => {
                    buf.drain(..len);
                    skip = body;
                    let out = if stats {
                        Bytes::from(stats_response(&ctx.counters))
                    } else {
                        ctx.counters.requests.fetch_add(1, Ordering::Relaxed);
                        wait(ctx, &mut pacer).await;
                        ctx.resp.ok.clone()
                    };
                    if s.write_all(out).await.0.is_err() || close {
                        return;
                    }
                    continue;
                }
            }
            if buf.len() >= 64 * 1024 {
                return write_close(s, ctx.resp.bad.clone()).await;
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        let len = buf.len();
        let (res, slice) = s.read(buf.slice_mut(len..)).await;
        buf = slice.into_inner();
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn wait(ctx: &ConnCtx, pacer: &mut Pacer) {
    if ctx.stall_every > 0 {
        let n = ctx.stall_count.get() + 1;
        ctx.stall_count.set(n);
        if n.is_multiple_of(ctx.stall_every) {
            monoio::time::sleep(ctx.stall).await;
        }
    }
    if !ctx.delay.is_zero() {
        pacer.sleep_until(Instant::now() + ctx.delay).await;
    }
}

async fn write_close(mut s: TcpStream, b: Bytes) {
    let _ = s.write_all(b).await;
}

fn stats_response(c: &Counters) -> Vec<u8> {
    let body = format!(
        "{{\"connections\":{},\"requests\":{},\"open\":{}}}\n",
        c.connections.load(Ordering::Relaxed),
        c.requests.load(Ordering::Relaxed),
        c.open.load(Ordering::Relaxed)
    );
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Runs `serve` until the process is killed.
pub fn run(args: &ServeArgs) -> std::io::Result<()> {
    let counters = Arc::new(Counters::default());
    let addr = start(args, counters)?;
    println!("listening on {addr}");
    loop {
        std::thread::park();
    }
}
