//! One resolution of one DNS upstream: the questions its `dns_name` needs
//! (A and/or AAAA, or SRV then each SRV host's addresses), put to its
//! nameservers in order, and the target set with its smallest TTL.
//!
//! Owns: which questions are asked and what makes a resolution fail (any
//! question that fails, except an SRV host that does not exist, which is
//! left out; and an empty set). Must never: return part of a set after a
//! failed question, or ask more than `MAX_SRV_HOSTS` hosts per resolution.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};

use super::answer::{glue, ips, srv_group, weigh, Ttl};
use super::exchange::{self, Failure};
use crate::config::upstream::{DnsFamily, DnsQuery};
use crate::discovery::targets_json::MAX_TARGETS;
use crate::discovery::Target;

/// Time one nameserver gets to answer one question.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(2);
/// SRV records followed per resolution; more are left out.
pub const MAX_SRV_HOSTS: usize = 64;

/// Puts one question to each of `servers` in turn until one answers; a
/// NXDOMAIN is final, a timeout or an error code moves to the next one.
/// `stop` is checked between servers.
pub fn ask_each(
    servers: &[SocketAddr],
    name: &Name,
    rtype: RecordType,
    stop: &dyn Fn() -> bool,
) -> Result<Message, Failure> {
    let mut last = Failure::Other("no nameserver".into());
    for s in servers {
        if stop() {
            return Err(Failure::Other("stopping".into()));
        }
        match exchange::ask(*s, name, rtype, ASK_TIMEOUT) {
            Ok(m) => return Ok(m),
            Err(Failure::NxDomain) => return Err(Failure::NxDomain),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The address record types `family` asks for.
fn rtypes(family: DnsFamily) -> &'static [RecordType] {
    match family {
        DnsFamily::Any => &[RecordType::A, RecordType::AAAA],
        DnsFamily::Ipv4 => &[RecordType::A],
        DnsFamily::Ipv6 => &[RecordType::AAAA],
    }
}

fn fqdn(s: &str) -> Result<Name, Failure> {
    let mut n = Name::from_ascii(s).map_err(|e| Failure::Other(format!("{s}: {e}")))?;
    n.set_fqdn(true);
    Ok(n)
}

/// Resolves `query` with `ask` (a question to the nameservers): the set,
/// non-empty, and its smallest TTL.
pub fn resolve(
    query: &DnsQuery,
    family: DnsFamily,
    ask: &dyn Fn(&Name, RecordType) -> Result<Message, Failure>,
) -> Result<(Vec<Target>, Duration), Failure> {
    let mut ttl = Ttl::default();
    let mut raw: Vec<(SocketAddr, u32)> = Vec::new();
    match query {
        DnsQuery::Host { host, port } => {
            let name = fqdn(host)?;
            for &rt in rtypes(family) {
                let m = ask(&name, rt)?;
                let found = ips(m.answers(), rt, &mut ttl);
                raw.extend(found.into_iter().map(|ip| (SocketAddr::new(ip, *port), 1)));
            }
        }
        DnsQuery::Srv(name) => {
            let m = ask(&fqdn(name)?, RecordType::SRV)?;
            for t in srv_group(m.answers(), &mut ttl).iter().take(MAX_SRV_HOSTS) {
                for &rt in rtypes(family) {
                    let mut found = glue(m.additionals(), &t.host, rt, &mut ttl);
                    if found.is_empty() {
                        found = match ask(&t.host, rt) {
                            Ok(a) => ips(a.answers(), rt, &mut ttl),
                            // A host that no longer exists is left out; the others serve.
                            Err(Failure::NxDomain) => Vec::new(),
                            Err(e) => return Err(e),
                        };
                    }
                    let w = u32::from(t.weight);
                    raw.extend(found.into_iter().map(|ip| (SocketAddr::new(ip, t.port), w)));
                }
            }
        }
    }
    raw.truncate(MAX_TARGETS);
    match weigh(raw) {
        set if set.is_empty() => Err(Failure::Empty),
        set => Ok((set, ttl.duration())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, Query};
    use hickory_proto::rr::rdata::{A, SRV};
    use hickory_proto::rr::{RData, Record};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    /// A canned answer to (`qname`, `rtype`) with `answers` and `extra`.
    fn reply(qname: &Name, rtype: RecordType, answers: Vec<Record>, extra: Vec<Record>) -> Message {
        let mut m = Message::new();
        m.set_message_type(MessageType::Response)
            .add_query(Query::query(qname.clone(), rtype))
            .add_answers(answers)
            .add_additionals(extra);
        m
    }

    fn a(owner: &str, ttl: u32, last: u8) -> Record {
        Record::from_rdata(name(owner), ttl, RData::A(A::new(10, 0, 0, last)))
    }

    fn srv(prio: u16, weight: u16, port: u16, target: &str) -> Record {
        let data = RData::SRV(SRV::new(prio, weight, port, name(target)));
        Record::from_rdata(name("_http._tcp.x."), 30, data)
    }

    #[test]
    fn srv_hosts_from_glue_or_their_own_question() {
        let query = DnsQuery::Srv("_http._tcp.x".into());
        let ask = |n: &Name, rt: RecordType| -> Result<Message, Failure> {
            match (n.to_ascii().as_str(), rt) {
                ("_http._tcp.x.", RecordType::SRV) => Ok(reply(
                    n,
                    rt,
                    vec![
                        srv(1, 10, 8080, "a.x."),
                        srv(1, 0, 8081, "b.x."),
                        srv(1, 1, 80, "gone.x."),
                        srv(2, 1, 80, "c.x."),
                    ],
                    vec![a("a.x.", 20, 1)],
                )),
                ("b.x.", RecordType::A) => Ok(reply(n, rt, vec![a("b.x.", 5, 2)], vec![])),
                ("gone.x.", _) => Err(Failure::NxDomain),
                other => panic!("unexpected question {other:?}"),
            }
        };
        let (set, ttl) = resolve(&query, DnsFamily::Ipv4, &ask).unwrap();
        let t = |s: &str, weight| Target {
            addr: s.parse().unwrap(),
            weight,
        };
        assert_eq!(set, [t("10.0.0.1:8080", 10), t("10.0.0.2:8081", 1)]);
        assert_eq!(ttl, Duration::from_secs(5));
    }

    #[test]
    fn a_failed_question_fails_the_whole_resolution() {
        let query = DnsQuery::Host {
            host: "x".into(),
            port: 80,
        };
        let ask = |n: &Name, rt: RecordType| -> Result<Message, Failure> {
            match rt {
                RecordType::A => Ok(reply(n, rt, vec![a("x.", 30, 1)], vec![])),
                _ => Err(Failure::Rcode("Server Failure".into())),
            }
        };
        assert_eq!(
            resolve(&query, DnsFamily::Any, &ask),
            Err(Failure::Rcode("Server Failure".into()))
        );
        let (set, _) = resolve(&query, DnsFamily::Ipv4, &ask).unwrap();
        assert_eq!(set.len(), 1);
        let empty = |n: &Name, rt: RecordType| Ok(reply(n, rt, vec![], vec![]));
        assert_eq!(resolve(&query, DnsFamily::Any, &empty), Err(Failure::Empty));
        let srv_query = DnsQuery::Srv("_http._tcp.x".into());
        let nx = |_: &Name, _: RecordType| Err(Failure::NxDomain);
        assert_eq!(
            resolve(&srv_query, DnsFamily::Any, &nx),
            Err(Failure::NxDomain)
        );
    }
}
