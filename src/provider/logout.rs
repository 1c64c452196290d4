//! OpenID Connect Back-Channel Logout 1.0, section 2.6: what a valid Logout Token must say
//! once its signature is verified (pure; `now` is a parameter).
//!
//! A Logout Token is a JWT the identity provider POSTs to the relying party when a user's
//! session ends there. It looks like an ID token, so the checks that keep one from being
//! replayed as the other matter most: the back-channel logout `events` member is required and
//! a `nonce` is forbidden.

use std::time::Duration;

use serde_json::{Map, Value};

use super::claims::{self, Expectations, CLOCK_SKEW};
use super::error::TokenCheck;

/// The `events` member that makes a JWT a Logout Token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How old (by `iat`) a Logout Token may be. The specification leaves the window to the
/// relying party; identity providers send the token right after the logout, so minutes are
/// plenty, and a short window bounds how long a `jti` must be remembered.
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// How long a `jti` is remembered to refuse a replay: the whole window a token is accepted in.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(MAX_AGE.as_secs() + 2 * 60);

/// Whom a valid Logout Token logs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutSubject {
    pub iss: String,
    /// The user (all their sessions at this issuer), when the token names one.
    pub sub: Option<String>,
    /// The identity provider's session, when the token names one.
    pub sid: Option<String>,
    /// The token's unique id, remembered to refuse a replay.
    pub jti: String,
}

/// Why a Logout Token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutCheck {
    #[error("{0}")]
    Token(TokenCheck),
    #[error("the events claim has no {BACKCHANNEL_LOGOUT_EVENT:?} member with a JSON object value: not a logout token")]
    NotALogoutToken,
    #[error("a logout token must not contain a nonce claim")]
    Nonce,
    #[error("a logout token must contain a sub or a sid claim")]
    NoSubject,
    #[error("the logout token was issued too long ago (iat {iat}, unix seconds)")]
    TooOld { iat: i64 },
    #[error("the JOSE header typ {0:?} is not logout+jwt")]
    Type(String),
    #[error("the logout token was already used (jti replayed)")]
    Replayed,
    #[error("no configured OpenID Connect provider has the issuer {0:?}")]
    UnknownIssuer(String),
}

impl From<TokenCheck> for LogoutCheck {
    fn from(t: TokenCheck) -> Self {
        LogoutCheck::Token(t)
    }
}

/// The JOSE `typ` header: absent, `JWT`, or `logout+jwt` (section 2.4 recommends the last;
/// older identity providers send `JWT` or nothing). Another explicit type (an access token's
/// `at+jwt`, for one) is refused.
pub(crate) fn check_type(typ: Option<&str>) -> Result<(), LogoutCheck> {
    match typ {
        None => Ok(()),
        Some(t)
            if t.eq_ignore_ascii_case("logout+jwt")
                || t.eq_ignore_ascii_case("application/logout+jwt")
                || t.eq_ignore_ascii_case("JWT") =>
        {
            Ok(())
        }
        Some(other) => Err(LogoutCheck::Type(other.to_owned())),
    }
}

/// Section 2.6 steps 3 to 6 (after the signature): `iss`, `aud` (and `azp`), `iat` within
/// [`MAX_AGE`], `exp` when present, `jti`, the logout event, `sub` and/or `sid`, no `nonce`.
pub(crate) fn check_logout_token(
    claims_map: &Map<String, Value>,
    expect: &Expectations<'_>,
) -> Result<LogoutSubject, LogoutCheck> {
    let iss = text(claims_map, "iss")?.ok_or(TokenCheck::MissingClaim("iss"))?;
    if let Some(expected) = expect.issuer {
        if iss != expected {
            return Err(TokenCheck::Issuer {
                expected: expected.to_owned(),
                found: iss.to_owned(),
            }
            .into());
        }
    }
    claims::check_audience(claims_map, expect)?;
    let now = claims::unix_seconds(expect.now);
    let skew = CLOCK_SKEW.as_secs() as i64;
    let iat = claims::numeric_date(claims_map, "iat")?.ok_or(TokenCheck::MissingClaim("iat"))?;
    if iat > now.saturating_add(skew) {
        return Err(TokenCheck::IssuedInFuture { iat }.into());
    }
    if iat < now.saturating_sub(MAX_AGE.as_secs() as i64 + skew) {
        return Err(LogoutCheck::TooOld { iat });
    }
    if let Some(exp) = claims::numeric_date(claims_map, "exp")? {
        if now > exp.saturating_add(skew) {
            return Err(TokenCheck::Expired { exp }.into());
        }
    }
    let jti = text(claims_map, "jti")?.ok_or(TokenCheck::MissingClaim("jti"))?;
    let is_logout = claims_map
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT))
        .is_some_and(Value::is_object);
    if !is_logout {
        return Err(LogoutCheck::NotALogoutToken);
    }
    if claims_map.get("nonce").is_some_and(|v| !v.is_null()) {
        return Err(LogoutCheck::Nonce);
    }
    let sub = text(claims_map, "sub")?;
    let sid = text(claims_map, "sid")?;
    if sub.is_none() && sid.is_none() {
        return Err(LogoutCheck::NoSubject);
    }
    Ok(LogoutSubject {
        iss: iss.to_owned(),
        sub: sub.map(str::to_owned),
        sid: sid.map(str::to_owned),
        jti: jti.to_owned(),
    })
}

/// An optional non-empty string claim.
fn text<'a>(
    claims_map: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, TokenCheck> {
    match claims_map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TokenCheck::ClaimType {
            claim: name,
            expected: "a string",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::UNIX_EPOCH;

    const NOW: u64 = 1_900_000_000;

    fn expect() -> Expectations<'static> {
        Expectations {
            issuer: Some("https://idp.example"),
            client_id: "app",
            extra_audiences: &[],
            audience_claims: &[],
            nonce: None,
            now: UNIX_EPOCH + Duration::from_secs(NOW),
        }
    }

    fn valid() -> Map<String, Value> {
        let v = json!({
            "iss": "https://idp.example",
            "aud": "app",
            "iat": NOW - 10,
            "exp": NOW + 110,
            "jti": "j-1",
            "sub": "user-1",
            "sid": "s-1",
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        });
        v.as_object().cloned().unwrap()
    }

    fn with(edit: impl FnOnce(&mut Map<String, Value>)) -> Map<String, Value> {
        let mut c = valid();
        edit(&mut c);
        c
    }

    #[test]
    fn a_valid_logout_token_names_its_subject() {
        let s = check_logout_token(&valid(), &expect()).unwrap();
        assert_eq!(
            s,
            LogoutSubject {
                iss: "https://idp.example".into(),
                sub: Some("user-1".into()),
                sid: Some("s-1".into()),
                jti: "j-1".into(),
            }
        );
        // sid alone and sub alone are both enough; exp is optional.
        let only_sid = with(|c| {
            c.remove("sub");
            c.remove("exp");
        });
        assert_eq!(check_logout_token(&only_sid, &expect()).unwrap().sub, None);
        let only_sub = with(|c| {
            c.remove("sid");
        });
        assert_eq!(check_logout_token(&only_sub, &expect()).unwrap().sid, None);
    }

    #[test]
    fn every_rule_of_section_2_6_refuses_a_bad_token() {
        type Edit = fn(&mut Map<String, Value>);
        type Case = (&'static str, Edit, fn(&LogoutCheck) -> bool);
        let cases: &[Case] = &[
            (
                "another issuer",
                |c| {
                    c.insert("iss".into(), json!("https://evil.example"));
                },
                |e| matches!(e, LogoutCheck::Token(TokenCheck::Issuer { .. })),
            ),
            (
                "no iss",
                |c| {
                    c.remove("iss");
                },
                |e| matches!(e, LogoutCheck::Token(TokenCheck::MissingClaim("iss"))),
            ),
            (
                "another audience",
                |c| {
                    c.insert("aud".into(), json!("other-app"));
                },
                |e| matches!(e, LogoutCheck::Token(TokenCheck::Audience { .. })),
            ),
            (
                "no iat",
                |c| {
                    c.remove("iat");
                },
                |e| matches!(e, LogoutCheck::Token(TokenCheck::MissingClaim("iat"))),
            ),
            (
                "iat in the future",
                |c| {
                    c.insert("iat".into(), json!(NOW + 3600));
                },
                |e| matches!(e, LogoutCheck::Token(TokenCheck::IssuedInFuture { .. })),
            ),
            (
                "iat too old",
                |c| {
                    c.insert("iat".into(), json!(NOW - 3600));
                    c.insert("exp".into(), json!(NOW + 3600));
                },
                |e| matches!(e, LogoutCheck::TooOld { .. }),
            ),
            (
                "expired",
                |c| {
                    c.insert("exp".into(), json!(NOW - 3600));
                },
                |e| matches!(e, LogoutCheck::Token(TokenCheck::Expired { .. })),
            ),
            (
                "no jti",
                |c| {
                    c.remove("jti");
                },
                |e| matches!(e, LogoutCheck::Token(TokenCheck::MissingClaim("jti"))),
            ),
            (
                "no events (an ID token)",
                |c| {
                    c.remove("events");
                },
                |e| *e == LogoutCheck::NotALogoutToken,
            ),
            (
                "another event",
                |c| {
                    c.insert(
                        "events".into(),
                        json!({"http://schemas.openid.net/event/other": {}}),
                    );
                },
                |e| *e == LogoutCheck::NotALogoutToken,
            ),
            (
                "the event is not an object",
                |c| {
                    c.insert("events".into(), json!({ BACKCHANNEL_LOGOUT_EVENT: true }));
                },
                |e| *e == LogoutCheck::NotALogoutToken,
            ),
            (
                "a nonce",
                |c| {
                    c.insert("nonce".into(), json!("n"));
                },
                |e| *e == LogoutCheck::Nonce,
            ),
            (
                "neither sub nor sid",
                |c| {
                    c.remove("sub");
                    c.remove("sid");
                },
                |e| *e == LogoutCheck::NoSubject,
            ),
            (
                "sid of the wrong type",
                |c| {
                    c.insert("sid".into(), json!(7));
                },
                |e| {
                    matches!(
                        e,
                        LogoutCheck::Token(TokenCheck::ClaimType { claim: "sid", .. })
                    )
                },
            ),
        ];
        for (name, edit, want) in cases {
            let c = with(*edit);
            match check_logout_token(&c, &expect()) {
                Ok(s) => panic!("{name}: accepted as {s:?}"),
                Err(e) => assert!(want(&e), "{name}: wrong error {e:?}"),
            }
        }
    }

    #[test]
    fn the_jose_type_may_be_absent_jwt_or_logout_jwt_only() {
        for ok in [
            None,
            Some("logout+jwt"),
            Some("JWT"),
            Some("application/logout+jwt"),
        ] {
            assert!(check_type(ok).is_ok(), "{ok:?}");
        }
        for bad in ["at+jwt", "secevent+jwt", "JOSE"] {
            assert!(check_type(Some(bad)).is_err(), "{bad}");
        }
    }
}
