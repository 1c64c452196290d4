//! The header injection engine: `injectRequestHeaders` / `injectResponseHeaders` rules (from
//! the alpha file, or compiled from the legacy switches) compiled ONCE into a plan.
//!
//! Applying the plan to a session happens once per verified session (the result is cached
//! with it, see [`crate::session::cache`]); a request then only copies ready `HeaderValue`s
//! (a reference-count increment each). Values follow oauth2-proxy v7: every non-empty value
//! of the claim (one per group for `groups`), the `prefix` prepended; `basicAuthPassword`
//! gives `Basic base64(<value>:<password>)`; a `secretSource` is a constant; several values of
//! one header are joined with `,`.
//!
//! Where authproxy is stricter than v7, for safety:
//! * identity headers (`X-Forwarded-User`/`-Email`/…, every `X-Auth-Request-*`, `GAP-*`) sent
//!   by the client are always stripped in every spelling, also when a rule says
//!   `preserveRequestValue` (v7 would keep them) or `InsecureSkipHeaderNormalization`;
//! * tokens and secrets never go to the browser: on proxied responses only rules whose values
//!   are non-secret claims are applied (`/oauth2/auth` and ext_authz answers, which go to the
//!   front proxy, get every response rule).

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

use crate::config::structured::{HeaderRule, HeaderValueSource};
use crate::session::cache::Injected;
use crate::session::SessionState;

/// The session claim that names the provider a session was signed in with.
pub use crate::config::PROVIDER_CLAIM;

/// A claim a header value reads.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Claim {
    AccessToken,
    IdToken,
    RefreshToken,
    CreatedAt,
    ExpiresOn,
    Email,
    User,
    Groups,
    PreferredUsername,
    Provider,
    /// Any other claim kept in the session (`ac`), by its name.
    Other(String),
}

impl Claim {
    fn parse(name: &str) -> Claim {
        match name {
            "access_token" => Claim::AccessToken,
            "id_token" => Claim::IdToken,
            "refresh_token" => Claim::RefreshToken,
            "created_at" => Claim::CreatedAt,
            "expires_on" => Claim::ExpiresOn,
            "email" => Claim::Email,
            "user" => Claim::User,
            "groups" => Claim::Groups,
            "preferred_username" => Claim::PreferredUsername,
            PROVIDER_CLAIM => Claim::Provider,
            other => Claim::Other(other.to_owned()),
        }
    }

    /// Tokens: never sent to the browser, and marked sensitive (not indexed by HPACK).
    fn is_secret(&self) -> bool {
        matches!(
            self,
            Claim::AccessToken | Claim::IdToken | Claim::RefreshToken
        )
    }
}

#[derive(Clone, Debug)]
enum Value {
    Claim {
        claim: Claim,
        prefix: Vec<u8>,
        /// `basicAuthPassword`.
        password: Option<Vec<u8>>,
    },
    Constant(Vec<u8>),
    /// The signed identity assertion: minted per request target, never part of
    /// [`HeaderPlan::inject`] (see [`HeaderPlan::assertion_request`]).
    Assertion,
}

impl Value {
    fn is_secret(&self) -> bool {
        match self {
            Value::Claim {
                claim, password, ..
            } => claim.is_secret() || password.is_some(),
            // A bearer credential for the app: never sent to the browser.
            Value::Constant(_) | Value::Assertion => true,
        }
    }
}

/// A header whose value is the identity assertion (`identityAssertionSource`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssertionHeader {
    pub name: HeaderName,
    /// Prepended to the token.
    pub prefix: String,
}

#[derive(Clone, Debug)]
struct Rule {
    name: HeaderName,
    preserve: bool,
    values: Vec<Value>,
    secret: bool,
}

/// The compiled rules.
#[derive(Clone, Debug, Default)]
pub struct HeaderPlan {
    request: Vec<Rule>,
    response: Vec<Rule>,
    /// Folded (lower-case, `_` → `-`) names of request rules whose client copies are stripped.
    strip: Vec<Box<[u8]>>,
    /// The plan sets `Authorization` on requests to the app (the client's is then stripped).
    sets_authorization: bool,
    /// See [`HeaderPlan::preserved`].
    preserved: Vec<HeaderName>,
    /// See [`HeaderPlan::assertion_request`].
    assertion_request: Option<AssertionHeader>,
    /// See [`HeaderPlan::assertion_response`].
    assertion_response: Option<AssertionHeader>,
}

/// A plan that cannot be built (a header name that is not a legal header).
#[derive(Debug, thiserror::Error)]
#[error("{section}: header name {name:?} is not a valid HTTP header name")]
pub struct PlanError {
    pub section: &'static str,
    pub name: String,
}

fn compile(rules: &[HeaderRule], section: &'static str) -> Result<Vec<Rule>, PlanError> {
    rules
        .iter()
        .map(|r| {
            let name = HeaderName::from_bytes(r.name.as_bytes()).map_err(|_| PlanError {
                section,
                name: r.name.clone(),
            })?;
            let values: Vec<Value> = r
                .values
                .iter()
                .map(|v| match v {
                    HeaderValueSource::Claim(c) => Value::Claim {
                        claim: Claim::parse(&c.claim),
                        prefix: c.prefix.as_bytes().to_vec(),
                        password: c.basic_auth_password.as_ref().map(|p| p.bytes.0.clone()),
                    },
                    HeaderValueSource::Secret(s) => Value::Constant(s.bytes.0.clone()),
                    HeaderValueSource::IdentityAssertion(_) => Value::Assertion,
                })
                .collect();
            let secret = values.iter().any(Value::is_secret);
            Ok(Rule {
                name,
                preserve: r.preserve_request_value,
                values,
                secret,
            })
        })
        .collect()
}

impl HeaderPlan {
    /// Compile the rules (validated names, values ready).
    pub fn new(
        request_rules: &[HeaderRule],
        response_rules: &[HeaderRule],
    ) -> Result<Self, PlanError> {
        let request = compile(request_rules, "injectRequestHeaders")?;
        let response = compile(response_rules, "injectResponseHeaders")?;
        let strip = request
            .iter()
            .filter(|r| !r.preserve || super::is_identity_header(r.name.as_str(), false))
            .map(|r| fold_name(r.name.as_str()))
            .collect();
        let sets_authorization = request
            .iter()
            .any(|r| r.name == http::header::AUTHORIZATION);
        let mut plan = Self {
            assertion_request: assertion_header(request_rules, &request),
            assertion_response: assertion_header(response_rules, &response),
            request,
            response,
            strip,
            sets_authorization,
            preserved: Vec::new(),
        };
        plan.preserved = plan
            .request
            .iter()
            .filter(|r| r.preserve && !plan.strips(r.name.as_str()))
            .map(|r| r.name.clone())
            .collect();
        Ok(plan)
    }

    /// Request rules whose client values are kept although they name identity headers
    /// (authproxy strips those anyway): one warning each at startup.
    pub fn ignored_preserves(&self) -> impl Iterator<Item = &str> {
        self.request
            .iter()
            .filter(|r| r.preserve && super::is_identity_header(r.name.as_str(), false))
            .map(|r| r.name.as_str())
    }

    /// Whether the plan sets `Authorization` on requests to the app.
    pub fn sets_authorization(&self) -> bool {
        self.sets_authorization
    }

    /// Whether a client-sent header with this name must be removed before the request goes
    /// to the app: every identity header, and every header the request rules set (any case,
    /// `_` for `-`), unless a rule asked to preserve the client's value.
    pub fn strips(&self, name: &str) -> bool {
        super::is_identity_header(name, self.sets_authorization)
            || self
                .strip
                .iter()
                .any(|n| n.len() == name.len() && super::folded_eq(name.as_bytes(), n))
    }

    /// Remove every client-sent header [`HeaderPlan::strips`] names. Allocates only when a
    /// header has to go.
    pub fn strip(&self, headers: &mut HeaderMap) {
        let mut doomed = headers
            .keys()
            .filter(|n| self.strips(n.as_str()))
            .peekable();
        if doomed.peek().is_none() {
            return;
        }
        let doomed: Vec<HeaderName> = doomed.cloned().collect();
        for name in doomed {
            headers.remove(&name);
        }
    }

    /// The headers a session produces. `provider` is the id of the session's provider.
    pub fn inject(&self, session: &SessionState, provider: &str) -> Injected {
        let ctx = Ctx { session, provider };
        Injected {
            request: self.request.iter().filter_map(|r| ctx.header(r)).collect(),
            response: self.response.iter().filter_map(|r| ctx.header(r)).collect(),
            browser: self
                .response
                .iter()
                .filter(|r| !r.secret)
                .filter_map(|r| ctx.header(r))
                .collect(),
        }
    }

    /// Request headers whose client value is kept and appended to (`preserveRequestValue`,
    /// never for identity headers).
    pub fn preserved(&self) -> &[HeaderName] {
        &self.preserved
    }

    /// The request header (to the app; also the app's headers in ext_authz answers) that
    /// carries the identity assertion, if any rule names it. Client-sent copies are stripped
    /// like every request rule's header.
    pub fn assertion_request(&self) -> Option<&AssertionHeader> {
        self.assertion_request.as_ref()
    }

    /// The `/oauth2/auth` response header that carries the identity assertion, if any. It is
    /// never added to proxied responses (the browser).
    pub fn assertion_response(&self) -> Option<&AssertionHeader> {
        self.assertion_response.as_ref()
    }
}

fn assertion_header(rules: &[HeaderRule], compiled: &[Rule]) -> Option<AssertionHeader> {
    rules.iter().zip(compiled).find_map(|(r, c)| {
        r.assertion().map(|a| AssertionHeader {
            name: c.name.clone(),
            prefix: a.prefix.clone(),
        })
    })
}

fn fold_name(name: &str) -> Box<[u8]> {
    name.bytes().map(super::fold).collect()
}

struct Ctx<'a> {
    session: &'a SessionState,
    provider: &'a str,
}

impl Ctx<'_> {
    fn header(&self, r: &Rule) -> Option<(HeaderName, HeaderValue)> {
        let mut out: Vec<u8> = Vec::new();
        for v in &r.values {
            match v {
                Value::Constant(bytes) => push(&mut out, bytes),
                Value::Assertion => {}
                Value::Claim {
                    claim,
                    prefix,
                    password,
                } => {
                    for value in self.values(claim) {
                        if value.is_empty() {
                            continue;
                        }
                        match password {
                            Some(pw) => {
                                let mut cred = value.into_bytes();
                                cred.push(b':');
                                cred.extend_from_slice(pw);
                                let mut v = b"Basic ".to_vec();
                                v.extend_from_slice(crate::crypto::b64_std(&cred).as_bytes());
                                push(&mut out, &v);
                            }
                            None => {
                                let mut v = prefix.clone();
                                v.extend_from_slice(value.as_bytes());
                                push(&mut out, &v);
                            }
                        }
                    }
                }
            }
        }
        if out.is_empty() {
            return None;
        }
        // `from_bytes` refuses CR, LF, NUL and every other control byte except tab, so a value
        // can never end a header early or inject another one. UTF-8 (obs-text) is kept, as
        // oauth2-proxy sends it.
        match HeaderValue::from_bytes(&out) {
            Ok(mut v) => {
                v.set_sensitive(r.secret);
                Some((r.name.clone(), v))
            }
            Err(_) => {
                tracing::warn!(
                    header = r.name.as_str(),
                    "identity value contains characters not allowed in an HTTP header; header not sent"
                );
                None
            }
        }
    }

    /// Every value of the claim (oauth2-proxy's `GetClaim`).
    fn values(&self, claim: &Claim) -> Vec<String> {
        let s = self.session;
        let one = |v: &str| vec![v.to_owned()];
        match claim {
            Claim::AccessToken => one(&s.access_token),
            Claim::IdToken => one(&s.id_token),
            Claim::RefreshToken => one(&s.refresh_token),
            Claim::CreatedAt => s.created_at.map(go_time).into_iter().collect(),
            Claim::ExpiresOn => s.expires_on.map(go_time).into_iter().collect(),
            Claim::Email => one(&s.email),
            Claim::User => one(&s.user),
            Claim::Groups => s.groups.clone(),
            Claim::PreferredUsername => one(&s.preferred_username),
            Claim::Provider => match s.additional_claims.get(PROVIDER_CLAIM) {
                Some(rmpv::Value::String(p)) => {
                    p.as_str().map(|p| vec![p.to_owned()]).unwrap_or_default()
                }
                _ => one(self.provider),
            },
            Claim::Other(name) => s
                .additional_claims
                .get(name)
                .map(coerce_claim)
                .unwrap_or_default(),
        }
    }
}

fn push(out: &mut Vec<u8>, v: &[u8]) {
    if !out.is_empty() {
        out.push(b',');
    }
    out.extend_from_slice(v);
}

/// oauth2-proxy's claim coercion (`util.CoerceClaim` into `[]string`): a list gives one value
/// per element, a scalar one value; strings as they are, numbers and booleans formatted, maps
/// as JSON.
pub fn coerce_claim(v: &rmpv::Value) -> Vec<String> {
    match v {
        rmpv::Value::Array(items) => items.iter().map(claim_string).collect(),
        other => vec![claim_string(other)],
    }
}

fn claim_string(v: &rmpv::Value) -> String {
    match v {
        rmpv::Value::Nil => String::new(),
        rmpv::Value::Boolean(b) => b.to_string(),
        rmpv::Value::Integer(i) => i.to_string(),
        rmpv::Value::F32(f) => f64::from(*f).to_string(),
        rmpv::Value::F64(f) => f.to_string(),
        rmpv::Value::String(s) => s.as_str().unwrap_or_default().to_owned(),
        rmpv::Value::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        other => crate::session::claims::to_json(other).to_string(),
    }
}

/// Go's `time.Time.String()` for a UTC instant: `2006-01-02 15:04:05.999999999 +0000 UTC`.
fn go_time(t: std::time::SystemTime) -> String {
    let nanos = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    let Ok(dt) = cookie::time::OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return String::new();
    };
    let mut s = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    let frac = dt.nanosecond();
    if frac != 0 {
        let digits = format!("{frac:09}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
