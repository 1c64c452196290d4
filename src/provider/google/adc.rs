//! Google Application Default Credentials impersonating a service account, for the Admin SDK
//! (`google_use_application_default_credentials`, `google_target_principal`), as oauth2-proxy
//! v7 does through Google's `impersonate` library with the admin as subject:
//!
//! 1. The credentials' own token, scope `cloud-platform`: from the file
//!    `GOOGLE_APPLICATION_CREDENTIALS` names (or gcloud's
//!    `~/.config/gcloud/application_default_credentials.json`): a `service_account` key
//!    (JWT bearer grant at its `token_uri`) or an `authorized_user` (refresh token grant);
//!    else the metadata server (GKE workload identity, GCE):
//!    `GET http://$GCE_METADATA_HOST/computeMetadata/v1/instance/service-accounts/default/token`
//!    with `Metadata-Flavor: Google` (host 169.254.169.254 when the variable is unset).
//! 2. The target principal: `google_target_principal`, else the key file's `client_email`,
//!    else the metadata server's `.../service-accounts/default/email`.
//! 3. IAM Credentials `signJwt` (`POST {iam}/v1/projects/-/serviceAccounts/{sa}:signJwt`,
//!    body `{"payload": "<claims JSON>"}`): the target signs an assertion with
//!    `iss` = the target, `sub` = `google_admin_email` (domain-wide delegation), the Directory
//!    scopes and `aud` = Google's token endpoint.
//! 4. That assertion traded at the token endpoint (RFC 7523 JWT bearer grant).

use std::sync::OnceLock;
use std::time::SystemTime;

use serde::Deserialize;

use super::credentials::{
    cfg_err, token_from, CredentialsFile, KeyFile, TokenCache, ASSERTION_LIFETIME,
    GOOGLE_TOKEN_URL, JWT_BEARER,
};
use crate::config::GoogleAdc;
use crate::crypto::Secret;
use crate::provider::api;
use crate::provider::claims::unix_seconds;
use crate::provider::error::{Endpoint, ProviderError};
use crate::provider::http;
use crate::provider::token::TokenResponse;

const METADATA: Endpoint = Endpoint::Api("Google metadata server");
const ADC_TOKEN: Endpoint = Endpoint::Api("Google application default credentials token endpoint");
const IAM: Endpoint = Endpoint::Api("Google IAM Credentials API");
const EXCHANGE: Endpoint = Endpoint::Api("Google OAuth 2.0 token endpoint");
/// The scope the source credentials need for the IAM Credentials API.
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const KEY: &str = "google_use_application_default_credentials";

/// Where the credentials' own token comes from.
enum Source {
    Key(KeyFile),
    AuthorizedUser {
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
        token_uri: url::Url,
    },
    Metadata {
        /// `http://HOST/computeMetadata/v1/instance/service-accounts/default/`.
        base: url::Url,
    },
}

/// Application Default Credentials and the service account they impersonate.
pub(super) struct Adc {
    source: Source,
    /// `google_target_principal` or the key file's `client_email`; else the metadata
    /// server's account, asked once.
    target: OnceLock<String>,
    subject: String,
    iam: url::Url,
    token_url: url::Url,
    source_token: TokenCache,
}

#[derive(Deserialize)]
struct SignJwtResponse {
    #[serde(rename = "signedJwt")]
    signed_jwt: String,
}

impl Adc {
    /// Find the credentials (reads the credentials file; no network I/O).
    pub(super) fn new(
        adc: &GoogleAdc,
        target_principal: &str,
        admin_email: &str,
    ) -> Result<Self, ProviderError> {
        let mut target = target_principal.trim().to_owned();
        let source = match &adc.credentials_file {
            Some(path) => {
                let text = std::fs::read(path).map_err(|e| {
                    cfg_err(
                        KEY,
                        format!("cannot read the credentials file {}: {e}", path.display()),
                    )
                })?;
                let f: CredentialsFile = serde_json::from_slice(&text).map_err(|e| {
                    cfg_err(
                        KEY,
                        format!("{} is not a Google credentials file: {e}", path.display()),
                    )
                })?;
                match f.kind.as_str() {
                    "service_account" => {
                        if target.is_empty() {
                            target = f.client_email.clone();
                        }
                        Source::Key(KeyFile::from_file(f, KEY, path)?)
                    }
                    "authorized_user" => {
                        let raw = f.token_uri.clone().unwrap_or_else(|| GOOGLE_TOKEN_URL.into());
                        Source::AuthorizedUser {
                            token_uri: url::Url::parse(&raw).map_err(|e| {
                                cfg_err(KEY, format!("{}: token_uri: {e}", path.display()))
                            })?,
                            client_id: f.client_id,
                            client_secret: Secret::new(f.client_secret),
                            refresh_token: Secret::new(f.refresh_token),
                        }
                    }
                    other => {
                        return Err(cfg_err(
                            KEY,
                            format!(
                                "{}: credentials of type {other:?} are not supported (service_account, authorized_user, or the metadata server)",
                                path.display()
                            ),
                        ))
                    }
                }
            }
            None => {
                let base = format!(
                    "http://{}/computeMetadata/v1/instance/service-accounts/default/",
                    adc.metadata_host.trim_end_matches('/')
                );
                Source::Metadata {
                    base: url::Url::parse(&base).map_err(|e| {
                        cfg_err(
                            KEY,
                            format!("GCE_METADATA_HOST {:?}: {e}", adc.metadata_host),
                        )
                    })?,
                }
            }
        };
        if target.is_empty() && matches!(source, Source::AuthorizedUser { .. }) {
            // oauth2-proxy's message.
            return Err(cfg_err(
                "google_target_principal",
                "unable to determine Application Default Credentials TargetPrincipal, try overriding with --google-target-principal instead",
            ));
        }
        let parse = |u: &Option<url::Url>, default: &str, key: &'static str| match u {
            Some(u) => Ok(u.clone()),
            None => url::Url::parse(default).map_err(|e| cfg_err(key, e.to_string())),
        };
        let cell = OnceLock::new();
        if !target.is_empty() {
            let _ = cell.set(target);
        }
        Ok(Self {
            source,
            target: cell,
            subject: admin_email.to_owned(),
            iam: parse(
                &adc.iam_credentials_url,
                "https://iamcredentials.googleapis.com",
                "authproxy_google_iam_credentials_url",
            )?,
            token_url: parse(
                &adc.token_url,
                GOOGLE_TOKEN_URL,
                "authproxy_google_token_url",
            )?,
            source_token: TokenCache::default(),
        })
    }

    /// The credentials' own access token (scope cloud-platform), cached.
    async fn source_token(
        &self,
        client: &reqwest::Client,
        now: SystemTime,
    ) -> Result<String, ProviderError> {
        if let Some(t) = self.source_token.get(now) {
            return Ok(t);
        }
        let resp: TokenResponse = match &self.source {
            Source::Key(key) => key.access_token(client, CLOUD_PLATFORM, None, now).await?,
            Source::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
            } => {
                let req = client
                    .post(token_uri.clone())
                    .header(reqwest::header::ACCEPT, "application/json")
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("client_id", client_id.as_str()),
                        ("client_secret", client_secret.expose()),
                        ("refresh_token", refresh_token.expose()),
                    ]);
                token_from(ADC_TOKEN, &http::send(ADC_TOKEN, req).await?)?
            }
            Source::Metadata { base } => {
                let mut url = api::join(base, "token");
                url.query_pairs_mut().append_pair("scopes", CLOUD_PLATFORM);
                let req = client.get(url).header("Metadata-Flavor", "Google");
                token_from(METADATA, &http::send(METADATA, req).await?)?
            }
        };
        self.source_token
            .put(&resp.access_token, resp.expires_in, now);
        Ok(resp.access_token)
    }

    /// The service account impersonated.
    async fn target(&self, client: &reqwest::Client) -> Result<&str, ProviderError> {
        if let Some(t) = self.target.get() {
            return Ok(t);
        }
        let Source::Metadata { base } = &self.source else {
            return Err(cfg_err("google_target_principal", "is required"));
        };
        let req = client
            .get(api::join(base, "email"))
            .header("Metadata-Flavor", "Google");
        let f = http::send(METADATA, req).await?;
        if !f.status.is_success() {
            return Err(http::status_error(METADATA, &f));
        }
        let email = String::from_utf8_lossy(&f.body).trim().to_owned();
        if email.is_empty() || email.contains(['/', '?', '#']) {
            return Err(ProviderError::InvalidResponse {
                endpoint: METADATA,
                detail: "the service account email is empty or malformed".into(),
            });
        }
        let _ = self.target.set(email);
        self.target
            .get()
            .map(String::as_str)
            .ok_or(ProviderError::NotReady)
    }

    /// An access token of the target principal acting as the admin (domain-wide
    /// delegation) for `scope`.
    pub(super) async fn delegated_token(
        &self,
        client: &reqwest::Client,
        scope: &str,
        now: SystemTime,
    ) -> Result<TokenResponse, ProviderError> {
        let source = self.source_token(client, now).await?;
        let target = self.target(client).await?.to_owned();
        let iat = unix_seconds(now);
        let claims = serde_json::json!({
            "iss": target,
            "scope": scope,
            "sub": self.subject,
            "aud": self.token_url.as_str(),
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME.as_secs() as i64,
        });
        let mut url = self.iam.clone();
        url.path_segments_mut()
            .map_err(|()| {
                cfg_err(
                    "authproxy_google_iam_credentials_url",
                    "cannot be a base URL",
                )
            })?
            .pop_if_empty()
            .extend([
                "v1",
                "projects",
                "-",
                "serviceAccounts",
                &format!("{target}:signJwt"),
            ]);
        let auth = api::authorization(IAM, "Bearer", &source)?;
        let req = client
            .post(url)
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&serde_json::json!({ "payload": claims.to_string() }));
        let f = http::send(IAM, req).await?;
        let signed: SignJwtResponse = api::json(IAM, &f)?;
        let req = client
            .post(self.token_url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("grant_type", JWT_BEARER),
                ("assertion", &signed.signed_jwt),
            ]);
        token_from(EXCHANGE, &http::send(EXCHANGE, req).await?)
    }
}
