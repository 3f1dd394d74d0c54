//! Unit tests of `split`: the gathering writer, the two-party lock, and
//! feeding rustls a read that holds more than its plaintext limit.

use super::*;
use std::future::Future;

use crate::tls::io::has_plaintext;

#[test]
fn gather_takes_whole_slices_up_to_its_limit_and_no_more() {
    let mut v = Vec::new();
    let a = vec![1u8; TX_BYTES - 10];
    let b = vec![2u8; 30];
    let n = Gather(&mut v)
        .write_vectored(&[std::io::IoSlice::new(&a), std::io::IoSlice::new(&b)])
        .unwrap();
    assert_eq!(n, TX_BYTES);
    assert_eq!(v.len(), TX_BYTES);
    assert_eq!(&v[TX_BYTES - 10..], &[2u8; 10]);
    assert_eq!(Gather(&mut v).write(&b).unwrap(), 0, "full");
}

#[test]
fn the_write_lock_is_held_until_its_guard_drops_and_wakes_the_waiter() {
    let lock = WriteLock::default();
    let held = lock.try_lock().expect("free");
    assert!(lock.try_lock().is_none(), "held");
    let woken = std::sync::Arc::new(Woken::default());
    let waker = Waker::from(woken.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    let mut wait = std::pin::pin!(lock.lock());
    assert!(wait.as_mut().poll(&mut cx).is_pending());
    drop(held);
    assert!(
        woken.0.load(std::sync::atomic::Ordering::Relaxed),
        "not woken"
    );
    let Poll::Ready(g) = wait.as_mut().poll(&mut cx) else {
        panic!("not acquired after the release");
    };
    assert!(lock.try_lock().is_none());
    drop(g);
    assert!(lock.try_lock().is_some());
}

/// A server and a client session, handshaken in memory.
fn pair() -> (rustls::ServerConnection, rustls::ClientConnection) {
    use std::sync::Arc;
    let ck = rcgen::generate_simple_self_signed(vec!["t.test".to_string()]).unwrap();
    let der = ck.cert.der().clone();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der());
    let server = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key.into())
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut s = rustls::ServerConnection::new(Arc::new(server)).unwrap();
    let name = "t.test".try_into().unwrap();
    let mut c = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
    for _ in 0..10 {
        let mut wire = Vec::new();
        c.write_tls(&mut wire).unwrap();
        s.read_tls(&mut &wire[..]).unwrap();
        s.process_new_packets().unwrap();
        wire.clear();
        s.write_tls(&mut wire).unwrap();
        c.read_tls(&mut &wire[..]).unwrap();
        c.process_new_packets().unwrap();
    }
    assert!(!s.is_handshaking() && !c.is_handshaking());
    (s, c)
}

#[test]
fn a_read_that_completes_a_full_record_and_holds_more_loses_nothing() {
    let (mut s, mut c) = pair();
    // One full record, then 50 small ones.
    c.writer().write_all(&[7u8; 16 * 1024]).unwrap();
    for i in 0..50u8 {
        c.writer().write_all(&[i; 100]).unwrap();
    }
    let mut wire = Vec::new();
    while c.wants_write() {
        c.write_tls(&mut wire).unwrap();
    }
    // The first read ends one byte short of the full record; the next
    // completes it and brings small records behind it.
    let cut = 16 * 1024 + 22 - 1;
    let mut held = Vec::new();
    feed(&mut s, &wire[..cut], &mut held).unwrap();
    assert!(held.is_empty());
    let next = &wire[cut..(cut + RX_BYTES).min(wire.len())];
    feed(&mut s, next, &mut held).expect("refused, not held");
    assert!(!held.is_empty(), "rustls took it all: the case is not made");
    let mut got = Vec::new();
    let mut rest = wire[cut + next.len()..].to_vec();
    loop {
        let mut b = [0u8; 8192];
        match std::io::Read::read(&mut s.reader(), &mut b) {
            Ok(n) if n > 0 => got.extend_from_slice(&b[..n]),
            _ => {}
        }
        if !held.is_empty() {
            let h = std::mem::take(&mut held);
            feed(&mut s, &h, &mut held).unwrap();
        } else if !rest.is_empty() {
            let r = std::mem::take(&mut rest);
            feed(&mut s, &r, &mut held).unwrap();
        } else if !has_plaintext(&mut s) {
            break;
        }
    }
    let mut want = vec![7u8; 16 * 1024];
    for i in 0..50u8 {
        want.extend_from_slice(&[i; 100]);
    }
    assert!(got == want, "{} bytes of {}", got.len(), want.len());
}

#[derive(Default)]
struct Woken(std::sync::atomic::AtomicBool);

impl std::task::Wake for Woken {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
