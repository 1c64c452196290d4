//! A development OpenID Connect provider: discovery, JWKS, an authorization
//! endpoint with a login form where any username signs in and groups are chosen,
//! a token endpoint (authorization code with PKCE S256, refresh token), userinfo and an
//! end-session endpoint (RP-initiated logout, [`logout`]).
//! ID tokens are ES256-signed with a key generated at startup. State is in memory.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use rand::RngCore as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use url::Url;

mod authorize;
mod logout;
mod token;

use super::{ensure_loopback, esc, html, json, read_body, response, serve, text, DEMO_CSS};

/// A finished error response, boxed: responses are large and errors are the cold path.
type Reject = Box<Response<Full<Bytes>>>;

/// Lifetime of an authorization code (single use).
const CODE_TTL: Duration = Duration::from_secs(60);
/// Lifetime of access and ID tokens.
const TOKEN_TTL: Duration = Duration::from_secs(3600);
/// Groups offered as checkboxes on the login form.
const OFFERED_GROUPS: &[&str] = &["admins", "developers", "viewers"];

/// The one OAuth client the development provider knows.
#[derive(Clone, Debug)]
pub struct DemoClient {
    /// `client_id`.
    pub id: String,
    /// `client_secret` (client_secret_basic or client_secret_post).
    pub secret: String,
    /// Exact redirect URIs the client may use.
    pub redirect_uris: Vec<String>,
}

/// Who signed in on the login form.
#[derive(Clone, Debug)]
struct Identity {
    username: String,
    email: String,
    groups: Vec<String>,
}

impl Identity {
    /// A stable subject derived from the username (usernames may contain anything).
    fn sub(&self) -> String {
        let digest = Sha256::digest(self.username.as_bytes());
        format!("demo-{}", hex(&digest[..10]))
    }
}

struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    scope: String,
    identity: Identity,
    expires: SystemTime,
}

struct TokenGrant {
    identity: Identity,
    expires: SystemTime,
}

struct RefreshGrant {
    client_id: String,
    scope: String,
    identity: Identity,
}

#[derive(Default)]
struct State {
    codes: HashMap<String, CodeGrant>,
    access: HashMap<String, TokenGrant>,
    refresh: HashMap<String, RefreshGrant>,
}

struct Idp {
    issuer: String,
    prefix: String,
    client: DemoClient,
    key: EcdsaKeyPair,
    kid: String,
    jwk: serde_json::Value,
    rng: SystemRandom,
    state: Mutex<State>,
}

/// Runs the development identity provider on `listener` until `shutdown` completes.
///
/// `issuer` is the URL it advertises (e.g. `http://127.0.0.1:5556`); both it and the
/// listener must be loopback, otherwise this fails with `PermissionDenied`.
pub async fn run_idp(
    listener: TcpListener,
    issuer: Url,
    client: DemoClient,
    shutdown: impl Future,
) -> io::Result<()> {
    ensure_loopback(&listener, "development identity provider")?;
    let loopback_issuer = match issuer.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if !loopback_issuer || issuer.scheme() != "http" && issuer.scheme() != "https" {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing to run the development identity provider as issuer {issuer}: use an http://127.0.0.1:PORT issuer"),
        ));
    }
    let idp = Arc::new(Idp::new(issuer, client)?);
    tracing::warn!(issuer = %idp.issuer, "development identity provider running: anyone can sign in; not for production");
    serve(listener, shutdown, move |req| {
        let idp = idp.clone();
        async move { idp.handle(req, SystemTime::now()).await }
    })
    .await
}

impl Idp {
    fn new(issuer: Url, client: DemoClient) -> io::Result<Self> {
        let other = |e: &dyn std::fmt::Display| io::Error::other(format!("demo IdP key: {e}"));
        let key =
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|e| other(&e))?;
        // Uncompressed SEC1 point: 0x04 || X (32 bytes) || Y (32 bytes).
        let point = key.public_key().as_ref();
        if point.len() != 65 || point[0] != 4 {
            return Err(other(&"unexpected public key encoding"));
        }
        let kid = hex(&Sha256::digest(point)[..8]);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        let issuer_str = issuer.as_str().trim_end_matches('/').to_owned();
        let prefix = issuer.path().trim_end_matches('/').to_owned();
        Ok(Self {
            issuer: issuer_str,
            prefix,
            client,
            key,
            kid,
            jwk,
            rng: SystemRandom::new(),
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps inconsistent in a
        // way that matters for a development server; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn handle(&self, req: Request<Incoming>, now: SystemTime) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let Some(route) = path.strip_prefix(self.prefix.as_str()) else {
            return text(StatusCode::NOT_FOUND, "not found\n");
        };
        match (req.method().clone(), route) {
            (Method::GET, "/.well-known/openid-configuration") => self.discovery(),
            (Method::GET, "/jwks") => json(StatusCode::OK, &json!({ "keys": [self.jwk] })),
            (Method::GET, "/authorize") => {
                let q = parse_form(req.uri().query().unwrap_or("").as_bytes());
                self.authorize_form(&q)
            }
            (Method::POST, "/authorize") => match read_body(req.into_body()).await {
                Ok(b) => self.authorize_submit(&parse_form(&b), now),
                Err(r) => r,
            },
            (Method::POST, "/token") => {
                let auth = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                match read_body(req.into_body()).await {
                    Ok(b) => self.token(auth.as_deref(), &parse_form(&b), now),
                    Err(r) => r,
                }
            }
            (Method::GET | Method::POST, "/userinfo") => self.userinfo(req.headers(), now),
            (Method::GET, "/logout") => {
                self.end_session(&parse_form(req.uri().query().unwrap_or("").as_bytes()))
            }
            (
                _,
                "/.well-known/openid-configuration"
                | "/jwks"
                | "/authorize"
                | "/token"
                | "/userinfo"
                | "/logout",
            ) => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    fn discovery(&self) -> Response<Full<Bytes>> {
        let i = &self.issuer;
        json(
            StatusCode::OK,
            &json!({
                "issuer": i,
                "authorization_endpoint": format!("{i}/authorize"),
                "token_endpoint": format!("{i}/token"),
                "userinfo_endpoint": format!("{i}/userinfo"),
                "jwks_uri": format!("{i}/jwks"),
                "end_session_endpoint": format!("{i}/logout"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256"],
                "scopes_supported": ["openid", "email", "profile", "groups", "offline_access"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "email", "email_verified", "preferred_username", "groups"],
            }),
        )
    }
}

fn parse_form(bytes: &[u8]) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(bytes) {
        m.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    m
}

fn first<'a>(m: &'a HashMap<String, Vec<String>>, k: &str) -> &'a str {
    m.get(k).and_then(|v| v.first()).map_or("", String::as_str)
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn redirect_with(base: &str, params: &[(&str, &str)]) -> Response<Full<Bytes>> {
    let Ok(mut url) = Url::parse(base) else {
        return error_page(StatusCode::BAD_REQUEST, "redirect_uri is not a valid URL.");
    };
    if params.iter().any(|(_, v)| !v.is_empty()) {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
    }
    let mut r = response(
        StatusCode::FOUND,
        "text/plain; charset=utf-8",
        "redirecting\n",
    );
    match header::HeaderValue::from_str(url.as_str()) {
        Ok(v) => {
            r.headers_mut().insert(header::LOCATION, v);
            r
        }
        Err(_) => error_page(StatusCode::BAD_REQUEST, "redirect_uri is not a valid URL."),
    }
}

fn redirect_error(redirect_uri: &str, error: &str, state: &str) -> Response<Full<Bytes>> {
    redirect_with(redirect_uri, &[("error", error), ("state", state)])
}

fn error_page(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    html(
        status,
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Development sign-in error</title>\
<style>{DEMO_CSS}</style></head><body><main><div class=\"card\"><p class=\"warn\">authproxy development identity provider — not for production.</p>\
<h1>Cannot sign in</h1><p>{}</p></div></main></body></html>\n",
            esc(message)
        ),
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Full<Bytes>> {
    json(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

fn invalid_grant(description: &str) -> Response<Full<Bytes>> {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

fn invalid_client() -> Response<Full<Bytes>> {
    let mut r = oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client authentication failed",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"authproxy-demo\""),
    );
    r
}

#[cfg(test)]
#[path = "idp_tests.rs"]
mod tests;
