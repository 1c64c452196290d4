//! A development OpenID Connect provider: discovery, JWKS, an authorization
//! endpoint with a login form where any username signs in and groups are chosen,
//! a token endpoint (authorization code with PKCE S256, refresh token), userinfo and an
//! end-session endpoint (RP-initiated logout, [`logout`]).
//! ID tokens are ES256-signed with a key generated at startup. State is in memory.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use rand::RngCore as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use url::Url;

mod logout;

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

    /// Checks `client_id` and `redirect_uri`. Until both are known good, errors are
    /// shown as a page: redirecting to an unregistered URI would make us an open
    /// redirector.
    fn check_client(&self, q: &HashMap<String, Vec<String>>) -> Result<String, Reject> {
        let client_id = first(q, "client_id");
        if client_id != self.client.id {
            return Err(Box::new(error_page(
                StatusCode::BAD_REQUEST,
                "Unknown client_id.",
            )));
        }
        let redirect_uri = first(q, "redirect_uri");
        if !self.client.redirect_uris.iter().any(|u| u == redirect_uri) {
            return Err(Box::new(error_page(
                StatusCode::BAD_REQUEST,
                "redirect_uri is not registered for this client.",
            )));
        }
        Ok(redirect_uri.to_owned())
    }

    fn authorize_form(&self, q: &HashMap<String, Vec<String>>) -> Response<Full<Bytes>> {
        let redirect_uri = match self.check_client(q) {
            Ok(u) => u,
            Err(r) => return *r,
        };
        if let Err(e) = check_authorize_params(q) {
            return redirect_error(&redirect_uri, e, first(q, "state"));
        }
        let hidden: String = [
            "response_type",
            "client_id",
            "redirect_uri",
            "state",
            "nonce",
            "scope",
            "code_challenge",
            "code_challenge_method",
        ]
        .iter()
        .filter(|k| q.contains_key(**k))
        .map(|k| {
            format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">\n",
                esc(first(q, k))
            )
        })
        .collect();
        let groups: String = OFFERED_GROUPS
            .iter()
            .map(|g| {
                format!("<label><input type=\"checkbox\" name=\"group\" value=\"{g}\"> {g}</label>")
            })
            .collect();
        html(
            StatusCode::OK,
            format!(
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Development sign-in</title>\
<style>{DEMO_CSS}</style></head><body><main><div class=\"card\" style=\"max-width:28rem;margin:auto\">\
<p class=\"warn\" role=\"note\"><strong>authproxy development identity provider — not for production.</strong> \
Any username signs in.</p><h1>Sign in</h1>\
<form method=\"POST\" action=\"{prefix}/authorize\">\n{hidden}\
<label for=\"username\">Username</label><input type=\"text\" id=\"username\" name=\"username\" required autofocus autocomplete=\"username\" maxlength=\"64\">\
<label for=\"email\">Email <small>(default: username@example.com)</small></label><input type=\"email\" id=\"email\" name=\"email\" autocomplete=\"email\" maxlength=\"128\">\
<fieldset><legend>Groups</legend>{groups}\
<label for=\"groups_extra\" style=\"display:block;font-weight:600\">Other groups <small>(comma separated)</small></label>\
<input type=\"text\" id=\"groups_extra\" name=\"groups_extra\" maxlength=\"256\"></fieldset>\
<button type=\"submit\">Sign in</button></form></div></main></body></html>\n",
                prefix = esc(&self.prefix),
            ),
        )
    }

    fn authorize_submit(
        &self,
        f: &HashMap<String, Vec<String>>,
        now: SystemTime,
    ) -> Response<Full<Bytes>> {
        // The form's hidden fields came back from the browser: validate them again.
        let redirect_uri = match self.check_client(f) {
            Ok(u) => u,
            Err(r) => return *r,
        };
        let state = first(f, "state");
        if let Err(e) = check_authorize_params(f) {
            return redirect_error(&redirect_uri, e, state);
        }
        let username = first(f, "username").trim();
        if username.is_empty() || username.len() > 64 || username.chars().any(char::is_control) {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Enter a username (up to 64 characters).",
            );
        }
        let email = match first(f, "email").trim() {
            "" => format!("{}@example.com", username.replace(char::is_whitespace, ".")),
            e if e.contains('@') && e.len() <= 128 && !e.chars().any(char::is_control) => {
                e.to_owned()
            }
            _ => return error_page(StatusCode::BAD_REQUEST, "The email address is not valid."),
        };
        let mut groups: Vec<String> = f.get("group").cloned().unwrap_or_default();
        groups.extend(
            first(f, "groups_extra")
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|g| !g.is_empty())
                .map(str::to_owned),
        );
        groups.sort();
        groups.dedup();
        let code = random_token();
        let grant = CodeGrant {
            client_id: self.client.id.clone(),
            redirect_uri: redirect_uri.clone(),
            nonce: f.get("nonce").and_then(|v| v.first()).cloned(),
            code_challenge: f.get("code_challenge").and_then(|v| v.first()).cloned(),
            scope: first(f, "scope").to_owned(),
            identity: Identity {
                username: username.to_owned(),
                email,
                groups,
            },
            expires: now + CODE_TTL,
        };
        {
            let mut st = self.state();
            st.codes.retain(|_, g| g.expires > now);
            st.codes.insert(code.clone(), grant);
        }
        redirect_with(&redirect_uri, &[("code", &code), ("state", state)])
    }

    fn token(
        &self,
        authorization: Option<&str>,
        f: &HashMap<String, Vec<String>>,
        now: SystemTime,
    ) -> Response<Full<Bytes>> {
        if let Err(r) = self.authenticate_client(authorization, f) {
            return *r;
        }
        match first(f, "grant_type") {
            "authorization_code" => self.redeem_code(f, now),
            "refresh_token" => self.redeem_refresh(f, now),
            _ => oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "use authorization_code or refresh_token",
            ),
        }
    }

    /// client_secret_basic or client_secret_post; the secret is compared in
    /// constant time.
    fn authenticate_client(
        &self,
        authorization: Option<&str>,
        f: &HashMap<String, Vec<String>>,
    ) -> Result<(), Reject> {
        let (id, secret) = match authorization.and_then(|a| a.strip_prefix("Basic ")) {
            Some(b64) => {
                let decoded = STANDARD
                    .decode(b64.trim())
                    .ok()
                    .and_then(|d| String::from_utf8(d).ok());
                // RFC 6749 2.3.1: id and secret are form-urlencoded before Basic.
                match decoded.as_deref().and_then(|d| d.split_once(':')) {
                    Some((i, s)) => (form_decode(i), form_decode(s)),
                    None => return Err(Box::new(invalid_client())),
                }
            }
            None => (
                first(f, "client_id").to_owned(),
                first(f, "client_secret").to_owned(),
            ),
        };
        let id_ok = id.as_bytes().ct_eq(self.client.id.as_bytes());
        let secret_ok = secret.as_bytes().ct_eq(self.client.secret.as_bytes());
        if bool::from(id_ok & secret_ok) {
            Ok(())
        } else {
            Err(Box::new(invalid_client()))
        }
    }

    fn redeem_code(
        &self,
        f: &HashMap<String, Vec<String>>,
        now: SystemTime,
    ) -> Response<Full<Bytes>> {
        // Removing first makes every code single-use, even when redemption fails.
        let grant = self.state().codes.remove(first(f, "code"));
        let Some(g) = grant else {
            return invalid_grant("unknown, used or expired code");
        };
        if g.expires <= now {
            return invalid_grant("code expired");
        }
        if g.client_id != self.client.id || g.redirect_uri != first(f, "redirect_uri") {
            return invalid_grant("redirect_uri does not match the authorization request");
        }
        if let Some(challenge) = &g.code_challenge {
            let verifier = first(f, "code_verifier");
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if verifier.len() < 43 || !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                return invalid_grant("PKCE verification failed");
            }
        }
        self.issue_tokens(&g.identity, &g.scope, g.nonce.as_deref(), now)
    }

    fn redeem_refresh(
        &self,
        f: &HashMap<String, Vec<String>>,
        now: SystemTime,
    ) -> Response<Full<Bytes>> {
        // Refresh tokens rotate: the old one is spent by this request.
        let grant = self.state().refresh.remove(first(f, "refresh_token"));
        match grant {
            Some(g) if g.client_id == self.client.id => {
                self.issue_tokens(&g.identity, &g.scope, None, now)
            }
            _ => invalid_grant("unknown or used refresh token"),
        }
    }

    fn issue_tokens(
        &self,
        who: &Identity,
        scope: &str,
        nonce: Option<&str>,
        now: SystemTime,
    ) -> Response<Full<Bytes>> {
        let id_token = match self.id_token(who, nonce, now) {
            Ok(t) => t,
            Err(_) => {
                return oauth_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "signing failed",
                )
            }
        };
        let access = random_token();
        let refresh = random_token();
        {
            let mut st = self.state();
            st.access.retain(|_, g| g.expires > now);
            st.access.insert(
                access.clone(),
                TokenGrant {
                    identity: who.clone(),
                    expires: now + TOKEN_TTL,
                },
            );
            st.refresh.insert(
                refresh.clone(),
                RefreshGrant {
                    client_id: self.client.id.clone(),
                    scope: scope.to_owned(),
                    identity: who.clone(),
                },
            );
        }
        json(
            StatusCode::OK,
            &json!({
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": TOKEN_TTL.as_secs(),
                "refresh_token": refresh,
                "id_token": id_token,
                "scope": scope,
            }),
        )
    }

    fn id_token(
        &self,
        who: &Identity,
        nonce: Option<&str>,
        now: SystemTime,
    ) -> Result<String, aws_lc_rs::error::Unspecified> {
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut claims = json!({
            "iss": self.issuer,
            "sub": who.sub(),
            "aud": self.client.id,
            "exp": iat + TOKEN_TTL.as_secs(),
            "iat": iat,
            "email": who.email,
            "email_verified": true,
            "preferred_username": who.username,
            "groups": who.groups,
        });
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": self.kid });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        // FIXED signing yields r || s (64 bytes), the JWS ES256 encoding.
        let sig = self.key.sign(&self.rng, signing_input.as_bytes())?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(sig.as_ref())
        ))
    }

    fn userinfo(&self, headers: &http::HeaderMap, now: SystemTime) -> Response<Full<Bytes>> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let who = token.and_then(|t| {
            let st = self.state();
            st.access
                .get(t)
                .filter(|g| g.expires > now)
                .map(|g| g.identity.clone())
        });
        match who {
            Some(w) => json(
                StatusCode::OK,
                &json!({
                    "sub": w.sub(),
                    "email": w.email,
                    "email_verified": true,
                    "preferred_username": w.username,
                    "groups": w.groups,
                }),
            ),
            None => {
                let mut r = oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "missing, unknown or expired access token",
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                r
            }
        }
    }
}

/// Checks the authorization request parameters other than client and redirect.
fn check_authorize_params(q: &HashMap<String, Vec<String>>) -> Result<(), &'static str> {
    if first(q, "response_type") != "code" {
        return Err("unsupported_response_type");
    }
    if !first(q, "scope").split(' ').any(|s| s == "openid") {
        return Err("invalid_scope");
    }
    let method = first(q, "code_challenge_method");
    let challenge = first(q, "code_challenge");
    // Only S256: "plain" PKCE protects nothing against an observer of the request.
    if (!challenge.is_empty() || !method.is_empty()) && (method != "S256" || challenge.len() != 43)
    {
        return Err("invalid_request");
    }
    Ok(())
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
