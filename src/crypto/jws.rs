//! Keys that sign the JWTs authproxy issues itself (the identity assertion), and their public
//! halves as JSON Web Keys (RFC 7517) for `{proxy_prefix}/jwks.json`.
//!
//! * ES256 (ECDSA P-256 with SHA-256, RFC 7518 3.4): the signature is `r || s`, 64 bytes.
//! * RS256 (RSASSA-PKCS1-v1_5 with SHA-256): RSA keys of 2048 bits or more.
//!
//! Keys are read from PEM: `PRIVATE KEY` (PKCS#8, EC or RSA), `EC PRIVATE KEY` (SEC1, what
//! `openssl ecparam -genkey` writes), `RSA PRIVATE KEY` (PKCS#1), and, for keys that only
//! verify (a retired key still published during a rotation), `PUBLIC KEY` (SubjectPublicKeyInfo).
//! The key id (`kid`) is the key's RFC 7638 JWK thumbprint, so the same key always has the
//! same id, on every replica and after every restart.
//!
//! The crypto is aws-lc-rs, the library rustls and the JWT verifier already use: one
//! implementation of P-256 and RSA in the binary.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use rustls::pki_types::pem::{PemObject as _, SectionKind};
use serde_json::json;

/// A JWS signature algorithm authproxy signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Es256,
    Rs256,
}

impl Algorithm {
    /// The JOSE name (`ES256`, `RS256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Rs256 => "RS256",
        }
    }

    /// Parses `ES256` / `RS256` (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<Algorithm> {
        if s.eq_ignore_ascii_case("ES256") {
            Some(Algorithm::Es256)
        } else if s.eq_ignore_ascii_case("RS256") {
            Some(Algorithm::Rs256)
        } else {
            None
        }
    }
}

enum Secret {
    Ec(EcdsaKeyPair),
    Rsa(aws_lc_rs::rsa::KeyPair),
}

/// A key read from PEM: a private key (which can sign) or a public key (which only appears in
/// the JWKS).
pub struct JwsKey {
    alg: Algorithm,
    kid: String,
    /// The public JWK, rendered once.
    jwk: serde_json::Value,
    secret: Option<Secret>,
}

impl std::fmt::Debug for JwsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwsKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("private", &self.secret.is_some())
            .finish()
    }
}

/// DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1, a 66-byte BIT
/// STRING); the 65-byte uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Smallest RSA modulus accepted for RS256, in bytes (2048 bits).
const MIN_RSA_BYTES: usize = 256;

impl JwsKey {
    /// Every key in a PEM text, in order. Blocks that are not keys (a certificate) are
    /// skipped; a text without any key, an unreadable block or an unsupported key type (P-384,
    /// Ed25519, RSA under 2048 bits) is an error saying which.
    pub fn all_from_pem(pem: &[u8]) -> Result<Vec<JwsKey>, String> {
        let mut keys = Vec::new();
        for (i, section) in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem).enumerate() {
            let (kind, der) = section.map_err(|e| format!("PEM block {}: {e}", i + 1))?;
            let key = match kind {
                SectionKind::PrivateKey => Self::from_pkcs8(&der),
                SectionKind::EcPrivateKey => {
                    EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                        .map_err(|e| format!("not an EC P-256 private key ({e})"))
                        .and_then(Self::from_ec)
                }
                SectionKind::RsaPrivateKey => aws_lc_rs::rsa::KeyPair::from_der(&der)
                    .map_err(|e| format!("not a usable RSA private key ({e})"))
                    .and_then(Self::from_rsa),
                SectionKind::PublicKey => Self::from_spki(&der),
                _ => continue,
            };
            keys.push(key.map_err(|e| format!("PEM block {}: {e}", i + 1))?);
        }
        if keys.is_empty() {
            return Err("no PEM key block (PRIVATE KEY, EC PRIVATE KEY, RSA PRIVATE KEY or PUBLIC KEY) found".into());
        }
        Ok(keys)
    }

    /// A fresh ES256 key and its PKCS#8 PEM (the demo only: a production key comes from a
    /// file the operator manages).
    pub fn generate_es256() -> Result<(JwsKey, String), String> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|e| format!("cannot generate an ES256 key: {e}"))?;
        let der = doc.as_ref();
        let pem = pem_encode("PRIVATE KEY", der);
        Ok((Self::from_pkcs8(der)?, pem))
    }

    fn from_pkcs8(der: &[u8]) -> Result<JwsKey, String> {
        if let Ok(k) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            return Self::from_ec(k);
        }
        match aws_lc_rs::rsa::KeyPair::from_pkcs8(der) {
            Ok(k) => Self::from_rsa(k),
            Err(_) => Err("a PKCS#8 key that is neither EC P-256 nor RSA".into()),
        }
    }

    fn from_ec(k: EcdsaKeyPair) -> Result<JwsKey, String> {
        let mut key = Self::ec_public(k.public_key().as_ref())?;
        key.secret = Some(Secret::Ec(k));
        Ok(key)
    }

    fn from_rsa(k: aws_lc_rs::rsa::KeyPair) -> Result<JwsKey, String> {
        let public = k.public_key();
        let mut key = Self::rsa_public(
            public.modulus().big_endian_without_leading_zero(),
            public.exponent().big_endian_without_leading_zero(),
        )?;
        key.secret = Some(Secret::Rsa(k));
        Ok(key)
    }

    fn from_spki(der: &[u8]) -> Result<JwsKey, String> {
        if let Some(point) = der.strip_prefix(&P256_SPKI_PREFIX[..]) {
            return Self::ec_public(point);
        }
        let public = aws_lc_rs::rsa::PublicKey::from_der(der)
            .map_err(|_| "a public key that is neither EC P-256 nor RSA".to_owned())?;
        Self::rsa_public(
            public.modulus().big_endian_without_leading_zero(),
            public.exponent().big_endian_without_leading_zero(),
        )
    }

    /// From an uncompressed SEC1 point `0x04 || x || y`.
    fn ec_public(point: &[u8]) -> Result<JwsKey, String> {
        if point.len() != 65 || point[0] != 4 {
            return Err("not an uncompressed P-256 public key".into());
        }
        let x = super::b64url_nopad(&point[1..33]);
        let y = super::b64url_nopad(&point[33..65]);
        // RFC 7638 3.2: the required members in lexicographic order, no whitespace.
        let kid = thumbprint(&format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#
        ));
        Ok(JwsKey {
            alg: Algorithm::Es256,
            jwk: json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "use": "sig", "alg": "ES256", "kid": kid}),
            kid,
            secret: None,
        })
    }

    fn rsa_public(n: &[u8], e: &[u8]) -> Result<JwsKey, String> {
        if n.len() < MIN_RSA_BYTES {
            return Err(format!(
                "an RSA key of {} bits; RS256 needs 2048 bits or more",
                n.len() * 8
            ));
        }
        let n = super::b64url_nopad(n);
        let e = super::b64url_nopad(e);
        let kid = thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
        Ok(JwsKey {
            alg: Algorithm::Rs256,
            jwk: json!({"kty": "RSA", "n": n, "e": e, "use": "sig", "alg": "RS256", "kid": kid}),
            kid,
            secret: None,
        })
    }

    /// The algorithm this key signs (or verifies) with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id: the RFC 7638 thumbprint (base64url SHA-256).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Whether this is a private key (one that can sign).
    pub fn can_sign(&self) -> bool {
        self.secret.is_some()
    }

    /// The public key as a JWK (with `use`, `alg` and `kid`).
    pub fn public_jwk(&self) -> &serde_json::Value {
        &self.jwk
    }

    /// A compact JWS: `b64url(header).b64url(payload).b64url(signature)`, the header naming
    /// `alg`, `typ: JWT` and `kid`. `payload` is the claims JSON.
    pub fn sign_jwt(&self, payload: &[u8]) -> Result<String, String> {
        let header = format!(
            r#"{{"alg":"{}","kid":"{}","typ":"JWT"}}"#,
            self.alg.as_str(),
            self.kid
        );
        let mut out = super::b64url_nopad(header.as_bytes());
        out.push('.');
        out.push_str(&super::b64url_nopad(payload));
        let sig = self.sign(out.as_bytes())?;
        out.push('.');
        out.push_str(&super::b64url_nopad(&sig));
        Ok(out)
    }

    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, String> {
        let rng = SystemRandom::new();
        match &self.secret {
            None => Err("a public key cannot sign".into()),
            Some(Secret::Ec(k)) => k
                .sign(&rng, input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|e| format!("ES256 signing failed: {e}")),
            Some(Secret::Rsa(k)) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &rng,
                    input,
                    &mut sig,
                )
                .map_err(|e| format!("RS256 signing failed: {e}"))?;
                Ok(sig)
            }
        }
    }
}

fn thumbprint(canonical_jwk: &str) -> String {
    super::b64url_nopad(&super::sha256(canonical_jwk.as_bytes()))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = super::b64_std(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{
        UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256,
    };

    fn verify(key: &JwsKey, jwt: &str) -> serde_json::Value {
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let sig = crate::crypto::b64url_nopad_decode(sig).unwrap();
        let jwk = key.public_jwk();
        let d = |k: &str| crate::crypto::b64url_nopad_decode(jwk[k].as_str().unwrap()).unwrap();
        match key.algorithm() {
            Algorithm::Es256 => {
                let mut point = vec![4u8];
                point.extend(d("x"));
                point.extend(d("y"));
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .verify(input.as_bytes(), &sig)
                    .unwrap();
            }
            Algorithm::Rs256 => {
                let components = aws_lc_rs::signature::RsaPublicKeyComponents {
                    n: d("n"),
                    e: d("e"),
                };
                components
                    .verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &sig)
                    .unwrap();
            }
        }
        let header = input.split('.').next().unwrap();
        serde_json::from_slice(&crate::crypto::b64url_nopad_decode(header).unwrap()).unwrap()
    }

    #[test]
    fn a_generated_es256_key_round_trips_through_pem_and_signs() {
        let (key, pem) = JwsKey::generate_es256().unwrap();
        let again = JwsKey::all_from_pem(pem.as_bytes()).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].kid(), key.kid(), "the kid is the key's thumbprint");
        let jwt = key.sign_jwt(br#"{"sub":"a"}"#).unwrap();
        let header = verify(&again[0], &jwt);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], key.kid());
        assert_eq!(key.public_jwk()["crv"], "P-256");
        assert!(
            key.public_jwk().get("d").is_none(),
            "no private part in the JWK"
        );
    }

    #[test]
    fn rsa_keys_sign_rs256_and_public_keys_only_verify() {
        let pem = include_bytes!("../../tests/fixtures/fake-provider-rsa.pem");
        let keys = JwsKey::all_from_pem(pem).unwrap();
        let key = &keys[0];
        assert_eq!(key.algorithm(), Algorithm::Rs256);
        assert!(key.can_sign());
        let jwt = key.sign_jwt(b"{}").unwrap();
        assert_eq!(verify(key, &jwt)["alg"], "RS256");
        // The public half, as SPKI PEM, has the same kid and cannot sign.
        let spki = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(
            aws_lc_rs::signature::KeyPair::public_key(match &key.secret {
                Some(Secret::Rsa(k)) => k,
                _ => unreachable!(),
            }),
        )
        .unwrap();
        let public =
            JwsKey::all_from_pem(pem_encode("PUBLIC KEY", spki.as_ref()).as_bytes()).unwrap();
        assert_eq!(public[0].kid(), key.kid());
        assert!(!public[0].can_sign());
        assert!(public[0].sign_jwt(b"{}").is_err());
    }

    #[test]
    fn ec_public_keys_are_read_from_spki() {
        let (key, _) = JwsKey::generate_es256().unwrap();
        let jwk = key.public_jwk();
        let d = |k: &str| crate::crypto::b64url_nopad_decode(jwk[k].as_str().unwrap()).unwrap();
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.push(4);
        spki.extend(d("x"));
        spki.extend(d("y"));
        let public = JwsKey::all_from_pem(pem_encode("PUBLIC KEY", &spki).as_bytes()).unwrap();
        assert_eq!(public[0].kid(), key.kid());
        assert_eq!(public[0].algorithm(), Algorithm::Es256);
    }

    #[test]
    fn several_blocks_are_read_in_order_and_bad_input_is_refused() {
        let (a, pa) = JwsKey::generate_es256().unwrap();
        let (b, pb) = JwsKey::generate_es256().unwrap();
        let both = JwsKey::all_from_pem(format!("{pa}{pb}").as_bytes()).unwrap();
        assert_eq!([both[0].kid(), both[1].kid()], [a.kid(), b.kid()]);
        assert!(JwsKey::all_from_pem(b"")
            .unwrap_err()
            .contains("no PEM key block"));
        assert!(JwsKey::all_from_pem(b"hello").is_err());
        let garbage = pem_encode("PRIVATE KEY", b"not a key");
        assert!(JwsKey::all_from_pem(garbage.as_bytes())
            .unwrap_err()
            .contains("PEM block 1"));
        assert_eq!(Algorithm::parse("es256"), Some(Algorithm::Es256));
        assert_eq!(Algorithm::parse("HS256"), None);
    }
}
