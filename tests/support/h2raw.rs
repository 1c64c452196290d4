//! A raw HTTP/2 (h2c, prior knowledge) client that writes frames exactly as told, including
//! what a well-behaved client never sends (more streams than allowed, rapid resets), and
//! reads the server's frames without interpreting them (RFC 9113 §4, HPACK RFC 7541 §6.2.2).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;

pub const NO_ERROR: u32 = 0x0;
pub const CANCEL: u32 = 0x8;
pub const REFUSED_STREAM: u32 = 0x7;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// One frame as received.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a RST_STREAM or GOAWAY frame.
    pub fn error_code(&self) -> Option<u32> {
        let at = match self.kind {
            RST_STREAM => 0,
            GOAWAY => 4,
            _ => return None,
        };
        let b = self.payload.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// `(identifier, value)` pairs of a SETTINGS frame.
    pub fn settings(&self) -> Vec<(u16, u32)> {
        self.payload
            .chunks_exact(6)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                )
            })
            .collect()
    }
}

/// HPACK integer with an `n`-bit prefix (RFC 7541 §5.1), first byte's high bits zero.
fn hpack_int(out: &mut Vec<u8>, mut v: usize, n: u8) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(v as u8);
        return;
    }
    out.push(max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128 + 128) as u8);
        v /= 128;
    }
    out.push(v as u8);
}

/// A header block of "literal header field without indexing, new name" entries.
pub fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        hpack_int(&mut out, name.len(), 7);
        out.extend_from_slice(name.as_bytes());
        hpack_int(&mut out, value.len(), 7);
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// Bytes of one frame.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A HEADERS frame (END_HEADERS set) for a request to `path` on `authority`.
pub fn request(
    stream: u32,
    method: &str,
    path: &str,
    authority: &str,
    end_stream: bool,
) -> Vec<u8> {
    let block = header_block(&[
        (":method", method),
        (":scheme", "http"),
        (":path", path),
        (":authority", authority),
    ]);
    let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
    frame(HEADERS, flags, stream, &block)
}

/// A RST_STREAM frame.
pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// A client connection.
pub struct H2 {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl H2 {
    /// Connects to 127.0.0.1:`port` and sends the preface and an empty SETTINGS frame.
    pub async fn connect(port: u16) -> H2 {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect for HTTP/2");
        stream
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .expect("preface");
        stream
            .write_all(&frame(SETTINGS, 0, 0, &[]))
            .await
            .expect("settings");
        H2 {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes raw bytes (one or many frames).
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// The next frame, `None` when the server closed the connection or nothing arrived in
    /// `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = Instant::now() + wait;
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let head: Vec<u8> = self.buf.drain(..9 + len).collect();
                    return Some(Frame {
                        kind: head[3],
                        flags: head[4],
                        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]])
                            & 0x7fff_ffff,
                        payload: head[9..].to_vec(),
                    });
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads frames until one matches `want` (answering the server's SETTINGS and PINGs on
    /// the way); every frame seen is returned, the match last. `None`: the connection closed
    /// or `wait` passed first.
    pub async fn until(
        &mut self,
        wait: Duration,
        want: impl Fn(&Frame) -> bool,
    ) -> (Vec<Frame>, Option<Frame>) {
        let deadline = Instant::now() + wait;
        let mut seen = Vec::new();
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return (seen, None);
            };
            let Some(f) = self.next(left).await else {
                return (seen, None);
            };
            if f.kind == SETTINGS && f.flags & ACK == 0 {
                let _ = self.send(&frame(SETTINGS, ACK, 0, &[])).await;
            }
            if f.kind == PING && f.flags & ACK == 0 {
                let _ = self.send(&frame(PING, ACK, 0, &f.payload)).await;
            }
            if want(&f) {
                return (seen, Some(f));
            }
            seen.push(f);
        }
    }

    /// True once the server has closed the connection (reads end) within `wait`; frames
    /// still arriving are returned.
    pub async fn closed_within(&mut self, wait: Duration) -> (bool, Vec<Frame>) {
        let deadline = Instant::now() + wait;
        let mut seen = Vec::new();
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return (false, seen);
            };
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    while let Some(f) = self.next(Duration::ZERO).await {
                        seen.push(f);
                    }
                    return (true, seen);
                }
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return (false, seen),
            }
            while self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() < 9 + len {
                    break;
                }
                if let Some(f) = self.next(Duration::ZERO).await {
                    seen.push(f);
                }
            }
        }
    }
}
