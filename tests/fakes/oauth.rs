//! What every plain OAuth 2.0 provider fake shares: the authorization endpoint (approving at
//! once as the current user), one-time codes bound to their redirect URI, access tokens, the
//! client credentials a token request carries (HTTP Basic or the form body), and counters.
//! Each provider fake answers with its own documented JSON around this.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;

use super::server::{FakeServer, Req, Resp};

/// The client every plain OAuth 2.0 fake has registered.
pub const CLIENT_ID: &str = "oauth-client";
pub const CLIENT_SECRET: &str = "oauth-secret";

/// How a token request authenticated its client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    Basic,
    Post,
}

#[derive(Default)]
pub struct Grants {
    /// Who approves the next authorization.
    pub current: String,
    /// code → (user, redirect_uri).
    codes: HashMap<String, (String, String)>,
    /// access token → user.
    pub tokens: HashMap<String, String>,
    /// Every POST to the token endpoint, successful or not.
    pub token_requests: u64,
    /// How the last token request authenticated.
    pub last_client_auth: Option<ClientAuth>,
    /// Answer every API call with this status (and the provider's error body).
    pub api_status: Option<u16>,
    /// Refuse every code at the token endpoint (the provider's invalid-code answer).
    pub refuse_codes: bool,
    counter: u64,
}

impl Grants {
    /// The authorization endpoint: `client_id` must be ours and `response_type` `code`; the
    /// current user approves and is sent back with `code` and `state`. `None`: the request
    /// is wrong (the fake answers its provider's error page).
    pub fn authorize(&mut self, r: &Req) -> Option<Resp> {
        if r.query.get("client_id").map(String::as_str) != Some(CLIENT_ID)
            || r.query.get("response_type").map(String::as_str) != Some("code")
        {
            return None;
        }
        let redirect = r.query.get("redirect_uri")?.clone();
        let state = r.query.get("state").cloned().unwrap_or_default();
        self.counter += 1;
        let code = format!("code-{}", self.counter);
        self.codes
            .insert(code.clone(), (self.current.clone(), redirect.clone()));
        let mut u = url::Url::parse(&redirect).ok()?;
        u.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &state);
        Some(Resp::redirect(u.as_str()))
    }

    /// The client credentials of a token request (`Basic` header or form body), if they are
    /// ours.
    pub fn client(&mut self, r: &Req) -> Option<ClientAuth> {
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
        );
        let f = r.form();
        let auth = if r.headers.get("authorization") == Some(&basic) {
            Some(ClientAuth::Basic)
        } else if f.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && f.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
        {
            Some(ClientAuth::Post)
        } else {
            None
        };
        self.last_client_auth = auth;
        auth
    }

    /// Redeem a code of the form body (`grant_type=authorization_code`, the same
    /// `redirect_uri`): its user, once.
    pub fn redeem(&mut self, r: &Req) -> Option<String> {
        let f = r.form();
        if f.get("grant_type").map(String::as_str) != Some("authorization_code")
            || self.refuse_codes
        {
            return None;
        }
        let (user, redirect) = self.codes.remove(f.get("code")?)?;
        (f.get("redirect_uri") == Some(&redirect)).then_some(user)
    }

    /// A new access token for `user`.
    pub fn issue(&mut self, user: &str, prefix: &str) -> String {
        self.counter += 1;
        let token = format!("{prefix}{}", self.counter);
        self.tokens.insert(token.clone(), user.to_owned());
        token
    }

    /// The user of the request's `Authorization: Bearer` token.
    pub fn bearer_user(&self, r: &Req) -> Option<String> {
        let h = r.headers.get("authorization")?;
        let t = h.strip_prefix("Bearer ")?;
        self.tokens.get(t).cloned()
    }

    /// Revoke every token of `user`.
    pub fn revoke(&mut self, user: &str) {
        self.tokens.retain(|_, u| u != user);
    }
}

/// A running plain OAuth 2.0 fake with provider state `S` (users and [`Grants`]).
pub struct Fake<S> {
    pub server: FakeServer,
    pub state: Arc<Mutex<S>>,
}

/// A provider state that holds [`Grants`].
pub trait HasGrants: Send + 'static {
    fn grants(&mut self) -> &mut Grants;
}

impl<S: HasGrants> Fake<S> {
    /// Serve `handle` over `state`.
    pub async fn start(state: S, handle: fn(&mut S, &Req) -> Resp) -> Fake<S> {
        let state = Arc::new(Mutex::new(state));
        let s = state.clone();
        let server = FakeServer::start(Arc::new(move |r: &Req| {
            let mut guard = s.lock().unwrap();
            handle(&mut guard, r)
        }))
        .await;
        Fake { server, state }
    }

    pub fn base(&self) -> String {
        self.server.base()
    }

    /// `{base}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// The user who approves the next authorization.
    pub fn sign_in_as(&self, user: &str) {
        self.state.lock().unwrap().grants().current = user.into();
    }

    /// Revoke every token of `user`.
    pub fn revoke(&self, user: &str) {
        self.state.lock().unwrap().grants().revoke(user);
    }

    /// Answer every API call with `status` (None: normally).
    pub fn api_status(&self, status: Option<u16>) {
        self.state.lock().unwrap().grants().api_status = status;
    }

    /// Refuse every code at the token endpoint (or not).
    pub fn refuse_codes(&self, on: bool) {
        self.state.lock().unwrap().grants().refuse_codes = on;
    }

    /// How many token requests the fake has received.
    pub fn token_requests(&self) -> u64 {
        self.state.lock().unwrap().grants().token_requests
    }

    /// How the last token request authenticated its client.
    pub fn last_client_auth(&self) -> Option<ClientAuth> {
        self.state.lock().unwrap().grants().last_client_auth
    }

    /// Every request to `path`, in order.
    pub fn requests_to(&self, path: &str) -> Vec<Req> {
        self.server
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}
