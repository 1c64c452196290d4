//! SourceHut (`provider = "sourcehut"`): OAuth 2.0 at `meta.sr.ht/oauth2`, scope
//! `meta.sr.ht/PROFILE:RO`, and meta.sr.ht's GraphQL API (`profile_url`, default
//! `https://meta.sr.ht/query`): `{ me { username, email } }` gives the user (also the
//! preferred username) and the email, as oauth2-proxy.
//!
//! Re-validation at `cookie_refresh`: oauth2-proxy GETs `https://meta.sr.ht/profile`, an HTML
//! page; authproxy asks the GraphQL API again instead (the documented API, and a revoked token
//! gets an error there), unless `validate_url` is configured, which is then GET as usual.

use serde::Deserialize;

use crate::config::ProviderConfig;

use super::error::{cap_idp_text, ProviderError};
use super::oauth2::{ClientAuth, Defaults, OAuth2, OAuth2Core, OAuth2Kind};
use super::Claims;

const DEFAULTS: Defaults = Defaults {
    kind: "sourcehut",
    display_name: "SourceHut",
    login_url: Some("https://meta.sr.ht/oauth2/authorize"),
    redeem_url: Some("https://meta.sr.ht/oauth2/access-token"),
    profile_url: Some("https://meta.sr.ht/query"),
    validate_url: None,
    url_hint: "https://meta.sr.ht/oauth2/...",
    scope: "meta.sr.ht/PROFILE:RO",
    client_auth: ClientAuth::Post,
    api: "SourceHut GraphQL API",
    api_headers: &[],
};

const ME_QUERY: &str = "{ me { username, email } }";

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    errors: Vec<GraphqlError>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    me: Option<Me>,
}

#[derive(Deserialize)]
struct Me {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
struct GraphqlError {
    #[serde(default)]
    message: String,
}

/// The identity of a GraphQL answer; GraphQL `errors` become the provider's error (pure).
fn claims_of(core_api: super::error::Endpoint, r: Response) -> Result<Claims, ProviderError> {
    if let Some(e) = r.errors.first() {
        return Err(ProviderError::Idp {
            endpoint: core_api,
            error: "GraphQL error".into(),
            description: Some(cap_idp_text(&e.message)),
        });
    }
    let me = r
        .data
        .and_then(|d| d.me)
        .ok_or_else(|| ProviderError::InvalidResponse {
            endpoint: core_api,
            detail: "data.me is missing".into(),
        })?;
    let username =
        me.username
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ProviderError::InvalidResponse {
                endpoint: core_api,
                detail: "data.me.username is missing".into(),
            })?;
    let email = me
        .email
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ProviderError::MissingEmail {
            claim: "data.me.email of the meta.sr.ht GraphQL API".into(),
        })?;
    Ok(Claims {
        subject: username.clone(),
        user: username.clone(),
        email,
        groups: Vec::new(),
        preferred_username: Some(username),
        extra: Default::default(),
    })
}

/// What the SourceHut kind adds: the GraphQL profile query.
#[derive(Debug, Default)]
pub struct SourceHut;

/// The SourceHut provider.
pub type SourceHutProvider = OAuth2<SourceHut>;

impl SourceHutProvider {
    /// Validate the options and build the provider (no network I/O).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        let scope = OAuth2Core::scope_from(cfg, &DEFAULTS);
        Ok(OAuth2::from_parts(
            OAuth2Core::new(cfg, &DEFAULTS, scope)?,
            SourceHut,
        ))
    }
}

impl SourceHut {
    async fn me(core: &OAuth2Core, access_token: &str) -> Result<Claims, ProviderError> {
        let url = core.profile_url().ok_or(ProviderError::Config {
            key: "profile_url",
            message: "is required for provider \"sourcehut\"".into(),
        })?;
        let f = core
            .post_json(url, access_token, &serde_json::json!({ "query": ME_QUERY }))
            .await?;
        // GraphQL answers errors in the body, with 200 or a 4xx status; a 5xx is the
        // service being down.
        match serde_json::from_slice::<Response>(&f.body) {
            Ok(r)
                if !f.status.is_server_error()
                    && (!r.errors.is_empty() || f.status.is_success()) =>
            {
                claims_of(core.api(), r)
            }
            _ => Err(super::api::api_error(core.api(), &f)),
        }
    }
}

impl OAuth2Kind for SourceHut {
    async fn identity<'a>(
        &'a self,
        core: &'a OAuth2Core,
        access_token: &'a str,
    ) -> Result<Claims, ProviderError> {
        Self::me(core, access_token).await
    }

    async fn validate<'a>(
        &'a self,
        core: &'a OAuth2Core,
        access_token: &'a str,
    ) -> Result<(), ProviderError> {
        if core.validate_url().is_some() {
            return core.validate(access_token).await;
        }
        Self::me(core, access_token).await.map(|_| ())
    }

    fn validates(&self, _core: &OAuth2Core) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<Claims, ProviderError> {
        claims_of(
            super::super::error::Endpoint::Api("x"),
            serde_json::from_value(v).unwrap(),
        )
    }

    #[test]
    fn the_me_query_gives_username_and_email_and_errors_are_reported() {
        let c = parse(
            serde_json::json!({"data": {"me": {"username": "drew", "email": "drew@example.org"}}}),
        )
        .unwrap();
        assert_eq!(
            (c.user.as_str(), c.email.as_str()),
            ("drew", "drew@example.org")
        );
        assert_eq!(c.preferred_username.as_deref(), Some("drew"));
        match parse(
            serde_json::json!({"errors": [{"message": "Authorization header is required"}], "data": null}),
        ) {
            Err(ProviderError::Idp { description, .. }) => {
                assert_eq!(
                    description.as_deref(),
                    Some("Authorization header is required")
                )
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse(serde_json::json!({"data": {"me": {"username": "drew"}}})),
            Err(ProviderError::MissingEmail { .. })
        ));
    }
}
