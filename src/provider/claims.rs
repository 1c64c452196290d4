//! Pure id_token claim checks and oauth2-proxy-compatible claim extraction.
//!
//! Nothing here does I/O or reads the clock: `now` is a parameter.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;

use super::error::TokenCheck;

/// Clock skew tolerated on `exp`, `iat` and `nbf`.
pub(crate) const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// What a valid id_token must say.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expectations<'a> {
    /// The issuer; `None` when insecure_oidc_skip_issuer_verification is set.
    pub issuer: Option<&'a str>,
    pub client_id: &'a str,
    pub extra_audiences: &'a [String],
    /// `oidc_audience_claims`: the first of these present holds the audience (empty: `aud`).
    pub audience_claims: &'a [String],
    /// The nonce sent in the authorization request, when one must be echoed.
    pub nonce: Option<&'a str>,
    pub now: SystemTime,
}

impl Expectations<'_> {
    fn audience_allowed(&self, aud: &str) -> bool {
        aud == self.client_id || self.extra_audiences.iter().any(|a| a == aud)
    }
}

/// Check the registered claims of an id_token whose signature is already verified
/// (OIDC Core 3.1.3.7): iss, sub, aud, azp, exp, iat, nbf, nonce.
pub(crate) fn check_id_token(
    claims: &Map<String, Value>,
    expect: &Expectations<'_>,
) -> Result<(), TokenCheck> {
    let iss = string_claim(claims, "iss")?;
    if let Some(expected) = expect.issuer {
        if iss != expected {
            return Err(TokenCheck::Issuer {
                expected: expected.to_owned(),
                found: iss.to_owned(),
            });
        }
    }
    string_claim(claims, "sub")?;
    check_audience(claims, expect)?;
    check_times(claims, expect.now)?;
    if let Some(expected) = expect.nonce {
        let found = match claims.get("nonce") {
            None | Some(Value::Null) => return Err(TokenCheck::MissingNonce),
            Some(Value::String(s)) => s,
            Some(_) => {
                return Err(TokenCheck::ClaimType {
                    claim: "nonce",
                    expected: "a string",
                })
            }
        };
        // Constant time: the nonce is a secret bound to this browser's login.
        if !bool::from(found.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(TokenCheck::NonceMismatch);
        }
    }
    Ok(())
}

/// The audience (string or array) must name this client or an extra audience. It is the `aud`
/// claim, or with `oidc_audience_claims` the first listed claim the token has (oauth2-proxy v7's
/// rule). For `aud`, with several audiences an `azp` naming an allowed party is required, and a
/// present `azp` must be allowed (OIDC Core 3.1.3.7); a custom audience claim has no such rule.
pub(crate) fn check_audience(
    claims: &Map<String, Value>,
    expect: &Expectations<'_>,
) -> Result<(), TokenCheck> {
    let name = match expect.audience_claims {
        [] => "aud",
        list => list
            .iter()
            .map(String::as_str)
            .find(|c| claims.get(*c).is_some_and(|v| !v.is_null()))
            .ok_or_else(|| TokenCheck::MissingAudienceClaims(list.to_vec()))?,
    };
    let audiences: Vec<&str> = match claims.get(name) {
        None | Some(Value::Null) => return Err(TokenCheck::MissingClaim("aud")),
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str())
            .collect::<Option<Vec<_>>>()
            .ok_or(TokenCheck::ClaimType {
                claim: "aud",
                expected: "a string or an array of strings",
            })?,
        Some(_) => {
            return Err(TokenCheck::ClaimType {
                claim: "aud",
                expected: "a string or an array of strings",
            })
        }
    };
    if !audiences.iter().any(|a| expect.audience_allowed(a)) {
        return Err(TokenCheck::Audience {
            claim: name.to_owned(),
            found: audiences.iter().map(|a| (*a).to_owned()).collect(),
        });
    }
    if name != "aud" {
        return Ok(());
    }
    match claims.get("azp") {
        None | Some(Value::Null) if audiences.len() > 1 => Err(TokenCheck::MissingAuthorizedParty),
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(azp)) if expect.audience_allowed(azp) => Ok(()),
        Some(Value::String(azp)) => Err(TokenCheck::AuthorizedParty { found: azp.clone() }),
        Some(_) => Err(TokenCheck::ClaimType {
            claim: "azp",
            expected: "a string",
        }),
    }
}

/// `exp` (required), `iat` (required) and `nbf` (optional), with [`CLOCK_SKEW`].
pub(crate) fn check_times(claims: &Map<String, Value>, now: SystemTime) -> Result<(), TokenCheck> {
    check_time_claims(claims, now, true)
}

/// `exp` (required), `iat` (required when `iat_required`, else checked when present) and `nbf`
/// (optional), with [`CLOCK_SKEW`]. Bearer access tokens need not carry `iat` (RFC 7519 4.1.6).
pub(crate) fn check_time_claims(
    claims: &Map<String, Value>,
    now: SystemTime,
    iat_required: bool,
) -> Result<(), TokenCheck> {
    let now = unix_seconds(now);
    let skew = CLOCK_SKEW.as_secs() as i64;
    let exp = numeric_date(claims, "exp")?.ok_or(TokenCheck::MissingClaim("exp"))?;
    if now > exp.saturating_add(skew) {
        return Err(TokenCheck::Expired { exp });
    }
    match numeric_date(claims, "iat")? {
        Some(iat) if iat > now.saturating_add(skew) => {
            return Err(TokenCheck::IssuedInFuture { iat })
        }
        Some(_) => {}
        None if iat_required => return Err(TokenCheck::MissingClaim("iat")),
        None => {}
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if nbf > now.saturating_add(skew) {
            return Err(TokenCheck::NotYetValid { nbf });
        }
    }
    Ok(())
}

fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, TokenCheck> {
    match claims.get(name) {
        None | Some(Value::Null) => Err(TokenCheck::MissingClaim(name)),
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(TokenCheck::MissingClaim(name)),
        Some(_) => Err(TokenCheck::ClaimType {
            claim: name,
            expected: "a string",
        }),
    }
}

/// A NumericDate claim (RFC 7519 2): seconds since the epoch, fractions truncated.
pub(crate) fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, TokenCheck> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or(TokenCheck::ClaimType {
                claim: name,
                expected: "a number of seconds",
            }),
        Some(_) => Err(TokenCheck::ClaimType {
            claim: name,
            expected: "a number of seconds",
        }),
    }
}

/// Seconds since the Unix epoch (negative before it).
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Look a claim up as oauth2-proxy does: the exact name first, then as a dotted path
/// into nested objects (`realm_access.roles`). `null` counts as absent.
pub(crate) fn lookup<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if name.is_empty() {
        return None;
    }
    if let Some(v) = claims.get(name) {
        return (!v.is_null()).then_some(v);
    }
    let mut parts = name.split('.');
    let mut cur = claims.get(parts.next()?)?;
    for part in parts {
        cur = cur.as_object()?.get(part)?;
    }
    (!cur.is_null()).then_some(cur)
}

/// A claim as a string: strings as they are, numbers and booleans printed, anything else
/// as compact JSON (as oauth2-proxy does).
pub(crate) fn to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// A claim as a list of strings: an array element-wise, a single value as a one-item list.
pub(crate) fn to_string_list(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter(|i| !i.is_null())
            .map(to_string)
            .collect(),
        other => vec![to_string(other)],
    }
}

/// A claim as a boolean, as Go's `strconv.ParseBool` would read it. Anything that is not
/// clearly true is false, so an odd `email_verified` fails closed.
pub(crate) fn to_bool(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"),
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn base() -> Map<String, Value> {
        json!({
            "iss": "https://idp.example",
            "sub": "u1",
            "aud": "client",
            "exp": NOW + 300,
            "iat": NOW,
            "nonce": "n-1",
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn expect<'a>(extra: &'a [String], nonce: Option<&'a str>) -> Expectations<'a> {
        Expectations {
            issuer: Some("https://idp.example"),
            client_id: "client",
            extra_audiences: extra,
            audience_claims: &[],
            nonce,
            now: now(),
        }
    }

    #[test]
    fn audience_claims_pick_the_first_present_claim() {
        let claims = vec!["client_id".to_owned(), "aud".to_owned()];
        let mut e = expect(&[], None);
        e.audience_claims = &claims;
        // client_id is checked when present (aud, naming someone else, is then ignored), and
        // a custom claim has no azp rule.
        let c = with(json!({"client_id": "client", "aud": ["api", "other"]}));
        assert_eq!(check_audience(&c, &e), Ok(()));
        let c = with(json!({"client_id": "someone", "aud": "client"}));
        assert!(matches!(
            check_audience(&c, &e),
            Err(TokenCheck::Audience { .. })
        ));
        // Absent: the next listed claim (aud, with its azp rule).
        assert_eq!(check_audience(&base(), &e), Ok(()));
        let c = with(json!({"aud": ["client", "other"]}));
        assert_eq!(
            check_audience(&c, &e),
            Err(TokenCheck::MissingAuthorizedParty)
        );
        // None of them: refused, naming the claims.
        let only = vec!["appid".to_owned()];
        e.audience_claims = &only;
        assert_eq!(
            check_audience(&base(), &e),
            Err(TokenCheck::MissingAudienceClaims(only.clone()))
        );
    }

    fn with(changes: Value) -> Map<String, Value> {
        let mut c = base();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.remove(k);
            } else {
                c.insert(k.clone(), v.clone());
            }
        }
        c
    }

    #[test]
    fn a_valid_token_passes_every_check() {
        assert_eq!(check_id_token(&base(), &expect(&[], Some("n-1"))), Ok(()));
    }

    #[test]
    fn each_failed_check_is_named() {
        let extra = ["api".to_owned()];
        let cases: Vec<(Value, Option<&str>, TokenCheck)> = vec![
            (
                json!({"iss": "https://evil.example"}),
                None,
                TokenCheck::Issuer {
                    expected: "https://idp.example".into(),
                    found: "https://evil.example".into(),
                },
            ),
            (json!({"iss": null}), None, TokenCheck::MissingClaim("iss")),
            (json!({"sub": null}), None, TokenCheck::MissingClaim("sub")),
            (json!({"sub": ""}), None, TokenCheck::MissingClaim("sub")),
            (json!({"aud": null}), None, TokenCheck::MissingClaim("aud")),
            (
                json!({"aud": "other"}),
                None,
                TokenCheck::Audience {
                    claim: "aud".into(),
                    found: vec!["other".into()],
                },
            ),
            (
                json!({"aud": ["client", "other"]}),
                None,
                TokenCheck::MissingAuthorizedParty,
            ),
            (
                json!({"azp": "other"}),
                None,
                TokenCheck::AuthorizedParty {
                    found: "other".into(),
                },
            ),
            (
                json!({"exp": NOW - 61}),
                None,
                TokenCheck::Expired {
                    exp: NOW as i64 - 61,
                },
            ),
            (json!({"exp": null}), None, TokenCheck::MissingClaim("exp")),
            (
                json!({"exp": "soon"}),
                None,
                TokenCheck::ClaimType {
                    claim: "exp",
                    expected: "a number of seconds",
                },
            ),
            (
                json!({"iat": NOW + 61}),
                None,
                TokenCheck::IssuedInFuture {
                    iat: NOW as i64 + 61,
                },
            ),
            (json!({"iat": null}), None, TokenCheck::MissingClaim("iat")),
            (
                json!({"nbf": NOW + 120}),
                None,
                TokenCheck::NotYetValid {
                    nbf: NOW as i64 + 120,
                },
            ),
            (json!({}), Some("n-2"), TokenCheck::NonceMismatch),
            (
                json!({"nonce": null}),
                Some("n-1"),
                TokenCheck::MissingNonce,
            ),
        ];
        for (changes, nonce, want) in cases {
            let claims = with(changes.clone());
            assert_eq!(
                check_id_token(&claims, &expect(&extra, nonce)),
                Err(want),
                "{changes}"
            );
        }
    }

    #[test]
    fn tolerances_and_alternatives_that_are_accepted() {
        let extra = ["api".to_owned()];
        for changes in [
            json!({"exp": NOW - 59}),
            json!({"iat": NOW + 59}),
            json!({"nbf": NOW + 59}),
            json!({"exp": (NOW + 300) as f64 + 0.5}),
            json!({"aud": ["client"]}),
            json!({"aud": "api"}),
            json!({"aud": ["client", "api"], "azp": "client"}),
            json!({"azp": "client"}),
            json!({"nonce": null}),
        ] {
            let claims = with(changes.clone());
            assert_eq!(
                check_id_token(&claims, &expect(&extra, None)),
                Ok(()),
                "{changes}"
            );
        }
    }

    #[test]
    fn issuer_is_not_checked_when_verification_is_skipped() {
        let claims = with(json!({"iss": "https://login.example/tenant-x"}));
        let mut e = expect(&[], None);
        e.issuer = None;
        assert_eq!(check_id_token(&claims, &e), Ok(()));
    }

    #[test]
    fn lookup_uses_exact_names_then_dotted_paths() {
        let c = json!({
            "a.b": "exact",
            "a": {"b": "nested", "c": {"d": 1}},
            "n": null
        });
        let c = c.as_object().unwrap();
        assert_eq!(lookup(c, "a.b"), Some(&json!("exact")));
        assert_eq!(lookup(c, "a.c.d"), Some(&json!(1)));
        assert_eq!(lookup(c, "a.x"), None);
        assert_eq!(lookup(c, "n"), None);
        assert_eq!(lookup(c, ""), None);
    }

    #[test]
    fn claims_are_coerced_like_oauth2_proxy() {
        assert_eq!(to_string(&json!("x")), "x");
        assert_eq!(to_string(&json!(42)), "42");
        assert_eq!(to_string(&json!({"k": 1})), r#"{"k":1}"#);
        assert_eq!(to_string_list(&json!("admins")), vec!["admins"]);
        assert_eq!(
            to_string_list(&json!(["a", 2, {"g": "x"}])),
            vec!["a", "2", r#"{"g":"x"}"#]
        );
        assert!(to_bool(&json!(true)));
        assert!(to_bool(&json!("true")));
        assert!(!to_bool(&json!("false")));
        assert!(!to_bool(&json!("yes")));
        assert!(!to_bool(&json!(false)));
    }
}

/// Who an ID token names: `iss`, `sub` and, when the provider sends one, `sid`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSubject {
    pub iss: String,
    pub sub: Option<String>,
    pub sid: Option<String>,
}

/// Read `iss`, `sub` and `sid` from a JWT's payload WITHOUT verifying it: only for an ID token
/// already verified when the session was created (indexing it for back-channel logout).
/// `None` when the value is not a JWT with a string `iss`.
pub fn unverified_subject(jwt: &str) -> Option<TokenSubject> {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&raw).ok()?;
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Some(TokenSubject {
        iss: text("iss")?,
        sub: text("sub"),
        sid: text("sid"),
    })
}
