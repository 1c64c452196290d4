//! Table tests of the cookie cipher, signer and helpers.

use super::*;

fn secret() -> CookieSecret {
    CookieSecret::parse(b"0123456789abcdef0123456789abcdef").unwrap()
}

#[test]
fn cfb_round_trips_for_every_key_size() {
    for len in [16, 24, 32] {
        let c = CfbCipher::new(&vec![7u8; len]).unwrap();
        let ct = c.encrypt(b"hello world, more than one block of text");
        assert_eq!(ct.len(), IV_LEN + 40);
        assert_eq!(
            c.decrypt(&ct).unwrap(),
            b"hello world, more than one block of text"
        );
    }
}

#[test]
fn cfb_rejects_bad_key_lengths_and_short_input() {
    assert_eq!(
        CfbCipher::new(&[0; 20]).unwrap_err(),
        CryptoError::BadKeyLength(20)
    );
    let c = CfbCipher::new(&[0; 16]).unwrap();
    assert_eq!(
        c.decrypt(&[0; 15]).unwrap_err(),
        CryptoError::ShorterThanIv(15)
    );
}

#[test]
fn cfb_matches_the_nist_sp800_38a_cfb128_vector() {
    // NIST SP 800-38A F.3.13 CFB128-AES128.Encrypt, first block.
    let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
    let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
    let pt = hex("6bc1bee22e409f96e93d7e117393172a");
    let out = CfbCipher::new(&key).unwrap().encrypt_with_iv(&iv, &pt);
    assert_eq!(
        &out[16..],
        hex("3b3fd92eb72dad20333449f8e83cfb4a").as_slice()
    );
}

#[test]
fn signer_round_trips_and_rejects_other_names() {
    let s = ValueSigner::new(&secret());
    let v = s.sign("_oauth2_proxy", b"payload", 1_700_000_000);
    let p = s.verify("_oauth2_proxy", &v).unwrap();
    assert_eq!(p.timestamp, 1_700_000_000);
    assert_eq!(p.payload_b64, b64url_padded(b"payload"));
    assert_eq!(
        s.verify("_oauth2_proxy_csrf", &v),
        Err(SignatureError::BadSignature)
    );
    assert_eq!(
        s.verify("_oauth2_proxy", "a|b"),
        Err(SignatureError::Malformed)
    );
    assert_eq!(
        s.verify("_oauth2_proxy", &format!("{v}|x")),
        Err(SignatureError::Malformed)
    );
}

#[test]
fn signer_signature_is_hmac_sha256_of_name_payload_and_timestamp() {
    let s = ValueSigner::new(&secret());
    let v = s.sign("n", b"\x01\x02", 42);
    let b64 = b64url_padded(b"\x01\x02");
    let mac = hmac_sha256(
        b"0123456789abcdef0123456789abcdef",
        &[b"n", b64.as_bytes(), b"42"],
    );
    assert_eq!(v, format!("{b64}|42|{}", b64url_padded(&mac)));
}

#[test]
fn seal_round_trips_and_binds_purpose_and_key() {
    let s = secret();
    let sealed = seal(&s, "state", b"data");
    assert_eq!(open(&s, "state", &sealed).unwrap(), b"data");
    assert_eq!(open(&s, "other", &sealed), Err(CryptoError::Unauthentic));
    let other = CookieSecret::parse(b"fedcba9876543210fedcba9876543210").unwrap();
    assert_eq!(
        open(&other, "state", &sealed),
        Err(CryptoError::Unauthentic)
    );
}

#[test]
fn seal_rejects_every_flipped_byte() {
    let s = secret();
    let raw = b64url_nopad_decode(&seal(&s, "p", b"some plaintext")).unwrap();
    for i in 0..raw.len() {
        let mut t = raw.clone();
        t[i] ^= 0x01;
        assert!(
            open(&s, "p", &b64url_nopad(&t)).is_err(),
            "flip at {i} accepted"
        );
    }
    assert_eq!(open(&s, "p", ""), Err(CryptoError::Truncated(0)));
    assert_eq!(open(&s, "p", "AQ"), Err(CryptoError::Truncated(1)));
    assert_eq!(open(&s, "p", "!!"), Err(CryptoError::Base64));
}

#[test]
fn hashes_match_known_answers() {
    assert_eq!(
        b64url_nopad(&sha256(b"abc")),
        "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    );
    // BLAKE2b-256("abc"), RFC 7693 parameters with a 32-byte digest.
    assert_eq!(
        blake2b_256(b"abc").to_vec(),
        hex("bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319")
    );
}

#[test]
fn ct_eq_compares_content_and_length() {
    assert!(ct_eq(b"abc", b"abc"));
    assert!(!ct_eq(b"abc", b"abd"));
    assert!(!ct_eq(b"abc", b"ab"));
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
