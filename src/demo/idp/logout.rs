//! The development provider's `end_session_endpoint` (OpenID Connect RP-Initiated Logout 1.0):
//! `GET /logout?id_token_hint=…&client_id=…&post_logout_redirect_uri=…`. The hint must be an ID
//! token this provider signed for its client (an expired one is fine, as the specification
//! allows); the user's tokens are revoked, and the browser goes back to
//! `post_logout_redirect_uri` when it is on the origin of a registered redirect URI (the
//! development provider's registration rule), else a "signed out" page is shown.

use std::collections::HashMap;

use aws_lc_rs::signature::{KeyPair as _, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http::Response;
use http::StatusCode;
use http_body_util::Full;
use url::Url;

use super::{error_page, first, redirect_with, Idp};
use crate::demo::{html, DEMO_CSS};

impl Idp {
    pub(super) fn end_session(&self, q: &HashMap<String, Vec<String>>) -> Response<Full<Bytes>> {
        let client_id = first(q, "client_id");
        if !client_id.is_empty() && client_id != self.client.id {
            return error_page(StatusCode::BAD_REQUEST, "Unknown client_id.");
        }
        let hint = first(q, "id_token_hint");
        let sub =
            if hint.is_empty() {
                None
            } else {
                match self.hinted_subject(hint) {
                    Some(s) => Some(s),
                    None => return error_page(
                        StatusCode::BAD_REQUEST,
                        "id_token_hint is not an ID token issued by this provider for this client.",
                    ),
                }
            };
        let back = first(q, "post_logout_redirect_uri");
        if !back.is_empty() && !self.may_return_to(back) {
            return error_page(
                StatusCode::BAD_REQUEST,
                "post_logout_redirect_uri is not on the origin of a registered redirect URI.",
            );
        }
        if let Some(sub) = &sub {
            let mut st = self.state();
            st.access.retain(|_, g| &g.identity.sub() != sub);
            st.refresh.retain(|_, g| &g.identity.sub() != sub);
        }
        if !back.is_empty() {
            return redirect_with(back, &[("state", first(q, "state"))]);
        }
        html(
            StatusCode::OK,
            format!(
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed out</title>\
<style>{DEMO_CSS}</style></head><body><main><div class=\"card\"><p class=\"warn\">authproxy development identity provider — not for production.</p>\
<h1>Signed out</h1><p>You are signed out of the development identity provider.</p></div></main></body></html>\n"
            ),
        )
    }

    /// The `sub` of an ID token this provider signed for its client.
    fn hinted_subject(&self, token: &str) -> Option<String> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
        let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.key.public_key().as_ref());
        key.verify(format!("{h}.{p}").as_bytes(), &sig).ok()?;
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
        (claims["iss"] == self.issuer.as_str() && claims["aud"] == self.client.id.as_str())
            .then(|| claims["sub"].as_str().map(str::to_owned))
            .flatten()
    }

    fn may_return_to(&self, uri: &str) -> bool {
        let Ok(u) = Url::parse(uri) else {
            return false;
        };
        self.client
            .redirect_uris
            .iter()
            .filter_map(|r| Url::parse(r).ok())
            .any(|r| r.origin() == u.origin())
    }
}
