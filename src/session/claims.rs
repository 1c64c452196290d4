//! Extra claims kept in a session (`ac`): conversion between the JSON the provider sent and
//! the msgpack values oauth2-proxy's session format stores.

use serde_json::Value as Json;

/// A JSON claim value as msgpack (integers stay integers, floats floats).
pub fn from_json(v: &Json) -> rmpv::Value {
    match v {
        Json::Null => rmpv::Value::Nil,
        Json::Bool(b) => rmpv::Value::Boolean(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                rmpv::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                rmpv::Value::from(u)
            } else {
                rmpv::Value::F64(n.as_f64().unwrap_or(0.0))
            }
        }
        Json::String(s) => rmpv::Value::from(s.as_str()),
        Json::Array(a) => rmpv::Value::Array(a.iter().map(from_json).collect()),
        Json::Object(m) => rmpv::Value::Map(
            m.iter()
                .map(|(k, v)| (rmpv::Value::from(k.as_str()), from_json(v)))
                .collect(),
        ),
    }
}

/// A msgpack claim value as JSON (`/oauth2/userinfo`, JSON coercion of map claims).
pub fn to_json(v: &rmpv::Value) -> Json {
    match v {
        rmpv::Value::Nil => Json::Null,
        rmpv::Value::Boolean(b) => Json::Bool(*b),
        rmpv::Value::Integer(i) => match (i.as_i64(), i.as_u64()) {
            (Some(n), _) => Json::from(n),
            (None, Some(n)) => Json::from(n),
            _ => Json::Null,
        },
        rmpv::Value::F32(f) => {
            serde_json::Number::from_f64(f64::from(*f)).map_or(Json::Null, Json::Number)
        }
        rmpv::Value::F64(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        rmpv::Value::String(s) => Json::String(s.as_str().unwrap_or_default().to_owned()),
        rmpv::Value::Binary(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
        rmpv::Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        rmpv::Value::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        rmpv::Value::String(s) => s.as_str().unwrap_or_default().to_owned(),
                        other => other.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        rmpv::Value::Ext(_, _) => Json::Null,
    }
}

/// Put the provider's kept claims into a session's `ac` (JSON to msgpack), replacing the
/// kept claims of an earlier login or refresh; authproxy's own entries (the session's provider)
/// stay.
pub fn replace_kept(
    ac: &mut std::collections::BTreeMap<String, rmpv::Value>,
    kept: &std::collections::BTreeMap<String, Json>,
) {
    ac.retain(|k, _| k == crate::config::PROVIDER_CLAIM);
    for (k, v) in kept {
        ac.insert(k.clone(), from_json(v));
    }
}

/// `ac` as `/oauth2/userinfo` shows it (`additionalClaims`): every claim but authproxy's own
/// provider entry, which oauth2-proxy's sessions do not have.
pub fn shown(
    ac: &std::collections::BTreeMap<String, rmpv::Value>,
) -> serde_json::Map<String, Json> {
    ac.iter()
        .filter(|(k, _)| k.as_str() != crate::config::PROVIDER_CLAIM)
        .map(|(k, v)| (k.clone(), to_json(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_round_trip_between_json_and_msgpack() {
        for v in [
            json!("x"),
            json!(42),
            json!(-7),
            json!(1.5),
            json!(true),
            json!(null),
            json!(["a", 1, false]),
            json!({"name": "Acme", "ids": [1, 2]}),
        ] {
            assert_eq!(to_json(&from_json(&v)), v);
        }
    }

    #[test]
    fn kept_claims_replace_the_old_ones_and_keep_the_provider() {
        let mut ac = std::collections::BTreeMap::new();
        ac.insert(
            crate::config::PROVIDER_CLAIM.to_owned(),
            rmpv::Value::from("oidc=x"),
        );
        ac.insert("tenant".to_owned(), rmpv::Value::from("old"));
        ac.insert("gone".to_owned(), rmpv::Value::from(1));
        let kept: std::collections::BTreeMap<String, Json> = [
            ("tenant".to_owned(), json!("new")),
            ("org.id".to_owned(), json!(7)),
        ]
        .into();
        replace_kept(&mut ac, &kept);
        assert_eq!(ac.len(), 3);
        assert_eq!(ac["tenant"], rmpv::Value::from("new"));
        assert!(!ac.contains_key("gone"));
        let shown = shown(&ac);
        assert_eq!(
            serde_json::Value::Object(shown),
            json!({"tenant": "new", "org.id": 7})
        );
    }
}
