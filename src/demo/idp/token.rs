//! The token endpoint (authorization code with PKCE S256, refresh token), the ES256-signed
//! ID token, and userinfo for the access tokens it issued.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::Full;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{
    first, form_decode, invalid_client, invalid_grant, oauth_error, random_token, Identity, Idp,
    RefreshGrant, Reject, TokenGrant, TOKEN_TTL,
};
use crate::demo::json;

impl Idp {
    pub(super) fn token(
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

    pub(super) fn userinfo(
        &self,
        headers: &http::HeaderMap,
        now: SystemTime,
    ) -> Response<Full<Bytes>> {
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
