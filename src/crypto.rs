//! The single seam for cryptography: secrets, ciphers, MACs, randomness and
//! constant-time comparison. No other module imports a crypto crate.

use std::fmt;

use base64::Engine as _;

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
        write!(f, "CookieSecret(AES-{}, [redacted])", self.aes_key.len() * 8)
    }
}

/// Why a cookie secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("cookie secret is empty; generate one with: openssl rand -base64 32 | tr -- '+/' '-_'")]
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
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed).ok();
        let std = base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed).ok();
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
