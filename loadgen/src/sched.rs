//! The request schedule of one connection: open loop (constant rate) or closed
//! loop (back to back).
//!
//! In the open loop every request has an *intended* send time fixed in advance
//! (`start + offset + k × interval`); latency is measured from it, so a stalled
//! server shows in the tail instead of silently slowing the schedule down
//! (coordinated omission, corrected as wrk2 does). It must never move the
//! schedule to suit the server.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::conn::{Conn, Dialer, Failure};
use crate::pacer::Pacer;
use crate::stats::{Recorder, Sample};

/// The timing plan shared by all connections of a run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// When the schedule starts (warm-up included).
    pub start: Instant,
    /// Samples whose intended send time is before this are discarded.
    pub measure_from: Instant,
    /// Nothing is sent at or after this instant.
    pub end: Instant,
    /// Per-connection interval between intended sends; `None` for the closed loop.
    pub interval: Option<Duration>,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// What one connection task needs besides the plan.
pub struct ConnJob {
    /// Where to connect.
    pub dialer: Rc<Dialer>,
    /// The request bytes.
    pub request: Bytes,
    /// `true` for HEAD requests (no response body).
    pub head_request: bool,
    /// This connection's offset into the schedule, spreading connections evenly.
    pub offset: Duration,
    /// The thread's recorder.
    pub rec: Rc<RefCell<Recorder>>,
    /// Use timerfd-precise sleeps (io_uring runtime).
    pub uring: bool,
    /// Close the connection after each response (`--conn-per-request`).
    pub close_each: bool,
}

/// Runs one connection's schedule until `plan.end`.
pub async fn drive(plan: Plan, job: ConnJob) {
    let mut pacer = Pacer::new(job.uring);
    let mut conn: Option<Conn> = None;
    let mut k: u64 = 0;
    // Both loops start together; the closed loop would otherwise start early
    // and spend part of the window's load in samples it then discards.
    pacer.sleep_until(plan.start).await;
    loop {
        let intended = match plan.interval {
            Some(iv) => {
                let t = plan.start + job.offset + iv.mul_f64(k as f64);
                if t >= plan.end {
                    return;
                }
                pacer.sleep_until(t).await;
                t
            }
            None => Instant::now(),
        };
        k += 1;
        let now = Instant::now();
        if now >= plan.end {
            // Slots scheduled but never sent count against the achieved rate.
            if let Some(iv) = plan.interval {
                let left =
                    (plan.end - intended).as_nanos().saturating_sub(1) / iv.as_nanos().max(1) + 1;
                if intended >= plan.measure_from {
                    job.rec.borrow_mut().missed += left as u64;
                }
            }
            return;
        }
        let measured = intended >= plan.measure_from;
        if conn.is_none() {
            match job.dialer.connect().await {
                Ok(c) => {
                    let mut rec = job.rec.borrow_mut();
                    rec.connects += 1;
                    if measured {
                        rec.tls_handshake(&c);
                    }
                    conn = Some(c);
                }
                Err(_) => {
                    if measured {
                        job.rec.borrow_mut().errors.connect += 1;
                    }
                    if plan.interval.is_none() {
                        // Closed loop has no schedule to pace retries; do not spin.
                        monoio::time::sleep(Duration::from_millis(10)).await;
                    }
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("connected above");
        let sent = Instant::now();
        {
            let mut rec = job.rec.borrow_mut();
            rec.attempts += 1;
            rec.sent += u64::from(measured);
        }
        let res = monoio::time::timeout(
            plan.timeout,
            c.exchange(job.request.clone(), job.head_request),
        )
        .await;
        let done = Instant::now();
        let mut rec = job.rec.borrow_mut();
        match res {
            Ok(Ok(reply)) => {
                // With --conn-per-request the close was asked for.
                if reply.close && !job.close_each {
                    rec.closed_by_peer += 1;
                }
                if reply.close || job.close_each {
                    conn = None;
                }
                if measured {
                    rec.bytes_sent += job.request.len() as u64;
                    rec.bytes_received += reply.bytes;
                    let sample = Sample {
                        latency: done - intended,
                        service: done - sent,
                        ttfb: reply.first_byte.saturating_duration_since(sent),
                        send_delay: sent - intended,
                    };
                    rec.record(sample, reply.status);
                }
            }
            Ok(Err(f)) => {
                if conn.take().is_some_and(|c| c.peer_closed()) {
                    rec.closed_by_peer += 1;
                }
                if measured {
                    match f {
                        Failure::Connect => rec.errors.connect += 1,
                        Failure::Write => rec.errors.write += 1,
                        Failure::Read => rec.errors.read += 1,
                    }
                }
            }
            Err(_) => {
                conn = None;
                if measured {
                    rec.errors.timeout += 1;
                }
            }
        }
    }
}
