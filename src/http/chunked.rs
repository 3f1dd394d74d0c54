//! Incremental, strict decoder for the chunked transfer coding (RFC 9112 7.1).
//!
//! Owns: finding where a chunked body ends and which bytes are payload, for
//! input split at any byte. Must never: allocate, consume bytes past the end
//! of the body (they belong to the next pipelined message), or tolerate a
//! size line, terminator or trailer that another parser could read differently.

use super::header::is_tchar;
use std::ops::Range;

/// Why a chunked body was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// A chunk-size line that is not `1*HEXDIG [chunk-ext] CRLF`.
    BadSize,
    /// Chunk data not followed by exactly CRLF.
    BadTerminator,
    /// A chunk-size line longer than the configured bound.
    LineTooLong,
    /// A trailer section longer than the configured bound.
    TrailersTooLarge,
    /// A trailer line that is not a valid header field line.
    BadTrailer,
}

/// Where the decoder is inside the chunked grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading chunk-size hex digits (`digits` so far).
    Size { digits: u8 },
    /// After the size or an extension; `ws` once BWS was seen (then only ';' may follow).
    AfterSize { ws: bool },
    /// After ';', before the extension name.
    ExtNameStart,
    /// Inside an extension name.
    ExtName,
    /// BWS after an extension name.
    ExtAfterName,
    /// After '=', before the value.
    ExtValueStart,
    /// Inside a token extension value.
    ExtToken,
    /// Inside a quoted-string extension value.
    ExtQuoted,
    /// After a backslash inside a quoted-string.
    ExtQuotedEscape,
    /// Saw the CR ending the size line.
    SizeLf,
    /// Inside chunk data.
    Data,
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerValue,
    /// Saw the CR ending a trailer line.
    TrailerLf,
    /// Saw the CR of the final empty line.
    EndLf,
    /// The body is complete.
    Done,
    /// A previous call failed; the body is unusable.
    Failed(ChunkError),
}

/// Incremental chunked decoder; holds no heap memory.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    max_line: usize,
    max_trailers: usize,
    /// Size being read, then payload bytes left in the current chunk.
    remaining: u64,
    /// Bytes of the current size line so far.
    line_len: usize,
    /// Bytes of the trailer section so far.
    trailer_len: usize,
    payload: u64,
}

impl ChunkedDecoder {
    /// A decoder bounding size lines to `max_line` and trailers to `max_trailers` bytes.
    pub fn new(max_line: usize, max_trailers: usize) -> Self {
        ChunkedDecoder {
            state: State::Size { digits: 0 },
            max_line,
            max_trailers,
            remaining: 0,
            line_len: 0,
            trailer_len: 0,
            payload: 0,
        }
    }

    /// Resets for the next body, keeping the bounds.
    pub fn reset(&mut self) {
        *self = ChunkedDecoder::new(self.max_line, self.max_trailers);
    }

    /// Consumes bytes of a chunked body from `input` and returns how many belong to
    /// the body (framing included), stopping exactly at its end; `on_data` gets each
    /// payload range (relative to `input`).
    pub fn feed(
        &mut self,
        input: &[u8],
        mut on_data: impl FnMut(Range<usize>),
    ) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => return Ok(i),
                State::Failed(e) => return Err(e),
                State::Data => {
                    // Whole runs of payload at once; only framing goes byte by byte.
                    let avail = (input.len() - i) as u64;
                    let n = self.remaining.min(avail) as usize;
                    on_data(i..i + n);
                    i += n;
                    self.remaining -= n as u64;
                    self.payload = self.payload.saturating_add(n as u64);
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                }
                _ => {
                    if let Err(e) = self.step(input[i]) {
                        self.state = State::Failed(e);
                        return Err(e);
                    }
                    i += 1;
                }
            }
        }
        match self.state {
            State::Failed(e) => Err(e),
            _ => Ok(i),
        }
    }

    /// True once the final CRLF of the trailer section was consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Total payload decoded so far.
    pub fn payload_bytes(&self) -> u64 {
        self.payload
    }

    /// Advances over one framing byte.
    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        if self.in_size_line() {
            self.line_len += 1;
            if self.line_len > self.max_line {
                return Err(ChunkError::LineTooLong);
            }
        } else if self.in_trailer_field(b) {
            self.trailer_len += 1;
            if self.trailer_len > self.max_trailers {
                return Err(ChunkError::TrailersTooLarge);
            }
        }
        self.state = match (self.state, b) {
            (State::Size { digits }, _) if b.is_ascii_hexdigit() => {
                if digits >= 16 {
                    return Err(ChunkError::BadSize);
                }
                self.remaining = (self.remaining << 4) | u64::from(hex_val(b));
                State::Size { digits: digits + 1 }
            }
            (State::Size { digits: 0 }, _) => return Err(ChunkError::BadSize),
            (State::Size { .. }, _) => return self.after_size(b, false),
            (State::AfterSize { ws }, _) => return self.after_size(b, ws),
            (State::ExtNameStart, b' ' | b'\t') => State::ExtNameStart,
            (State::ExtNameStart | State::ExtName, _) if is_tchar(b) => State::ExtName,
            (State::ExtName, b';') => State::ExtNameStart,
            (State::ExtName, b'\r') => State::SizeLf,
            (State::ExtName | State::ExtAfterName, b' ' | b'\t') => State::ExtAfterName,
            (State::ExtName | State::ExtAfterName, b'=') => State::ExtValueStart,
            (State::ExtAfterName, b';') => State::ExtNameStart,
            (State::ExtValueStart, b' ' | b'\t') => State::ExtValueStart,
            (State::ExtValueStart, b'"') => State::ExtQuoted,
            (State::ExtValueStart | State::ExtToken, _) if is_tchar(b) => State::ExtToken,
            (State::ExtToken, _) => return self.after_size(b, false),
            (State::ExtQuoted, b'"') => State::AfterSize { ws: false },
            (State::ExtQuoted, b'\\') => State::ExtQuotedEscape,
            (State::ExtQuoted, _) if is_qdtext(b) => State::ExtQuoted,
            (State::ExtQuotedEscape, _) if b == b'\t' || b == b' ' || is_vchar_or_obs(b) => {
                State::ExtQuoted
            }
            (State::SizeLf, b'\n') => {
                self.line_len = 0;
                if self.remaining == 0 {
                    State::TrailerStart
                } else {
                    State::Data
                }
            }
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::Size { digits: 0 },
            (State::DataCr | State::DataLf, _) => return Err(ChunkError::BadTerminator),
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerStart | State::TrailerName, _) if is_tchar(b) => State::TrailerName,
            (State::TrailerName, b':') => State::TrailerValue,
            (State::TrailerValue, b'\r') => State::TrailerLf,
            (State::TrailerValue, _) if b == b'\t' || b == b' ' || is_vchar_or_obs(b) => {
                State::TrailerValue
            }
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::EndLf, b'\n') => State::Done,
            (
                State::TrailerStart
                | State::TrailerName
                | State::TrailerValue
                | State::TrailerLf
                | State::EndLf,
                _,
            ) => return Err(ChunkError::BadTrailer),
            _ => return Err(ChunkError::BadSize),
        };
        Ok(())
    }

    /// After the size digits or a complete extension: BWS, ';' or the CR.
    fn after_size(&mut self, b: u8, ws: bool) -> Result<(), ChunkError> {
        self.state = match b {
            b' ' | b'\t' => State::AfterSize { ws: true },
            b';' => State::ExtNameStart,
            // BWS is only allowed before ';', never right before the CRLF.
            b'\r' if !ws => State::SizeLf,
            _ => return Err(ChunkError::BadSize),
        };
        Ok(())
    }

    fn in_size_line(&self) -> bool {
        matches!(
            self.state,
            State::Size { .. }
                | State::AfterSize { .. }
                | State::ExtNameStart
                | State::ExtName
                | State::ExtAfterName
                | State::ExtValueStart
                | State::ExtToken
                | State::ExtQuoted
                | State::ExtQuotedEscape
                | State::SizeLf
        )
    }

    /// True when `b` belongs to a trailer field line; the final empty line
    /// is not part of the trailer section, so a zero bound still admits it.
    fn in_trailer_field(&self, b: u8) -> bool {
        match self.state {
            State::TrailerStart => b != b'\r',
            State::TrailerName | State::TrailerValue | State::TrailerLf => true,
            _ => false,
        }
    }
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// VCHAR or obs-text.
fn is_vchar_or_obs(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// RFC 9110 qdtext.
fn is_qdtext(b: u8) -> bool {
    b == b'\t'
        || b == b' '
        || b == 0x21
        || (0x23..=0x5b).contains(&b)
        || (0x5d..=0x7e).contains(&b)
        || b >= 0x80
}

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod tests;
