//! The I/O driver choice: `io = "epoll"` forces epoll; `io = "auto"` uses
//! io_uring where the kernel allows it and falls back to epoll, with a
//! warning, when a seccomp filter refuses io_uring (as Docker's default
//! profile does); `io = "io_uring"` refuses to start without it. The
//! filter is real: installed with `pre_exec` before the gateway execs.
//! `ring_setup` picks the io_uring setup flags (`server::ring`); every mode
//! is exercised here, and CI runs the whole suite once more per kept mode.

mod common;

use common::seccomp::{install_io_uring_block, probe_io_uring};
use common::*;

fn config(io: &str, up: &Upstream) -> String {
    catch_all_on(io, up.addr())
}

/// A few requests, one with a body, on one keep-alive connection.
fn exercise(gw: &Gateway) {
    let mut cl = gw.client();
    for i in 0..3 {
        let r = cl.roundtrip(&get(&format!("/{i}"), "h"));
        assert_eq!(r.status, 200, "{}", r.summary());
    }
    let body = pattern(0, 300_000);
    let r = cl.roundtrip(&req("POST", "/up", "h", &[], &body));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json()["body_len"], 300_000);
    // Idle between requests the connection parks without its buffers
    // (server/scratch.rs) and must wake for each of these: after a pause,
    // with a head split over two writes, and with two pipelined requests.
    std::thread::sleep(std::time::Duration::from_millis(250));
    let r = cl.roundtrip(&get("/after-idle", "h"));
    assert_eq!(r.status, 200, "{}", r.summary());
    let split = get("/split", "h");
    cl.send(&split[..7]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let r = cl.roundtrip(&split[7..]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json()["target"], "/split");
    let mut two = get("/p1", "h");
    two.extend_from_slice(&get("/p2", "h"));
    cl.send(&two);
    for path in ["/p1", "/p2"] {
        let r = cl.read_response();
        assert_eq!(r.status, 200, "{}", r.summary());
        assert_eq!(r.json()["target"], path);
    }
    let r = cl.roundtrip(&get("/last", "h"));
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn the_seccomp_filter_blocks_io_uring_setup() {
    // Installed on a throwaway thread: the filter is per thread and permanent.
    let res = std::thread::spawn(|| {
        install_io_uring_block().expect("install seccomp filter");
        probe_io_uring()
    })
    .join()
    .expect("probe thread");
    let err = res.expect_err("io_uring_setup succeeded under the filter");
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
}

#[test]
fn forced_epoll() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&config("epoll", &up));
    assert_eq!((gw.io(), gw.ring()), ("epoll", "none"));
    assert_eq!(gw.shards(), 2);
    exercise(&gw);
    assert!(!gw.wait_log("io_uring unavailable", std::time::Duration::ZERO));
}

#[test]
fn auto_uses_io_uring_when_the_kernel_allows_it() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&config("auto", &up));
    let want = if probe_io_uring().is_ok() {
        "io_uring"
    } else {
        "epoll"
    };
    assert_eq!(
        gw.io(),
        want,
        "listening line: {:?}",
        gw.log_entries("listening")
    );
    assert_eq!(gw.shards(), 2);
    exercise(&gw);
}

#[test]
fn auto_falls_back_to_epoll_under_seccomp() {
    let up = Upstream::echo("u");
    let gw = Gateway::start_with(
        &config("auto", &up),
        SpawnOpts {
            block_io_uring: true,
        },
    );
    assert_eq!(
        gw.io(),
        "epoll",
        "listening line: {:?}",
        gw.log_entries("listening")
    );
    let warn = gw.log_entries("io_uring unavailable, falling back to epoll");
    assert_eq!(
        warn.len(),
        1,
        "expected the fallback warning once; logs: {:?}",
        gw.logs()
    );
    assert_eq!(warn[0]["level"], "warn");
    exercise(&gw);
}

#[test]
fn forced_io_uring_under_seccomp_fails_to_start() {
    let up = Upstream::echo("u");
    match Gateway::try_start(
        &config("io_uring", &up),
        SpawnOpts {
            block_io_uring: true,
        },
    ) {
        Ok(gw) => panic!(
            "started with io = \"io_uring\" under seccomp; io = {:?}",
            gw.io()
        ),
        Err(f) => {
            let st = f.status.expect("gateway neither started nor exited");
            assert_eq!(st.code(), Some(1), "exit status {st}; logs: {:?}", f.logs);
        }
    }
    up.assert_untouched("failed start");
}

/// `io = "io_uring"` with the given `ring_setup`, one catch-all route.
fn uring_config(ring_setup: &str, up: &Upstream) -> String {
    config("io_uring", up).replacen(
        "[server]\n",
        &format!("[server]\nring_setup = \"{ring_setup}\"\n"),
        1,
    )
}

/// The kernel release as (major, minor), from /proc/sys/kernel/osrelease.
fn kernel() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn every_ring_mode_serves_requests() {
    if probe_io_uring().is_err() {
        eprintln!("io_uring unavailable here: nothing to check");
        return;
    }
    let (major, minor) = kernel();
    let needs = [
        ("defer_taskrun", (6, 1)),
        ("coop_taskrun", (5, 19)),
        ("plain", (5, 6)),
    ];
    for (mode, min) in needs {
        if (major, minor) < min {
            eprintln!("kernel {major}.{minor} predates {mode}");
            continue;
        }
        let up = Upstream::echo("u");
        let gw = Gateway::start(&uring_config(mode, &up));
        assert_eq!(
            (gw.io(), gw.ring()),
            ("io_uring", mode),
            "{:?}",
            gw.log_entries("listening")
        );
        exercise(&gw);
    }
}

#[test]
fn auto_ring_setup_takes_the_best_mode_the_kernel_has() {
    if probe_io_uring().is_err() {
        eprintln!("io_uring unavailable here: nothing to check");
        return;
    }
    let up = Upstream::echo("u");
    let gw = Gateway::start(&uring_config("auto", &up));
    let want = if kernel() >= (6, 1) {
        "defer_taskrun"
    } else if kernel() >= (5, 19) {
        "coop_taskrun"
    } else {
        "plain"
    };
    assert_eq!(gw.ring(), want, "{:?}", gw.log_entries("listening"));
    if want == "defer_taskrun" {
        assert!(gw
            .log_entries("io_uring setup flags unavailable")
            .is_empty());
    }
}
