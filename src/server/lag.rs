//! Event-loop lag of one shard: a task asks to wake every `TICK` and
//! records how late it woke. Anything that keeps the shard's thread busy
//! (a long run of ready tasks, a blocking call, another process on its
//! core) delays that wake-up as much as it delays every request waiting on
//! the loop. The worst lateness of each second goes to the shard's
//! `loop_lag_us` gauge, which the admin API reads.
//!
//! Owns: the tick, the one-second window and the gauge's writes. Must
//! never: run per request, or wake more often than `TICK`.

use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::state::Shard;

/// How often the task asks to wake.
pub const TICK: Duration = Duration::from_millis(100);
/// Ticks per published window (one second).
const TICKS_PER_WINDOW: u32 = 10;

/// The worst lateness of the ticks of the current window.
#[derive(Debug, Default)]
struct Window {
    worst: Duration,
    ticks: u32,
}

impl Window {
    /// Records one tick's lateness; at the end of a window returns its
    /// worst and starts the next.
    fn record(&mut self, late: Duration) -> Option<Duration> {
        self.worst = self.worst.max(late);
        self.ticks += 1;
        if self.ticks < TICKS_PER_WINDOW {
            return None;
        }
        let worst = self.worst;
        *self = Window::default();
        Some(worst)
    }
}

/// Measures `sh`'s loop lag until shutdown begins.
pub async fn watch(sh: Rc<Shard>) {
    let mut window = Window::default();
    while !sh.shutting_down.get() {
        let asked = Instant::now();
        monoio::time::sleep(TICK).await;
        let late = asked.elapsed().saturating_sub(TICK);
        if let Some(worst) = window.record(late) {
            let us = u64::try_from(worst.as_micros()).unwrap_or(u64::MAX);
            sh.metrics.loop_lag_us.store(us, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_window_reports_its_worst_tick_then_starts_over() {
        let mut w = Window::default();
        let ms = Duration::from_millis;
        for i in 0..TICKS_PER_WINDOW - 1 {
            let late = if i == 3 { ms(40) } else { ms(1) };
            assert_eq!(w.record(late), None);
        }
        assert_eq!(w.record(ms(2)), Some(ms(40)));
        for _ in 0..TICKS_PER_WINDOW - 1 {
            assert_eq!(w.record(ms(3)), None);
        }
        assert_eq!(w.record(ms(0)), Some(ms(3)));
    }
}
