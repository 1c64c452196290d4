//! Table tests for this round's oauth2-proxy options: signature_key, allow_query_semicolons,
//! auth_request_response_mode, cookie_csrf_*, logging_*, request_id_header,
//! session_cookie_minimal, force_json_errors: values as v7 reads them, errors naming the key
//! and where it was set.

use std::ffi::OsString;

use super::*;

use super::tests::base_env;

fn load_args(a: &[&str]) -> Result<Config, String> {
    let args: Vec<OsString> = a.iter().map(OsString::from).collect();
    match load(&args, &base_env()) {
        Ok(Command::Run(c)) => Ok(*c),
        Ok(other) => panic!("expected Run, got {other:?}"),
        Err(e) => Err(e.to_string()),
    }
}

/// A TOML config file with `body`, loaded; the file's path for messages.
fn load_file(body: &str) -> (Result<Config, String>, String) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "authproxy-option-tests-{}-{}.cfg",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&path, body).unwrap();
    let shown = path.display().to_string();
    (load_args(&["--config", &shown]), shown)
}

#[test]
fn signature_key_is_read_as_oauth2_proxy_reads_it() {
    for (spec, alg) in [
        ("sha256:k", SignatureAlgorithm::Sha256),
        ("sha1:k", SignatureAlgorithm::Sha1),
        ("md5:k", SignatureAlgorithm::Md5),
        ("sha224:k", SignatureAlgorithm::Sha224),
        ("sha384:k", SignatureAlgorithm::Sha384),
        ("sha512:k", SignatureAlgorithm::Sha512),
    ] {
        let c = load_args(&["--signature-key", spec]).unwrap();
        let s = c.signature.expect(spec);
        assert_eq!(s.algorithm, alg);
        assert_eq!(s.key.expose(), "k");
        assert_eq!(s.max_body_bytes, 10 * 1024 * 1024);
        assert!(
            c.load_warnings
                .iter()
                .any(|w| w.contains("signature_key is deprecated")),
            "{:?}",
            c.load_warnings
        );
    }
    assert!(load_args(&[]).unwrap().signature.is_none());
    // Errors name the key and the file it came from.
    for (value, want) in [
        ("sha256", "exactly one ':'"),
        ("sha256:a:b", "exactly one ':'"),
        ("md4:k", "unsupported signature hash algorithm \"md4\""),
        ("ripemd160:k", "unsupported signature hash algorithm"),
        ("SHA256:k", "unsupported signature hash algorithm"),
        ("sha256:", "the secret after ':' is empty"),
    ] {
        let (r, file) = load_file(&format!("signature_key = {value:?}\n"));
        let e = r.err().unwrap_or_else(|| panic!("{value} must be refused"));
        assert!(
            e.contains(&format!("option `signature_key` (from {file})")) && e.contains(want),
            "{value}: {e}"
        );
    }
    let e = load_args(&[
        "--signature-key",
        "sha1:k",
        "--signature-max-body-bytes",
        "-1",
    ])
    .unwrap_err();
    assert!(e.contains("signature_max_body_bytes"), "{e}");
}

#[test]
fn allow_query_semicolons_and_response_mode_are_read() {
    assert!(!load_args(&[]).unwrap().allow_query_semicolons);
    assert!(
        load_args(&["--allow-query-semicolons"])
            .unwrap()
            .allow_query_semicolons
    );
    let (c, _) = load_file("allow_query_semicolons = true\n");
    assert!(c.unwrap().allow_query_semicolons);
    let (c, file) = load_file("allow_query_semicolons = \"maybe\"\n");
    let e = c.unwrap_err();
    assert!(
        e.contains(&format!("option `allow_query_semicolons` (from {file})")),
        "{e}"
    );

    let c = load_args(&["--auth-request-response-mode", "form_post"]).unwrap();
    assert_eq!(
        c.providers[0].auth_request_response_mode.as_deref(),
        Some("form_post")
    );
    let c = load_args(&[]).unwrap();
    assert_eq!(c.providers[0].auth_request_response_mode, None);
}

#[test]
fn csrf_options_follow_oauth2_proxy() {
    // 0 and negative limits mean "no limit", as in oauth2-proxy.
    for (v, want) in [("3", 3), ("0", 0), ("-2", 0)] {
        let c = load_args(&[
            "--cookie-csrf-per-request",
            "--cookie-csrf-per-request-limit",
            v,
        ])
        .unwrap();
        assert_eq!(c.cookie.csrf_per_request_limit, want, "{v}");
    }
    let (c, file) = load_file("cookie_csrf_per_request_limit = \"lots\"\n");
    assert!(c.unwrap_err().contains(&format!(
        "option `cookie_csrf_per_request_limit` (from {file})"
    )),);
    let c = load_args(&["--cookie-csrf-samesite", "strict"]).unwrap();
    assert_eq!(c.cookie.csrf_samesite, Some(SameSite::Strict));
    assert_eq!(load_args(&[]).unwrap().cookie.csrf_samesite, None);
    // An unknown value starts (as in oauth2-proxy) with a warning.
    let c = load_args(&["--cookie-csrf-samesite", "sideways"]).unwrap();
    assert_eq!(c.cookie.csrf_samesite, None);
    assert!(c
        .load_warnings
        .iter()
        .any(|w| w.contains("cookie_csrf_samesite")));
    // SameSite=None without Secure is refused (browsers drop such cookies).
    let (c, file) = load_file("cookie_csrf_samesite = \"none\"\ncookie_secure = false\n");
    assert!(c
        .unwrap_err()
        .contains(&format!("option `cookie_csrf_samesite` (from {file})")),);
}

#[test]
fn request_id_header_must_be_a_header_name() {
    let c = load_args(&["--request-id-header", "X-Trace-Id"]).unwrap();
    assert_eq!(c.logging.request_id_header, "X-Trace-Id");
    let (c, file) = load_file("request_id_header = \"bad header\"\n");
    let e = c.unwrap_err();
    assert!(
        e.contains(&format!("option `request_id_header` (from {file})")),
        "{e}"
    );
}
