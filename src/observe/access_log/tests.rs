//! The shard handles and the writer thread together: batches, drops when
//! the writer is stalled, buffer reuse, a real file, reopen after rename
//! (by call and by SIGUSR1), and write errors.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::format_tests::full;
use super::sink::{Batch, Sink, Writer};
use super::*;

/// Longest any test waits for the writer thread.
const WAIT: Duration = Duration::from_secs(10);

fn spec(format: LogFormat) -> AccessLogSpec {
    AccessLogSpec {
        output: LogOutput::Stdout,
        format,
        sample: 1.0,
    }
}

/// Polls `f` until it holds; fails the test after `WAIT`.
fn wait_until(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// An in-memory sink that can hold its first write until released.
#[derive(Clone, Default)]
struct Mem {
    out: Arc<Mutex<Vec<u8>>>,
    /// Each buffer's address, in write order.
    bufs: Arc<Mutex<Vec<usize>>>,
    gate: Option<Arc<Mutex<Receiver<()>>>>,
}

impl Mem {
    /// A sink whose writes wait until the returned sender is dropped.
    fn stalled() -> (Mem, Sender<()>) {
        let (tx, rx) = channel();
        let mem = Mem {
            gate: Some(Arc::new(Mutex::new(rx))),
            ..Mem::default()
        };
        (mem, tx)
    }

    fn text(&self) -> String {
        String::from_utf8(self.out.lock().unwrap().clone()).unwrap()
    }
}

impl Sink for Mem {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if let Some(g) = &self.gate {
            // Returns at once once the sender is gone; bounded either way.
            let _ = g.lock().unwrap().recv_timeout(WAIT);
        }
        self.bufs.lock().unwrap().push(buf.as_ptr() as usize);
        self.out.lock().unwrap().extend_from_slice(buf);
        Ok(())
    }

    fn reopen(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn name(&self) -> String {
        "memory".into()
    }
}

fn line(shard: &ShardLog, path: &str) {
    let mut r = full();
    r.path = path.as_bytes();
    shard.log(&r);
}

#[test]
fn handles_cross_threads_as_the_gateway_needs() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<AccessLog>();
    send_sync::<Counters>();
    send::<ShardLog>();
}

#[test]
fn shards_sample_as_configured() {
    let none = AccessLogSpec {
        sample: 0.0,
        ..spec(LogFormat::Json)
    };
    let log = AccessLog::start_with(Mem::default(), &none, 2).unwrap();
    let (a, b) = (log.shard(0), log.shard(1));
    for shard in [&a, &b] {
        assert!((0..1000).all(|_| !shard.wants(200) && !shard.wants(404)));
        assert!(shard.wants(500) && shard.wants(503));
    }
    let all = AccessLog::start_with(Mem::default(), &spec(LogFormat::Json), 1).unwrap();
    let shard = all.shard(0);
    assert!((0..1000).all(|_| shard.wants(200)));
}

#[test]
fn lines_reach_the_sink_in_order() {
    let mem = Mem::default();
    let log = AccessLog::start_with(mem.clone(), &spec(LogFormat::Json), 2).unwrap();
    let (a, b) = (log.shard(0), log.shard(1));
    line(&a, "/a1");
    line(&a, "/a2");
    line(&b, "/b1");
    a.flush();
    b.flush();
    drop((a, b));
    log.shutdown();
    let text = mem.text();
    let paths: Vec<&str> = text
        .lines()
        .map(|l| {
            l.split("\"path\":\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(paths.len(), 3, "{text}");
    let a_first = paths.iter().position(|p| *p == "/a1") < paths.iter().position(|p| *p == "/a2");
    assert!(a_first, "{text}");
}

#[test]
fn a_full_buffer_goes_to_the_writer_without_a_flush() {
    let mem = Mem::default();
    let log = AccessLog::start_with(mem.clone(), &spec(LogFormat::Combined), 1).unwrap();
    let shard = log.shard(0);
    let mut one = Vec::new();
    let mut r = full();
    r.path = b"/fill";
    write_combined(&r, &mut one);
    // The line that reaches FLUSH_AT sends the buffer; one line short does not.
    let n = FLUSH_AT.div_ceil(one.len());
    for _ in 0..n - 1 {
        line(&shard, "/fill");
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(log.written(), 0, "sent before the threshold");
    line(&shard, "/fill");
    wait_until("the first batch", || log.written() == n as u64);
    assert_eq!(mem.out.lock().unwrap().len(), n * one.len());
    assert!(n * one.len() < BUF_CAPACITY, "the buffer never grew");
    line(&shard, "/rest");
    drop(shard);
    log.shutdown();
    assert_eq!(log_lines(&mem), n + 1);
}

fn log_lines(mem: &Mem) -> usize {
    mem.text().lines().count()
}

#[test]
fn a_stalled_writer_costs_lines_not_time() {
    let (mem, release) = Mem::stalled();
    let log = AccessLog::start_with(mem.clone(), &spec(LogFormat::Json), 1).unwrap();
    let shard = log.shard(0);
    let started = Instant::now();
    // One line per batch: the writer blocks on the first, so the shard's
    // other buffers fill the queue and then every further batch drops.
    let batches = BUFFERS + 3;
    for i in 0..batches {
        line(&shard, &format!("/{i}"));
        shard.flush();
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the shard waited"
    );
    let queued = BUFFERS as u64 - 1;
    assert_eq!(log.dropped(), batches as u64 - queued);
    assert_eq!(log.written(), 0);
    drop(release);
    wait_until("the queued batches", || log.written() == queued);
    // Buffers came back: the next batch gets through.
    wait_until("a buffer back", || {
        line(&shard, "/after");
        shard.flush();
        log.written() > queued
    });
    drop(shard);
    log.shutdown();
    let text = mem.text();
    assert!(text.contains("\"path\":\"/0\"") && text.contains("\"path\":\"/after\""));
    assert!(
        !text.contains(&format!("\"path\":\"/{}\"", BUFFERS - 1)),
        "{text}"
    );
}

#[test]
fn buffers_are_reused_not_reallocated() {
    let mem = Mem::default();
    let log = AccessLog::start_with(mem.clone(), &spec(LogFormat::Json), 1).unwrap();
    let shard = log.shard(0);
    for i in 0..200 {
        line(&shard, &format!("/{i}"));
        shard.flush();
        if i % 10 == 0 {
            // Let the writer catch up now and then, so batches are written.
            wait_until("the writer", || log.written() + log.dropped() == i + 1);
        }
    }
    drop(shard);
    let counters = log.counters();
    log.shutdown();
    assert_eq!(counters.written() + counters.dropped(), 200);
    let mut bufs = mem.bufs.lock().unwrap().clone();
    assert!(bufs.len() > BUFFERS);
    bufs.sort_unstable();
    bufs.dedup();
    assert!(bufs.len() <= BUFFERS, "{} distinct buffers", bufs.len());
}

/// A fresh directory under the temp dir, unique to this process and test.
fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringway-access-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn file_spec(path: &std::path::Path) -> AccessLogSpec {
    AccessLogSpec {
        output: LogOutput::File(path.to_owned()),
        format: LogFormat::Json,
        sample: 1.0,
    }
}

fn read(p: &std::path::Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn writes_a_real_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = temp_dir("file");
    let path = dir.join("access.log");
    std::fs::write(&path, "kept\n").unwrap();
    let log = AccessLog::start(&file_spec(&path), 1).unwrap();
    let shard = log.shard(0);
    line(&shard, "/one");
    line(&shard, "/two");
    drop(shard);
    log.shutdown();
    let text = read(&path);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "kept", "appended, not truncated");
    assert!(lines[2].contains("\"path\":\"/two\""));
    std::fs::remove_file(&path).unwrap();
    let log = AccessLog::start(&file_spec(&path), 1).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o137, 0, "created at most 0640: {mode:o}");
    log.shutdown();
    let missing = dir.join("no/such/dir/access.log");
    let e = AccessLog::start(&file_spec(&missing), 1).err().unwrap();
    assert!(e.to_string().contains("no/such/dir/access.log"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Logs `/before`, renames the file away, calls `rotate`, logs `/after`:
/// the first line must be in the renamed file, the second in a new one.
fn rotate_with(name: &str, rotate: impl FnOnce(&AccessLog)) {
    let dir = temp_dir(name);
    let (path, old) = (dir.join("access.log"), dir.join("access.log.1"));
    let log = AccessLog::start(&file_spec(&path), 1).unwrap();
    let shard = log.shard(0);
    line(&shard, "/before");
    shard.flush();
    wait_until("the first line", || log.written() == 1);
    std::fs::rename(&path, &old).unwrap();
    rotate(&log);
    line(&shard, "/after");
    shard.flush();
    wait_until("the second line", || log.written() == 2);
    assert!(path.exists(), "reopened at the original path");
    drop(shard);
    log.shutdown();
    let (old_text, new_text) = (read(&old), read(&path));
    assert!(old_text.contains("/before") && !old_text.contains("/after"));
    assert!(new_text.contains("/after") && !new_text.contains("/before"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reopen_after_rename() {
    rotate_with("reopen", AccessLog::reopen);
}

#[test]
fn sigusr1_reopens() {
    rotate_with("sigusr1", |log| {
        let id = log.reopen_on_sigusr1().unwrap();
        // Delivered to this thread before `raise` returns.
        signal_hook::low_level::raise(signal_hook::consts::SIGUSR1).unwrap();
        signal_hook::low_level::unregister(id);
    });
}

#[test]
fn a_failed_reopen_keeps_the_old_file() {
    let dir = temp_dir("reopen-fails");
    let sub = dir.join("logs");
    std::fs::create_dir(&sub).unwrap();
    let log = AccessLog::start(&file_spec(&sub.join("access.log")), 1).unwrap();
    let shard = log.shard(0);
    let moved = dir.join("moved");
    std::fs::rename(&sub, &moved).unwrap();
    log.reopen();
    line(&shard, "/still");
    drop(shard);
    log.shutdown();
    assert_eq!(log_count(&moved.join("access.log")), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn log_count(p: &std::path::Path) -> usize {
    read(p).lines().count()
}

/// Fails while `failures` is above zero.
struct Failing {
    failures: Arc<AtomicU32>,
}

impl Sink for Failing {
    fn write_all(&mut self, _: &[u8]) -> io::Result<()> {
        match self.failures.load(Ordering::Relaxed) {
            0 => Ok(()),
            n => {
                self.failures.store(n - 1, Ordering::Relaxed);
                Err(io::Error::other("no space left on device"))
            }
        }
    }

    fn reopen(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn name(&self) -> String {
        "failing".into()
    }
}

#[test]
fn write_errors_are_counted_and_reported_once_per_burst() {
    let failures = Arc::new(AtomicU32::new(3));
    let stats = Arc::new(Stats::default());
    let sink = Failing {
        failures: failures.clone(),
    };
    let mut w = Writer::new(sink, stats.clone(), Arc::new(AtomicBool::new(false)));
    let (back, returned) = sync_channel(16);
    let batch = |lines: u64| Batch {
        buf: b"x\n".repeat(lines as usize),
        lines,
        back: back.clone(),
    };
    for _ in 0..3 {
        w.write(batch(2));
    }
    assert_eq!(
        (w.bursts, stats.write_errors.load(Ordering::Relaxed)),
        (1, 3)
    );
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 6);
    w.write(batch(5));
    assert_eq!(stats.written.load(Ordering::Relaxed), 5);
    failures.store(2, Ordering::Relaxed);
    w.write(batch(1));
    w.write(batch(1));
    assert_eq!((w.bursts, stats.dropped.load(Ordering::Relaxed)), (2, 8));
    // Every buffer went back to its shard, emptied, whether written or not.
    let back: Vec<Vec<u8>> = returned.try_iter().collect();
    assert_eq!(back.len(), 6);
    assert!(back.iter().all(Vec::is_empty));
}
