//! `oidc_public_key_files`: PEM public keys that verify ID tokens instead of a JWKS (with
//! `skip_oidc_discovery`), as oauth2-proxy v7 reads them: the first PEM block of each file, a
//! `PUBLIC KEY` (SubjectPublicKeyInfo) of an RSA, EC or Ed25519 key. authproxy also takes a
//! PKCS#1 `RSA PUBLIC KEY`. The keys carry no id: every key whose type fits the token's
//! algorithm is tried, as go-oidc's static key set does.

use std::path::Path;
use std::sync::Arc;

use jsonwebtoken::{DecodingKey, DecodingKeyKind};

use super::error::ProviderError;
use super::jwks::{KeyKind, KeySet};

/// One public key from PEM text (pure).
pub(crate) fn key_from_pem(pem: &str) -> Result<(KeyKind, DecodingKey), String> {
    let label = pem
        .find("-----BEGIN ")
        .map(|i| &pem[i + "-----BEGIN ".len()..])
        .and_then(|rest| rest.split_once("-----"))
        .map(|(label, _)| label.trim())
        .ok_or("no PEM block")?;
    if !matches!(label, "PUBLIC KEY" | "RSA PUBLIC KEY") {
        return Err(format!(
            "the PEM block is {label:?}, not a public key (PUBLIC KEY)"
        ));
    }
    let bytes = pem.as_bytes();
    if let Ok(k) = DecodingKey::from_rsa_pem(bytes) {
        return Ok((KeyKind::Rsa, k));
    }
    if let Ok(k) = DecodingKey::from_ec_pem(bytes) {
        // The subjectPublicKey of an EC key is the uncompressed point 04 || x || y.
        let kind = match k.kind() {
            DecodingKeyKind::SecretOrDer(point) if point.len() == 65 => KeyKind::P256,
            DecodingKeyKind::SecretOrDer(point) if point.len() == 97 => KeyKind::P384,
            _ => return Err("an EC key on a curve other than P-256 or P-384".into()),
        };
        return Ok((kind, k));
    }
    if let Ok(k) = DecodingKey::from_ed_pem(bytes) {
        return Ok((KeyKind::Ed25519, k));
    }
    Err("not an RSA, EC (P-256, P-384) or Ed25519 public key".into())
}

/// The key set of `oidc_public_key_files`.
pub(crate) fn load(files: &[impl AsRef<Path>]) -> Result<Arc<KeySet>, ProviderError> {
    let mut keys = Vec::with_capacity(files.len());
    for f in files {
        let f = f.as_ref();
        let text = std::fs::read_to_string(f).map_err(|e| ProviderError::Config {
            key: "oidc_public_key_files",
            message: format!("cannot read {}: {e}", f.display()),
        })?;
        let key = key_from_pem(&text).map_err(|e| ProviderError::Config {
            key: "oidc_public_key_files",
            message: format!("{}: {e}", f.display()),
        })?;
        keys.push(key);
    }
    Ok(Arc::new(KeySet::from_public_keys(keys)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_of_each_type_are_read_and_others_refused() {
        let rsa = include_str!("../../tests/fixtures/fake-provider-rsa.pub.pem");
        assert_eq!(key_from_pem(rsa).unwrap().0, KeyKind::Rsa);
        let ec = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQlJCLrzmVu4FHcWDa81oGVCflEKH\nojc4WKrrqSmHXqHd6OGlSckLbtRyT0Ecs2UUSuypJx5pHyQLyQKqUMFb6w==\n-----END PUBLIC KEY-----\n";
        assert_eq!(key_from_pem(ec).unwrap().0, KeyKind::P256);
        let ed = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAYjnh5/PM0vgG8T++Jf9CzXZ/+Vw/dniqDlFPUUzs+Vo=\n-----END PUBLIC KEY-----\n";
        assert_eq!(key_from_pem(ed).unwrap().0, KeyKind::Ed25519);
        let p521 = "-----BEGIN PUBLIC KEY-----\nMIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQATjfAEBunMcxg8OU/cNqxFNrzbzdR\nmAfag05ECHEiCTM3s1d27PwnPbCcIQi1Cr6/hKD2Dj91/NkQmhlIem6lX2gBoR54\nBkj359mwNOF1LuqtIWd1o4Cc7r5Bm+BGSNYQrO8Sz1xDJ63fQ3+cgiEtZ5OG0kSR\nn1qVkBO8PDHLcjn5vbM=\n-----END PUBLIC KEY-----\n";
        assert!(key_from_pem(p521).unwrap_err().contains("P-256 or P-384"));
        let private = include_str!("../../tests/fixtures/fake-provider-rsa.pem");
        assert!(key_from_pem(private)
            .unwrap_err()
            .contains("not a public key"));
        assert!(key_from_pem("hello").is_err());
        let garbage = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(key_from_pem(garbage).is_err());
    }
}
