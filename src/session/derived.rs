//! What the request path derives from a verified session and keeps with it (in
//! [`super::cache::VerifiedSession`]), so that a request only reads it:
//!
//! * [`MintedTokens`]: the signed identity assertions minted for this session, one per
//!   (issuer, audience), reused while young enough. Read lock-free by every request of the
//!   session (an `ArcSwap`), replaced at most once per reuse period.
//! * [`ClaimValue`]: the claims the per-route policy tests, extracted once.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use http::HeaderValue;

/// Most assertions kept per session (a forward-auth deployment may serve several hosts).
const MAX_MINTED: usize = 8;

/// One minted assertion.
#[derive(Clone, Debug)]
pub struct Minted {
    pub issuer: Box<str>,
    pub audience: Box<str>,
    pub minted_at: SystemTime,
    /// The header value, ready to copy.
    pub value: HeaderValue,
}

/// The assertions of one session.
#[derive(Debug, Default)]
pub struct MintedTokens {
    slots: ArcSwap<Vec<Minted>>,
}

impl MintedTokens {
    /// The assertion for (`issuer`, `audience`) minted less than `reuse` ago (and not in the
    /// future), if any. `issuer` is given in parts (`["https", "://", host]`), compared as their
    /// concatenation without building it.
    pub fn get(
        &self,
        issuer: &[&str],
        audience: &str,
        now: SystemTime,
        reuse: Duration,
    ) -> Option<HeaderValue> {
        let slots = self.slots.load();
        slots
            .iter()
            .find(|m| {
                &*m.audience == audience
                    && eq_concat(&m.issuer, issuer)
                    && now.duration_since(m.minted_at).is_ok_and(|age| age < reuse)
            })
            .map(|m| m.value.clone())
    }

    /// Keep `minted`, replacing the one for the same (issuer, audience); the oldest goes when
    /// the session already has [`MAX_MINTED`].
    pub fn put(&self, minted: Minted) {
        self.slots.rcu(|old| {
            let mut next: Vec<Minted> = old
                .iter()
                .filter(|m| !(m.audience == minted.audience && m.issuer == minted.issuer))
                .cloned()
                .collect();
            if next.len() >= MAX_MINTED {
                if let Some(oldest) = next
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, m)| m.minted_at)
                    .map(|(i, _)| i)
                {
                    next.remove(oldest);
                }
            }
            next.push(minted.clone());
            Arc::new(next)
        });
    }

    /// How many assertions are kept.
    pub fn len(&self) -> usize {
        self.slots.load().len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `s == parts.concat()`, without allocating.
fn eq_concat(s: &str, parts: &[&str]) -> bool {
    let mut rest = s;
    for p in parts {
        match rest.strip_prefix(p) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// A claim's value as the policy tests it: text (numbers and booleans formatted, objects as
/// JSON), a list claim element by element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimValue {
    /// The session or token has no such claim (or it is `null`).
    Absent,
    /// A string, number or boolean.
    One(String),
    /// A list.
    Many(Vec<String>),
}

impl ClaimValue {
    /// From a JSON value.
    pub fn from_json(v: &serde_json::Value) -> ClaimValue {
        fn text(v: &serde_json::Value) -> String {
            match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            }
        }
        match v {
            serde_json::Value::Null => ClaimValue::Absent,
            serde_json::Value::Array(items) => ClaimValue::Many(items.iter().map(text).collect()),
            other => ClaimValue::One(text(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn minted(aud: &str, at: u64) -> Minted {
        Minted {
            issuer: "https://proxy".into(),
            audience: aud.into(),
            minted_at: UNIX_EPOCH + Duration::from_secs(at),
            value: HeaderValue::from_str(&format!("tok-{aud}-{at}")).unwrap(),
        }
    }

    #[test]
    fn an_assertion_is_reused_only_while_young_and_for_its_audience() {
        let t = MintedTokens::default();
        let reuse = Duration::from_secs(60);
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert!(t.get(&["https://proxy"], "a", at(100), reuse).is_none());
        t.put(minted("a", 100));
        assert_eq!(
            t.get(&["https://proxy"], "a", at(159), reuse).unwrap(),
            "tok-a-100"
        );
        assert!(
            t.get(&["https", "://", "proxy"], "a", at(159), reuse)
                .is_some(),
            "parts"
        );
        assert!(t
            .get(&["https", "://", "prox"], "a", at(159), reuse)
            .is_none());
        assert!(
            t.get(&["https://proxy"], "a", at(160), reuse).is_none(),
            "too old"
        );
        assert!(
            t.get(&["https://proxy"], "a", at(99), reuse).is_none(),
            "clock went back"
        );
        assert!(
            t.get(&["https://proxy"], "b", at(120), reuse).is_none(),
            "other audience"
        );
        assert!(
            t.get(&["https://", "other"], "a", at(120), reuse).is_none(),
            "other issuer"
        );
        t.put(minted("a", 200));
        assert_eq!(t.len(), 1, "replaced, not added");
        for i in 0..20 {
            t.put(minted(&format!("h{i}"), 300 + i));
        }
        assert_eq!(t.len(), MAX_MINTED, "bounded");
        assert!(
            t.get(&["https://proxy"], "h19", at(320), reuse).is_some(),
            "the newest is kept"
        );
    }

    #[test]
    fn claim_values_from_json() {
        use serde_json::json;
        assert_eq!(ClaimValue::from_json(&json!(null)), ClaimValue::Absent);
        assert_eq!(
            ClaimValue::from_json(&json!("x")),
            ClaimValue::One("x".into())
        );
        assert_eq!(
            ClaimValue::from_json(&json!(3)),
            ClaimValue::One("3".into())
        );
        assert_eq!(
            ClaimValue::from_json(&json!(true)),
            ClaimValue::One("true".into())
        );
        assert_eq!(
            ClaimValue::from_json(&json!(["a", 1, {"k": "v"}])),
            ClaimValue::Many(vec!["a".into(), "1".into(), r#"{"k":"v"}"#.into()])
        );
    }
}
