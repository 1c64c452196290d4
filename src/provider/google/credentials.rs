//! The credentials Google's Admin SDK calls use: a service-account JSON key
//! (`google_service_account_json`, domain-wide delegation: the key signs an assertion naming
//! the admin), or Application Default Credentials impersonating a service account
//! (`google_use_application_default_credentials`, [`super::adc`]). Either way the result is an
//! access token for the Directory API scopes, cached until shortly before it expires.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::Value;

use crate::provider::claims::unix_seconds;
use crate::provider::error::{Endpoint, ProviderError};
use crate::provider::http::{self, Fetched};
use crate::provider::rs256::RsaSigner;
use crate::provider::token::{parse_token_response, TokenResponse};

pub(super) const SA_TOKEN: Endpoint = Endpoint::Api("Google service-account token endpoint");
pub(super) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime of a signed assertion (Google accepts at most one hour).
pub(super) const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);
/// A cached token is renewed this long before it expires.
pub(super) const TOKEN_MARGIN: Duration = Duration::from_secs(60);

pub(super) fn cfg_err(key: &'static str, message: impl Into<String>) -> ProviderError {
    ProviderError::Config {
        key,
        message: message.into(),
    }
}

/// The fields of a Google credentials JSON file authproxy uses (`service_account` keys and
/// gcloud's `authorized_user` credentials).
#[derive(Deserialize)]
pub(super) struct CredentialsFile {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub client_email: String,
    #[serde(default)]
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default)]
    pub token_uri: Option<String>,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    #[serde(default)]
    pub refresh_token: String,
}

/// Google's OAuth 2.0 token endpoint (the default `token_uri`).
pub(super) const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// A service-account key: it signs JWT assertions itself.
pub(super) struct KeyFile {
    pub client_email: String,
    pub key: RsaSigner,
    pub key_id: Option<String>,
    pub token_uri: url::Url,
}

impl KeyFile {
    /// Read the key fields of a `service_account` credentials file (`key` names the option).
    pub(super) fn from_file(
        f: CredentialsFile,
        key: &'static str,
        path: &std::path::Path,
    ) -> Result<Self, ProviderError> {
        let signer = RsaSigner::from_pem(&f.private_key).map_err(|e| {
            cfg_err(
                key,
                format!("{}: private_key is not an RSA PEM key: {e}", path.display()),
            )
        })?;
        let raw = f.token_uri.unwrap_or_else(|| GOOGLE_TOKEN_URL.to_owned());
        let token_uri = url::Url::parse(&raw)
            .map_err(|e| cfg_err(key, format!("{}: token_uri: {e}", path.display())))?;
        Ok(Self {
            client_email: f.client_email,
            key: signer,
            key_id: f.private_key_id.filter(|k| !k.is_empty()),
            token_uri,
        })
    }

    /// Trade a signed assertion (RFC 7523 JWT bearer grant) for an access token: `sub` is the
    /// user acted for (domain-wide delegation), none for the service account itself.
    pub(super) async fn access_token(
        &self,
        client: &reqwest::Client,
        scope: &str,
        sub: Option<&str>,
        now: SystemTime,
    ) -> Result<TokenResponse, ProviderError> {
        let iat = unix_seconds(now);
        let mut claims = serde_json::json!({
            "iss": self.client_email,
            "scope": scope,
            "aud": self.token_uri.as_str(),
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME.as_secs() as i64,
        });
        if let Some(sub) = sub {
            claims["sub"] = Value::String(sub.to_owned());
        }
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = Value::String(kid.clone());
        }
        let assertion = self.key.sign_jwt(&header, &claims).map_err(|e| {
            cfg_err(
                "google_service_account_json",
                format!("cannot sign the assertion: {e}"),
            )
        })?;
        let req = client
            .post(self.token_uri.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("grant_type", JWT_BEARER), ("assertion", &assertion)]);
        token_from(SA_TOKEN, &http::send(SA_TOKEN, req).await?)
    }
}

/// A token endpoint's answer, its errors named after `endpoint` (not the login's token
/// endpoint).
pub(super) fn token_from(endpoint: Endpoint, f: &Fetched) -> Result<TokenResponse, ProviderError> {
    parse_token_response(f).map_err(|e| match e {
        ProviderError::Idp {
            error, description, ..
        } => ProviderError::Idp {
            endpoint,
            error,
            description,
        },
        ProviderError::HttpStatus { status, .. } => ProviderError::HttpStatus { endpoint, status },
        ProviderError::InvalidResponse { detail, .. } => {
            ProviderError::InvalidResponse { endpoint, detail }
        }
        other => other,
    })
}

/// A token and when it expires, reused until [`TOKEN_MARGIN`] before that. Touched only at
/// login and refresh, never on the per-request path.
#[derive(Default)]
pub(super) struct TokenCache(Mutex<Option<(String, SystemTime)>>);

impl TokenCache {
    pub fn get(&self, now: SystemTime) -> Option<String> {
        let guard = self.0.lock().ok()?;
        let (token, exp) = guard.as_ref()?;
        (now + TOKEN_MARGIN < *exp).then(|| token.clone())
    }

    pub fn put(&self, token: &str, expires_in: Option<i64>, now: SystemTime) {
        let exp = now + Duration::from_secs(expires_in.unwrap_or(3600).max(0) as u64);
        if let Ok(mut guard) = self.0.lock() {
            *guard = Some((token.to_owned(), exp));
        }
    }
}

/// How the Directory API calls are authorized.
pub(super) enum Credentials {
    /// `google_service_account_json`: the key acts as `admin_email`.
    Key {
        key: Box<KeyFile>,
        admin_email: String,
    },
    /// `google_use_application_default_credentials`.
    Adc(Box<super::adc::Adc>),
}

/// The credentials and their cached Directory token.
pub(super) struct DirectoryAuth {
    pub credentials: Credentials,
    /// The scopes asked for, space-separated.
    pub scope: String,
    pub cached: TokenCache,
}

impl DirectoryAuth {
    /// A Directory API access token (cached).
    pub async fn token(
        &self,
        client: &reqwest::Client,
        now: SystemTime,
    ) -> Result<String, ProviderError> {
        if let Some(t) = self.cached.get(now) {
            return Ok(t);
        }
        let resp = match &self.credentials {
            Credentials::Key { key, admin_email } => {
                key.access_token(client, &self.scope, Some(admin_email), now)
                    .await?
            }
            Credentials::Adc(adc) => adc.delegated_token(client, &self.scope, now).await?,
        };
        self.cached.put(&resp.access_token, resp.expires_in, now);
        Ok(resp.access_token)
    }
}

/// Read a service-account JSON key file (`google_service_account_json`).
pub(super) fn load_key_file(path: &std::path::Path) -> Result<KeyFile, ProviderError> {
    const KEY: &str = "google_service_account_json";
    let text = std::fs::read(path)
        .map_err(|e| cfg_err(KEY, format!("cannot read {}: {e}", path.display())))?;
    let f: CredentialsFile = serde_json::from_slice(&text).map_err(|e| {
        cfg_err(
            KEY,
            format!("{} is not a service-account JSON key: {e}", path.display()),
        )
    })?;
    if f.kind != "service_account" {
        return Err(cfg_err(
            KEY,
            format!(
                "{} has type {:?}, expected \"service_account\"",
                path.display(),
                f.kind
            ),
        ));
    }
    KeyFile::from_file(f, KEY, path)
}
