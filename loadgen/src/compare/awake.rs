//! Keeps chosen CPUs from going idle during the fixed-rate runs.
//!
//! On a VM an idle vCPU halts, and waking it again (a timer for the next
//! scheduled send, a packet for a proxy) goes through the hypervisor: on the
//! 2-core development VMs that took milliseconds often enough to push every
//! direct run's send-delay p99 past its bound at 5 000 req/s, so no latency
//! figure was valid for any proxy. One `SCHED_IDLE` spinning thread per
//! chosen CPU keeps it awake: the kernel runs such a thread only when
//! nothing else on the CPU wants to run and preempts it at once, and its
//! time is charged to none of the measured processes (proxies are read from
//! /proc, load threads by their own thread clocks).
//! Must never: run outside the fixed-rate phase (it would inflate the
//! max-throughput CPU figures) or outlive its `KeepAwake` value.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Spinning idle-priority threads; stopped and joined on drop.
pub struct KeepAwake {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl KeepAwake {
    /// One spinner pinned to each of `cpus` (none for an empty list).
    pub fn start(cpus: &[usize]) -> KeepAwake {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = cpus
            .iter()
            .map(|&cpu| {
                let stop = stop.clone();
                std::thread::spawn(move || spin(cpu, &stop))
            })
            .collect();
        KeepAwake { stop, threads }
    }
}

fn spin(cpu: usize, stop: &AtomicBool) {
    core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain syscall on the calling thread (pid 0) with a valid param.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
        // A normal-priority spinner would compete with what is measured.
        eprintln!("compare: keep_awake_cpus: SCHED_IDLE refused, not spinning on cpu {cpu}");
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        std::hint::spin_loop();
    }
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spinners_stop_on_drop() {
        let awake = KeepAwake::start(&[0]);
        assert_eq!(awake.threads.len(), 1);
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(awake); // joins: a spinner that ignored `stop` would hang here
        assert!(KeepAwake::start(&[]).threads.is_empty());
    }
}
