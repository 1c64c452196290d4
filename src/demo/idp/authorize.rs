//! The authorization endpoint: the client and redirect checks, the login form where any
//! username signs in, and its submission, which issues a single-use code.

use std::collections::HashMap;
use std::time::SystemTime;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

use super::{
    error_page, first, random_token, redirect_error, redirect_with, CodeGrant, Identity, Idp,
    Reject, CODE_TTL, OFFERED_GROUPS,
};
use crate::demo::{esc, html, DEMO_CSS};

impl Idp {
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

    pub(super) fn authorize_form(&self, q: &HashMap<String, Vec<String>>) -> Response<Full<Bytes>> {
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

    pub(super) fn authorize_submit(
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
