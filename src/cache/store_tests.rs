//! The store: variants, a changed Vary, the byte bound, the object bound,
//! invalidation and purge.

use bytes::Bytes;

use super::freshness::Times;
use super::store::{Entry, Lookup, Refused, Store, ENTRY_OVERHEAD};
use super::vary::Vary;

fn vary(v: &str) -> Vary {
    Vary::parse([v.as_bytes()])
}

/// An entry of `body_len` bytes, fetched by a request whose `vary`
/// fields had `values` (in the order of `vary.fields`).
fn entry(v: &Vary, values: &[(&str, &'static str)], body_len: usize, tags: &[&str]) -> Entry {
    let variant = v.key(|f| {
        values
            .iter()
            .filter(|(n, _)| *n == f)
            .map(|(_, x)| x.as_bytes())
            .collect::<Vec<_>>()
    });
    Entry {
        status: 200,
        head: Bytes::from_static(b"content-type: text/plain\r\n"),
        body: Bytes::from(vec![b'x'; body_len]),
        times: Times::default(),
        variant,
        tags: tags.iter().map(|t| (*t).into()).collect(),
    }
}

fn find(s: &Store, key: &str, values: &[(&str, &'static str)]) -> Lookup {
    s.lookup(key.as_bytes(), |f| {
        values
            .iter()
            .filter(|(n, _)| *n == f)
            .map(|(_, x)| x.as_bytes())
            .collect::<Vec<_>>()
    })
}

fn body_len(l: Lookup) -> Option<usize> {
    match l {
        Lookup::Hit(e) => Some(e.body.len()),
        _ => None,
    }
}

#[test]
fn variants_are_kept_side_by_side_and_replaced_by_key() {
    let s = Store::new(64 << 20, 1 << 20);
    let v = vary("accept-language");
    assert!(matches!(find(&s, "/a", &[]), Lookup::Miss));
    s.insert(
        b"/a",
        v.clone(),
        entry(&v, &[("accept-language", "en")], 10, &[]),
    )
    .unwrap();
    s.insert(
        b"/a",
        v.clone(),
        entry(&v, &[("accept-language", "de")], 20, &[]),
    )
    .unwrap();
    assert_eq!(
        body_len(find(&s, "/a", &[("accept-language", "en")])),
        Some(10)
    );
    assert_eq!(
        body_len(find(&s, "/a", &[("accept-language", "de")])),
        Some(20)
    );
    assert!(matches!(
        find(&s, "/a", &[("accept-language", "fr")]),
        Lookup::VaryMiss
    ));
    assert!(
        matches!(find(&s, "/a", &[]), Lookup::VaryMiss),
        "absent is its own variant"
    );
    s.insert(
        b"/a",
        v.clone(),
        entry(&v, &[("accept-language", "en")], 11, &[]),
    )
    .unwrap();
    assert_eq!(
        body_len(find(&s, "/a", &[("accept-language", "en")])),
        Some(11),
        "replaced"
    );
    assert_eq!(
        body_len(find(&s, "/a", &[("accept-language", "de")])),
        Some(20),
        "kept"
    );
    assert!(matches!(
        find(&s, "/b", &[("accept-language", "en")]),
        Lookup::Miss
    ));
}

#[test]
fn a_changed_vary_list_replaces_every_old_variant() {
    let s = Store::new(64 << 20, 1 << 20);
    let v1 = vary("accept-language");
    s.insert(
        b"/a",
        v1.clone(),
        entry(&v1, &[("accept-language", "en")], 10, &[]),
    )
    .unwrap();
    s.insert(
        b"/a",
        v1.clone(),
        entry(&v1, &[("accept-language", "de")], 20, &[]),
    )
    .unwrap();
    let v2 = vary("accept-encoding");
    let both = [("accept-language", "de"), ("accept-encoding", "gzip")];
    s.insert(b"/a", v2.clone(), entry(&v2, &both, 30, &[]))
        .unwrap();
    assert_eq!(body_len(find(&s, "/a", &both)), Some(30));
    assert!(
        matches!(
            find(
                &s,
                "/a",
                &[("accept-language", "en"), ("accept-encoding", "br")]
            ),
            Lookup::VaryMiss
        ),
        "the en variant went with the old list"
    );
    // Same fields in another order and case: the same list.
    let v3 = vary("Accept-Encoding");
    s.insert(
        b"/a",
        v3.clone(),
        entry(&v3, &[("accept-encoding", "br")], 40, &[]),
    )
    .unwrap();
    assert_eq!(body_len(find(&s, "/a", &both)), Some(30));
    assert_eq!(
        body_len(find(&s, "/a", &[("accept-encoding", "br")])),
        Some(40)
    );
}

#[test]
fn objects_over_the_bound_are_refused_whole() {
    let s = Store::new(64 << 20, 1000);
    let v = Vary::default();
    let fits = 1000 - ENTRY_OVERHEAD as usize - "content-type: text/plain\r\n".len();
    assert_eq!(
        s.insert(b"/ok", v.clone(), entry(&v, &[], fits, &[])),
        Ok(())
    );
    assert_eq!(
        s.insert(b"/big", v.clone(), entry(&v, &[], fits + 1, &[])),
        Err(Refused::TooLarge)
    );
    assert!(matches!(find(&s, "/big", &[]), Lookup::Miss));
    // The object bound never exceeds one lock shard's share of the total.
    let small = Store::new(8 << 20, 1 << 30);
    assert!(small.max_object_bytes() <= 8 << 20);
}

#[test]
fn the_byte_bound_holds_and_evictions_are_counted() {
    let max = 4u64 << 20;
    let s = Store::new(max, 64 << 10);
    let v = Vary::default();
    for i in 0..200 {
        let k = format!("/obj/{i}");
        s.insert(k.as_bytes(), v.clone(), entry(&v, &[], 60 << 10, &[]))
            .unwrap();
        assert!(s.bytes() <= max, "{} > {max} after {i}", s.bytes());
    }
    assert!(s.evictions() > 0, "12 MB into 4 MB evicts");
    assert!(s.len() < 200);
    assert!(
        s.bytes() > max / 2,
        "the bound is used, not wasted: {}",
        s.bytes()
    );
}

#[test]
fn invalidate_and_purge_by_prefix_and_tag() {
    let s = Store::new(64 << 20, 1 << 20);
    let v = vary("accept");
    for (k, tags) in [
        ("http|a.test|/users/1", &["user-1", "users"][..]),
        ("http|a.test|/users/2", &["users"]),
        ("http|a.test|/orders/1", &["orders"]),
        ("http|b.test|/users/1", &[]),
    ] {
        s.insert(
            k.as_bytes(),
            v.clone(),
            entry(&v, &[("accept", "a")], 1, tags),
        )
        .unwrap();
        s.insert(
            k.as_bytes(),
            v.clone(),
            entry(&v, &[("accept", "b")], 1, &[]),
        )
        .unwrap();
    }
    assert!(s.invalidate(b"http|a.test|/users/1"), "every variant goes");
    assert!(matches!(
        find(&s, "http|a.test|/users/1", &[("accept", "b")]),
        Lookup::Miss
    ));
    assert!(!s.invalidate(b"http|a.test|/users/1"));
    assert_eq!(
        s.purge_tag("orders"),
        1,
        "a tag on one variant purges the resource"
    );
    assert!(matches!(
        find(&s, "http|a.test|/orders/1", &[("accept", "b")]),
        Lookup::Miss
    ));
    assert_eq!(s.purge_prefix(b"http|a.test|/users/"), 1);
    assert_eq!(s.len(), 1, "another host's /users/1 stays");
    assert_eq!(s.purge_tag("nothing"), 0);
}
