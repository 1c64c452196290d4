//! The converter against oauth2-proxy v7.15.3's own output: `testdata/NAME.args` (one argument
//! per line) converted by the real v7 binary gave `testdata/NAME.v7.yaml` (recorded once; the
//! tests do not need the binary). authproxy's output must be byte-identical once the items it
//! marks as its own additions are removed.

use std::collections::HashMap;
use std::ffi::OsString;

use crate::config::{load, Command};

const CASES: &[(&str, &str, &str)] = &[
    (
        "defaults",
        include_str!("testdata/defaults.args"),
        include_str!("testdata/defaults.v7.yaml"),
    ),
    (
        "oidc-rich",
        include_str!("testdata/oidc-rich.args"),
        include_str!("testdata/oidc-rich.v7.yaml"),
    ),
    (
        "github",
        include_str!("testdata/github.args"),
        include_str!("testdata/github.v7.yaml"),
    ),
    (
        "keycloak-oidc",
        include_str!("testdata/keycloak-oidc.args"),
        include_str!("testdata/keycloak-oidc.v7.yaml"),
    ),
    (
        "entra",
        include_str!("testdata/entra.args"),
        include_str!("testdata/entra.v7.yaml"),
    ),
    (
        "gitlab",
        include_str!("testdata/gitlab.args"),
        include_str!("testdata/gitlab.v7.yaml"),
    ),
    (
        "bitbucket",
        include_str!("testdata/bitbucket.args"),
        include_str!("testdata/bitbucket.v7.yaml"),
    ),
    (
        "logingov",
        include_str!("testdata/logingov.args"),
        include_str!("testdata/logingov.v7.yaml"),
    ),
    (
        "google",
        include_str!("testdata/google.args"),
        include_str!("testdata/google.v7.yaml"),
    ),
    (
        "upstreams",
        include_str!("testdata/upstreams.args"),
        include_str!("testdata/upstreams.v7.yaml"),
    ),
    (
        "headers",
        include_str!("testdata/headers.args"),
        include_str!("testdata/headers.v7.yaml"),
    ),
    (
        "headers-basic",
        include_str!("testdata/headers-basic.args"),
        include_str!("testdata/headers-basic.v7.yaml"),
    ),
    (
        "metrics-tls",
        include_str!("testdata/metrics-tls.args"),
        include_str!("testdata/metrics-tls.v7.yaml"),
    ),
    (
        "strings",
        include_str!("testdata/strings.args"),
        include_str!("testdata/strings.v7.yaml"),
    ),
];

pub(crate) fn convert_args(args: &[&str], env: &HashMap<String, String>) -> (String, Vec<String>) {
    let mut a: Vec<OsString> = args.iter().map(OsString::from).collect();
    a.push("--convert-config-to-alpha".into());
    match load(&a, env) {
        Ok(Command::ConvertToAlpha { yaml, warnings }) => (yaml, warnings),
        other => panic!("{args:?}: {other:?}"),
    }
}

/// The output without authproxy's additions: each sequence item after an
/// `# authproxy extension` comment line, and empty sections marked so.
fn without_extensions(yaml: &str) -> String {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = String::new();
    let mut k = 0;
    while k < lines.len() {
        let l = lines[k];
        if l.contains(": [] # authproxy extension") {
            k += 1;
            continue;
        }
        if l.trim_start().starts_with("# authproxy extension") {
            let at = indent(l);
            k += 2;
            while k < lines.len() && indent(lines[k]) > at {
                k += 1;
            }
            continue;
        }
        out.push_str(l);
        out.push('\n');
        k += 1;
    }
    out
}

#[test]
fn output_is_v7s_byte_for_byte_plus_marked_extensions() {
    for (name, args, want) in CASES {
        let args: Vec<&str> = args.lines().collect();
        let (yaml, _) = convert_args(&args, &HashMap::new());
        let got = without_extensions(&yaml);
        if got != *want {
            let diff: Vec<String> = got
                .lines()
                .zip(want.lines())
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .take(5)
                .map(|(i, (a, b))| format!("line {}: got {a:?}, v7 {b:?}", i + 1))
                .collect();
            panic!(
                "{name}: differs from v7:\n{}\n--- full output:\n{yaml}",
                diff.join("\n")
            );
        }
    }
}

#[test]
fn authproxy_defaults_are_printed_with_a_comment() {
    let (yaml, _) = convert_args(
        &[
            "--provider-display-name=Corp SSO",
            "--tls-cert-file=/c",
            "--tls-key-file=/k",
        ],
        &HashMap::new(),
    );
    for want in [
        "insecureSkipNonce: false # authproxy's default",
        "code_challenge_method: S256 # authproxy's default",
        "id: google= # authproxy's id of the legacy provider",
        "name: Corp SSO\n",
        "bindAddress: 127.0.0.1:4180 # authproxy keeps the plain HTTP listener",
        "# authproxy extension (not in oauth2-proxy v7's conversion)\n    - name: X-Forwarded-Provider",
    ] {
        assert!(yaml.contains(want), "missing {want:?} in:\n{yaml}");
    }
}

#[test]
fn what_v7_cannot_read_is_refused_and_the_rest_converts_without_validation() {
    let a: Vec<OsString> = ["--upstream=http://[::1", "--convert-config-to-alpha"]
        .iter()
        .map(OsString::from)
        .collect();
    let e = load(&a, &HashMap::new()).unwrap_err().to_string();
    assert!(e.contains("could not parse upstream"), "{e}");
    let a: Vec<OsString> = ["--cookie-secure=maybe", "--convert-config-to-alpha"]
        .iter()
        .map(OsString::from)
        .collect();
    let e = load(&a, &HashMap::new()).unwrap_err().to_string();
    assert!(e.contains("cookie_secure"), "{e}");
    // No cookie secret, no client id, duplicate upstream paths: printed as v7 prints them.
    let (yaml, _) = convert_args(
        &["--upstream=http://a/", "--upstream=http://b/"],
        &HashMap::new(),
    );
    assert_eq!(yaml.matches("path: /\n").count(), 2, "{yaml}");
    for (extra, want) in [
        (
            "--alpha-config=/x.yaml",
            "cannot use alpha-config and convert-config-to-alpha together",
        ),
        (
            "--config-test",
            "cannot use config-test and convert-config-to-alpha together",
        ),
    ] {
        let a: Vec<OsString> = [extra, "--convert-config-to-alpha"]
            .iter()
            .map(OsString::from)
            .collect();
        let e = load(&a, &HashMap::new()).unwrap_err().to_string();
        assert_eq!(e, want);
    }
}
