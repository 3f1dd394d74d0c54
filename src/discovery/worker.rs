//! A control-plane thread that stops when its handle drops: the handle's
//! `Drop` tells the thread and joins it, so no test or reload leaks one.
//!
//! Owns: the stop signal and the join. Must never: wait unboundedly in
//! `Drop` (a thread checks `Stop` between steps, each of which is bounded).

use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Owns a running thread; dropping it stops and joins the thread.
pub struct Worker {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// The thread's side of the stop signal.
pub struct Stop(Receiver<()>);

impl Stop {
    /// Sleeps up to `d`; true when the thread must stop now.
    pub fn wait(&self, d: Duration) -> bool {
        !matches!(self.0.recv_timeout(d), Err(RecvTimeoutError::Timeout))
    }

    /// True when the thread must stop now (does not sleep).
    pub fn requested(&self) -> bool {
        !matches!(self.0.try_recv(), Err(TryRecvError::Empty))
    }
}

impl Worker {
    /// Starts thread `name` running `f`, which returns once `Stop` says so.
    pub fn spawn(name: &str, f: impl FnOnce(Stop) + Send + 'static) -> std::io::Result<Worker> {
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || f(Stop(rx)))?;
        Ok(Worker {
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the channel is the signal: `wait` and `requested` see it.
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
