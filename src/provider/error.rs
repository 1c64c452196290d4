//! Why talking to the identity provider failed, and who is to blame.
//!
//! Variants state facts. None of them carries a token, a client secret or a code; the
//! IdP's own `error` / `error_description` are kept verbatim (length-capped) so the error
//! page can show them; the page layer escapes them.

use std::fmt;

/// The IdP endpoint a request was sent to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/.well-known/openid-configuration`.
    Discovery,
    /// The `jwks_uri` (or `oidc_jwks_url`).
    Jwks,
    /// The token endpoint (`redeem_url`): code exchange and refresh.
    Token,
    /// The userinfo endpoint (`profile_url`).
    Userinfo,
    /// A provider API beyond OAuth (GitHub REST API, Google Directory API, Microsoft Graph,
    /// GitLab API, a service-account token endpoint); the name says which.
    Api(&'static str),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Endpoint::Discovery => "discovery endpoint",
            Endpoint::Jwks => "JWKS endpoint",
            Endpoint::Token => "token endpoint",
            Endpoint::Userinfo => "userinfo endpoint",
            Endpoint::Api(name) => name,
        })
    }
}

/// Who has to act to fix a [`ProviderError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blame {
    /// The identity provider answered with an error or something invalid.
    IdentityProvider,
    /// The IdP could not be reached (DNS, connect, TLS, timeout).
    Network,
    /// The operator's configuration is wrong.
    Configuration,
    /// The user's account does not satisfy a rule (e.g. unverified email).
    User,
    /// authproxy itself (not ready yet).
    Proxy,
}

/// Which id_token check failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenCheck {
    #[error("the token is not a well-formed compact JWS: {0}")]
    Malformed(String),
    #[error("signing algorithm {alg:?} is not accepted (allowed: {allowed})")]
    Algorithm { alg: String, allowed: String },
    #[error(
        "the token carries a critical header extension ({0}) that authproxy does not understand"
    )]
    CriticalHeader(String),
    #[error("no key with kid {kid:?} in the provider's JWKS, even after re-fetching it")]
    UnknownKeyId { kid: String },
    #[error("no key in the provider's JWKS can verify an {alg} signature")]
    NoUsableKey { alg: String },
    #[error("the signature does not verify")]
    Signature,
    #[error("claim {0:?} is missing")]
    MissingClaim(&'static str),
    #[error("claim {claim:?} has the wrong type: {expected}")]
    ClaimType {
        claim: &'static str,
        expected: &'static str,
    },
    #[error("issuer {found:?} is not the provider's issuer {expected:?}")]
    Issuer { expected: String, found: String },
    #[error("audience from claim {claim} with value {found:?} does not include the client id or an oidc_extra_audiences entry")]
    Audience { claim: String, found: Vec<String> },
    #[error("none of the audience claims {0:?} (oidc_audience_claims) is in the token")]
    MissingAudienceClaims(Vec<String>),
    #[error("the token has several audiences but no azp claim naming this client")]
    MissingAuthorizedParty,
    #[error("authorized party (azp) {found:?} is not this client")]
    AuthorizedParty { found: String },
    #[error("the token expired at {exp} (unix seconds)")]
    Expired { exp: i64 },
    #[error("the token was issued in the future (iat {iat}, unix seconds)")]
    IssuedInFuture { iat: i64 },
    #[error("the token is not valid before {nbf} (unix seconds)")]
    NotYetValid { nbf: i64 },
    #[error("the nonce claim is missing although one was sent")]
    MissingNonce,
    #[error("the nonce claim does not match the nonce of this login")]
    NonceMismatch,
}

/// A failure of the provider: discovery, code exchange, refresh, id_token or claims.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// OIDC discovery (or the first JWKS fetch) has not succeeded yet.
    #[error("the identity provider is not ready: discovery has not succeeded yet")]
    NotReady,
    /// The IdP answered with an OAuth 2.0 error (`error`, `error_description`).
    #[error("the identity provider's {endpoint} returned error {error:?}{}", describe(.description))]
    Idp {
        endpoint: Endpoint,
        error: String,
        description: Option<String>,
    },
    /// The IdP answered with an unexpected HTTP status and no OAuth error body.
    #[error("the identity provider's {endpoint} answered HTTP {status}")]
    HttpStatus { endpoint: Endpoint, status: u16 },
    /// The IdP could not be reached (DNS, connection refused, TLS, reset).
    #[error("could not reach the identity provider's {endpoint} at {url}: {detail}")]
    Network {
        endpoint: Endpoint,
        url: String,
        detail: String,
    },
    /// The IdP did not answer in time.
    #[error("the identity provider's {endpoint} at {url} did not answer in time")]
    Timeout { endpoint: Endpoint, url: String },
    /// The IdP's answer is malformed, too large or lacks a required field.
    #[error("the identity provider's {endpoint} sent an invalid response: {detail}")]
    InvalidResponse { endpoint: Endpoint, detail: String },
    /// The discovery document names another issuer than the configured one.
    #[error(
        "the discovery document's issuer {discovered:?} is not the configured oidc_issuer_url \
         {configured:?} (set insecure_oidc_skip_issuer_verification only if this is expected)"
    )]
    IssuerMismatch {
        configured: String,
        discovered: String,
    },
    /// The token response of a code exchange had no id_token.
    #[error("the identity provider's token response contains no id_token")]
    MissingIdToken,
    /// The id_token failed a check.
    #[error("invalid id_token: {0}")]
    InvalidIdToken(TokenCheck),
    /// A back-channel Logout Token failed a check.
    #[error("invalid logout token: {0}")]
    InvalidLogoutToken(super::logout::LogoutCheck),
    /// A signed userinfo response failed a check.
    #[error("invalid signed userinfo response: {0}")]
    InvalidUserinfoToken(TokenCheck),
    /// The userinfo `sub` is not the id_token `sub` (OIDC Core 5.3.2): its claims are not used.
    #[error("the userinfo response belongs to another subject than the id_token")]
    UserinfoSubjectMismatch,
    /// `email_verified` is false (and insecure_oidc_allow_unverified_email is off).
    #[error("the email address in the id_token is not verified by the identity provider")]
    UnverifiedEmail { email: String },
    /// Neither the id_token nor the userinfo endpoint provided the email claim.
    #[error("neither the id_token nor the userinfo endpoint provided an email (claim {claim:?})")]
    MissingEmail { claim: String },
    /// The provider configuration is unusable.
    #[error("invalid provider configuration: {key}: {message}")]
    Config { key: &'static str, message: String },
    /// The user signed in, but a provider restriction refuses them (`rule` is the option:
    /// `github_org`, `google_group`, `azure_tenant`, `allowed_roles`...). `detail` is for
    /// the log only: it may name the user's memberships.
    #[error("not allowed by {rule}: {detail}")]
    Denied { rule: &'static str, detail: String },
}

fn describe(description: &Option<String>) -> String {
    match description {
        Some(d) => format!(": {d}"),
        None => String::new(),
    }
}

impl ProviderError {
    /// Who has to act to fix this.
    pub fn blame(&self) -> Blame {
        match self {
            ProviderError::NotReady => Blame::Proxy,
            ProviderError::Network { .. } | ProviderError::Timeout { .. } => Blame::Network,
            ProviderError::Config { .. } | ProviderError::IssuerMismatch { .. } => {
                Blame::Configuration
            }
            ProviderError::UnverifiedEmail { .. }
            | ProviderError::MissingEmail { .. }
            | ProviderError::Denied { .. } => Blame::User,
            ProviderError::Idp { .. }
            | ProviderError::HttpStatus { .. }
            | ProviderError::InvalidResponse { .. }
            | ProviderError::MissingIdToken
            | ProviderError::InvalidIdToken(_)
            | ProviderError::InvalidLogoutToken(_)
            | ProviderError::InvalidUserinfoToken(_)
            | ProviderError::UserinfoSubjectMismatch => Blame::IdentityProvider,
        }
    }

    /// The IdP's own `error` and `error_description`, for the error page (unescaped text).
    pub fn idp_error(&self) -> Option<(&str, Option<&str>)> {
        match self {
            ProviderError::Idp {
                error, description, ..
            } => Some((error.as_str(), description.as_deref())),
            _ => None,
        }
    }

    /// Whether retrying the same operation later may succeed (network trouble, IdP 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            ProviderError::NotReady
            | ProviderError::Network { .. }
            | ProviderError::Timeout { .. } => true,
            ProviderError::HttpStatus { status, .. } => *status >= 500,
            ProviderError::Idp { error, .. } => {
                error == "temporarily_unavailable" || error == "server_error"
            }
            _ => false,
        }
    }
}

/// Longest IdP-provided text kept in an error (the rest is cut at a char boundary).
pub(crate) const MAX_IDP_TEXT: usize = 512;

/// Cap text that came from the IdP so a hostile or broken IdP cannot flood logs and pages.
pub(crate) fn cap_idp_text(s: &str) -> String {
    if s.len() <= MAX_IDP_TEXT {
        return s.to_owned();
    }
    let mut end = MAX_IDP_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = s[..end].to_owned();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idp_error_is_exposed_for_the_error_page() {
        let e = ProviderError::Idp {
            endpoint: Endpoint::Token,
            error: "invalid_grant".into(),
            description: Some("code expired".into()),
        };
        assert_eq!(e.idp_error(), Some(("invalid_grant", Some("code expired"))));
        assert_eq!(e.blame(), Blame::IdentityProvider);
        assert_eq!(
            e.to_string(),
            "the identity provider's token endpoint returned error \"invalid_grant\": code expired"
        );
    }

    #[test]
    fn network_trouble_is_transient_and_blamed_on_the_network() {
        let e = ProviderError::Timeout {
            endpoint: Endpoint::Jwks,
            url: "https://idp.example/jwks".into(),
        };
        assert!(e.is_transient());
        assert_eq!(e.blame(), Blame::Network);
        let e = ProviderError::InvalidIdToken(TokenCheck::Signature);
        assert!(!e.is_transient());
    }

    #[test]
    fn long_idp_text_is_capped_on_a_char_boundary() {
        let long = "é".repeat(MAX_IDP_TEXT);
        let capped = cap_idp_text(&long);
        assert!(capped.len() <= MAX_IDP_TEXT + '…'.len_utf8());
        assert!(capped.ends_with('…'));
        assert_eq!(cap_idp_text("short"), "short");
    }
}
