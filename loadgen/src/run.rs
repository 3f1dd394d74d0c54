//! One load run: threads, their monoio runtimes, the connection tasks, and the
//! merge of what they recorded.
//!
//! Thread-per-core like the gateway: each load thread owns its connections and
//! its `Recorder`; the only shared state is a few relaxed counters for the
//! progress line. It must never send load to a target the caller has not
//! already checked with `target::parse`.

use std::cell::{Cell, RefCell};
use std::io::IsTerminal;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conn::{build_request, Dialer};
use crate::sched::{drive, ConnJob, Plan};
use crate::stats::Recorder;
use crate::target::Target;

/// Everything that defines a run.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// Where to send requests.
    pub target: Target,
    /// Request method.
    pub method: String,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// Requests per second in total (open loop); `None` for the closed loop.
    pub rate: Option<f64>,
    /// Connections in total.
    pub connections: usize,
    /// Measured duration.
    pub duration: Duration,
    /// Warm-up before it, discarded.
    pub warmup: Duration,
    /// Load threads.
    pub threads: usize,
    /// CPUs to pin the load threads to (round robin); empty for no pinning.
    pub cpus: Vec<usize>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// TLS client settings for https:// targets.
    pub tls: crate::tls::TlsOpts,
    /// One request per connection (`--conn-per-request`).
    pub conn_per_request: bool,
    /// A server process whose CPU time the run measures (`--server-pid`).
    pub server_pid: Option<u32>,
    /// Print a progress line every second.
    pub progress: bool,
}

/// What a run measured.
pub struct RunResult {
    /// The merged samples and counts.
    pub rec: Recorder,
    /// Length of the measured window.
    pub measured: Duration,
    /// Load-thread CPU time over the measured window, as a fraction of the threads' wall time.
    pub cpu: f64,
    /// `true` when the load threads ran on io_uring.
    pub uring: bool,
    /// On-CPU ns of `RunSpec::server_pid` over the measured window.
    pub server_cpu_ns: Option<u64>,
    /// The target was https://.
    pub target_tls: bool,
    /// The run asked for TLS resumption (`--tls-resume`).
    pub tls_resume: bool,
}

#[derive(Default)]
struct Progress {
    sent: AtomicU64,
    errors: AtomicU64,
    p99_ns: AtomicU64,
}

/// Runs `spec` to completion and returns the merged result.
pub fn execute(spec: &RunSpec) -> std::io::Result<RunResult> {
    let threads = spec.threads.clamp(1, spec.connections.max(1));
    let connections = spec.connections.max(1);
    let tls = match spec.target.tls {
        true => Some(crate::tls::client_config(&spec.tls).map_err(std::io::Error::other)?),
        false => None,
    };
    let dialer = Dialer {
        target: spec.target.clone(),
        tls,
    };
    let request = build_request(&spec.method, &spec.target, &spec.headers, &spec.body);
    let head_request = spec.method.eq_ignore_ascii_case("HEAD");
    // Threads start their schedules together, a little after they are spawned.
    let start = Instant::now() + Duration::from_millis(50);
    let plan = Plan {
        start,
        measure_from: start + spec.warmup,
        end: start + spec.warmup + spec.duration,
        interval: spec
            .rate
            .map(|r| Duration::from_secs_f64(connections as f64 / r.max(0.001))),
        timeout: spec.timeout,
    };
    let progress = Arc::new(Progress::default());
    let done = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for t in 0..threads {
        let dialer = dialer.clone();
        let request = request.clone();
        let cpu = (!spec.cpus.is_empty()).then(|| spec.cpus[t % spec.cpus.len()]);
        let progress = progress.clone();
        let rate = spec.rate;
        let spec_close = spec.conn_per_request;
        let own_sessions = spec.tls.resume;
        let conns: Vec<usize> = (t..connections).step_by(threads).collect();
        handles.push(
            std::thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn(move || {
                    if let Some(c) = cpu {
                        core_affinity::set_for_current(core_affinity::CoreId { id: c });
                    }
                    let work = move |uring: bool| async move {
                        let rec = Rc::new(RefCell::new(Recorder::default()));
                        let cpu_at_start = Rc::new(Cell::new(0u64));
                        let c0 = cpu_at_start.clone();
                        monoio::spawn(async move {
                            monoio::time::sleep_until(monoio::time::Instant::from_std(
                                plan.measure_from,
                            ))
                            .await;
                            c0.set(thread_cpu_ns());
                        });
                        let reporter =
                            monoio::spawn(report_progress(rec.clone(), progress, plan.end));
                        let dialer = Rc::new(dialer);
                        let mut tasks = Vec::new();
                        for j in conns {
                            let offset = match rate {
                                Some(r) => Duration::from_secs_f64(j as f64 / r.max(0.001)),
                                None => Duration::ZERO,
                            };
                            let dialer = match own_sessions {
                                true => Rc::new(dialer.with_own_sessions()),
                                false => dialer.clone(),
                            };
                            let job = ConnJob {
                                dialer,
                                request: request.clone(),
                                head_request,
                                offset,
                                rec: rec.clone(),
                                uring,
                                close_each: spec_close,
                            };
                            tasks.push(monoio::spawn(drive(plan, job)));
                        }
                        for task in tasks {
                            task.await;
                        }
                        let cpu_ns = thread_cpu_ns().saturating_sub(cpu_at_start.get());
                        reporter.await;
                        let rec = rec.borrow().clone();
                        (rec, cpu_ns, uring)
                    };
                    block_on(work)
                })?,
        );
    }
    let printer = spec.progress && std::io::stderr().is_terminal();
    let printer = printer.then(|| {
        let (progress, done) = (progress.clone(), done.clone());
        std::thread::spawn(move || print_progress(&progress, &done, plan.measure_from))
    });
    // The server's CPU from the first measured instant to the last response
    // (in-flight exchanges finish after `plan.end` and are counted).
    let server_before = spec.server_pid.map(|pid| {
        std::thread::sleep(plan.measure_from.saturating_duration_since(Instant::now()));
        crate::compare::procs::on_cpu_ns(pid)
    });
    let mut rec = Recorder::default();
    let mut cpu_ns = 0u64;
    let mut uring = true;
    for h in handles {
        let (r, c, u) = h
            .join()
            .map_err(|_| std::io::Error::other("a load thread panicked"))?;
        rec.merge(&r);
        cpu_ns += c;
        uring &= u;
    }
    done.store(true, Ordering::Relaxed);
    if let Some(p) = printer {
        let _ = p.join();
    }
    let server_cpu_ns = spec
        .server_pid
        .zip(server_before)
        .map(|(pid, b)| crate::compare::procs::on_cpu_ns(pid).saturating_sub(b));
    let measured = plan.end - plan.measure_from;
    let cpu = cpu_ns as f64 / (measured.as_nanos() as f64 * threads as f64);
    Ok(RunResult {
        rec,
        measured,
        cpu,
        uring,
        server_cpu_ns,
        target_tls: spec.target.tls,
        tls_resume: spec.tls.resume,
    })
}

/// Runs `f` on an io_uring runtime, or on epoll where io_uring is unavailable.
fn block_on<F, Fut, T>(f: F) -> T
where
    F: FnOnce(bool) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    if let Some(mut rt) = crate::ring::uring_runtime() {
        return rt.block_on(f(true));
    }
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("the epoll runtime builds wherever threads do");
    rt.block_on(f(false))
}

pub(crate) fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

async fn report_progress(rec: Rc<RefCell<Recorder>>, p: Arc<Progress>, end: Instant) {
    let mut last = (0u64, 0u64);
    while Instant::now() < end {
        monoio::time::sleep(Duration::from_secs(1)).await;
        let r = rec.borrow();
        let now = (r.attempts, r.errors.total());
        p.sent.fetch_add(now.0 - last.0, Ordering::Relaxed);
        p.errors.fetch_add(now.1 - last.1, Ordering::Relaxed);
        p.p99_ns
            .fetch_max(r.latency.value_at_quantile(0.99), Ordering::Relaxed);
        last = now;
    }
}

fn print_progress(p: &Progress, done: &AtomicBool, measure_from: Instant) {
    let mut last = 0u64;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_secs(1));
        let sent = p.sent.load(Ordering::Relaxed);
        let phase = if Instant::now() < measure_from {
            "warmup"
        } else {
            "measuring"
        };
        eprint!(
            "\r{phase}: {:>9} req/s  errors {:>6}  p99 so far {:>10.1} us   ",
            sent - last,
            p.errors.load(Ordering::Relaxed),
            p.p99_ns.load(Ordering::Relaxed) as f64 / 1000.0
        );
        last = sent;
    }
    eprintln!();
}
