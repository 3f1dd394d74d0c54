//! Graceful shutdown on SIGTERM/SIGINT: new connections refused at once,
//! idle keep-alive connections closed, an in-flight response completed in
//! full, exit 0 with `stopped` logged; and when the grace period runs out,
//! the process still exits 0 and reports what it dropped.

mod common;

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

fn refused(addr: SocketAddr) -> bool {
    matches!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

fn gateway(server: &[(&str, &str)], up: &Upstream) -> Gateway {
    Gateway::start(&build(
        server,
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ))
}

#[test]
fn sigterm_drains_in_flight_refuses_new_closes_idle_and_exits_0() {
    let len = 200_000;
    let up = Upstream::start("u", move |rec| {
        if rec.target == "/slow" {
            Reply::Delay(
                Duration::from_millis(2000),
                Box::new(Reply::Stream {
                    len,
                    chunked: false,
                }),
            )
        } else {
            Reply::Echo
        }
    });
    let mut gw = gateway(&[], &up);
    let addr = gw.addr();

    let mut idle = gw.client();
    let r = idle.roundtrip(&get("/fast", "h"));
    assert_eq!(r.status, 200, "{}", r.summary());

    let mut busy = gw.client();
    busy.send(&get("/slow", "h"));
    assert!(
        up.wait_requests(2, Duration::from_secs(5)),
        "slow request never reached the upstream"
    );

    gw.signal(libc::SIGTERM);
    assert!(
        gw.wait_log("shutting down", Duration::from_secs(3)),
        "no `shutting down` log line"
    );
    let sd = gw.log_entries("shutting down");
    assert_eq!(sd[0]["signal"], "SIGTERM", "{}", sd[0]);
    assert_eq!(sd[0]["grace_ms"], 30000, "{}", sd[0]);

    assert!(
        eventually(Duration::from_millis(1500), || refused(addr)),
        "new connections still accepted after SIGTERM"
    );
    idle.assert_closed_silently("idle keep-alive connection at shutdown");

    busy.set_timeout(Duration::from_secs(10));
    let r = busy.read_response_with(ReadOpts {
        keep_body: false,
        allow_truncated: true,
        ..ReadOpts::default()
    });
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(
        !r.truncated,
        "in-flight response cut short by shutdown after {} bytes",
        r.body_len
    );
    assert_eq!(r.body_len, len);
    assert_eq!(r.body_fnv, pattern_fnv(len));
    assert!(
        r.says_close(),
        "drained response should carry connection: close: {}",
        r.summary()
    );
    assert!(
        busy.is_closed(Duration::from_secs(3)),
        "connection kept after the drained response"
    );

    let st = gw
        .wait_exit(Duration::from_secs(10))
        .expect("gateway did not exit after draining");
    assert!(st.success(), "exit status {st}");
    let stopped = gw.log_entries("stopped");
    assert_eq!(stopped.len(), 1, "logs: {:?}", gw.logs());
    assert_eq!(stopped[0]["in_flight_dropped"], 0, "{}", stopped[0]);
}

#[test]
fn sigint_shuts_down_gracefully() {
    let up = Upstream::echo("u");
    let mut gw = gateway(&[], &up);
    let mut cl = gw.client();
    assert_eq!(cl.roundtrip(&get("/", "h")).status, 200);
    let start = Instant::now();
    gw.signal(libc::SIGINT);
    let st = gw
        .wait_exit(Duration::from_secs(5))
        .expect("no exit within 5 s of SIGINT");
    assert!(st.success(), "exit status {st}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "idle gateway took {:?} to stop",
        start.elapsed()
    );
    let sd = gw.log_entries("shutting down");
    assert_eq!(
        sd.first().map(|e| e["signal"].clone()),
        Some("SIGINT".into()),
        "{:?}",
        gw.logs()
    );
    assert_eq!(gw.log_entries("stopped").len(), 1, "{:?}", gw.logs());
    assert!(cl.is_closed(Duration::from_secs(2)));
    assert!(refused(gw.addr()));
}

#[test]
fn grace_exceeded_still_exits_0_and_reports_dropped() {
    let up = Upstream::start("u", |_| {
        Reply::Delay(Duration::from_secs(20), Box::new(Reply::Echo))
    });
    let mut gw = gateway(&[("shutdown_grace_ms", "500")], &up);
    let mut cl = gw.client();
    cl.send(&get("/stuck", "h"));
    assert!(up.wait_requests(1, Duration::from_secs(5)));
    let start = Instant::now();
    gw.signal(libc::SIGTERM);
    let st = gw
        .wait_exit(Duration::from_secs(5))
        .expect("no exit within 5 s with a 500 ms grace");
    let elapsed = start.elapsed();
    assert!(st.success(), "exit status {st}");
    assert!(
        elapsed >= Duration::from_millis(400),
        "exited after {elapsed:?}: did not wait for the in-flight request"
    );
    let stopped = gw.log_entries("stopped");
    assert_eq!(stopped.len(), 1, "{:?}", gw.logs());
    assert!(
        stopped[0]["in_flight_dropped"].as_u64().unwrap_or(0) >= 1,
        "dropped request not reported: {}",
        stopped[0]
    );
    assert!(cl.is_closed(Duration::from_secs(3)));
}
