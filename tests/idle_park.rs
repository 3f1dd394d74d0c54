//! Idle keep-alive connections park without their buffers after 100 ms
//! (`PARK_AFTER` in server/conn.rs): the held read is cancelled, and a
//! request that arrives while the cancel is in flight must still be
//! answered, whole and once. Requests here land just before, at and just
//! after the 100 ms mark, on several connections at once, on both drivers.

mod common;

use std::time::Duration;

use common::*;

fn config(io: &str, up: &Upstream) -> String {
    catch_all_on(io, up.addr())
}

/// Four connections, each sending 12 requests with gaps around 100 ms.
fn requests_around_the_park_deadline(io: &str) {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&config(io, &up));
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            let mut cl = gw.client();
            let io = io.to_string();
            std::thread::spawn(move || {
                for i in 0..12u64 {
                    // 94..=105 ms, shifted per worker: spans the deadline,
                    // its 1 ms timer tick and the cancel's round trip.
                    let gap = 94 + (i + 3 * w) % 12;
                    std::thread::sleep(Duration::from_millis(gap));
                    let path = format!("/w{w}/r{i}");
                    let r = cl.roundtrip(&get(&path, "h"));
                    assert_eq!(r.status, 200, "{io} {path} after {gap} ms: {}", r.summary());
                    assert_eq!(r.json()["target"], path.as_str(), "{io}");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    assert_eq!(
        up.requests().len(),
        48,
        "{io}: every request reached the upstream once"
    );
}

#[test]
fn io_uring_or_auto() {
    requests_around_the_park_deadline("auto");
}

#[test]
fn epoll() {
    requests_around_the_park_deadline("epoll");
}
