//! The session's msgpack map, byte-compatible with oauth2-proxy v7 (keys in its struct order,
//! empty fields omitted, timestamps as msgpack extension -1), and the msgpack readers the other
//! session formats (state, CSRF) share.

use std::collections::BTreeMap;
use std::time::SystemTime;

use rmpv::{Utf8StringRef, ValueRef};

use super::{from_unix, unix_nanos, unix_secs, SessionError, SessionState};

/// msgpack extension type of timestamps.
const TIMESTAMP_EXT: i8 = -1;

/// The session as oauth2-proxy's msgpack map (keys in its struct order, empty fields omitted),
/// without compression or encryption (the Redis store's inner format).
pub fn session_to_msgpack(s: &SessionState) -> Result<Vec<u8>, SessionError> {
    match s.created_at {
        Some(c) => session_to_msgpack_with_created(s, c),
        None => encode_map(s, None),
    }
}

/// [`session_to_msgpack`] with `ca` = `created` (the Redis store writes the creation time it
/// also signs into the ticket cookie).
pub fn session_to_msgpack_with_created(
    s: &SessionState,
    created: SystemTime,
) -> Result<Vec<u8>, SessionError> {
    encode_map(s, Some(created))
}

fn string(v: &str) -> ValueRef<'_> {
    ValueRef::String(Utf8StringRef::from(v))
}

fn encode_map(s: &SessionState, created: Option<SystemTime>) -> Result<Vec<u8>, SessionError> {
    let mut ca_buf = [0u8; 12];
    let mut eo_buf = [0u8; 12];
    // Declared before `map`, which borrows it.
    let claims = rmpv::Value::Map(
        s.additional_claims
            .iter()
            .map(|(k, v)| (rmpv::Value::from(k.as_str()), v.clone()))
            .collect(),
    );
    let mut map: Vec<(ValueRef<'_>, ValueRef<'_>)> = Vec::with_capacity(11);
    let key = |k: &'static str| ValueRef::String(Utf8StringRef::from(k));
    if let Some(t) = created {
        map.push((
            key("ca"),
            ValueRef::Ext(TIMESTAMP_EXT, encode_time(t, &mut ca_buf)),
        ));
    }
    if let Some(t) = s.expires_on {
        map.push((
            key("eo"),
            ValueRef::Ext(TIMESTAMP_EXT, encode_time(t, &mut eo_buf)),
        ));
    }
    for (k, v) in [
        ("at", &s.access_token),
        ("it", &s.id_token),
        ("rt", &s.refresh_token),
    ] {
        if !v.is_empty() {
            map.push((key(k), string(v)));
        }
    }
    if !s.nonce.is_empty() {
        map.push((key("n"), ValueRef::Binary(&s.nonce)));
    }
    for (k, v) in [("e", &s.email), ("u", &s.user)] {
        if !v.is_empty() {
            map.push((key(k), string(v)));
        }
    }
    if !s.groups.is_empty() {
        let groups = s.groups.iter().map(|g| string(g)).collect();
        map.push((key("g"), ValueRef::Array(groups)));
    }
    if !s.preferred_username.is_empty() {
        map.push((key("pu"), string(&s.preferred_username)));
    }
    if !s.additional_claims.is_empty() {
        map.push((key("ac"), claims.as_ref()));
    }
    let mut out = Vec::with_capacity(256);
    rmpv::encode::write_value_ref(&mut out, &ValueRef::Map(map))
        .map_err(|e| SessionError::Encode(format!("msgpack: {e}")))?;
    Ok(out)
}

/// The msgpack timestamp extension body exactly as Go's vmihailenco/msgpack writes it:
/// 4 bytes (u32 seconds) when there are no nanoseconds and seconds fit 32 bits, 8 bytes
/// (30-bit nanoseconds, 34-bit seconds) when seconds fit 34 bits, else 12 bytes (u32 nanoseconds,
/// i64 seconds).
pub(crate) fn encode_time(t: SystemTime, buf: &mut [u8; 12]) -> &[u8] {
    let secs = unix_secs(t);
    let nanos = (unix_nanos(t) - i128::from(secs) * 1_000_000_000) as u64;
    let usecs = secs as u64;
    if usecs >> 34 == 0 {
        let data = (nanos << 34) | usecs;
        if data & 0xffff_ffff_0000_0000 == 0 {
            buf[..4].copy_from_slice(&(data as u32).to_be_bytes());
            return &buf[..4];
        }
        buf[..8].copy_from_slice(&data.to_be_bytes());
        return &buf[..8];
    }
    buf[..4].copy_from_slice(&(nanos as u32).to_be_bytes());
    buf[4..12].copy_from_slice(&secs.to_be_bytes());
    &buf[..12]
}

/// Decode any of the three timestamp extension forms.
pub(crate) fn decode_time_ext(data: &[u8]) -> Result<SystemTime, SessionError> {
    let bad = SessionError::Decode("timestamp out of range");
    let (secs, nanos) = match data.len() {
        4 => (i64::from(u32::from_be_bytes(arr(data)?)), 0u64),
        8 => {
            let d = u64::from_be_bytes(arr(data)?);
            ((d & 0x3_ffff_ffff) as i64, d >> 34)
        }
        12 => {
            let n = u32::from_be_bytes(arr(&data[..4])?);
            (i64::from_be_bytes(arr(&data[4..])?), u64::from(n))
        }
        _ => {
            return Err(SessionError::Decode(
                "timestamp extension is not 4, 8 or 12 bytes",
            ))
        }
    };
    from_unix(secs, nanos).ok_or(bad)
}

fn arr<const N: usize>(b: &[u8]) -> Result<[u8; N], SessionError> {
    b.try_into()
        .map_err(|_| SessionError::Decode("timestamp has the wrong length"))
}

/// A timestamp field: the extension type, vmihailenco/msgpack's legacy `[secs, nanos]` array, or
/// nil.
pub(crate) fn decode_time(v: &ValueRef<'_>) -> Result<Option<SystemTime>, SessionError> {
    match v {
        ValueRef::Nil => Ok(None),
        ValueRef::Ext(TIMESTAMP_EXT, data) => decode_time_ext(data).map(Some),
        ValueRef::Array(items) if items.len() == 2 => {
            let secs = ref_i64(&items[0]).ok_or(SessionError::Decode(
                "legacy timestamp seconds is not an integer",
            ))?;
            let nanos = ref_u64(&items[1]).ok_or(SessionError::Decode(
                "legacy timestamp nanoseconds is not an integer",
            ))?;
            from_unix(secs, nanos)
                .map(Some)
                .ok_or(SessionError::Decode("timestamp out of range"))
        }
        _ => Err(SessionError::Decode("timestamp field has the wrong type")),
    }
}

/// A string map key or value, borrowed.
pub(crate) fn ref_str<'a>(v: &'a ValueRef<'_>) -> Option<&'a str> {
    match v {
        ValueRef::String(s) => s.as_str(),
        _ => None,
    }
}

/// Any msgpack integer that fits an `i64`.
pub(crate) fn ref_i64(v: &ValueRef<'_>) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => i.as_i64(),
        _ => None,
    }
}

/// Any msgpack integer that fits a `u64`.
pub(crate) fn ref_u64(v: &ValueRef<'_>) -> Option<u64> {
    match v {
        ValueRef::Integer(i) => i.as_u64(),
        _ => None,
    }
}

pub(crate) fn decode_str(v: &ValueRef<'_>, what: &'static str) -> Result<String, SessionError> {
    match v {
        ValueRef::Nil => Ok(String::new()),
        ValueRef::String(s) => s
            .as_str()
            .map(str::to_owned)
            .ok_or(SessionError::Decode(what)),
        // Go decodes a []byte-typed value into a string field too.
        ValueRef::Binary(b) => std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| SessionError::Decode(what)),
        _ => Err(SessionError::Decode(what)),
    }
}

pub(crate) fn decode_bytes(v: &ValueRef<'_>, what: &'static str) -> Result<Vec<u8>, SessionError> {
    match v {
        ValueRef::Nil => Ok(Vec::new()),
        ValueRef::Binary(b) => Ok(b.to_vec()),
        ValueRef::String(s) => Ok(s.as_bytes().to_vec()),
        _ => Err(SessionError::Decode(what)),
    }
}

/// Parse a top-level msgpack map, rejecting trailing bytes.
pub(crate) fn read_map(buf: &[u8]) -> Result<Vec<(ValueRef<'_>, ValueRef<'_>)>, SessionError> {
    let mut rd = buf;
    let v = rmpv::decode::read_value_ref_with_max_depth(&mut rd, 32)
        .map_err(|_| SessionError::Decode("not valid msgpack"))?;
    if !rd.is_empty() {
        return Err(SessionError::Decode("trailing bytes after the msgpack map"));
    }
    match v {
        ValueRef::Map(m) => Ok(m),
        _ => Err(SessionError::Decode("top-level value is not a map")),
    }
}

/// Decode oauth2-proxy's session map. Unknown keys are ignored (newer writers may add fields);
/// every known key must have its type.
pub fn session_from_msgpack(buf: &[u8]) -> Result<SessionState, SessionError> {
    let mut s = SessionState::default();
    for (k, v) in read_map(buf)? {
        let Some(k) = ref_str(&k) else {
            return Err(SessionError::Decode("map key is not a string"));
        };
        match k {
            "ca" => s.created_at = decode_time(&v)?,
            "eo" => s.expires_on = decode_time(&v)?,
            "at" => s.access_token = decode_str(&v, "at is not a string")?,
            "it" => s.id_token = decode_str(&v, "it is not a string")?,
            "rt" => s.refresh_token = decode_str(&v, "rt is not a string")?,
            "n" => s.nonce = decode_bytes(&v, "n is not bytes")?,
            "e" => s.email = decode_str(&v, "e is not a string")?,
            "u" => s.user = decode_str(&v, "u is not a string")?,
            "pu" => s.preferred_username = decode_str(&v, "pu is not a string")?,
            "g" => {
                s.groups = match &v {
                    ValueRef::Nil => Vec::new(),
                    ValueRef::Array(items) => items
                        .iter()
                        .map(|g| decode_str(g, "g holds a non-string"))
                        .collect::<Result<_, _>>()?,
                    _ => return Err(SessionError::Decode("g is not an array")),
                }
            }
            "ac" => {
                s.additional_claims = match &v {
                    ValueRef::Nil => BTreeMap::new(),
                    ValueRef::Map(entries) => entries
                        .iter()
                        .map(|(ck, cv)| match ck {
                            ValueRef::String(ck) => ck
                                .as_str()
                                .map(|ck| (ck.to_owned(), cv.to_owned()))
                                .ok_or(SessionError::Decode("ac key is not UTF-8")),
                            _ => Err(SessionError::Decode("ac key is not a string")),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => return Err(SessionError::Decode("ac is not a map")),
                }
            }
            _ => {}
        }
    }
    Ok(s)
}
