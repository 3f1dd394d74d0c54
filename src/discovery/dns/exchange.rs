//! One DNS question to one nameserver, over UDP with a fall back to TCP
//! when the answer is truncated, on the calling (control-plane) thread.
//!
//! hickory-proto encodes and decodes the messages; the exchange itself is
//! these few blocking socket calls, because hickory's resolver needs an
//! async runtime that a plain thread does not have. A random id, a fresh
//! random source port per question and a connected socket stand against
//! spoofed answers: one whose id or question does not match is dropped.
//!
//! Owns: the sockets and the time bound of each exchange. Must never: wait
//! past its deadline, or trust an answer that does not match the question.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use ring::rand::{SecureRandom, SystemRandom};

/// The UDP payload advertised with EDNS: the size the DNS flag day of
/// 2020 recommends, which avoids IP fragmentation.
const UDP_PAYLOAD: u16 = 1232;

/// Why a question got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No matching answer before the deadline.
    Timeout,
    /// The name does not exist (NXDOMAIN).
    NxDomain,
    /// The server answered with an error code (SERVFAIL, REFUSED, ...).
    Rcode(String),
    /// The answer held no usable record.
    Empty,
    /// A socket error, or an answer that could not be decoded.
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => f.write_str("timed out"),
            Failure::NxDomain => f.write_str("NXDOMAIN"),
            Failure::Rcode(c) => f.write_str(c),
            Failure::Empty => f.write_str("no usable record"),
            Failure::Other(e) => f.write_str(e),
        }
    }
}

/// Asks `server` for `rtype` records of `name` within `timeout`; an answer
/// with an error code is a `Failure`.
pub fn ask(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    timeout: Duration,
) -> Result<Message, Failure> {
    let deadline = Instant::now() + timeout;
    let mut id = [0u8; 2];
    SystemRandom::new()
        .fill(&mut id)
        .map_err(|_| Failure::Other("no randomness for the query id".into()))?;
    let mut q = Message::new();
    q.set_id(u16::from_be_bytes(id))
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(UDP_PAYLOAD);
    q.set_edns(edns);
    let bytes = q.to_vec().map_err(|e| Failure::Other(e.to_string()))?;
    let mut answer = udp(server, &bytes, &q, deadline)?;
    if answer.truncated() {
        answer = tcp(server, &bytes, &q, deadline)?;
    }
    match answer.response_code() {
        ResponseCode::NoError => Ok(answer),
        ResponseCode::NXDomain => Err(Failure::NxDomain),
        other => Err(Failure::Rcode(other.to_string())),
    }
}

/// Whether `a` answers `q`: same id, a response, the same question.
fn matches(q: &Message, a: &Message) -> bool {
    a.id() == q.id() && a.message_type() == MessageType::Response && a.queries() == q.queries()
}

fn io(e: std::io::Error) -> Failure {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::Other(e.to_string()),
    }
}

/// Time left until `deadline`, or `Timeout` (a zero socket timeout would block forever).
fn left(deadline: Instant) -> Result<Duration, Failure> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(Failure::Timeout),
    }
}

fn udp(
    server: SocketAddr,
    bytes: &[u8],
    q: &Message,
    deadline: Instant,
) -> Result<Message, Failure> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        SocketAddr::V6(_) => ([0u16; 8], 0).into(),
    };
    let sock = UdpSocket::bind(local).map_err(io)?;
    // Connected: the kernel drops datagrams from any other address.
    sock.connect(server).map_err(io)?;
    sock.send(bytes).map_err(io)?;
    let mut buf = vec![0u8; usize::from(UDP_PAYLOAD).max(4096)];
    loop {
        sock.set_read_timeout(Some(left(deadline)?)).map_err(io)?;
        let n = sock.recv(&mut buf).map_err(io)?;
        // Anything undecodable or unmatched is dropped: it may be forged.
        match Message::from_vec(&buf[..n]) {
            Ok(a) if matches(q, &a) => return Ok(a),
            _ => continue,
        }
    }
}

fn tcp(
    server: SocketAddr,
    bytes: &[u8],
    q: &Message,
    deadline: Instant,
) -> Result<Message, Failure> {
    let mut s = TcpStream::connect_timeout(&server, left(deadline)?).map_err(io)?;
    s.set_write_timeout(Some(left(deadline)?)).map_err(io)?;
    let len = u16::try_from(bytes.len()).map_err(|_| Failure::Other("query too long".into()))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    s.write_all(&framed).map_err(io)?;
    // Each read waits only until the deadline: a server that trickles
    // bytes cannot stretch the exchange.
    let mut read = |buf: &mut [u8]| -> Result<(), Failure> {
        let mut filled = 0;
        while filled < buf.len() {
            s.set_read_timeout(Some(left(deadline)?)).map_err(io)?;
            match s.read(&mut buf[filled..]).map_err(io)? {
                0 => return Err(Failure::Other("TCP connection closed mid-answer".into())),
                n => filled += n,
            }
        }
        Ok(())
    };
    let mut len = [0u8; 2];
    read(&mut len)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    read(&mut buf)?;
    match Message::from_vec(&buf) {
        Ok(a) if matches(q, &a) => Ok(a),
        Ok(_) => Err(Failure::Other(
            "TCP answer does not match the question".into(),
        )),
        Err(e) => Err(Failure::Other(format!("undecodable TCP answer: {e}"))),
    }
}
