//! Registry-fed upstreams on the wire: requests go to the instances a
//! service registered, a deregistered instance gets no new request once
//! its DELETE is answered while requests already sent to it finish, and
//! an instance whose TTL runs out leaves the rotation, all under load from
//! several clients on a 2-shard gateway.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::admin::*;
use common::backend::{Backend, Mode};
use common::*;

const TOKEN: &str = "reg-7f3b2a9c4e1d8b6a5c0f";
const WAIT: Duration = Duration::from_secs(5);

fn gateway(token: &SecretFile) -> Gateway {
    Gateway::start(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\nadmin_listen = \"127.0.0.1:0\"\n\n\
         [[upstreams]]\nname = \"users\"\ndiscovery = \"registry\"\n\n\
         [[routes]]\nname = \"all\"\npath_prefix = \"/\"\nupstream = \"users\"\n\n\
         [registry]\ntoken = {}\n",
        token.spec()
    ))
}

fn call(gw: &Gateway, method: &str, path: &str, body: &str) -> Response {
    let auth = bearer(TOKEN);
    let mut c = RawClient::connect(gw.admin_addr());
    c.roundtrip(&req(
        method,
        path,
        "registry",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    ))
}

fn register(gw: &Gateway, id: &str, addr: SocketAddr, ttl_s: u64) {
    let body = format!("{{\"addr\": \"{addr}\", \"ttl_s\": {ttl_s}}}");
    let r = call(
        gw,
        "PUT",
        &format!("/registry/services/users/instances/{id}"),
        &body,
    );
    assert!(r.status == 201 || r.status == 200, "{}", r.summary());
}

/// Clients sending requests back to back until stopped; every status seen.
struct Load {
    run: Arc<AtomicBool>,
    statuses: Arc<Mutex<Vec<u16>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(gw: &Gateway, clients: usize) -> Load {
        let run = Arc::new(AtomicBool::new(true));
        let statuses = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..clients)
            .map(|k| {
                let (run, statuses, addr) = (run.clone(), statuses.clone(), gw.addr());
                std::thread::spawn(move || {
                    let mut c = RawClient::connect(addr);
                    let mut i = 0;
                    while run.load(Relaxed) {
                        let r = c.roundtrip(&get(&format!("/u/{k}/{i}"), "h"));
                        statuses.lock().unwrap().push(r.status);
                        if r.says_close() {
                            c = RawClient::connect(addr);
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        Load {
            run,
            statuses,
            threads,
        }
    }

    /// Stops the clients; every status they saw.
    fn stop(self) -> Vec<u16> {
        self.run.store(false, Relaxed);
        for t in self.threads {
            t.join().expect("client");
        }
        Arc::try_unwrap(self.statuses)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_default()
    }
}

#[test]
fn a_deregistered_instance_gets_nothing_new_and_finishes_what_it_has() {
    let token = SecretFile::new("reg-routing", TOKEN);
    let gw = gateway(&token);
    // Slow backends, so requests are in flight when the DELETE comes.
    let bs: Vec<Backend> = ["a", "b", "c"]
        .iter()
        .map(|n| Backend::with_mode(n, Mode::Slow))
        .collect();
    for (b, id) in bs.iter().zip(["a", "b", "c"]) {
        register(&gw, id, b.addr(), 30);
    }
    let load = Load::start(&gw, 6);
    assert!(eventually(WAIT, || bs.iter().all(|b| b.hits() >= 3)));
    let r = call(&gw, "DELETE", "/registry/services/users/instances/a", "");
    assert_eq!(r.status, 200, "{}", r.summary());
    // A request picked just before the DELETE may still be on its way to
    // a (the connect or the write): give it a moment, then count.
    std::thread::sleep(Duration::from_millis(100));
    let gone = Instant::now();
    std::thread::sleep(Duration::from_millis(1000));
    let statuses = load.stop();
    assert_eq!(bs[0].hits_since(gone), 0, "a got requests after its DELETE");
    assert!(bs[1].hits_since(gone) > 0 && bs[2].hits_since(gone) > 0);
    let failed: Vec<_> = statuses.iter().filter(|&&s| s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {failed:?}",
        failed.len(),
        statuses.len()
    );
}

#[test]
fn an_instance_that_misses_its_ttl_leaves_the_rotation() {
    let token = SecretFile::new("reg-ttl", TOKEN);
    let gw = gateway(&token);
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    register(&gw, "a", a.addr(), 1);
    register(&gw, "b", b.addr(), 30);
    let mut c = gw.client();
    let mut seen = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| {
                let r = c.roundtrip(&get(&format!("/t/{i}"), "h"));
                assert_eq!(r.status, 200, "{}", r.summary());
                r.upstream().unwrap_or("?").to_string()
            })
            .collect()
    };
    assert!(seen(10).contains(&"a".to_string()));
    // No heartbeat for a: after its 1 s TTL only b answers.
    assert!(eventually(WAIT, || seen(10).iter().all(|u| u == "b")));
    let since = Instant::now();
    assert!(seen(20).iter().all(|u| u == "b"));
    assert_eq!(a.hits_since(since), 0);
    // With no instance at all the upstream has no target: the 503 of an
    // upstream with nothing usable, not a hang.
    let r = call(&gw, "DELETE", "/registry/services/users/instances/b", "");
    assert_eq!(r.status, 200, "{}", r.summary());
    let r = gw.client().roundtrip(&get("/none", "h"));
    assert_eq!(r.status, 503, "{}", r.summary());
    assert_eq!(r.error_code().as_deref(), Some("no_healthy_upstream"));
}

/// A response still being relayed from an instance when it is deregistered
/// (its head came back, so the attempt is over, but its body is still
/// coming) must not leave its connection in the pool: with `max_targets =
/// 1` the freed slot goes to the next instance, and the shard would then
/// send that instance's requests over the old instance's connection.
#[test]
fn a_connection_still_relaying_when_its_instance_leaves_is_not_pooled() {
    let token = SecretFile::new("reg-pool", TOKEN);
    let gw = Gateway::start(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\nadmin_listen = \"127.0.0.1:0\"\n\n\
         [[upstreams]]\nname = \"users\"\ndiscovery = \"registry\"\nmax_targets = 1\n\n\
         [[routes]]\nname = \"all\"\npath_prefix = \"/\"\nupstream = \"users\"\n\n\
         [registry]\ntoken = {}\n",
        token.spec()
    ));
    // a: the first request gets its head at once and its body 4 s later.
    let a = Upstream::start("a", |r| {
        if r.conn == 0 && r.seq == 0 {
            let head = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n".to_vec();
            let gap = Duration::from_millis(4000);
            Reply::Pieces(
                vec![(head, gap), (b"hello".to_vec(), Duration::ZERO)],
                false,
            )
        } else {
            Reply::Echo
        }
    });
    let b = Upstream::echo("b");
    register(&gw, "a", a.addr(), 30);
    let addr = gw.addr();
    let slow = std::thread::spawn(move || RawClient::connect(addr).roundtrip(&get("/slow", "h")));
    assert!(a.wait_requests(1, WAIT));
    std::thread::sleep(Duration::from_millis(100));
    let r = call(&gw, "DELETE", "/registry/services/users/instances/a", "");
    assert_eq!(r.status, 200, "{}", r.summary());
    register(&gw, "b", b.addr(), 30);
    // b gets a's slot once the shard applied a's removal (its 1 s tick).
    let listed = || {
        let r = admin(gw.admin_addr(), "GET", "/upstreams", &[]);
        r.json()["upstreams"][0]["targets"][0]["addr"] == b.addr().to_string()
    };
    assert!(eventually(Duration::from_millis(3000), listed));
    let mut c = gw.client();
    let r = c.roundtrip(&get("/b/0", "h"));
    assert_eq!(r.upstream(), Some("b"), "{}", r.summary());
    // a's body arrives now: the slow request completes ...
    let r = slow.join().expect("slow client");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "hello"),
        "{}",
        r.summary()
    );
    // ... and what follows goes to b, over connections to b.
    for i in 1..6 {
        let r = c.roundtrip(&get(&format!("/b/{i}"), "h"));
        assert_eq!(r.upstream(), Some("b"), "{}", r.summary());
    }
    let after: Vec<String> = a
        .requests()
        .iter()
        .skip(1)
        .map(|r| r.target.clone())
        .collect();
    assert!(
        after.is_empty(),
        "a got requests after its DELETE: {after:?}"
    );
}
