//! Finding where an HTTP/1.1 response ends in a read buffer.
//!
//! Parses the head with httparse and works out the framing (content-length,
//! chunked, none, or until close). It never copies the body: the caller only
//! needs to know how many bytes belong to this response.

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many body bytes follow the head.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// The body runs until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Bytes of the head, CRLFCRLF included.
    pub len: usize,
    /// Body framing.
    pub framing: Framing,
    /// The server asked to close the connection.
    pub close: bool,
}

/// A response that cannot be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Parses a head from `buf`; `Ok(None)` when more bytes are needed.
pub fn parse_head(buf: &[u8], head_request: bool) -> Result<Option<Head>, Malformed> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Malformed),
    };
    let status = resp.code.ok_or(Malformed)?;
    let mut length = None;
    let mut chunked = false;
    let mut close = resp.version == Some(0);
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).map_err(|_| Malformed)?;
            length = Some(v.trim().parse::<u64>().map_err(|_| Malformed)?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h.value.eq_ignore_ascii_case(b"chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = h.value.eq_ignore_ascii_case(b"close");
        }
    }
    let no_body = head_request || status == 204 || status == 304 || (100..200).contains(&status);
    let framing = if no_body {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok(Some(Head {
        status,
        len,
        framing,
        close,
    }))
}

/// Incremental scanner for a chunked body; keeps its place between reads.
#[derive(Debug, Default, Clone, Copy)]
pub struct ChunkScan {
    pos: usize,
}

impl ChunkScan {
    /// Scans `body` (all bytes after the head so far); returns its total length once complete.
    pub fn scan(&mut self, body: &[u8]) -> Result<Option<usize>, Malformed> {
        loop {
            let rest = &body[self.pos..];
            let Some(eol) = find_crlf(rest) else {
                return Ok(None);
            };
            let line = &rest[..eol];
            let size_part = line.split(|&b| b == b';').next().unwrap_or(line);
            let size_txt = std::str::from_utf8(size_part).map_err(|_| Malformed)?;
            let size = usize::from_str_radix(size_txt.trim(), 16).map_err(|_| Malformed)?;
            if size == 0 {
                // Trailer section: lines until an empty one.
                let mut p = self.pos + eol + 2;
                loop {
                    let Some(e) = find_crlf(&body[p..]) else {
                        return Ok(None);
                    };
                    if e == 0 {
                        return Ok(Some(p + 2));
                    }
                    p += e + 2;
                }
            }
            let next = self.pos + eol + 2 + size + 2;
            if body.len() < next {
                return Ok(None);
            }
            if &body[next - 2..next] != b"\r\n" {
                return Err(Malformed);
            }
            self.pos = next;
        }
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_by_length_chunked_and_close() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", false)
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.status, h.len, h.framing, h.close),
            (200, 38, Framing::Length(5), false)
        );
        let h = parse_head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        let h = parse_head(b"HTTP/1.0 200 OK\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!((h.framing, h.close), (Framing::UntilClose, true));
        let h = parse_head(
            b"HTTP/1.1 204 No Content\r\ncontent-length: 9\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.framing, Framing::Length(0));
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-le", false),
            Ok(None)
        );
        assert_eq!(parse_head(b"garbage\r\n\r\n", false), Err(Malformed));
    }

    #[test]
    fn chunked_scan_is_incremental() {
        let body = b"5;x=1\r\nhello\r\n3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n";
        let mut s = ChunkScan::default();
        for cut in [3, 10, 20, 30] {
            assert_eq!(s.scan(&body[..cut]), Ok(None));
        }
        assert_eq!(s.scan(body), Ok(Some(body.len())));
        assert_eq!(ChunkScan::default().scan(b"zz\r\n"), Err(Malformed));
    }
}
