//! The io_uring runtime every loadgen thread (load and reference upstream)
//! runs on, built with the same setup flags as the gateway's shards
//! (`ringway::server::ring`): a load generator paying an interrupt per
//! completion that the proxy no longer pays would hide the proxy's gains.
//!
//! Must never: hand a ring to another thread (the flags promise the kernel
//! a single issuer).

use monoio::time::TimeDriver;
use monoio::{IoUringDriver, Runtime, RuntimeBuilder};

/// Builds an io_uring runtime on this thread with the best setup flags the
/// kernel accepts (`SINGLE_ISSUER | DEFER_TASKRUN`, then `COOP_TASKRUN |
/// TASKRUN_FLAG`, then none); `None` where io_uring is unavailable.
pub fn uring_runtime() -> Option<Runtime<TimeDriver<IoUringDriver>>> {
    if !monoio::utils::detect_uring() {
        return None;
    }
    let flag_sets: [fn(&mut io_uring::Builder); 3] = [
        |b| {
            b.setup_single_issuer().setup_defer_taskrun();
        },
        |b| {
            b.setup_coop_taskrun().setup_taskrun_flag();
        },
        |_| {},
    ];
    flag_sets.iter().find_map(|set| {
        let mut urb = io_uring::IoUring::builder();
        set(&mut urb);
        RuntimeBuilder::<IoUringDriver>::new()
            .uring_builder(urb)
            .with_entries(4096)
            .enable_timer()
            .build()
            .ok()
    })
}
