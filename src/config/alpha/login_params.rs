//! `providers[].loginURLParameters`: the form oauth2-proxy's legacy conversion writes (one
//! `default` value for `prompt`, `approval_prompt` or `acr_values`, no `allow` rules) is read
//! onto those options; anything else (other parameter names, `allow` rules letting the
//! browser choose a value) is refused naming the field, as authproxy has no per-request login
//! URL parameters.

use serde_yaml_ng::Value;

/// The (option key, value) pairs of a `loginURLParameters` list, or why it cannot be read.
pub(super) fn read(v: &Value) -> Result<Vec<(&'static str, String)>, String> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Sequence(s) => s,
        _ => return Err("must be a list of {name, default} entries".into()),
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Mapping(m) = item else {
            return Err(format!("[{i}] must be a mapping with name and default"));
        };
        let mut name = None;
        let mut default = Vec::new();
        for (k, v) in m {
            let key = k.as_str().unwrap_or_default();
            if key.eq_ignore_ascii_case("name") {
                name = v.as_str().map(str::to_owned);
            } else if key.eq_ignore_ascii_case("default") {
                match v {
                    Value::Sequence(vals) => {
                        for d in vals {
                            match d.as_str() {
                                Some(s) => default.push(s.to_owned()),
                                None => {
                                    return Err(format!("[{i}].default must be a list of strings"))
                                }
                            }
                        }
                    }
                    Value::String(s) => default.push(s.clone()),
                    Value::Null => {}
                    _ => return Err(format!("[{i}].default must be a list of strings")),
                }
            } else if key.eq_ignore_ascii_case("allow") {
                if !matches!(v, Value::Null) && v.as_sequence().is_none_or(|s| !s.is_empty()) {
                    return Err(format!("[{i}].allow: authproxy does not let the browser choose login URL parameters; use a fixed default"));
                }
            } else {
                return Err(format!(
                    "[{i}]: unknown field {key:?} (known here: name, default, allow)"
                ));
            }
        }
        let key = match name.as_deref() {
            Some("prompt") => "prompt",
            Some("approval_prompt") => "approval_prompt",
            Some("acr_values") => "acr_values",
            other => {
                return Err(format!("[{i}].name {other:?}: authproxy sends only prompt, approval_prompt and acr_values (set by the global options of the same names)"))
            }
        };
        match default.as_slice() {
            [one] => out.push((key, one.clone())),
            [] => {}
            _ => return Err(format!("[{i}].default: authproxy sends one value of {key}")),
        }
    }
    Ok(out)
}
