//! RS256 JWT signing for assertions authproxy makes itself (Google service accounts,
//! RFC 7523), with the RSA key from a PEM (`PRIVATE KEY` PKCS#8 or `RSA PRIVATE KEY`).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine as _;

/// An RSA private key that signs RS256 JWTs.
pub(crate) struct RsaSigner {
    key: KeyPair,
}

impl RsaSigner {
    /// Read the first private key of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let (label, der) = pem_block(pem).ok_or("no PEM private key block")?;
        let key = match label.as_str() {
            "PRIVATE KEY" => KeyPair::from_pkcs8(&der).map_err(|e| e.to_string())?,
            "RSA PRIVATE KEY" => KeyPair::from_der(&der).map_err(|e| e.to_string())?,
            other => return Err(format!("PEM block {other:?} is not an RSA private key")),
        };
        Ok(Self { key })
    }

    /// `BASE64URL(header).BASE64URL(claims).BASE64URL(signature)`.
    pub fn sign_jwt(
        &self,
        header: &serde_json::Value,
        claims: &serde_json::Value,
    ) -> Result<String, String> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|e| format!("RSA signing failed: {e}"))?;
        Ok(format!("{input}.{}", b64.encode(sig)))
    }
}

/// The label and DER bytes of the first `-----BEGIN …-----` block.
fn pem_block(pem: &str) -> Option<(String, Vec<u8>)> {
    let start = pem.find("-----BEGIN ")?;
    let rest = &pem[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----")?;
    let label = rest[..label_end].to_owned();
    let body = &rest[label_end + 5..];
    let end = body.find("-----END ")?;
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some((label, der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_a_jwt_that_verifies_with_the_public_key() {
        let pem = include_str!("../../tests/fixtures/fake-provider-rsa.pem");
        let s = RsaSigner::from_pem(pem).unwrap();
        let jwt = s
            .sign_jwt(
                &serde_json::json!({"alg": "RS256", "typ": "JWT"}),
                &serde_json::json!({"iss": "sa@example.iam.gserviceaccount.com"}),
            )
            .unwrap();
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .unwrap();
        let public = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            aws_lc_rs::signature::KeyPair::public_key(&s.key)
                .as_ref()
                .to_vec(),
        );
        public.verify(input.as_bytes(), &sig).unwrap();
        assert!(RsaSigner::from_pem("not pem").is_err());
    }
}
