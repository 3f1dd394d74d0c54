"""A scriptable authoritative DNS server for the discovery wire tests.

Usage: dns_server.py ZONE_FILE. Binds UDP on 127.0.0.1 with an ephemeral
port, prints the port on stdout, and answers each question from ZONE_FILE,
re-read on every question so that a test changes the answers at run time by
replacing the file. It exits when its stdin closes (the test ended), so it
never outlives the test.

ZONE_FILE is JSON:
  {"rcode": "NOERROR" | "SERVFAIL" | "REFUSED",   (default NOERROR)
   "glue": true | false,    (SRV answers carry their hosts' A/AAAA; default true)
   "records": [["orders.test.", "A", 1, "127.0.0.1"],
               ["_http._tcp.orders.test.", "SRV", 1, "10 5 8080 a.test."]]}
A name with no record at all is NXDOMAIN; a name with records of other
types only is an empty NOERROR answer.
"""

import json
import select
import socket
import sys

from dnslib import AAAA, QTYPE, RR, SRV, A, DNSLabel, DNSRecord, RCODE


def rdata(rtype, text):
    if rtype == "A":
        return A(text)
    if rtype == "AAAA":
        return AAAA(text)
    if rtype == "SRV":
        prio, weight, port, target = text.split()
        return SRV(int(prio), int(weight), int(port), target)
    raise ValueError(rtype)


def answer(zone, query):
    reply = query.reply()
    rcode = zone.get("rcode", "NOERROR")
    if rcode != "NOERROR":
        reply.header.rcode = getattr(RCODE, rcode)
        return reply
    qname = query.q.qname
    qtype = QTYPE[query.q.qtype]
    records = [(DNSLabel(n), t, ttl, d) for n, t, ttl, d in zone.get("records", [])]
    if not any(n == qname for n, _, _, _ in records):
        reply.header.rcode = RCODE.NXDOMAIN
        return reply
    for n, t, ttl, d in records:
        if n == qname and t == qtype:
            reply.add_answer(RR(n, getattr(QTYPE, t), ttl=ttl, rdata=rdata(t, d)))
            if t == "SRV" and zone.get("glue", True):
                target = DNSLabel(d.split()[3])
                for gn, gt, gttl, gd in records:
                    if gn == target and gt in ("A", "AAAA"):
                        reply.add_ar(RR(gn, getattr(QTYPE, gt), ttl=gttl, rdata=rdata(gt, gd)))
    return reply


def main():
    zone_file = sys.argv[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    while True:
        ready, _, _ = select.select([sock, sys.stdin], [], [], 5.0)
        if sys.stdin in ready and not sys.stdin.buffer.read1(4096):
            return
        if sock not in ready:
            continue
        data, peer = sock.recvfrom(4096)
        try:
            query = DNSRecord.parse(data)
            with open(zone_file) as f:
                zone = json.load(f)
            sock.sendto(answer(zone, query).pack(), peer)
        except Exception as e:  # a bad question or zone: say so, keep serving
            print(f"dns_server: {e!r}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
