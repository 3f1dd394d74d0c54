//! A `TargetSink` that records every set a discovery source publishes, for
//! tests that drive `ringway::discovery::start` directly.
//!
//! Must never: block a source for long (one short lock per publish).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringway::discovery::{Target, TargetSink};

use super::poll::eventually;

/// Every publish, in order: (upstream index, set).
#[derive(Default)]
pub struct RecordingSink(Mutex<Vec<(usize, Vec<Target>)>>);

impl TargetSink for RecordingSink {
    fn publish(&self, upstream: usize, targets: Vec<Target>) {
        self.0.lock().unwrap().push((upstream, targets));
    }
}

impl RecordingSink {
    /// A new, empty sink.
    pub fn new() -> Arc<RecordingSink> {
        Arc::new(RecordingSink::default())
    }

    /// Publishes so far for `upstream`.
    pub fn count(&self, upstream: usize) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(u, _)| *u == upstream)
            .count()
    }

    /// The last set published for `upstream`, as (addr, weight) pairs.
    pub fn latest(&self, upstream: usize) -> Option<Vec<(SocketAddr, u32)>> {
        let all = self.0.lock().unwrap();
        let last = all.iter().rev().find(|(u, _)| *u == upstream)?;
        Some(last.1.iter().map(|t| (t.addr, t.weight)).collect())
    }

    /// Waits up to `timeout` for `upstream`'s last set to be `want`.
    pub fn wait_for(&self, upstream: usize, want: &[(&str, u32)], timeout: Duration) -> bool {
        let want: Vec<(SocketAddr, u32)> =
            want.iter().map(|(a, w)| (a.parse().unwrap(), *w)).collect();
        eventually(timeout, || self.latest(upstream).as_ref() == Some(&want))
    }
}
