//! `signature_key` (deprecated in oauth2-proxy): the GAP-Signature of requests to the app.

use super::super::*;
use super::ctx::Ctx;

pub(super) fn signature(c: &mut Ctx) -> Option<SignatureConfig> {
    let raw = c.string("signature_key");
    if raw.is_empty() {
        return None;
    }
    c.warn("signature_key is deprecated (as in oauth2-proxy, which will remove it): GAP-Signature request signing");
    let max_body = c.int("signature_max_body_bytes");
    let max_body_bytes = match usize::try_from(max_body) {
        Ok(n) => n,
        Err(_) => {
            c.fail(
                "signature_max_body_bytes",
                format!("{max_body} must not be negative"),
            );
            0
        }
    };
    // oauth2-proxy splits at every ':' and wants exactly two parts.
    let parts: Vec<&str> = raw.split(':').collect();
    let [name, key] = parts[..] else {
        c.fail(
            "signature_key",
            "must be ALGORITHM:SECRET with exactly one ':' (invalid signature hash:key spec)",
        );
        return None;
    };
    let Some(algorithm) = SignatureAlgorithm::ALL
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, a)| *a)
    else {
        let names: Vec<&str> = SignatureAlgorithm::ALL.iter().map(|(n, _)| *n).collect();
        c.fail(
            "signature_key",
            format!(
                "unsupported signature hash algorithm {name:?}: one of {} (lower case)",
                names.join(", ")
            ),
        );
        return None;
    };
    if key.is_empty() {
        // oauth2-proxy accepts an empty secret, which makes every signature computable by
        // anyone: refused here.
        c.fail(
            "signature_key",
            "the secret after ':' is empty: anyone could compute the GAP-Signature (oauth2-proxy accepts it; authproxy does not)",
        );
        return None;
    }
    Some(SignatureConfig {
        algorithm,
        key: crate::crypto::Secret::new(key),
        max_body_bytes,
    })
}
