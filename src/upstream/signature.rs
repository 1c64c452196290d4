//! `signature_key` (deprecated in oauth2-proxy, kept for apps that still verify it): requests
//! to http(s) and unix-socket upstreams carry `GAP-Auth` (the user) and `GAP-Signature`, an
//! HMAC of the request computed the way oauth2-proxy's `hmacauth` package computes it, so an
//! app's existing verifier keeps accepting them:
//!
//! ```text
//! METHOD "\n"
//! one line per signed header, in this order, its values joined with "," (empty if absent):
//!   Content-Length, Content-Md5, Content-Type, Date, Authorization, X-Forwarded-User,
//!   X-Forwarded-Email, X-Forwarded-Preferred-User, X-Forwarded-Access-Token, Cookie, Gap-Auth
//! PATH ["?" RAW_QUERY] "\n"        (PATH percent-decoded, as Go's URL.Path)
//! BODY
//! ```
//!
//! and the header value is `ALGORITHM BASE64(HMAC(secret, that))` (standard base64 with
//! padding). oauth2-proxy signs the request as it received it; authproxy signs the request
//! it sends (after the identity headers are set, `Content-Length` as sent), which is what the
//! app sees and verifies. Hand-rolled string-to-sign because compatibility with that Go
//! package's exact byte layout is the point; the MACs are RustCrypto's.

use ::http::header::{HeaderMap, HeaderName, HeaderValue};
use ::http::Method;
use base64::Engine as _;
use hmac::digest::KeyInit;
use hmac::{Mac, SimpleHmac};

use crate::config::{SignatureAlgorithm, SignatureConfig};

/// `GAP-Signature`.
pub(super) static GAP_SIGNATURE: HeaderName = HeaderName::from_static("gap-signature");
/// `GAP-Auth`.
pub(super) static GAP_AUTH: HeaderName = HeaderName::from_static("gap-auth");

/// The headers oauth2-proxy signs, in its order.
const SIGNED_HEADERS: [&str; 11] = [
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "authorization",
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-preferred-user",
    "x-forwarded-access-token",
    "cookie",
    "gap-auth",
];

/// The configured signer: algorithm, secret, and the largest body read to sign it.
#[derive(Clone, Debug)]
pub struct Signer {
    algorithm: SignatureAlgorithm,
    key: crate::crypto::Secret,
    /// `signature_max_body_bytes`.
    pub(super) max_body_bytes: usize,
}

impl Signer {
    pub fn new(cfg: &SignatureConfig) -> Self {
        Self {
            algorithm: cfg.algorithm,
            key: cfg.key.clone(),
            max_body_bytes: cfg.max_body_bytes,
        }
    }

    /// The `GAP-Signature` value of a request with these parts (`raw_path` as sent on the
    /// request line, decoded here).
    pub(super) fn sign(
        &self,
        method: &Method,
        headers: &HeaderMap,
        raw_path: &str,
        raw_query: Option<&str>,
        body: &[u8],
    ) -> HeaderValue {
        let mut data = string_to_sign(method, headers, raw_path, raw_query);
        data.extend_from_slice(body);
        let key = self.key.expose().as_bytes();
        let mac = match self.algorithm {
            SignatureAlgorithm::Md5 => hmac_of::<md5::Md5>(key, &data),
            SignatureAlgorithm::Sha1 => hmac_of::<sha1::Sha1>(key, &data),
            SignatureAlgorithm::Sha224 => hmac_of::<sha2::Sha224>(key, &data),
            SignatureAlgorithm::Sha256 => hmac_of::<sha2::Sha256>(key, &data),
            SignatureAlgorithm::Sha384 => hmac_of::<sha2::Sha384>(key, &data),
            SignatureAlgorithm::Sha512 => hmac_of::<sha2::Sha512>(key, &data),
        };
        let value = format!(
            "{} {}",
            self.algorithm.name(),
            base64::engine::general_purpose::STANDARD.encode(mac)
        );
        // Only ASCII letters, digits, '+', '/', '=' and one space: always a valid value.
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// Reads the request body (at most `signature_max_body_bytes`), sets `Content-Length` to
/// what is sent, `GAP-Auth` to the user (empty without a session, as oauth2-proxy does) and
/// `GAP-Signature`; returns the body to send.
pub(super) async fn sign_request<B>(
    signer: &Signer,
    parts: &mut ::http::request::Parts,
    body: B,
    gap_auth: Option<&str>,
) -> Result<bytes::Bytes, super::UpstreamError>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + Unpin + 'static,
    B::Error: Into<crate::BoxError>,
{
    use http_body_util::BodyExt as _;
    let too_large = super::UpstreamError::BodyTooLarge {
        limit: signer.max_body_bytes,
    };
    let declared = parts
        .headers
        .get(::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(signer.max_body_bytes).unwrap_or(u64::MAX)) {
        return Err(too_large);
    }
    let body = match http_body_util::Limited::new(body, signer.max_body_bytes)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large),
        Err(_) => {
            return Err(super::UpstreamError::BadRequest {
                reason: "the request body could not be read to sign it",
            })
        }
    };
    // The signed Content-Length must be the one the app receives: set it whenever a length
    // goes on the wire (hyper would add one for a non-empty body anyway).
    let has_payload_semantics = matches!(parts.method, Method::POST | Method::PUT | Method::PATCH);
    if !body.is_empty()
        || has_payload_semantics
        || parts.headers.contains_key(::http::header::CONTENT_LENGTH)
    {
        parts.headers.insert(
            ::http::header::CONTENT_LENGTH,
            HeaderValue::from(body.len()),
        );
    }
    let user = gap_auth
        .and_then(|u| HeaderValue::from_str(u).ok())
        .unwrap_or_else(|| HeaderValue::from_static(""));
    parts.headers.insert(GAP_AUTH.clone(), user);
    let sig = signer.sign(
        &parts.method,
        &parts.headers,
        parts.uri.path(),
        parts.uri.query(),
        &body,
    );
    parts.headers.insert(GAP_SIGNATURE.clone(), sig);
    Ok(body)
}

fn hmac_of<D>(key: &[u8], data: &[u8]) -> Vec<u8>
where
    D: hmac::digest::Digest + hmac::digest::core_api::BlockSizeUser,
{
    // HMAC accepts keys of any length: this never fails.
    let Ok(mut mac) = <SimpleHmac<D> as KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The text oauth2-proxy's `hmacauth.StringToSign` builds (bytes: header values and the
/// decoded path need not be UTF-8).
pub(super) fn string_to_sign(
    method: &Method,
    headers: &HeaderMap,
    raw_path: &str,
    raw_query: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b'\n');
    for name in SIGNED_HEADERS {
        for (i, value) in headers.get_all(name).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(value.as_bytes());
        }
        out.push(b'\n');
    }
    out.extend(percent_encoding::percent_decode_str(raw_path));
    if let Some(q) = raw_query.filter(|q| !q.is_empty()) {
        out.push(b'?');
        out.extend_from_slice(q.as_bytes());
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(alg: SignatureAlgorithm, key: &str) -> Signer {
        Signer {
            algorithm: alg,
            key: crate::crypto::Secret::new(key),
            max_body_bytes: 1024,
        }
    }

    fn headers(list: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in list {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn string_to_sign_has_oauth2_proxys_layout() {
        let h = headers(&[
            ("content-type", "application/json"),
            ("x-forwarded-user", "alice"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
            ("gap-auth", "alice@example.com"),
            ("x-unsigned", "ignored"),
        ]);
        let s = string_to_sign(&Method::POST, &h, "/a%20b/c", Some("x=1&y=%2F"));
        assert_eq!(
            String::from_utf8(s).unwrap(),
            "POST\n\n\napplication/json\n\n\nalice\n\n\n\na=1,b=2\nalice@example.com\n/a b/c?x=1&y=%2F\n"
        );
        let s = string_to_sign(&Method::GET, &HeaderMap::new(), "/", Some(""));
        assert_eq!(
            String::from_utf8(s).unwrap(),
            format!("GET\n{}/\n", "\n".repeat(11))
        );
    }

    // Vectors computed independently by tests/vectors/gap_signature.py (Python's hmac and
    // hashlib over the layout above).
    #[test]
    fn signatures_match_the_independent_python_vectors() {
        let h = headers(&[
            ("content-length", "11"),
            ("content-type", "text/plain"),
            ("x-forwarded-user", "alice"),
            ("x-forwarded-email", "alice@example.com"),
            ("gap-auth", "alice@example.com"),
        ]);
        let cases = [
            (
                SignatureAlgorithm::Sha256,
                include_str!("../../tests/vectors/gap_signature.sha256.txt"),
            ),
            (
                SignatureAlgorithm::Sha1,
                include_str!("../../tests/vectors/gap_signature.sha1.txt"),
            ),
            (
                SignatureAlgorithm::Md5,
                include_str!("../../tests/vectors/gap_signature.md5.txt"),
            ),
            (
                SignatureAlgorithm::Sha512,
                include_str!("../../tests/vectors/gap_signature.sha512.txt"),
            ),
        ];
        for (alg, expected) in cases {
            let sig = signer(alg, "s3cr3t").sign(
                &Method::POST,
                &h,
                "/upload/a%2Fb",
                Some("q=1;x=2"),
                b"hello world",
            );
            assert_eq!(sig.to_str().unwrap(), expected.trim(), "{alg:?}");
        }
    }
}
