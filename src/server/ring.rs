//! How a shard's io_uring ring is created: the setup flags, in order of
//! preference, and the fallback from one set to the next on kernels that
//! refuse a flag.
//!
//! Owns: the `server.ring_setup` modes and the kernel versions they need.
//! Must never: share a ring between threads (`DEFER_TASKRUN` and
//! `SINGLE_ISSUER` promise the kernel that only the creating thread submits
//! and reaps), or pick a mode that was not measured (bench/RESULTS.md).

use monoio::time::TimeDriver;
use monoio::{IoUringDriver, Runtime, RuntimeBuilder};

use crate::config::RingSetup;

/// Submission-queue entries per ring.
const ENTRIES: u32 = 4096;

/// One way of building the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingMode {
    /// `SINGLE_ISSUER | DEFER_TASKRUN` (Linux 6.1): completion work runs only
    /// when the shard asks for events, never as an interrupt.
    DeferTaskrun,
    /// `COOP_TASKRUN | TASKRUN_FLAG` (Linux 5.19): completion work waits for
    /// the shard's next kernel transition instead of an inter-processor
    /// interrupt.
    CoopTaskrun,
    /// No setup flags (Linux 5.6+): every completion another CPU produces
    /// interrupts the shard.
    Plain,
}

impl RingMode {
    /// The name logged and used in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            RingMode::DeferTaskrun => "defer_taskrun",
            RingMode::CoopTaskrun => "coop_taskrun",
            RingMode::Plain => "plain",
        }
    }

    /// The modes to try for a setting, best first.
    pub fn candidates(setup: RingSetup) -> &'static [RingMode] {
        match setup {
            RingSetup::Auto => &[
                RingMode::DeferTaskrun,
                RingMode::CoopTaskrun,
                RingMode::Plain,
            ],
            RingSetup::DeferTaskrun => &[RingMode::DeferTaskrun],
            RingSetup::CoopTaskrun => &[RingMode::CoopTaskrun],
            RingSetup::Plain => &[RingMode::Plain],
        }
    }

    /// Builds an io_uring runtime with this mode's flags, on this thread.
    pub fn build(self) -> std::io::Result<Runtime<TimeDriver<IoUringDriver>>> {
        let mut urb = io_uring::IoUring::builder();
        match self {
            RingMode::DeferTaskrun => {
                urb.setup_single_issuer().setup_defer_taskrun();
            }
            RingMode::CoopTaskrun => {
                urb.setup_coop_taskrun().setup_taskrun_flag();
            }
            RingMode::Plain => {}
        }
        RuntimeBuilder::<IoUringDriver>::new()
            .uring_builder(urb)
            .with_entries(ENTRIES)
            .enable_timer()
            .build()
    }
}

/// Builds the first mode of `setup` the kernel accepts; on failure, the
/// error of the last mode tried.
pub fn build(
    setup: RingSetup,
) -> Result<(Runtime<TimeDriver<IoUringDriver>>, RingMode), std::io::Error> {
    let mut last = std::io::Error::other("no ring mode to try");
    for &mode in RingMode::candidates(setup) {
        match mode.build() {
            Ok(rt) => return Ok((rt, mode)),
            Err(e) => last = e,
        }
    }
    Err(last)
}
