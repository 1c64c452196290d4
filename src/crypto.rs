//! The single seam for cryptography: secrets, ciphers, MACs, randomness and
//! constant-time comparison. No other module imports a crypto crate.

use std::fmt;

use aes::cipher::consts::U16;
use aes::cipher::{
    AsyncStreamCipher, BlockCipher, BlockEncryptMut, BlockSizeUser, InnerIvInit, KeyInit,
};
use aes_gcm::aead::{Aead, Payload};
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

mod gcm;
pub mod jws;
pub use gcm::{gcm_decrypt, gcm_encrypt};

/// A secret string that never prints (Debug/Display show `[redacted]`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret's value; call only where it is sent to its one legitimate peer.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The cookie secret, with the two keys oauth2-proxy derives from it.
///
/// * AES key: the URL-safe base64 decoding (padding stripped) when that yields 16, 24 or 32 bytes,
///   else the string's raw bytes. authproxy also accepts the standard alphabet (`+`, `/`) that
///   `openssl rand -base64 32` prints, which oauth2-proxy rejects.
/// * HMAC key: the secret string itself.
#[derive(Clone, PartialEq, Eq)]
pub struct CookieSecret {
    hmac_key: Vec<u8>,
    aes_key: Vec<u8>,
}

impl fmt::Debug for CookieSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CookieSecret(AES-{}, [redacted])",
            self.aes_key.len() * 8
        )
    }
}

/// Why a cookie secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "cookie secret is empty; generate one with: openssl rand -base64 32 | tr -- '+/' '-_'"
    )]
    Empty,
    #[error(
        "cookie secret must be 16, 24 or 32 bytes, or the base64 encoding of 16, 24 or 32 bytes; \
         found {raw_len} bytes{decoded}; generate one with: openssl rand -base64 32 | tr -- '+/' '-_'"
    )]
    BadLength { raw_len: usize, decoded: String },
}

impl CookieSecret {
    /// Parse a configured secret (the string, or the raw bytes of `cookie_secret_file`).
    pub fn parse(secret: &[u8]) -> Result<Self, SecretError> {
        if secret.is_empty() {
            return Err(SecretError::Empty);
        }
        let valid = |n: usize| matches!(n, 16 | 24 | 32);
        let trimmed = trim_trailing(secret, b'=');
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(trimmed)
            .ok();
        let std = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(trimmed)
            .ok();
        let aes_key = match (&url, &std) {
            (Some(k), _) if valid(k.len()) => k.clone(),
            _ if valid(secret.len()) => secret.to_vec(),
            (_, Some(k)) if valid(k.len()) => k.clone(),
            _ => {
                let decoded = url
                    .as_ref()
                    .or(std.as_ref())
                    .map(|k| format!(" (base64-decoded: {} bytes)", k.len()))
                    .unwrap_or_default();
                return Err(SecretError::BadLength {
                    raw_len: secret.len(),
                    decoded,
                });
            }
        };
        Ok(Self {
            hmac_key: secret.to_vec(),
            aes_key,
        })
    }

    /// Key for AES (16, 24 or 32 bytes).
    pub fn aes_key(&self) -> &[u8] {
        &self.aes_key
    }

    /// Key for the cookie HMAC (the secret string's bytes).
    pub fn hmac_key(&self) -> &[u8] {
        &self.hmac_key
    }
}

fn trim_trailing(mut s: &[u8], c: u8) -> &[u8] {
    while let [rest @ .., last] = s {
        if *last != c {
            break;
        }
        s = rest;
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Primitives. Everything below is the one place where cipher, MAC and RNG crates are touched.
// ---------------------------------------------------------------------------------------------

type HmacSha256 = Hmac<Sha256>;

/// AES block size, which is also the length of the CFB IV prefix.
pub const IV_LEN: usize = 16;

/// Why a cryptographic operation refused its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("AES key must be 16, 24 or 32 bytes, found {0}")]
    BadKeyLength(usize),
    #[error("ciphertext is {0} bytes, shorter than its 16-byte IV")]
    ShorterThanIv(usize),
    #[error("value is not valid base64")]
    Base64,
    #[error("sealed value has unknown version byte {0:#04x}")]
    UnknownVersion(u8),
    #[error("sealed value is {0} bytes, too short to hold a version, nonce and tag")]
    Truncated(usize),
    #[error(
        "sealed value failed authentication (tampered, or sealed with another key or purpose)"
    )]
    Unauthentic,
}

/// Fill `buf` from the thread-local CSPRNG (ChaCha12, seeded and periodically reseeded from the OS).
pub fn fill_random(buf: &mut [u8]) {
    rand::rng().fill_bytes(buf);
}

/// `N` random bytes from the CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill_random(&mut out);
    out
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// BLAKE2b-256 of `data`: oauth2-proxy before v7.9 hashed its state and OIDC nonces with it.
pub fn blake2b_256(data: &[u8]) -> [u8; 32] {
    use blake2::digest::{Update, VariableOutput};
    let mut out = [0u8; 32];
    let mut h = blake2::Blake2bVar::new(32).expect("32 is a valid BLAKE2b output size");
    Update::update(&mut h, data);
    // The buffer is exactly the requested output size, so this cannot fail.
    let _ = h.finalize_variable(&mut out);
    out
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time equality. Lengths are not secret: different lengths compare unequal at once.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time_eq::constant_time_eq(a, b)
}

/// Standard base64 with padding (HTTP Basic credentials).
pub fn b64_std(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// URL-safe base64 without padding (JWT, PKCE, nonce hashes).
pub fn b64url_nopad(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decode URL-safe base64 without padding.
pub fn b64url_nopad_decode(s: &str) -> Result<Vec<u8>, CryptoError> {
    URL_SAFE_NO_PAD.decode(s).map_err(|_| CryptoError::Base64)
}

/// URL-safe base64 *with* `=` padding (Go's `base64.URLEncoding`, used in signed cookies).
pub fn b64url_padded(data: &[u8]) -> String {
    URL_SAFE.encode(data)
}

/// Decode URL-safe padded base64, appending to `out` (which is cleared first) so a caller can
/// reuse one buffer across requests.
pub fn b64url_padded_decode_into(s: &str, out: &mut Vec<u8>) -> Result<(), CryptoError> {
    out.clear();
    URL_SAFE
        .decode_vec(s.as_bytes(), out)
        .map_err(|_| CryptoError::Base64)
}

/// AES in full-block CFB mode (Go's `cipher.NewCFBEncrypter`), as oauth2-proxy's cookie cipher:
/// output = 16-byte random IV ++ ciphertext. The key schedule is expanded once, here.
///
/// CFB is malleable and unauthenticated: every caller MUST authenticate the result (the signed
/// cookie HMAC does). New formats use [`seal`] instead.
#[derive(Clone)]
pub struct CfbCipher(CfbKey);

#[derive(Clone)]
enum CfbKey {
    Aes128(aes::Aes128),
    Aes192(aes::Aes192),
    Aes256(aes::Aes256),
}

impl fmt::Debug for CfbCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = match self.0 {
            CfbKey::Aes128(_) => 128,
            CfbKey::Aes192(_) => 192,
            CfbKey::Aes256(_) => 256,
        };
        write!(f, "CfbCipher(AES-{bits}, [redacted])")
    }
}

fn cfb_encrypt_with<C>(cipher: &C, iv: &[u8; IV_LEN], data: &mut [u8])
where
    C: BlockEncryptMut + BlockCipher + BlockSizeUser<BlockSize = U16> + Clone,
{
    cfb_mode::Encryptor::<C>::inner_iv_init(cipher.clone(), iv.into()).encrypt(data);
}

fn cfb_decrypt_with<C>(cipher: &C, iv: &[u8; IV_LEN], data: &mut [u8])
where
    C: BlockEncryptMut + BlockCipher + BlockSizeUser<BlockSize = U16> + Clone,
{
    cfb_mode::Decryptor::<C>::inner_iv_init(cipher.clone(), iv.into()).decrypt(data);
}

impl CfbCipher {
    /// A cipher for a 16, 24 or 32-byte key (AES-128/192/256).
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let bad = |_| CryptoError::BadKeyLength(key.len());
        Ok(Self(match key.len() {
            16 => CfbKey::Aes128(aes::Aes128::new_from_slice(key).map_err(bad)?),
            24 => CfbKey::Aes192(aes::Aes192::new_from_slice(key).map_err(bad)?),
            32 => CfbKey::Aes256(aes::Aes256::new_from_slice(key).map_err(bad)?),
            n => return Err(CryptoError::BadKeyLength(n)),
        }))
    }

    /// The cookie cipher of a configured secret.
    pub fn from_secret(secret: &CookieSecret) -> Self {
        // CookieSecret::parse only produces 16/24/32-byte AES keys.
        match Self::new(secret.aes_key()) {
            Ok(c) => c,
            Err(_) => unreachable!("CookieSecret guarantees a 16, 24 or 32-byte AES key"),
        }
    }

    /// Encrypt with a fresh random IV: returns IV ++ ciphertext.
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let iv: [u8; IV_LEN] = random_bytes();
        self.encrypt_with_iv(&iv, plaintext)
    }

    /// Encrypt with a caller-chosen IV (test vectors only; never reuse an IV under one key).
    pub fn encrypt_with_iv(&self, iv: &[u8; IV_LEN], plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(IV_LEN + plaintext.len());
        out.extend_from_slice(iv);
        out.extend_from_slice(plaintext);
        let body = &mut out[IV_LEN..];
        match &self.0 {
            CfbKey::Aes128(c) => cfb_encrypt_with(c, iv, body),
            CfbKey::Aes192(c) => cfb_encrypt_with(c, iv, body),
            CfbKey::Aes256(c) => cfb_encrypt_with(c, iv, body),
        }
        out
    }

    /// Decrypt IV ++ ciphertext in place; returns the plaintext, a sub-slice of `data`.
    pub fn decrypt_in_place<'a>(&self, data: &'a mut [u8]) -> Result<&'a mut [u8], CryptoError> {
        if data.len() < IV_LEN {
            return Err(CryptoError::ShorterThanIv(data.len()));
        }
        let (iv, body) = data.split_at_mut(IV_LEN);
        let mut ivb = [0u8; IV_LEN];
        ivb.copy_from_slice(iv);
        match &self.0 {
            CfbKey::Aes128(c) => cfb_decrypt_with(c, &ivb, body),
            CfbKey::Aes192(c) => cfb_decrypt_with(c, &ivb, body),
            CfbKey::Aes256(c) => cfb_decrypt_with(c, &ivb, body),
        }
        Ok(body)
    }

    /// Decrypt IV ++ ciphertext into a new buffer.
    pub fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut buf = data.to_vec();
        let len = self.decrypt_in_place(&mut buf)?.len();
        buf.drain(..buf.len() - len);
        Ok(buf)
    }
}

/// oauth2-proxy's signed cookie value:
/// `B64(payload) "|" unix_seconds "|" B64(HMAC-SHA256(secret string, name ++ B64(payload) ++ secs))`
/// with B64 = URL-safe base64 with padding. The keyed HMAC state is computed once and cloned per
/// use, so verifying costs two SHA-256 compressions plus the message.
#[derive(Clone)]
pub struct ValueSigner {
    mac: HmacSha256,
}

impl fmt::Debug for ValueSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ValueSigner([redacted])")
    }
}

/// The parts of a signed value whose MAC verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedParts<'a> {
    /// The payload, still base64 (URL-safe, padded).
    pub payload_b64: &'a str,
    /// The unix timestamp the signer wrote (the session's creation time).
    pub timestamp: i64,
    /// The verified MAC tag (a session cache key: equal tags mean the same signed value).
    pub tag: [u8; 32],
}

/// The MAC tag a signed value `payload|timestamp|signature` carries, unchecked: only a lookup
/// key (for a value verified before, see `session::cache`), never a proof.
pub fn signed_value_tag(value: &str) -> Option<[u8; 32]> {
    let (_, sig) = value.rsplit_once('|')?;
    let mut given = [0u8; 48];
    let n = URL_SAFE.decode_slice(sig.as_bytes(), &mut given).ok()?;
    given[..n].try_into().ok()
}

/// Why a signed value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signed value does not have the form payload|timestamp|signature")]
    Malformed,
    #[error("signature does not match (tampered, another secret, or another cookie name)")]
    BadSignature,
    #[error("signed timestamp is not an integer")]
    BadTimestamp,
}

impl ValueSigner {
    /// A signer keyed with the cookie secret's HMAC key (the configured string itself).
    pub fn new(secret: &CookieSecret) -> Self {
        Self {
            mac: <HmacSha256 as Mac>::new_from_slice(secret.hmac_key())
                .expect("HMAC accepts keys of any length"),
        }
    }

    fn tag(&self, cookie_name: &str, payload_b64: &str, ts: &str) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(cookie_name.as_bytes());
        mac.update(payload_b64.as_bytes());
        mac.update(ts.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Sign `payload` for the cookie `cookie_name` with timestamp `ts` (unix seconds).
    pub fn sign(&self, cookie_name: &str, payload: &[u8], ts: i64) -> String {
        let payload_b64 = b64url_padded(payload);
        let ts = ts.to_string();
        let tag = self.tag(cookie_name, &payload_b64, &ts);
        let mut out = String::with_capacity(payload_b64.len() + ts.len() + 46);
        out.push_str(&payload_b64);
        out.push('|');
        out.push_str(&ts);
        out.push('|');
        URL_SAFE.encode_string(tag, &mut out);
        out
    }

    /// Check the MAC (constant time) and return the payload and timestamp. The timestamp window
    /// is policy and is checked by the caller.
    pub fn verify<'a>(
        &self,
        cookie_name: &str,
        value: &'a str,
    ) -> Result<SignedParts<'a>, SignatureError> {
        let mut parts = value.split('|');
        let (Some(payload_b64), Some(ts), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SignatureError::Malformed);
        };
        let expected = self.tag(cookie_name, payload_b64, ts);
        // A 32-byte MAC is 44 padded base64 characters; decode on the stack.
        let mut given = [0u8; 48];
        let n = URL_SAFE
            .decode_slice(sig.as_bytes(), &mut given)
            .map_err(|_| SignatureError::BadSignature)?;
        if !ct_eq(&given[..n], &expected) {
            return Err(SignatureError::BadSignature);
        }
        // Parsed only after the MAC matched: nothing unauthenticated reaches the parser.
        let timestamp = ts
            .parse::<i64>()
            .map_err(|_| SignatureError::BadTimestamp)?;
        Ok(SignedParts {
            payload_b64,
            timestamp,
            tag: expected,
        })
    }
}

/// Version byte of [`seal`]'s output.
const SEAL_V1: u8 = 1;
const GCM_NONCE_LEN: usize = 12;
const GCM_TAG_LEN: usize = 16;

fn seal_cipher(secret: &CookieSecret, purpose: &str) -> aes_gcm::Aes256Gcm {
    // A separate key per purpose: a value sealed for one use can never be opened as another.
    let key = hmac_sha256(secret.hmac_key(), &[b"authproxy/", purpose.as_bytes()]);
    aes_gcm::Aes256Gcm::new(&key.into())
}

/// Encrypt and authenticate `plaintext` for `purpose` (AES-256-GCM, key =
/// HMAC-SHA256(secret, "authproxy/" + purpose)). Output: URL-safe base64 without padding of
/// `0x01 ++ nonce(12) ++ ciphertext ++ tag(16)`.
pub fn seal(secret: &CookieSecret, purpose: &str, plaintext: &[u8]) -> String {
    let nonce: [u8; GCM_NONCE_LEN] = random_bytes();
    let ct = seal_cipher(secret, purpose)
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: plaintext,
                aad: &[SEAL_V1],
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut raw = Vec::with_capacity(1 + GCM_NONCE_LEN + ct.len());
    raw.push(SEAL_V1);
    raw.extend_from_slice(&nonce);
    raw.extend_from_slice(&ct);
    b64url_nopad(&raw)
}

/// Open a value made by [`seal`] with the same secret and purpose.
pub fn open(secret: &CookieSecret, purpose: &str, sealed: &str) -> Result<Vec<u8>, CryptoError> {
    let raw = b64url_nopad_decode(sealed)?;
    let Some((&version, rest)) = raw.split_first() else {
        return Err(CryptoError::Truncated(0));
    };
    if version != SEAL_V1 {
        return Err(CryptoError::UnknownVersion(version));
    }
    if rest.len() < GCM_NONCE_LEN + GCM_TAG_LEN {
        return Err(CryptoError::Truncated(raw.len()));
    }
    let (nonce, ct) = rest.split_at(GCM_NONCE_LEN);
    seal_cipher(secret, purpose)
        .decrypt(
            nonce.into(),
            Payload {
                msg: ct,
                aad: &[version],
            },
        )
        .map_err(|_| CryptoError::Unauthentic)
}

/// A random request id for logs and error pages, when the request brings none.
pub fn request_id() -> String {
    // A random (version 4) UUID, as oauth2-proxy generates: xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx.
    let mut bytes = random_bytes::<16>();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// `n` random bytes as URL-safe base64 without padding (secrets for the demo, test fixtures).
pub fn random_urlsafe(n: usize) -> String {
    let mut buf = vec![0u8; n];
    fill_random(&mut buf);
    b64url_nopad(&buf)
}

#[cfg(test)]
mod tests;
