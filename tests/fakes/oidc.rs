//! A fake OpenID Connect provider with RS256 keys, shaped per provider by its issuer path
//! and claims (Google, Microsoft v2, GitLab, Keycloak), plus a pluggable handler for the
//! provider's APIs (Directory API, Graph, GitLab API, service-account token endpoint).
//!
//! Endpoints: `{issuer_path}/.well-known/openid-configuration`, `/authorize` (approves as
//! the current user, redirecting with `code` and `state`), `/token` (authorization_code and
//! refresh_token grants; RFC 6749 error bodies), `/userinfo`, `/jwks`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::server::{FakeServer, Req, Resp};

pub const CLIENT_ID: &str = "oidc-client";
pub const CLIENT_SECRET: &str = "oidc-secret";
/// The RSA key every fake signs with (PKCS#8 PEM).
pub const KEY_PEM: &str = include_str!("../fixtures/fake-provider-rsa.pem");

/// Where the fake serves its OAuth endpoints (below the server's root). Providers document
/// their own paths (ADFS `/adfs/oauth2/token`, login.gov `/api/openid_connect/token`, ...).
#[derive(Clone, Debug)]
pub struct Paths {
    pub authorize: String,
    pub token: String,
    pub userinfo: String,
    pub jwks: String,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            authorize: "/authorize".into(),
            token: "/token".into(),
            userinfo: "/userinfo".into(),
            jwks: "/jwks".into(),
        }
    }
}

/// A client that authenticates with `private_key_jwt` (RFC 7523): its id and the SPKI-less
/// RSA public key (PKCS#1 DER) that verifies its assertions.
#[derive(Clone, Debug)]
pub struct AssertionClient {
    pub client_id: String,
    pub public_key: Vec<u8>,
}

/// An API handler: the request and the user who owns its bearer token (if any).
pub type ApiHandler = Arc<dyn Fn(&Req, Option<&str>) -> Option<Resp> + Send + Sync>;

#[derive(Default)]
pub struct OidcState {
    /// user → id_token claims beyond the registered ones.
    pub id_claims: HashMap<String, Map<String, Value>>,
    /// user → extra userinfo claims.
    pub userinfo: HashMap<String, Map<String, Value>>,
    pub current: String,
    codes: HashMap<String, (String, Option<String>)>,
    pub access_tokens: HashMap<String, String>,
    pub refresh_tokens: HashMap<String, String>,
    /// Answer the token endpoint with this status and `{"error":"server_error"}`.
    pub token_status: Option<u16>,
    pub token_delay: Option<Duration>,
    pub api: Option<ApiHandler>,
    /// Whether refresh responses carry a new id_token.
    pub refresh_id_token: bool,
    /// Add RFC 9207's `iss` to authorization responses.
    pub send_iss: bool,
    /// Every POST to the token endpoint, successful or not.
    pub token_requests: u64,
    /// When set, the token endpoint authenticates this client by its signed JWT assertion
    /// instead of a client secret.
    pub assertion_client: Option<AssertionClient>,
    /// When set, the token endpoint authenticates the client as the Microsoft identity
    /// platform does with a federated credential: `client_id`, `client_assertion_type`
    /// jwt-bearer and `client_assertion` = this token (the workload identity token), no secret.
    pub federated_assertion: Option<String>,
    /// Assertion `jti`s already used (a replay is refused).
    pub seen_jtis: Vec<String>,
    /// Serve no discovery document (login.gov).
    pub no_discovery: bool,
    /// The client ID tokens are issued to (default [`CLIENT_ID`]).
    pub audience: Option<String>,
    /// Issue no refresh tokens (login.gov).
    pub no_refresh_tokens: bool,
    /// userinfo answers only `sub` (ADFS: the ID token carries the claims).
    pub userinfo_sub_only: bool,
    counter: u64,
}

pub struct OidcFake {
    pub server: FakeServer,
    pub state: Arc<Mutex<OidcState>>,
    /// The issuer in the discovery document (may hold `{tenantid}`).
    pub issuer: String,
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn key() -> KeyPair {
    let body: String = KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    KeyPair::from_pkcs8(&der).unwrap()
}

/// An RS256 JWT signed with [`KEY_PEM`].
pub fn sign(claims: &Value) -> String {
    let k = key();
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "RS256", "typ": "JWT", "kid": "fake-1"})
            .to_string()
            .as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0u8; k.public_modulus_len()];
    k.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", b64(&sig))
}

fn jwks() -> Value {
    let k = key();
    let public = aws_lc_rs::signature::KeyPair::public_key(&k);
    let n = public.modulus();
    let e = public.exponent();
    json!({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "fake-1",
        "n": b64(n.big_endian_without_leading_zero()), "e": b64(e.big_endian_without_leading_zero())}]})
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl OidcFake {
    /// Start a fake whose issuer is `{base}{issuer_path}` (`issuer_path` "" or "/x/y").
    pub async fn start(issuer_path: &str) -> OidcFake {
        Self::start_with(issuer_path, None).await
    }

    /// Like [`OidcFake::start`], with a discovery issuer that differs from the path
    /// (Microsoft's `common` names `{tenantid}`): `issuer_override` is appended to the base.
    pub async fn start_with(issuer_path: &str, issuer_override: Option<&str>) -> OidcFake {
        Self::start_paths(issuer_path, issuer_override, Paths::default()).await
    }

    /// Like [`OidcFake::start_with`], serving the OAuth endpoints at `paths`.
    pub async fn start_paths(
        issuer_path: &str,
        issuer_override: Option<&str>,
        paths: Paths,
    ) -> OidcFake {
        let state = Arc::new(Mutex::new(OidcState::default()));
        let cell: Arc<Mutex<(String, String, Paths)>> = Arc::default();
        let s = state.clone();
        let c = cell.clone();
        let server = FakeServer::start(Arc::new(move |r: &Req| {
            let (issuer_path, discovery_issuer, paths) = c.lock().unwrap().clone();
            handle(&s, &issuer_path, &discovery_issuer, &paths, r)
        }))
        .await;
        let base = server.base();
        let issuer = format!("{base}{}", issuer_override.unwrap_or(issuer_path));
        *cell.lock().unwrap() = (issuer_path.to_owned(), issuer.clone(), paths);
        OidcFake {
            server,
            state,
            issuer,
        }
    }

    pub fn base(&self) -> String {
        self.server.base()
    }

    /// How many token requests this fake has received.
    pub fn token_requests(&self) -> u64 {
        self.state.lock().unwrap().token_requests
    }

    /// Send RFC 9207's `iss` in authorization responses (or not).
    pub fn send_iss(&self, on: bool) {
        self.state.lock().unwrap().send_iss = on;
    }

    /// Register `user` with these id_token claims (`iss` may be overridden here).
    pub fn add_user(&self, user: &str, claims: Value) {
        let mut s = self.state.lock().unwrap();
        if s.current.is_empty() {
            s.current = user.into();
        }
        s.id_claims
            .insert(user.into(), claims.as_object().cloned().unwrap_or_default());
    }

    pub fn set_userinfo(&self, user: &str, claims: Value) {
        self.state
            .lock()
            .unwrap()
            .userinfo
            .insert(user.into(), claims.as_object().cloned().unwrap_or_default());
    }

    pub fn sign_in_as(&self, user: &str) {
        self.state.lock().unwrap().current = user.into();
    }

    pub fn set_api(&self, h: ApiHandler) {
        self.state.lock().unwrap().api = Some(h);
    }

    /// A code for `user`, bound to `nonce`.
    pub fn code_for(&self, user: &str, nonce: Option<&str>) -> String {
        let mut s = self.state.lock().unwrap();
        s.counter += 1;
        let code = format!("code-{}", s.counter);
        s.codes
            .insert(code.clone(), (user.into(), nonce.map(str::to_owned)));
        code
    }

    /// Revoke `user`'s access tokens (userinfo and APIs refuse them).
    pub fn revoke_access(&self, user: &str) {
        self.state
            .lock()
            .unwrap()
            .access_tokens
            .retain(|_, u| u != user);
    }

    /// Revoke `user`'s refresh tokens.
    pub fn revoke(&self, user: &str) {
        self.state
            .lock()
            .unwrap()
            .refresh_tokens
            .retain(|_, u| u != user);
    }
}

fn id_token(s: &OidcState, issuer: &str, user: &str, nonce: Option<&str>) -> String {
    let now = now_secs();
    let aud = s.audience.clone().unwrap_or_else(|| CLIENT_ID.to_owned());
    let mut claims = json!({"iss": issuer, "sub": user, "aud": aud, "iat": now, "exp": now + 600});
    if let Some(n) = nonce {
        claims["nonce"] = Value::String(n.into());
    }
    if let Some(extra) = s.id_claims.get(user) {
        for (k, v) in extra {
            claims[k] = v.clone();
        }
    }
    sign(&claims)
}

fn handle(
    state: &Arc<Mutex<OidcState>>,
    issuer_path: &str,
    issuer: &str,
    paths: &Paths,
    r: &Req,
) -> Resp {
    let mut s = state.lock().unwrap();
    let base = issuer.split('/').take(3).collect::<Vec<_>>().join("/");
    let discovery = format!("{issuer_path}/.well-known/openid-configuration");
    let path = r.path.as_str();
    let endpoint = if path == paths.authorize {
        "authorize"
    } else if path == paths.token {
        "token"
    } else if path == paths.userinfo {
        "userinfo"
    } else if path == paths.jwks {
        "jwks"
    } else if path == discovery && !s.no_discovery {
        "discovery"
    } else {
        "other"
    };
    match (r.method.as_str(), endpoint) {
        ("GET", "discovery") => Resp::json(
            200,
            &json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{base}{}", paths.authorize),
                "token_endpoint": format!("{base}{}", paths.token),
                "userinfo_endpoint": format!("{base}{}", paths.userinfo),
                "jwks_uri": format!("{base}{}", paths.jwks),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            }),
        ),
        ("GET", "jwks") => Resp::json(200, &jwks()),
        ("GET", "authorize") => {
            let redirect = r.query.get("redirect_uri").cloned().unwrap_or_default();
            let st = r.query.get("state").cloned().unwrap_or_default();
            s.counter += 1;
            let code = format!("code-{}", s.counter);
            let who = s.current.clone();
            s.codes
                .insert(code.clone(), (who, r.query.get("nonce").cloned()));
            let mut u = url::Url::parse(&redirect).unwrap();
            u.query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("state", &st);
            if s.send_iss {
                u.query_pairs_mut().append_pair("iss", issuer);
            }
            Resp::redirect(u.as_str())
        }
        ("POST", "token") => {
            s.token_requests += 1;
            if let Some(status) = s.token_status {
                let mut resp = Resp::json(status, &json!({"error": "server_error"}));
                resp.delay = s.token_delay;
                return resp;
            }
            let delay = s.token_delay;
            let f = r.form();
            let basic_ok = r.headers.get("authorization").is_some_and(|h| {
                h == &format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
                )
            });
            let post_ok = f.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && f.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
            if let Some(expected) = s.federated_assertion.clone() {
                let ok = f.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                    && f.get("client_assertion_type").map(String::as_str)
                        == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                    && f.get("client_assertion") == Some(&expected)
                    && !f.contains_key("client_secret")
                    && !r.headers.contains_key("authorization");
                if !ok {
                    return Resp::json(
                        401,
                        &json!({"error": "invalid_client", "error_description": "AADSTS700211: No matching federated identity record found for presented assertion."}),
                    );
                }
            } else if let Some(client) = s.assertion_client.clone() {
                let token_url = format!("{base}{}", paths.token);
                if let Err(why) = check_assertion(&mut s, &client, &token_url, &f) {
                    return Resp::json(
                        400,
                        &json!({"error": "invalid_client", "error_description": why}),
                    );
                }
            } else if !basic_ok && !post_ok {
                return Resp::json(
                    401,
                    &json!({"error": "invalid_client", "error_description": "client authentication failed"}),
                );
            }
            let (user, nonce, with_id) = match f.get("grant_type").map(String::as_str) {
                Some("authorization_code") => match f.get("code").and_then(|c| s.codes.remove(c)) {
                    Some((u, n)) => (u, n, true),
                    None => {
                        return Resp::json(
                            400,
                            &json!({"error": "invalid_grant", "error_description": "code is invalid or expired"}),
                        )
                    }
                },
                Some("refresh_token") => match f
                    .get("refresh_token")
                    .and_then(|t| s.refresh_tokens.get(t))
                    .cloned()
                {
                    Some(u) => (u, None, s.refresh_id_token),
                    None => {
                        return Resp::json(
                            400,
                            &json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
                        )
                    }
                },
                _ => return Resp::json(400, &json!({"error": "unsupported_grant_type"})),
            };
            s.counter += 1;
            let at = format!("at-{}", s.counter);
            let rt = format!("rt-{}", s.counter);
            s.access_tokens.insert(at.clone(), user.clone());
            s.refresh_tokens.insert(rt.clone(), user.clone());
            let iss = s
                .id_claims
                .get(&user)
                .and_then(|c| c.get("iss"))
                .and_then(Value::as_str)
                .unwrap_or(issuer)
                .to_owned();
            let mut body = json!({"access_token": at, "token_type": "Bearer", "expires_in": 3600, "refresh_token": rt});
            if s.no_refresh_tokens {
                s.refresh_tokens.remove(&rt);
                body.as_object_mut().map(|b| b.remove("refresh_token"));
            }
            if with_id {
                body["id_token"] = Value::String(id_token(&s, &iss, &user, nonce.as_deref()));
            }
            let mut resp = Resp::json(200, &body);
            resp.delay = delay;
            resp
        }
        ("GET", "userinfo") => {
            let Some(user) = r.token().and_then(|t| s.access_tokens.get(&t)).cloned() else {
                return Resp::json(401, &json!({"error": "invalid_token"}));
            };
            let mut claims = json!({"sub": user});
            let sources = if s.userinfo_sub_only {
                Vec::new()
            } else {
                vec![s.id_claims.get(&user), s.userinfo.get(&user)]
            };
            for src in sources.into_iter().flatten() {
                for (k, v) in src {
                    if k != "iss" && k != "aud" {
                        claims[k] = v.clone();
                    }
                }
            }
            Resp::json(200, &claims)
        }
        _ => {
            let user = r.token().and_then(|t| s.access_tokens.get(&t)).cloned();
            let api = s.api.clone();
            drop(s);
            api.and_then(|h| h(r, user.as_deref())).unwrap_or_else(|| {
                Resp::json(
                    404,
                    &json!({"error": {"code": 404, "message": "Not Found"}}),
                )
            })
        }
    }
}

/// Verify a `private_key_jwt` client assertion (RFC 7523 3): the assertion type, an RS256
/// signature by the client's key, `iss` = `sub` = the client id, `aud` the token endpoint, a
/// future `exp`, and a `jti` not seen before.
fn check_assertion(
    s: &mut OidcState,
    client: &AssertionClient,
    token_url: &str,
    f: &HashMap<String, String>,
) -> Result<(), String> {
    if f.get("client_assertion_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return Err("client_assertion_type is missing or wrong".into());
    }
    let jwt = f
        .get("client_assertion")
        .ok_or("client_assertion is missing")?;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, sig] = parts.as_slice() else {
        return Err("client_assertion is not a JWS".into());
    };
    let dec = |p: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| "bad base64url".to_owned())
    };
    let header: Value = serde_json::from_slice(&dec(h)?).map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" {
        return Err("alg must be RS256".into());
    }
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        &client.public_key,
    )
    .verify(format!("{h}.{c}").as_bytes(), &dec(sig)?)
    .map_err(|_| "client_assertion signature is invalid".to_owned())?;
    let claims: Value = serde_json::from_slice(&dec(c)?).map_err(|e| e.to_string())?;
    if claims["iss"] != client.client_id.as_str() || claims["sub"] != client.client_id.as_str() {
        return Err("iss and sub must be the client_id".into());
    }
    let aud_ok = match &claims["aud"] {
        Value::String(a) => a == token_url,
        Value::Array(a) => a.iter().any(|x| x == token_url),
        _ => false,
    };
    if !aud_ok {
        return Err(format!("aud must be the token endpoint {token_url}"));
    }
    if claims["exp"].as_u64().is_none_or(|e| e <= now_secs()) {
        return Err("the assertion has expired".into());
    }
    let jti = claims["jti"].as_str().ok_or("jti is missing")?.to_owned();
    if s.seen_jtis.contains(&jti) {
        return Err("jti was already used".into());
    }
    s.seen_jtis.push(jti);
    Ok(())
}
