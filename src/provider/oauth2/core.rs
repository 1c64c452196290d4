//! The machinery every plain OAuth 2.0 provider kind runs on: the authorization URL, the code
//! exchange, credentialed calls to the provider's API, paging, and re-validation of an access
//! token at its `validate_url`.

use std::time::SystemTime;

use reqwest::header::HeaderValue;

use crate::config::ProviderConfig;
use crate::crypto::Secret;

use crate::provider::api::{self, MAX_PAGES};
use crate::provider::error::{Endpoint, ProviderError};
use crate::provider::http::{self, Fetched, IdpClient};
use crate::provider::token::{basic_authorization, expiry, parse_token_response, TokenResponse};
use crate::provider::{AuthorizeParams, Tokens};

/// How the client authenticates at the token endpoint (what the provider documents).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// HTTP Basic with the client id and secret (RFC 6749 2.3.1).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

/// What a kind uses when the configuration leaves a setting empty (oauth2-proxy's defaults).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Defaults {
    /// The `provider` value, for messages.
    pub kind: &'static str,
    /// The sign-in button's name.
    pub display_name: &'static str,
    /// `None`: the option is required (the provider has no public endpoint of its own).
    pub login_url: Option<&'static str>,
    pub redeem_url: Option<&'static str>,
    pub profile_url: Option<&'static str>,
    pub validate_url: Option<&'static str>,
    /// What the operator must configure when a URL has no default (an example value).
    pub url_hint: &'static str,
    pub scope: &'static str,
    pub client_auth: ClientAuth,
    /// The name of the provider's API in error messages ("Bitbucket API").
    pub api: &'static str,
    /// Headers every API call carries besides `Authorization` and `Accept`.
    pub api_headers: &'static [(&'static str, &'static str)],
}

/// Query parameters authproxy sets on the authorization URL; copies already present in a
/// configured `login_url` are replaced, any other parameter there is kept.
const AUTHORIZE_PARAMS: [&str; 10] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "approval_prompt",
    "acr_values",
];

/// A plain OAuth 2.0 provider's settings and HTTP client.
pub struct OAuth2Core {
    id: String,
    kind: &'static str,
    display_name: String,
    client_id: String,
    client_secret: Secret,
    scope: String,
    prompt: Option<String>,
    approval_prompt: String,
    acr_values: Option<String>,
    /// `auth_request_response_mode`.
    response_mode: Option<String>,
    /// `None` (with `unusable` saying so) when neither configured nor defaulted.
    login_url: Option<url::Url>,
    redeem_url: Option<url::Url>,
    profile_url: Option<url::Url>,
    validate_url: Option<url::Url>,
    /// Why this provider cannot sign anyone in (a URL the kind needs is missing): oauth2-proxy
    /// v7 starts with such a configuration and fails every sign-in, so this provider is built,
    /// stays not ready (`/ready` 503) and answers every login with this (option, message).
    unusable: Option<(&'static str, String)>,
    client_auth: ClientAuth,
    api: Endpoint,
    api_headers: &'static [(&'static str, &'static str)],
    http: IdpClient,
}

impl std::fmt::Debug for OAuth2Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Core")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("login_url", &self.login_url.as_ref().map(url::Url::as_str))
            .finish_non_exhaustive()
    }
}

fn url_or_default(
    configured: &Option<url::Url>,
    default: Option<&'static str>,
    key: &'static str,
) -> Result<Option<url::Url>, ProviderError> {
    if let Some(u) = configured {
        return Ok(Some(u.clone()));
    }
    default
        .map(|raw| {
            url::Url::parse(raw).map_err(|e| ProviderError::Config {
                key,
                message: format!("default {raw:?}: {e}"),
            })
        })
        .transpose()
}

fn required_message(d: &Defaults) -> String {
    format!("is required for provider {:?} ({})", d.kind, d.url_hint)
}

impl OAuth2Core {
    /// Validate the options and build the core (no network I/O). `scope` is the scope to
    /// ask for (the kind may have added to the configured one).
    pub(crate) fn new(
        cfg: &ProviderConfig,
        d: &Defaults,
        scope: String,
    ) -> Result<Self, ProviderError> {
        if cfg.client_id.is_empty() {
            return Err(ProviderError::Config {
                key: "client_id",
                message: "is required".into(),
            });
        }
        let login_url = url_or_default(&cfg.login_url, d.login_url, "login_url")?;
        let redeem_url = url_or_default(&cfg.redeem_url, d.redeem_url, "redeem_url")?;
        let unusable = match (&login_url, &redeem_url) {
            (None, _) => Some(("login_url", required_message(d))),
            (_, None) => Some(("redeem_url", required_message(d))),
            _ => None,
        };
        let profile_url = url_or_default(&cfg.profile_url, d.profile_url, "profile_url")?;
        let validate_url = url_or_default(&cfg.validate_url, d.validate_url, "validate_url")?;
        Ok(Self {
            // The alpha config's id names the provider; the legacy options fall back to
            // oauth2-proxy's `<kind>=<client_id>`.
            id: if cfg.id.is_empty() {
                format!("{}={}", d.kind, cfg.client_id)
            } else {
                cfg.id.clone()
            },
            kind: d.kind,
            display_name: if cfg.display_name.is_empty() {
                d.display_name.to_owned()
            } else {
                cfg.display_name.clone()
            },
            client_id: cfg.client_id.clone(),
            client_secret: cfg.client_secret.clone(),
            scope,
            prompt: cfg.prompt.clone().filter(|p| !p.is_empty()),
            approval_prompt: cfg.approval_prompt.clone(),
            acr_values: cfg.acr_values.clone().filter(|a| !a.is_empty()),
            response_mode: crate::provider::response_mode(cfg),
            login_url,
            redeem_url,
            profile_url,
            validate_url,
            unusable,
            client_auth: d.client_auth,
            api: Endpoint::Api(d.api),
            api_headers: d.api_headers,
            http: IdpClient::new(cfg)?,
        })
    }

    /// The scope a kind asks for: the configured one, else its default.
    pub(crate) fn scope_from(cfg: &ProviderConfig, d: &Defaults) -> String {
        if cfg.scope.is_empty() {
            d.scope.to_owned()
        } else {
            cfg.scope.clone()
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn kind(&self) -> &'static str {
        self.kind
    }

    pub(crate) fn display_name(&self) -> &str {
        &self.display_name
    }

    /// The API endpoint label for errors.
    pub(crate) fn api(&self) -> Endpoint {
        self.api
    }

    /// `profile_url` (or the kind's default).
    pub(crate) fn profile_url(&self) -> Option<&url::Url> {
        self.profile_url.as_ref()
    }

    /// `validate_url` (or the kind's default).
    pub(crate) fn validate_url(&self) -> Option<&url::Url> {
        self.validate_url.as_ref()
    }

    /// `profile_url`, else `validate_url` (oauth2-proxy's fallback for Keycloak and
    /// Nextcloud), else an error naming both.
    pub(crate) fn profile_or_validate_url(&self) -> Result<&url::Url, ProviderError> {
        self.profile_url
            .as_ref()
            .or(self.validate_url.as_ref())
            .ok_or_else(|| ProviderError::Config {
                key: "profile_url",
                message: format!(
                    "profile_url or validate_url is required for provider {:?}",
                    self.kind
                ),
            })
    }

    /// Record that a URL the kind needs is missing (the first one recorded is reported).
    pub(crate) fn mark_unusable(&mut self, key: &'static str, message: String) {
        self.unusable.get_or_insert((key, message));
    }

    /// `Err` naming the missing option when this provider cannot sign anyone in.
    pub(crate) fn usable(&self) -> Result<(), ProviderError> {
        match &self.unusable {
            Some((key, message)) => Err(ProviderError::Config {
                key,
                message: message.clone(),
            }),
            None => Ok(()),
        }
    }

    pub(crate) fn build_authorize_url(
        &self,
        p: &AuthorizeParams<'_>,
    ) -> Result<url::Url, ProviderError> {
        self.usable()?;
        let mut url = self.login_url.clone().ok_or(ProviderError::NotReady)?;
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !AUTHORIZE_PARAMS.contains(&k.as_ref()))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        {
            let mut q = url.query_pairs_mut();
            q.clear();
            q.extend_pairs(kept);
            q.append_pair("response_type", "code");
            q.append_pair("client_id", &self.client_id);
            q.append_pair("redirect_uri", p.redirect_uri);
            if !self.scope.is_empty() {
                q.append_pair("scope", &self.scope);
            }
            q.append_pair("state", p.state);
            crate::provider::append_login_params(
                &mut q,
                p,
                crate::provider::LoginHints {
                    prompt: self.prompt.as_deref(),
                    approval_prompt: &self.approval_prompt,
                    acr_values: self.acr_values.as_deref(),
                    response_mode: self.response_mode.as_deref(),
                },
            );
        }
        Ok(url)
    }

    /// Exchange the code. The tokens carry no refresh token: oauth2-proxy does not refresh
    /// these kinds, it re-validates the access token at `validate_url` (and so does
    /// authproxy).
    pub(crate) async fn redeem(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
        now: SystemTime,
    ) -> Result<Tokens, ProviderError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(v) = code_verifier {
            form.push(("code_verifier", v));
        }
        let resp = self.token_request(form).await?;
        Ok(Tokens {
            expires_on: expiry(resp.expires_in, &serde_json::Map::new(), now),
            access_token: resp.access_token,
            id_token: None,
            refresh_token: None,
        })
    }

    async fn token_request(
        &self,
        mut form: Vec<(&str, &str)>,
    ) -> Result<TokenResponse, ProviderError> {
        self.usable()?;
        let redeem_url = self.redeem_url.clone().ok_or(ProviderError::NotReady)?;
        let mut req = self
            .http
            .credentialed
            .post(redeem_url)
            .header(reqwest::header::ACCEPT, "application/json");
        match self.client_auth {
            ClientAuth::Basic => {
                let value = basic_authorization(&self.client_id, self.client_secret.expose())?;
                req = req.header(reqwest::header::AUTHORIZATION, value);
            }
            ClientAuth::Post => {
                form.push(("client_id", &self.client_id));
                form.push(("client_secret", self.client_secret.expose()));
            }
        }
        let fetched = http::send(Endpoint::Token, req.form(&form)).await?;
        parse_token_response(&fetched)
    }

    fn auth(&self, token: &str) -> Result<HeaderValue, ProviderError> {
        api::authorization(self.api, "Bearer", token)
    }

    /// GET `url` with the access token, reading the whole answer (any status).
    pub(crate) async fn get(&self, url: &url::Url, token: &str) -> Result<Fetched, ProviderError> {
        let auth = self.auth(token)?;
        api::get(
            &self.http.credentialed,
            self.api,
            url,
            &auth,
            "application/json",
            self.api_headers,
        )
        .await
    }

    /// GET `url` and parse a 2xx JSON answer.
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &url::Url,
        token: &str,
    ) -> Result<T, ProviderError> {
        let f = self.get(url, token).await?;
        api::json(self.api, &f)
    }

    /// POST a JSON body to `url` with the access token (GraphQL APIs).
    pub(crate) async fn post_json(
        &self,
        url: &url::Url,
        token: &str,
        body: &serde_json::Value,
    ) -> Result<Fetched, ProviderError> {
        let mut req = self
            .http
            .credentialed
            .post(url.clone())
            .header(reqwest::header::AUTHORIZATION, self.auth(token)?)
            .header(reqwest::header::ACCEPT, "application/json")
            .json(body);
        for (k, v) in self.api_headers {
            req = req.header(*k, *v);
        }
        http::send(self.api, req).await
    }

    /// Every page of a listing whose pages name the next one (`next_of`), starting at
    /// `first`. Page links must stay on `first`'s origin (the token goes nowhere else).
    pub(crate) async fn get_pages<P, T>(
        &self,
        first: url::Url,
        token: &str,
        split: impl Fn(P) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>, ProviderError>
    where
        P: serde::de::DeserializeOwned,
    {
        let base = first.clone();
        let mut url = first;
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let page: P = self.get_json(&url, token).await?;
            let (items, next) = split(page);
            out.extend(items);
            match next.filter(|n| !n.is_empty()) {
                Some(next) => url = api::checked_next(self.api, &base, &next)?,
                None => return Ok(out),
            }
        }
        Err(ProviderError::InvalidResponse {
            endpoint: self.api,
            detail: format!("more than {MAX_PAGES} pages at {}", http::redact_url(&base)),
        })
    }

    /// oauth2-proxy's token validation: GET `validate_url` with the access token; any 2xx
    /// means the token is still good.
    pub(crate) async fn validate(&self, token: &str) -> Result<(), ProviderError> {
        let Some(url) = &self.validate_url else {
            return Ok(());
        };
        let f = self.get(url, token).await?;
        if f.status.is_success() {
            Ok(())
        } else {
            Err(api::api_error(self.api, &f))
        }
    }
}
