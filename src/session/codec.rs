//! The session cookie value, byte-compatible with oauth2-proxy v7's cookie session store:
//!
//! ```text
//! value   = B64(payload) "|" created_at_unix "|" B64(HMAC-SHA256(secret, name ++ B64(payload) ++ ts))
//! payload = IV(16) ++ AES-CFB( LZ4-frame( msgpack{ca, eo, at, it, rt, n, e, u, g, pu, ac} ) )
//! ```
//!
//! Decoding runs on every request, so it verifies the MAC before touching anything else and
//! reuses per-thread scratch buffers: the only allocations are the decoded session's own fields.

use std::cell::RefCell;
use std::io::Write as _;
use std::time::{Duration, SystemTime};

use super::msgpack::{session_from_msgpack, session_to_msgpack_with_created};
use super::{check_timestamp, unix_secs, SessionError, SessionState};
use crate::crypto::{self, CfbCipher, CookieSecret, ValueSigner};

/// Largest decompressed session accepted. A cookie session is at most a few 4 KB chunks; this
/// bound only stops a pathological (yet authenticated) frame from allocating without limit.
pub const MAX_SESSION_BYTES: usize = 1 << 20;

/// Encodes and decodes session cookie values for one cookie name, secret and lifetime.
#[derive(Clone, Debug)]
pub struct SessionCodec {
    /// The current key first (it seals); then previous ones (`cookie_previous_secrets`),
    /// which only open.
    keys: Vec<(ValueSigner, CfbCipher)>,
    cookie_name: String,
    expire: Duration,
    /// `session_cookie_minimal`: sessions are encoded without their tokens.
    minimal: bool,
}

/// A cookie value whose MAC and timestamp [`SessionCodec::verify`] accepted.
#[derive(Debug)]
pub struct VerifiedValue<'a> {
    pub parts: crate::crypto::SignedParts<'a>,
    /// Which key verified it (0: the current one).
    key: usize,
}

impl VerifiedValue<'_> {
    /// Sealed with a previous secret: re-sealing it with the current one is due.
    pub fn sealed_with_previous_secret(&self) -> bool {
        self.key > 0
    }
}

impl SessionCodec {
    /// `cookie_name` is the base name (`_oauth2_proxy`), also when the value travels in chunks;
    /// `expire` is `cookie_expire` (zero = no server-side lifetime limit, as oauth2-proxy).
    pub fn new(secret: CookieSecret, cookie_name: &str, expire: Duration) -> Self {
        Self {
            keys: vec![(ValueSigner::new(&secret), CfbCipher::from_secret(&secret))],
            cookie_name: cookie_name.to_owned(),
            expire,
            minimal: false,
        }
    }

    /// `session_cookie_minimal`: [`SessionCodec::encode`] leaves out the access, ID and refresh
    /// tokens, as oauth2-proxy's cookie store does (the configuration refuses every option
    /// that would need them).
    pub fn with_minimal(mut self, minimal: bool) -> Self {
        self.minimal = minimal;
        self
    }

    /// Also open values sealed with these earlier secrets (key rotation); nothing is sealed
    /// with them.
    pub fn with_previous_secrets(mut self, previous: &[CookieSecret]) -> Self {
        self.keys.extend(
            previous
                .iter()
                .map(|s| (ValueSigner::new(s), CfbCipher::from_secret(s))),
        );
        self
    }

    /// The base cookie name the MAC binds.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The signed cookie value for `s`. The signed timestamp is `created_at`; a session without
    /// one is stamped `now` (as oauth2-proxy's `Save` does) and carries that as `ca`.
    pub fn encode(&self, s: &SessionState, now: SystemTime) -> Result<String, SessionError> {
        let created = s.created_at.unwrap_or(now);
        let minimal;
        let s = if self.minimal
            && !(s.access_token.is_empty() && s.id_token.is_empty() && s.refresh_token.is_empty())
        {
            minimal = SessionState {
                access_token: String::new(),
                id_token: String::new(),
                refresh_token: String::new(),
                ..s.clone()
            };
            &minimal
        } else {
            s
        };
        let packed = session_to_msgpack_with_created(s, created)?;
        let compressed = lz4_compress(&packed)?;
        let (signer, cipher) = &self.keys[0];
        let payload = cipher.encrypt(&compressed);
        Ok(signer.sign(&self.cookie_name, &payload, unix_secs(created)))
    }

    /// Verify (MAC in constant time, then the timestamp window), decrypt, decompress and decode.
    pub fn decode(&self, value: &str, now: SystemTime) -> Result<SessionState, SessionError> {
        let parts = self.verify(value, now)?;
        self.decode_verified(&parts)
    }

    /// Only the cheap half of [`SessionCodec::decode`]: the MAC (constant time, under the
    /// current secret, then the previous ones) and the timestamp window. The result's tag
    /// keys the verified-session cache.
    pub fn verify<'a>(
        &self,
        value: &'a str,
        now: SystemTime,
    ) -> Result<VerifiedValue<'a>, SessionError> {
        let mut first_error = None;
        for (key, (signer, _)) in self.keys.iter().enumerate() {
            match signer.verify(&self.cookie_name, value) {
                Ok(parts) => {
                    check_timestamp(parts.timestamp, now, self.expire)?;
                    return Ok(VerifiedValue { parts, key });
                }
                Err(e) => {
                    let e = SessionError::from(e);
                    let malformed = e != SessionError::BadSignature;
                    first_error.get_or_insert(e);
                    if malformed {
                        // A malformed value stays malformed under any other key.
                        break;
                    }
                }
            }
        }
        Err(first_error.unwrap_or(SessionError::BadSignature))
    }

    /// The timestamp window of a value whose MAC was verified before (a cache hit by the exact
    /// value, [`crate::session::cache::SessionCache::get_cookie`]): the window moves with the
    /// clock, so it is checked on every request.
    pub fn timestamp_in_window(&self, verified_value: &str, now: SystemTime) -> bool {
        let mut parts = verified_value.split('|');
        let ts = parts.nth(1).and_then(|ts| ts.parse::<i64>().ok());
        ts.is_some_and(|ts| check_timestamp(ts, now, self.expire).is_ok())
    }

    /// The other half: decrypt, decompress and decode a value [`SessionCodec::verify`] accepted.
    pub fn decode_verified(&self, v: &VerifiedValue<'_>) -> Result<SessionState, SessionError> {
        let cipher = &self.keys[v.key].1;
        with_scratch(|raw, plain| {
            crypto::b64url_padded_decode_into(v.parts.payload_b64, raw)
                .map_err(|_| SessionError::PayloadNotBase64)?;
            let len = raw.len();
            let packed = cipher
                .decrypt_in_place(raw)
                .map_err(|_| SessionError::DecryptFailed(len))?;
            lz4_decompress_into(packed, plain, MAX_SESSION_BYTES)?;
            session_from_msgpack(plain)
        })
    }
}

thread_local! {
    // Per-thread buffers for the request path: base64-decoded ciphertext and decompressed
    // msgpack. Never shared between threads, so no lock; decoding never awaits, so no
    // re-entrancy.
    static SCRATCH: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Keep at most this much scratch capacity per thread between requests.
const SCRATCH_KEEP: usize = 64 * 1024;

fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut bufs) => {
            let (raw, plain) = &mut *bufs;
            let out = f(raw, plain);
            for b in [raw, plain] {
                // Decrypted session bytes must not linger in reused memory.
                b.fill(0);
                b.clear();
                if b.capacity() > SCRATCH_KEEP {
                    b.shrink_to(SCRATCH_KEEP);
                }
            }
            out
        }
        // Only reachable through re-entrancy, which the code above never does; stay correct.
        Err(_) => f(&mut Vec::new(), &mut Vec::new()),
    })
}

// --------------------------------------------------------------------------------------------
// LZ4 frame
// --------------------------------------------------------------------------------------------

/// LZ4 frame as oauth2-proxy writes it (pierrec/lz4: 64 KiB independent blocks, content checksum,
/// no block checksums, no content size).
pub(crate) fn lz4_compress(data: &[u8]) -> Result<Vec<u8>, SessionError> {
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
    let info = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent)
        .content_checksum(true);
    let mut enc = FrameEncoder::with_frame_info(info, Vec::with_capacity(data.len() / 2 + 32));
    enc.write_all(data)
        .map_err(|e| SessionError::Encode(format!("lz4: {e}")))?;
    enc.finish()
        .map_err(|e| SessionError::Encode(format!("lz4: {e}")))
}

const LZ4_MAGIC: u32 = 0x184D_2204;
const LZ4_WINDOW: usize = 64 * 1024;

/// Decompress one LZ4 frame into `out` (cleared first), without the per-call buffers of a
/// streaming decoder. Accepts independent and linked blocks, optional block and content
/// checksums, and an optional content size. Checksums are skipped, not verified: the frame is
/// inside an authenticated (HMAC-verified) ciphertext, so it is byte-for-byte what the signer
/// wrote, and a checksum could only catch a bug in the signer.
pub(crate) fn lz4_decompress_into(
    frame: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), SessionError> {
    use SessionError::Decompress as E;
    out.clear();
    let mut rd = Reader(frame);
    if rd.u32()? != LZ4_MAGIC {
        return Err(E("not an LZ4 frame (bad magic number)"));
    }
    let flg = rd.u8()?;
    let bd = rd.u8()?;
    if flg >> 6 != 0b01 {
        return Err(E("unsupported LZ4 frame version"));
    }
    if flg & 0b10 != 0 || bd & 0b1000_1111 != 0 {
        return Err(E("reserved LZ4 frame bits are set"));
    }
    if flg & 0b1 != 0 {
        return Err(E("LZ4 dictionaries are not supported"));
    }
    let linked = flg & 0b10_0000 == 0;
    let block_checksums = flg & 0b1_0000 != 0;
    let has_content_size = flg & 0b1000 != 0;
    let content_checksum = flg & 0b100 != 0;
    let block_max = match (bd >> 4) & 0b111 {
        4 => 64 * 1024,
        5 => 256 * 1024,
        6 => 1024 * 1024,
        7 => 4 * 1024 * 1024,
        _ => return Err(E("invalid LZ4 block maximum size")),
    };
    if has_content_size {
        let size = rd.u64()?;
        if size > limit as u64 {
            return Err(SessionError::TooLarge(limit));
        }
        out.reserve(size as usize);
    }
    rd.take(1)?; // header checksum
    loop {
        let header = rd.u32()?;
        if header == 0 {
            break;
        }
        let stored = header & 0x8000_0000 != 0;
        let len = (header & 0x7fff_ffff) as usize;
        if len > block_max {
            return Err(E("LZ4 block is larger than the frame's maximum block size"));
        }
        let block = rd.take(len)?;
        if block_checksums {
            rd.take(4)?;
        }
        let start = out.len();
        if stored {
            if start + len > limit {
                return Err(SessionError::TooLarge(limit));
            }
            out.extend_from_slice(block);
            continue;
        }
        let room = block_max.min(limit.saturating_sub(start));
        out.resize(start + room, 0);
        let (prev, dst) = out.split_at_mut(start);
        let written = if linked && !prev.is_empty() {
            let dict = &prev[prev.len().saturating_sub(LZ4_WINDOW)..];
            lz4_flex::block::decompress_into_with_dict(block, dst, dict)
        } else {
            lz4_flex::block::decompress_into(block, dst)
        };
        match written {
            Ok(n) => out.truncate(start + n),
            Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) if room < block_max => {
                return Err(SessionError::TooLarge(limit))
            }
            Err(_) => return Err(E("corrupt LZ4 block")),
        }
    }
    if content_checksum {
        rd.take(4)?;
    }
    if !rd.0.is_empty() {
        return Err(E("trailing bytes after the LZ4 frame"));
    }
    Ok(())
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SessionError> {
        if self.0.len() < n {
            return Err(SessionError::Decompress("LZ4 frame is truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, SessionError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, SessionError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, SessionError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}
