//! What a DNS answer contributes to a target set: addresses of A/AAAA
//! records, the SRV records of the lowest priority, glue from the
//! additional section, the smallest TTL, and the weights of the final set.
//!
//! Owns: the selection rules (documented in `docs/discovery.md`). Must
//! never: trust a record of a type that was not asked for, or let an answer
//! make a weight outside `1..=MAX_WEIGHT`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::discovery::targets_json::MAX_WEIGHT;
use crate::discovery::Target;

/// The smallest TTL of the records used so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ttl(pub Option<u32>);

impl Ttl {
    /// Takes one record's TTL into account.
    pub fn see(&mut self, ttl: u32) {
        self.0 = Some(self.0.map_or(ttl, |t| t.min(ttl)));
    }

    /// The smallest TTL (0 when no record was seen: the caller clamps it).
    pub fn duration(self) -> Duration {
        Duration::from_secs(u64::from(self.0.unwrap_or(0)))
    }
}

/// One SRV record kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvTarget {
    /// The host whose addresses serve it.
    pub host: Name,
    /// The port on each of them.
    pub port: u16,
    /// Its relative share (0 counts as 1).
    pub weight: u16,
}

/// The addresses of `rtype` (A or AAAA) records in an answer section, of
/// any owner (a CNAME chain ends in them); CNAME TTLs count too.
pub fn ips(answers: &[Record], rtype: RecordType, ttl: &mut Ttl) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for r in answers {
        let ip = match r.data() {
            RData::A(a) if rtype == RecordType::A => IpAddr::V4(a.0),
            RData::AAAA(a) if rtype == RecordType::AAAA => IpAddr::V6(a.0),
            RData::CNAME(_) => {
                ttl.see(r.ttl());
                continue;
            }
            _ => continue,
        };
        ttl.see(r.ttl());
        out.push(ip);
    }
    out
}

/// The SRV records of the lowest priority value. RFC 2782 makes the others
/// fallbacks; health checks and outlier ejection already steer around a
/// dead target here, so a higher group is used only once DNS no longer
/// lists any record of a lower one.
/// A "." target (service not offered there) and port 0 are left out.
pub fn srv_group(answers: &[Record], ttl: &mut Ttl) -> Vec<SrvTarget> {
    let usable = || {
        answers.iter().filter_map(|r| match r.data() {
            RData::SRV(s) if !s.target().is_root() && s.port() != 0 => Some((r, s)),
            _ => None,
        })
    };
    let Some(lowest) = usable().map(|(_, s)| s.priority()).min() else {
        return Vec::new();
    };
    usable()
        .filter(|(_, s)| s.priority() == lowest)
        .map(|(r, s)| {
            ttl.see(r.ttl());
            SrvTarget {
                host: s.target().clone(),
                port: s.port(),
                weight: s.weight(),
            }
        })
        .collect()
}

/// The addresses of `host` of `rtype` in an additional section (glue that
/// saves a question).
pub fn glue(additionals: &[Record], host: &Name, rtype: RecordType, ttl: &mut Ttl) -> Vec<IpAddr> {
    let own: Vec<Record> = additionals
        .iter()
        .filter(|r| r.name() == host)
        .cloned()
        .collect();
    ips(&own, rtype, ttl)
}

/// The set to publish: weight 0 made 1, an address listed twice once with
/// the weights added, weights scaled down so that the largest is at most
/// `MAX_WEIGHT` (SRV weights go to 65535), sorted by address.
pub fn weigh(mut raw: Vec<(SocketAddr, u32)>) -> Vec<Target> {
    raw.sort_by_key(|(a, _)| *a);
    let mut out: Vec<Target> = Vec::with_capacity(raw.len());
    for (addr, w) in raw {
        let w = w.max(1);
        match out.last_mut() {
            Some(t) if t.addr == addr => t.weight = t.weight.saturating_add(w),
            _ => out.push(Target { addr, weight: w }),
        }
    }
    let max = out.iter().map(|t| u64::from(t.weight)).max().unwrap_or(0);
    if max > MAX_WEIGHT {
        for t in &mut out {
            let scaled = u64::from(t.weight) * MAX_WEIGHT / max;
            t.weight = u32::try_from(scaled.max(1)).unwrap_or(1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, SRV};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn rec(owner: &str, ttl: u32, data: RData) -> Record {
        Record::from_rdata(name(owner), ttl, data)
    }

    fn srv(prio: u16, weight: u16, port: u16, target: &str, ttl: u32) -> Record {
        rec(
            "_http._tcp.x.",
            ttl,
            RData::SRV(SRV::new(prio, weight, port, name(target))),
        )
    }

    #[test]
    fn addresses_of_the_asked_type_through_cnames() {
        let answers = [
            rec("a.x.", 300, RData::CNAME(CNAME(name("b.x.")))),
            rec("b.x.", 60, RData::A(A::new(10, 0, 0, 1))),
            rec("b.x.", 90, RData::A(A::new(10, 0, 0, 2))),
            rec(
                "b.x.",
                5,
                RData::AAAA(AAAA::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
            ),
        ];
        let mut ttl = Ttl::default();
        let got = ips(&answers, RecordType::A, &mut ttl);
        assert_eq!(
            got,
            [
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "10.0.0.2".parse().unwrap()
            ]
        );
        // The AAAA record was not asked for: neither kept nor timed.
        assert_eq!(ttl, Ttl(Some(60)));
        let mut ttl = Ttl::default();
        assert_eq!(ips(&answers, RecordType::AAAA, &mut ttl).len(), 1);
        assert_eq!(ttl.duration(), Duration::from_secs(5));
        assert_eq!(Ttl::default().duration(), Duration::ZERO);
    }

    #[test]
    fn srv_keeps_the_lowest_priority_only() {
        let answers = [
            srv(20, 5, 80, "backup.x.", 10),
            srv(10, 3, 8080, "a.x.", 300),
            srv(10, 0, 8081, "b.x.", 200),
            srv(5, 1, 80, ".", 1),
            srv(5, 1, 0, "c.x.", 1),
            rec("a.x.", 2, RData::A(A::new(10, 0, 0, 1))),
        ];
        let mut ttl = Ttl::default();
        let group = srv_group(&answers, &mut ttl);
        let want = [("a.x.", 8080, 3), ("b.x.", 8081, 0)].map(|(h, port, weight)| SrvTarget {
            host: name(h),
            port,
            weight,
        });
        assert_eq!(group, want);
        // Only the records kept count toward the TTL.
        assert_eq!(ttl, Ttl(Some(200)));
        assert!(srv_group(&[srv(1, 1, 80, ".", 5)], &mut Ttl::default()).is_empty());
    }

    #[test]
    fn glue_is_matched_by_owner_case_insensitively() {
        let add = [
            rec("A.X.", 30, RData::A(A::new(10, 0, 0, 1))),
            rec("b.x.", 30, RData::A(A::new(10, 0, 0, 2))),
        ];
        let mut ttl = Ttl::default();
        let got = glue(&add, &name("a.x."), RecordType::A, &mut ttl);
        assert_eq!(got, ["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert!(glue(&add, &name("c.x."), RecordType::A, &mut ttl).is_empty());
    }

    #[test]
    fn weights_are_merged_bounded_and_sorted() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let t = |s: &str, weight| Target { addr: a(s), weight };
        let got = weigh(vec![
            (a("10.0.0.2:80"), 0),
            (a("10.0.0.1:80"), 7),
            (a("10.0.0.2:80"), 2),
        ]);
        assert_eq!(got, [t("10.0.0.1:80", 7), t("10.0.0.2:80", 3)]);
        let got = weigh(vec![
            (a("10.0.0.1:80"), 65535),
            (a("10.0.0.2:80"), 1),
            (a("10.0.0.3:80"), 32768),
        ]);
        assert_eq!(
            got,
            [
                t("10.0.0.1:80", 1000),
                t("10.0.0.2:80", 1),
                t("10.0.0.3:80", 500)
            ]
        );
        assert!(weigh(Vec::new()).is_empty());
    }
}
