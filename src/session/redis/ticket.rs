//! The session ticket of oauth2-proxy v7's server-side session stores
//! (pkg/sessions/persistence/ticket.go), byte for byte:
//!
//! ```text
//! ticket id     = <cookie_name> "-" hex(16 random bytes)         (also the Redis key)
//! ticket secret = 16 random bytes                                 (AES-128-GCM key)
//! cookie value  = signed("v2." b64(id) "." b64(secret))           (b64 = URL-safe, no padding)
//! signed(v)     = B64(v) "|" created_at_unix "|" B64(HMAC-SHA256(cookie_secret, name ++ B64(v) ++ ts))
//! Redis value   = nonce(12) ++ AES-GCM(secret, msgpack(session)) ++ tag(16)   (no LZ4)
//! ```
//!
//! `signed` is the cookie store's signed value (B64 = URL-safe with padding), timestamped with
//! the session's creation time and checked against `cookie_expire` on the way in. Pure code.

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::crypto::{self, CookieSecret, ValueSigner};
use crate::session::msgpack::{session_from_msgpack, session_to_msgpack_with_created};
use crate::session::{check_timestamp, unix_secs, SessionError, SessionState};

/// Length of the random part of the ticket id, and of the ticket secret (Go's `aes.BlockSize`).
const RANDOM_LEN: usize = 16;

/// A decoded session ticket: the Redis key and the session's own encryption key.
#[derive(Clone, PartialEq, Eq)]
pub struct Ticket {
    id: String,
    secret: Vec<u8>,
}

impl fmt::Debug for Ticket {
    // The id alone opens nothing, but it names a live session: show it; never the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// Why a ticket cookie was refused. None carries cookie content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("ticket cookie: {0}")]
    Cookie(SessionError),
    #[error("ticket does not have the form v2.<id>.<secret> (or the older <id>.<secret>)")]
    Malformed,
    #[error("ticket {0} is not valid unpadded URL-safe base64")]
    NotBase64(&'static str),
    #[error("ticket id is not UTF-8")]
    IdNotUtf8,
    #[error("ticket secret is {0} bytes; an AES key is 16, 24 or 32")]
    BadSecretLength(usize),
}

impl Ticket {
    /// A fresh ticket for `cookie_name` (oauth2-proxy's `newTicket`).
    pub fn new(cookie_name: &str) -> Self {
        let raw: [u8; RANDOM_LEN] = crypto::random_bytes();
        let mut id = String::with_capacity(cookie_name.len() + 1 + 2 * RANDOM_LEN);
        id.push_str(cookie_name);
        id.push('-');
        for b in raw {
            id.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            id.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        Self {
            id,
            secret: crypto::random_bytes::<RANDOM_LEN>().to_vec(),
        }
    }

    /// A ticket from its parts (tests, and vectors written by other implementations).
    pub fn from_parts(id: String, secret: Vec<u8>) -> Result<Self, TicketError> {
        if !matches!(secret.len(), 16 | 24 | 32) {
            return Err(TicketError::BadSecretLength(secret.len()));
        }
        Ok(Self { id, secret })
    }

    /// The Redis key of the session.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key of the refresh lock (oauth2-proxy: `<ticket id>.lock`).
    pub fn lock_key(&self) -> String {
        format!("{}.lock", self.id)
    }

    /// The unsigned ticket string, `v2.<b64 id>.<b64 secret>`.
    pub fn encode(&self) -> String {
        format!(
            "v2.{}.{}",
            crypto::b64url_nopad(self.id.as_bytes()),
            crypto::b64url_nopad(&self.secret)
        )
    }

    /// Parse the unsigned ticket string: `v2.<b64 id>.<b64 secret>`, or the pre-v2 form
    /// `<id>.<b64 secret>` that oauth2-proxy still reads.
    pub fn decode(s: &str) -> Result<Self, TicketError> {
        let mut parts = s.split('.');
        let (a, b, c, rest) = (parts.next(), parts.next(), parts.next(), parts.next());
        let (id, secret_b64) = match (a, b, c, rest) {
            (Some("v2"), Some(id_b64), Some(secret_b64), None) => {
                let id = crypto::b64url_nopad_decode(id_b64)
                    .map_err(|_| TicketError::NotBase64("id"))?;
                (
                    String::from_utf8(id).map_err(|_| TicketError::IdNotUtf8)?,
                    secret_b64,
                )
            }
            (Some(id), Some(secret_b64), None, None) => (id.to_owned(), secret_b64),
            _ => return Err(TicketError::Malformed),
        };
        let secret = crypto::b64url_nopad_decode(secret_b64)
            .map_err(|_| TicketError::NotBase64("secret"))?;
        Self::from_parts(id, secret)
    }

    /// The Redis value for `session`: AES-GCM of its msgpack form under the ticket secret.
    /// `created` is written as `ca` (the caller passes `created_at`, or now for a new session).
    pub fn seal_session(
        &self,
        session: &SessionState,
        created: SystemTime,
    ) -> Result<Vec<u8>, SessionError> {
        let packed = session_to_msgpack_with_created(session, created)?;
        crypto::gcm_encrypt(&self.secret, &packed)
            .map_err(|e| SessionError::Encode(format!("AES-GCM: {e}")))
    }

    /// The session in a Redis value written with this ticket (by authproxy or oauth2-proxy).
    pub fn open_session(&self, value: &[u8]) -> Result<SessionState, SessionError> {
        let packed = crypto::gcm_decrypt(&self.secret, value)
            .map_err(|_| SessionError::Decode("stored session fails AES-GCM authentication"))?;
        session_from_msgpack(&packed)
    }
}

/// Signs and reads ticket cookies for one cookie name, with key rotation: values are signed
/// with the first (current) secret and accepted under any of them.
#[derive(Clone, Debug)]
pub struct TicketCodec {
    signers: Vec<ValueSigner>,
    cookie_name: String,
    expire: Duration,
}

impl TicketCodec {
    /// `secrets[0]` signs; every one verifies. `expire` is `cookie_expire` (zero = no
    /// lifetime limit, as oauth2-proxy). An empty list is refused.
    pub fn new(
        secrets: &[CookieSecret],
        cookie_name: &str,
        expire: Duration,
    ) -> Result<Self, crate::crypto::SecretError> {
        if secrets.is_empty() {
            return Err(crate::crypto::SecretError::Empty);
        }
        Ok(Self {
            signers: secrets.iter().map(ValueSigner::new).collect(),
            cookie_name: cookie_name.to_owned(),
            expire,
        })
    }

    /// The cookie name (also the ticket id prefix).
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// `cookie_expire`: the Redis TTL of sessions and the cookie lifetime.
    pub fn expire(&self) -> Duration {
        self.expire
    }

    /// The signed cookie value carrying `ticket`, timestamped `created` (the session's
    /// `created_at`, as oauth2-proxy's `setCookie`).
    pub fn cookie_value(&self, ticket: &Ticket, created: SystemTime) -> String {
        self.signers[0].sign(
            &self.cookie_name,
            ticket.encode().as_bytes(),
            unix_secs(created),
        )
    }

    /// Verify a ticket cookie (MAC under any secret, in constant time; then the timestamp
    /// window) and decode the ticket.
    pub fn read_cookie(&self, value: &str, now: SystemTime) -> Result<Ticket, TicketError> {
        let mut last = SessionError::BadSignature;
        for signer in &self.signers {
            match signer.verify(&self.cookie_name, value) {
                Ok(parts) => {
                    check_timestamp(parts.timestamp, now, self.expire)
                        .map_err(TicketError::Cookie)?;
                    let mut raw = Vec::with_capacity(parts.payload_b64.len());
                    crypto::b64url_padded_decode_into(parts.payload_b64, &mut raw)
                        .map_err(|_| TicketError::Cookie(SessionError::PayloadNotBase64))?;
                    let s = std::str::from_utf8(&raw).map_err(|_| TicketError::Malformed)?;
                    return Ticket::decode(s);
                }
                Err(e) => {
                    last = e.into();
                    if last != SessionError::BadSignature {
                        // Malformed: no other secret will change that.
                        break;
                    }
                }
            }
        }
        Err(TicketError::Cookie(last))
    }
}
