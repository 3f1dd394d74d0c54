//! Whether the gateway should get traffic: starting, ready, or draining
//! after SIGTERM/SIGINT. `server::run` moves it forward; the admin API's
//! `/readyz` reads it.
//!
//! Owns: the one flag and its order (a phase never goes back). Must never:
//! be read or written on a shard (the data plane has `shutting_down`).

use std::sync::atomic::{AtomicU8, Ordering};

/// One phase of the process's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Listeners bound, shards starting.
    Starting = 0,
    /// Every shard reported ready, the config is loaded.
    Ready = 1,
    /// A signal arrived: shards refuse new connections and finish in-flight ones.
    Draining = 2,
}

/// The process's phase, shared between `server::run` and the admin API.
#[derive(Debug, Default)]
pub struct Readiness(AtomicU8);

impl Readiness {
    /// Moves to `phase`, unless the process is already past it.
    pub fn advance(&self, phase: Phase) {
        self.0.fetch_max(phase as u8, Ordering::AcqRel);
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.0.load(Ordering::Acquire) {
            0 => Phase::Starting,
            1 => Phase::Ready,
            _ => Phase::Draining,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_only_move_forward() {
        let r = Readiness::default();
        assert_eq!(r.phase(), Phase::Starting);
        r.advance(Phase::Ready);
        assert_eq!(r.phase(), Phase::Ready);
        r.advance(Phase::Draining);
        r.advance(Phase::Ready);
        assert_eq!(r.phase(), Phase::Draining);
    }
}
