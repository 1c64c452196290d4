//! The identity assertion and policy options as the loader reads them: through flags, the TOML
//! file and the alpha file, each mistake an error naming the option (or field) and the file.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use crate::config::structured::HeaderValueSource;
use crate::config::{load, Command, Config};
use crate::crypto::jws::Algorithm;

fn dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "authproxy-assertion-config-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn base() -> Vec<String> {
    [
        "--provider=oidc",
        "--oidc-issuer-url=https://idp.example.com",
        "--client-id=app",
        "--client-secret=s3cret",
        "--cookie-secret=0123456789abcdef0123456789abcdef",
        "--email-domain=*",
        "--upstream=http://127.0.0.1:8080",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn load_args(extra: &[String]) -> Result<Config, String> {
    let mut args: Vec<OsString> = base().into_iter().map(OsString::from).collect();
    args.extend(extra.iter().map(OsString::from));
    match load(&args, &HashMap::new()) {
        Ok(Command::Run(c)) => Ok(*c),
        Ok(other) => panic!("expected Run, got {other:?}"),
        Err(e) => Err(e.to_string()),
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn pass_identity_assertion_adds_the_header_to_both_rule_lists() {
    let c = load_args(&[
        "--pass-identity-assertion".into(),
        format!(
            "--identity-assertion-key-file={}",
            fixture("assertion-es256.pem")
        ),
        format!(
            "--identity-assertion-previous-key-file={}",
            fixture("assertion-es256-previous.pub.pem")
        ),
        "--identity-assertion-lifetime=2m".into(),
    ])
    .unwrap();
    let a = c.identity_assertion.as_ref().expect("configured");
    assert_eq!(a.algorithm, Algorithm::Es256);
    assert_eq!(a.lifetime.as_secs(), 120);
    assert_eq!(a.previous.len(), 1);
    assert_eq!(a.issuer, None);
    for rules in [&c.inject_request_headers, &c.inject_response_headers] {
        let r = rules
            .iter()
            .find(|r| r.name == "X-Authproxy-Jwt-Assertion")
            .expect("the assertion header rule");
        assert!(matches!(
            r.values[..],
            [HeaderValueSource::IdentityAssertion(_)]
        ));
    }
    // An RSA key signs RS256 when asked to.
    let c = load_args(&s(&[
        "--pass-identity-assertion",
        "--identity-assertion-algorithm=RS256",
        &format!(
            "--identity-assertion-key-file={}",
            fixture("fake-provider-rsa.pem")
        ),
    ]))
    .unwrap();
    assert_eq!(c.identity_assertion.unwrap().algorithm, Algorithm::Rs256);
}

#[test]
fn assertion_mistakes_are_errors_naming_the_option() {
    let key = format!(
        "--identity-assertion-key-file={}",
        fixture("assertion-es256.pem")
    );
    let public = format!(
        "--identity-assertion-key-file={}",
        fixture("assertion-es256-previous.pub.pem")
    );
    let cases: Vec<(Vec<String>, &[&str])> = vec![
        (
            s(&["--pass-identity-assertion"]),
            &[
                "identity_assertion_key_file",
                "never makes up a signing key",
            ],
        ),
        (
            s(&[
                "--pass-identity-assertion",
                "--identity-assertion-algorithm=RS256",
                &key,
            ]),
            &["identity_assertion_algorithm", "RS256", "ES256"],
        ),
        (
            s(&[
                "--pass-identity-assertion",
                "--identity-assertion-algorithm=HS256",
                &key,
            ]),
            &["identity_assertion_algorithm", "HS256"],
        ),
        (
            s(&["--pass-identity-assertion", &public]),
            &["identity_assertion_key_file", "public key"],
        ),
        (
            s(&[
                "--pass-identity-assertion",
                "--identity-assertion-key-file=/nonexistent/k.pem",
            ]),
            &[
                "identity_assertion_key_file",
                "cannot read /nonexistent/k.pem",
            ],
        ),
        (
            s(&[
                "--pass-identity-assertion",
                &key,
                "--identity-assertion-lifetime=2h",
            ]),
            &["identity_assertion_lifetime", "10s..1h"],
        ),
        (
            s(&[
                "--pass-identity-assertion",
                &key,
                "--identity-assertion-header=bad header",
            ]),
            &["identity_assertion_header", "not a valid HTTP header name"],
        ),
        (
            s(&[
                "--pass-identity-assertion",
                &key,
                "--identity-assertion-issuer=not a url",
            ]),
            &["identity_assertion_issuer"],
        ),
        (
            s(&[
                "--pass-identity-assertion",
                &key,
                "--identity-assertion-header=X-Forwarded-Email",
                "--pass-user-headers",
            ]),
            &[
                "identity_assertion_header",
                "already set by injectRequestHeaders",
            ],
        ),
    ];
    for (args, wants) in cases {
        let e = load_args(&args).expect_err(&format!("{args:?} must be refused"));
        for w in wants {
            assert!(e.contains(w), "{args:?}: missing {w:?} in:\n{e}");
        }
    }
}

const ALPHA: &str = "providers:\n  - id: corp\n    provider: oidc\n    clientID: app\n    clientSecret: s\n    oidcConfig: {issuerURL: 'https://idp.example.com'}\nupstreamConfig:\n  upstreams:\n    - id: app\n      path: /\n      uri: http://127.0.0.1:8080\n";

fn load_alpha(yaml: &str, extra: &[String]) -> Result<Config, String> {
    let d = dir();
    let path = d.join("alpha.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut args: Vec<OsString> = vec![
        format!("--alpha-config={}", path.display()).into(),
        "--cookie-secret=0123456789abcdef0123456789abcdef".into(),
        "--email-domain=*".into(),
    ];
    args.extend(extra.iter().map(OsString::from));
    match load(&args, &HashMap::new()) {
        Ok(Command::Run(c)) => Ok(*c),
        Ok(other) => panic!("expected Run, got {other:?}"),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn the_alpha_file_names_the_assertion_as_a_header_value_and_holds_the_policy() {
    let key = format!(
        "--identity-assertion-key-file={}",
        fixture("assertion-es256.pem")
    );
    let yaml = format!(
        "{ALPHA}injectRequestHeaders:\n  - name: Authorization\n    values:\n      - identityAssertionSource:\n          prefix: 'Bearer '\nauthproxyPolicy:\n  default: allowSignedIn\n  rules:\n    - name: admin\n      path: /admin\n      allow:\n        and:\n          - groups: [admins]\n          - provider: corp\n"
    );
    let c = load_alpha(&yaml, std::slice::from_ref(&key)).unwrap();
    assert!(c.identity_assertion.is_some());
    let r = c
        .inject_request_headers
        .iter()
        .find(|r| r.name == "Authorization")
        .unwrap();
    assert_eq!(r.assertion().unwrap().prefix, "Bearer ");
    let p = c.policy.as_ref().expect("the policy");
    assert_eq!(p.rules[0].name, "admin");
    assert!(p.origin.contains("authproxyPolicy"), "{}", p.origin);

    // No key: the header cannot be signed.
    let e = load_alpha(&yaml, &[]).unwrap_err();
    assert!(e.contains("identity_assertion_key_file"), "{e}");
    // An assertion header has no other value.
    let two = format!(
        "{ALPHA}injectRequestHeaders:\n  - name: X-A\n    values:\n      - identityAssertionSource: {{}}\n      - claimSource: {{claim: email}}\n"
    );
    let e = load_alpha(&two, std::slice::from_ref(&key)).unwrap_err();
    assert!(
        e.contains("identityAssertionSource has no other value"),
        "{e}"
    );
    // A provider the policy names must be configured.
    let bad = yaml.replace("provider: corp", "provider: github");
    let e = load_alpha(&bad, std::slice::from_ref(&key)).unwrap_err();
    assert!(
        e.contains("provider \"github\" is not a configured provider"),
        "{e}"
    );
    // A policy error names the file and the field.
    let bad = yaml.replace("groups: [admins]", "groupz: [admins]");
    let e = load_alpha(&bad, std::slice::from_ref(&key)).unwrap_err();
    assert!(
        e.contains("authproxyPolicy.rules[0].allow.and[0].groupz"),
        "{e}"
    );
}

#[test]
fn a_policy_in_both_files_is_refused_and_the_toml_table_is_read() {
    let d = dir();
    let toml = d.join("authproxy.cfg");
    std::fs::write(
        &toml,
        "[authproxy_policy]\ndefault = \"deny\"\n[[authproxy_policy.rules]]\nname = \"api\"\npath = \"/api\"\nallow = { signed_in = true }\n",
    )
    .unwrap();
    let c = load_args(&[format!("--config={}", toml.display())]).unwrap();
    let p = c.policy.expect("the TOML policy");
    assert_eq!(p.rules[0].name, "api");
    assert!(p.origin.contains("[authproxy_policy]"), "{}", p.origin);

    let yaml = format!(
        "{ALPHA}authproxyPolicy:\n  rules:\n    - {{name: x, path: /, allow: {{signedIn: true}}}}\n"
    );
    let e = load_alpha(&yaml, &[format!("--config={}", toml.display())]).unwrap_err();
    assert!(e.contains("a policy is written twice"), "{e}");
}
