//! Precise sleeps for the open-loop schedule.
//!
//! monoio's timer wheel has 1 ms ticks, far coarser than loopback latency, so
//! on io_uring each connection arms its own `timerfd` and waits for it with an
//! io_uring read: microsecond wake-ups without spinning. On the epoll fallback
//! it uses monoio's timer and the send-delay figure shows the imprecision.
//! It must never busy-wait: a spinning load generator steals the core it shares
//! with the server under test.

use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

/// A per-connection sleeper.
pub struct Pacer {
    timer: Option<(monoio::fs::File, Vec<u8>)>,
}

impl Pacer {
    /// A pacer backed by a timerfd when `uring` is true, else by monoio's timer.
    pub fn new(uring: bool) -> Pacer {
        let timer = if uring { open_timerfd() } else { None };
        Pacer {
            timer: timer.map(|f| (f, Vec::with_capacity(8))),
        }
    }

    /// Returns once `when` has passed.
    pub async fn sleep_until(&mut self, when: Instant) {
        let now = Instant::now();
        if when <= now {
            return;
        }
        let wait = when - now;
        let Some((file, buf)) = self.timer.as_mut() else {
            monoio::time::sleep(wait).await;
            return;
        };
        if !arm(file, wait) {
            monoio::time::sleep(wait).await;
            return;
        }
        let taken = std::mem::take(buf);
        let (res, mut back) = file.read_at(taken, 0).await;
        back.clear();
        *buf = back;
        if res.is_err() {
            // A failed read would turn every later sleep into a busy loop; fall back for good.
            self.timer = None;
            let now = Instant::now();
            if when > now {
                monoio::time::sleep(when - now).await;
            }
        }
    }
}

fn open_timerfd() -> Option<monoio::fs::File> {
    // SAFETY: plain syscall; the returned fd is owned by the File below.
    let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is a fresh, valid descriptor we own.
    let std_file = unsafe { std::fs::File::from_raw_fd(fd) };
    monoio::fs::File::from_std(std_file).ok()
}

fn arm(file: &monoio::fs::File, wait: Duration) -> bool {
    use std::os::fd::AsRawFd;
    let nanos = wait.as_nanos().max(1);
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: (nanos / 1_000_000_000) as libc::time_t,
            tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
        },
    };
    // SAFETY: valid timerfd and a fully initialised itimerspec.
    unsafe { libc::timerfd_settime(file.as_raw_fd(), 0, &spec, std::ptr::null_mut()) == 0 }
}
