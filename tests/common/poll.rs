//! `eventually`: polling a condition with a deadline, so no test waits forever.
//!
//! Must never: sleep without a deadline.

use std::time::{Duration, Instant};

/// Polls `f` every 10 ms until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
