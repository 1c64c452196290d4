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
}
