//! The signed identity assertion (authproxy extension, docs/identity-assertion.md): the
//! `pass_identity_assertion` and `identity_assertion_*` options, and the key files they name,
//! read and checked here so that a bad key stops the start with an error naming the option.

use std::path::PathBuf;
use std::time::Duration;

use super::build::Ctx;
use super::structured::{AssertionSource, HeaderRule, HeaderValueSource, RuleOrigin, SecretBytes};
use crate::crypto::jws::{Algorithm, JwsKey};

/// Shortest and longest `identity_assertion_lifetime`.
const MIN_LIFETIME: Duration = Duration::from_secs(10);
const MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// One key file, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFile {
    pub path: PathBuf,
    /// The file's PEM text.
    pub pem: SecretBytes,
}

/// The identity assertion's settings, validated: the signing key parses, can sign and has the
/// configured algorithm; every previous key parses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityAssertionConfig {
    /// `identity_assertion_header` (what `pass_identity_assertion` sets).
    pub header: String,
    /// `identity_assertion_algorithm`.
    pub algorithm: Algorithm,
    /// `identity_assertion_key_file`: its first key signs, the others are only published.
    pub key: KeyFile,
    /// `identity_assertion_previous_key_files`: published, never used to sign.
    pub previous: Vec<KeyFile>,
    /// `identity_assertion_lifetime`.
    pub lifetime: Duration,
    /// `identity_assertion_issuer` without a trailing `/`; `None`: derived per request.
    pub issuer: Option<String>,
}

impl IdentityAssertionConfig {
    /// Settings around an already-read signing key (the demo's generated key).
    pub fn with_key(key: KeyFile) -> Self {
        IdentityAssertionConfig {
            header: DEFAULT_HEADER.to_owned(),
            algorithm: Algorithm::Es256,
            key,
            previous: Vec::new(),
            lifetime: Duration::from_secs(300),
            issuer: None,
        }
    }
}

/// `identity_assertion_header`'s default.
pub const DEFAULT_HEADER: &str = "X-Authproxy-Jwt-Assertion";

/// The request and response header rules `pass_identity_assertion` adds.
pub fn assertion_rule(header: &str) -> HeaderRule {
    HeaderRule {
        name: header.to_owned(),
        preserve_request_value: false,
        insecure_skip_header_normalization: false,
        values: vec![HeaderValueSource::IdentityAssertion(
            AssertionSource::default(),
        )],
        origin: RuleOrigin::AuthproxyExtension,
    }
}

/// Read the options; with `pass_identity_assertion`, add the header to both rule lists.
pub(super) fn identity_assertion(
    c: &mut Ctx,
    request: &mut Vec<HeaderRule>,
    response: &mut Vec<HeaderRule>,
) -> Option<IdentityAssertionConfig> {
    let header = c.string("identity_assertion_header").trim().to_owned();
    if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
        c.fail(
            "identity_assertion_header",
            format!("{header:?} is not a valid HTTP header name"),
        );
    }
    if c.boolean("pass_identity_assertion") {
        for (rules, section) in [
            (&mut *request, "injectRequestHeaders"),
            (&mut *response, "injectResponseHeaders"),
        ] {
            if rules.iter().any(|r| r.name.eq_ignore_ascii_case(&header)) {
                c.fail(
                    "identity_assertion_header",
                    format!("{header:?} is already set by {section}; pick another name or remove that header"),
                );
            } else {
                rules.push(assertion_rule(&header));
            }
        }
    }
    let used = request
        .iter()
        .chain(response.iter())
        .any(|r| r.assertion().is_some());
    let algorithm_text = c.string("identity_assertion_algorithm");
    let algorithm = match Algorithm::parse(algorithm_text.trim()) {
        Some(a) => a,
        None => {
            c.fail(
                "identity_assertion_algorithm",
                format!("{algorithm_text:?} is not one of ES256, RS256"),
            );
            Algorithm::Es256
        }
    };
    let lifetime = c.duration("identity_assertion_lifetime");
    if !(MIN_LIFETIME..=MAX_LIFETIME).contains(&lifetime) {
        c.fail(
            "identity_assertion_lifetime",
            format!(
                "{} is outside 10s..1h: an assertion is a short-lived credential",
                humantime::format_duration(lifetime)
            ),
        );
    }
    let issuer =
        c.opt_string("identity_assertion_issuer")
            .and_then(|s| match super::build::http_url(&s) {
                Ok(u) if u.query().is_none() => Some(u.as_str().trim_end_matches('/').to_owned()),
                Ok(_) => {
                    c.fail(
                        "identity_assertion_issuer",
                        format!("{s:?} must not have a query"),
                    );
                    None
                }
                Err(e) => {
                    c.fail("identity_assertion_issuer", e);
                    None
                }
            });
    let Some(path) = c.opt_string("identity_assertion_key_file") else {
        if used {
            c.fail(
                "identity_assertion_key_file",
                "is required to sign identity assertions (pass_identity_assertion or an identityAssertionSource header); \
                 authproxy never makes up a signing key. Create one with \
                 `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out assertion-key.pem` \
                 (docs/identity-assertion.md)",
            );
        }
        for key in [
            "identity_assertion_previous_key_files",
            "identity_assertion_issuer",
        ] {
            if c.is_set(key) && !used {
                c.warn(format!(
                    "{key} has no effect without identity_assertion_key_file"
                ));
            }
        }
        return None;
    };
    let key = read_key_file(c, "identity_assertion_key_file", &path)?;
    match JwsKey::all_from_pem(&key.pem.0) {
        Ok(keys) => {
            let first = &keys[0];
            if !first.can_sign() {
                c.fail(
                    "identity_assertion_key_file",
                    format!("{path}: the first key is a public key; the signing key must be a private key"),
                );
            } else if first.algorithm() != algorithm {
                c.fail(
                    "identity_assertion_algorithm",
                    format!(
                        "is {} but {path} holds a key for {} (an EC P-256 key signs ES256, an RSA key RS256)",
                        algorithm.as_str(),
                        first.algorithm().as_str()
                    ),
                );
            }
        }
        Err(e) => c.fail("identity_assertion_key_file", format!("{path}: {e}")),
    }
    let mut previous = Vec::new();
    for p in c.list("identity_assertion_previous_key_files") {
        if let Some(file) = read_key_file(c, "identity_assertion_previous_key_files", &p) {
            match JwsKey::all_from_pem(&file.pem.0) {
                Ok(_) => previous.push(file),
                Err(e) => c.fail("identity_assertion_previous_key_files", format!("{p}: {e}")),
            }
        }
    }
    if !used {
        c.warn(
            "identity_assertion_key_file is set but nothing sends an identity assertion \
             (set pass_identity_assertion = true, or name identityAssertionSource in a header); \
             the keys are still published at {proxy_prefix}/jwks.json",
        );
    }
    Some(IdentityAssertionConfig {
        header,
        algorithm,
        key,
        previous,
        lifetime,
        issuer,
    })
}

fn read_key_file(c: &mut Ctx, option: &str, path: &str) -> Option<KeyFile> {
    match std::fs::read(path) {
        Ok(pem) => Some(KeyFile {
            path: PathBuf::from(path),
            pem: SecretBytes(pem),
        }),
        Err(e) => {
            c.fail(option, format!("cannot read {path}: {e}"));
            None
        }
    }
}

#[cfg(test)]
#[path = "assertion_tests.rs"]
mod tests;
