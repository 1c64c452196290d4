//! AES-GCM under a raw key, as oauth2-proxy's `encryption.NewGCMCipher` (Go's `cipher.NewGCM`):
//! a random 12-byte nonce, no associated data, output `nonce(12) ++ ciphertext ++ tag(16)`.
//! Its Redis session store encrypts each stored session this way under the session's own
//! 16-byte ticket secret (so AES-128; 24 and 32-byte keys work too, as in Go).

use aes::cipher::KeyInit;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::Aead;

use super::{random_bytes, CryptoError};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

type Aes192Gcm = aes_gcm::AesGcm<aes::Aes192, U12>;

/// Encrypt `plaintext` under `key` (16, 24 or 32 bytes) with a fresh random nonce.
pub fn gcm_encrypt(key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let nonce: [u8; NONCE_LEN] = random_bytes();
    let ct = match key.len() {
        16 => seal::<aes_gcm::Aes128Gcm>(key, &nonce, plaintext),
        24 => seal::<Aes192Gcm>(key, &nonce, plaintext),
        32 => seal::<aes_gcm::Aes256Gcm>(key, &nonce, plaintext),
        n => Err(CryptoError::BadKeyLength(n)),
    }?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Open `nonce ++ ciphertext ++ tag` made by [`gcm_encrypt`] or by oauth2-proxy's GCM cipher.
pub fn gcm_decrypt(key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if !matches!(key.len(), 16 | 24 | 32) {
        return Err(CryptoError::BadKeyLength(key.len()));
    }
    if data.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Truncated(data.len()));
    }
    let (nonce, ct) = data.split_at(NONCE_LEN);
    match key.len() {
        16 => open::<aes_gcm::Aes128Gcm>(key, nonce, ct),
        24 => open::<Aes192Gcm>(key, nonce, ct),
        _ => open::<aes_gcm::Aes256Gcm>(key, nonce, ct),
    }
}

fn seal<C: KeyInit + Aead>(
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let cipher = C::new_from_slice(key).map_err(|_| CryptoError::BadKeyLength(key.len()))?;
    cipher
        .encrypt(nonce.as_slice().into(), plaintext)
        .map_err(|_| CryptoError::Unauthentic)
}

fn open<C: KeyInit + Aead>(key: &[u8], nonce: &[u8], ct: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = C::new_from_slice(key).map_err(|_| CryptoError::BadKeyLength(key.len()))?;
    cipher
        .decrypt(nonce.into(), ct)
        .map_err(|_| CryptoError::Unauthentic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn opens_the_gcm_specification_test_case_3() {
        // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 3 (AES-128, no AAD).
        let key = hex("feffe9928665731c6d6a8f9467308308");
        let mut data = hex("cafebabefacedbaddecaf888");
        data.extend(hex(concat!(
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e",
            "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
            "4d5c2af327cd64a62cf35abd2ba6fab4"
        )));
        let pt = hex(concat!(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72",
            "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
        ));
        assert_eq!(gcm_decrypt(&key, &data).unwrap(), pt);
    }

    #[test]
    fn round_trips_every_key_size_and_rejects_tampering() {
        for len in [16, 24, 32] {
            let k = vec![9u8; len];
            let ct = gcm_encrypt(&k, b"session").unwrap();
            assert_eq!(ct.len(), NONCE_LEN + 7 + TAG_LEN);
            assert_eq!(gcm_decrypt(&k, &ct).unwrap(), b"session");
            for i in 0..ct.len() {
                let mut bad = ct.clone();
                bad[i] ^= 1;
                assert_eq!(gcm_decrypt(&k, &bad), Err(CryptoError::Unauthentic));
            }
            assert_eq!(
                gcm_decrypt(&[8u8; 16], &gcm_encrypt(&[7u8; 16], b"x").unwrap()),
                Err(CryptoError::Unauthentic)
            );
        }
        assert_eq!(
            gcm_encrypt(&[0; 20], b"x"),
            Err(CryptoError::BadKeyLength(20))
        );
        assert_eq!(
            gcm_decrypt(&[0; 16], &[0; 27]),
            Err(CryptoError::Truncated(27))
        );
    }
}
