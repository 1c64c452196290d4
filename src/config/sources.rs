//! The three edges: the TOML file, `OAUTH2_PROXY_*` variables and flags, each read into a
//! [`Layer`] of raw values that remember where they came from. No value is interpreted
//! here; `build.rs` types and validates the merged result.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use super::options::{self, Kind, OptionSpec};
use super::ConfigError;

/// Where a value came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    Env(String),
    Flag(String),
    /// A field of the `--alpha-config` YAML file (`providers[0].oidcConfig.issuerURL`).
    Alpha {
        file: PathBuf,
        field: String,
    },
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "from {}", p.display()),
            Origin::Env(v) => write!(f, "from environment variable {v}"),
            Origin::Flag(s) => write!(f, "from flag {s}"),
            Origin::Alpha { file, field } => write!(f, "from {} field {field}", file.display()),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// A value before typing.
#[derive(Clone, Debug, PartialEq)]
pub enum Raw {
    Text(String),
    Items(Vec<String>),
    Bool(bool),
    Int(i64),
    /// A TOML integer given for a duration: Go's decoder reads it as nanoseconds.
    Nanos(i64),
    /// A TOML value the option's type cannot take (v7's wording of the reason).
    Other(String),
}

/// One option's value and origin.
#[derive(Clone, Debug)]
pub struct Setting {
    pub raw: Raw,
    pub origin: Origin,
}

/// One source's settings by option key.
pub type Layer = BTreeMap<&'static str, Setting>;

/// Read and parse the TOML file. Keys are case-insensitive, as in viper; values are coerced
/// as v7's decoder (mapstructure with weak typing) does: see [`toml_value`].
pub fn read_file(path: &Path, errors: &mut Vec<ConfigError>, warnings: &mut Vec<String>) -> Layer {
    let mut layer = Layer::new();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            errors.push(ConfigError::new(
                "config",
                format!("cannot read config file {}: {e}", path.display()),
            ));
            return layer;
        }
    };
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            errors.push(ConfigError::new(
                "config",
                format!(
                    "config file {} is not valid TOML: {}",
                    path.display(),
                    e.to_string().trim_end()
                ),
            ));
            return layer;
        }
    };
    for (key, value) in table {
        if key.eq_ignore_ascii_case(POLICY_TABLE) {
            // Read by `policy_table`.
            continue;
        }
        let Some(spec) = options::by_key(&key) else {
            let hint = options::suggest(&key, options::OPTIONS.iter().map(|o| o.key))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            let what = if value.is_table() {
                format!("table [{key}]")
            } else {
                format!("option `{key}`")
            };
            errors.push(ConfigError::new(
                &key,
                format!(
                    "unknown {what} in config file {}{hint} (oauth2-proxy refuses it too: every key is a top-level option)",
                    path.display()
                ),
            ));
            continue;
        };
        let origin = Origin::File(path.to_path_buf());
        if layer.contains_key(spec.key) {
            warnings.push(format!(
                "option `{}` ({origin}) is set twice, as `{key}` and in another letter case; keys are case-insensitive and the later one wins",
                spec.key
            ));
        }
        let raw = toml_value(spec, &key, value, warnings, &origin);
        layer.insert(spec.key, Setting { raw, origin });
    }
    layer
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest exact form, never an exponent.
fn go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{f}")
    }
}

/// Go's type name of a TOML value, for v7's "got unconvertible type" wording.
fn go_type(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "string",
        toml::Value::Integer(_) => "int64",
        toml::Value::Float(_) => "float64",
        toml::Value::Boolean(_) => "bool",
        toml::Value::Datetime(_) => "toml.LocalDate",
        toml::Value::Array(_) => "[]interface {}",
        toml::Value::Table(_) => "map[string]interface {}",
    }
}

fn unconvertible(key: &str, want: &str, v: &toml::Value) -> Raw {
    Raw::Other(format!(
        "'{key}' expected type '{want}', got unconvertible type '{}'",
        go_type(v)
    ))
}

/// One TOML value coerced for its option the way v7's decoder does (weakly typed input):
/// a string `"true"` is a boolean, a number is a string (`true` is `"1"`), a number for a
/// duration is nanoseconds, a single string for a list is split on commas. Coercions that
/// are probably mistakes add a warning.
fn toml_value(
    spec: &OptionSpec,
    key: &str,
    v: toml::Value,
    warnings: &mut Vec<String>,
    origin: &Origin,
) -> Raw {
    use toml::Value as V;
    let subject = format!("option `{}` ({origin})", spec.key);
    match (spec.kind, v) {
        (Kind::Bool, V::Boolean(b)) => Raw::Bool(b),
        (Kind::Bool, V::Integer(i)) => Raw::Bool(i != 0),
        (Kind::Bool, V::Float(f)) => Raw::Bool(f != 0.0),
        (Kind::Bool, V::String(s)) if s.is_empty() => Raw::Bool(false),
        (Kind::Bool, V::String(s)) => Raw::Text(s),
        (Kind::Str, V::String(s)) => Raw::Text(s),
        (Kind::Str, V::Integer(i)) => Raw::Text(i.to_string()),
        (Kind::Str, V::Float(f)) => Raw::Text(go_float(f)),
        (Kind::Str, V::Boolean(b)) => {
            let s = if b { "1" } else { "0" };
            warnings.push(format!(
                "{subject}: the boolean {b} is read as the string \"{s}\", as oauth2-proxy does; quote the value if you meant the word"
            ));
            Raw::Text(s.into())
        }
        (Kind::Int, V::Integer(i)) => Raw::Int(i),
        (Kind::Int, V::Float(f)) => {
            if f.fract() != 0.0 {
                warnings.push(format!(
                    "{subject}: {} is truncated to {} (oauth2-proxy does the same)",
                    go_float(f),
                    f.trunc()
                ));
            }
            // `as` saturates at the i64 range, as Go's conversion of a float does not panic.
            Raw::Int(f.trunc() as i64)
        }
        (Kind::Int, V::Boolean(b)) => Raw::Int(i64::from(b)),
        (Kind::Int, V::String(s)) if s.is_empty() => Raw::Int(0),
        (Kind::Int, V::String(s)) => Raw::Text(s),
        (Kind::Duration, V::String(s)) => Raw::Text(s),
        (Kind::Duration, V::Integer(i)) => Raw::Nanos(i),
        (Kind::Duration, V::Float(f)) => Raw::Nanos(f.trunc() as i64),
        (Kind::Duration, V::Boolean(b)) => Raw::Nanos(i64::from(b)),
        (Kind::List, V::String(s)) => Raw::Text(s),
        (Kind::List, V::Integer(i)) => Raw::Items(vec![i.to_string()]),
        (Kind::List, V::Float(f)) => Raw::Items(vec![go_float(f)]),
        (Kind::List, V::Boolean(b)) => Raw::Items(vec![if b { "1" } else { "0" }.into()]),
        (Kind::List, V::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    V::String(s) => out.push(s),
                    // Numbers in a list (e.g. static upstream codes) read as their text.
                    V::Integer(n) => out.push(n.to_string()),
                    V::Float(f) => out.push(go_float(f)),
                    V::Boolean(b) => out.push(if b { "1" } else { "0" }.into()),
                    other => return unconvertible(&format!("{key}[{i}]"), "string", &other),
                }
            }
            Raw::Items(out)
        }
        (kind, other) => unconvertible(
            key,
            match kind {
                Kind::Bool => "bool",
                Kind::Str | Kind::List => "string",
                Kind::Int => "int",
                Kind::Duration => "time.Duration",
            },
            &other,
        ),
    }
}

/// The TOML table holding the per-route policy (authproxy extension).
pub const POLICY_TABLE: &str = "authproxy_policy";

/// The `[authproxy_policy]` table of the TOML file, read (`None`: the file has none, or it
/// cannot be read or parsed, which [`read_file`] reports).
pub fn policy_table(
    path: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<super::policy::PolicyConfig> {
    let table: toml::Table = std::fs::read_to_string(path).ok()?.parse().ok()?;
    let (_, value) = table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(POLICY_TABLE))?;
    let origin = format!("{} [{POLICY_TABLE}]", path.display());
    let tree = match serde_json::to_value(value) {
        Ok(t) => t,
        Err(e) => {
            errors.push(ConfigError::new(POLICY_TABLE, format!("{origin}: {e}")));
            return None;
        }
    };
    match super::policy::read(&tree, &origin) {
        Ok(p) => Some(p),
        Err(es) => {
            errors.extend(es.into_iter().map(|e| ConfigError::new(POLICY_TABLE, e)));
            None
        }
    }
}

/// Kubernetes service links for a Service named `oauth2-proxy` (the Helm chart's name)
/// look like our variables; they are not configuration.
fn is_kubernetes_service_link(var: &str) -> bool {
    let rest = &var["OAUTH2_PROXY_".len()..];
    rest == "SERVICE_HOST"
        || rest.starts_with("SERVICE_PORT")
        || rest == "PORT"
        || rest.starts_with("PORT_")
}

/// Read `OAUTH2_PROXY_*` variables. Empty values count as unset (viper's default). A variable
/// that names no option is ignored, as v7 ignores it (a typo in a running compose file must not
/// take a site down), with one warning naming it and the closest real name. `OAUTH2_PROXY_CONFIG`
/// is no way to give the config file in v7 either: ignored with a warning.
pub fn read_env(env: &HashMap<String, String>, warnings: &mut Vec<String>) -> Layer {
    let mut layer = Layer::new();
    // Sorted so warnings come out in a stable order.
    let mut vars: Vec<(&String, &String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("OAUTH2_PROXY_"))
        .collect();
    vars.sort();
    for (var, value) in vars {
        if is_kubernetes_service_link(var) {
            continue;
        }
        let bootstrap = match var.as_str() {
            "OAUTH2_PROXY_CONFIG" => Some("--config"),
            "OAUTH2_PROXY_ALPHA_CONFIG" => Some("--alpha-config"),
            "OAUTH2_PROXY_CONFIG_TEST" => Some("--config-test"),
            "OAUTH2_PROXY_CONVERT_CONFIG_TO_ALPHA" => Some("--convert-config-to-alpha"),
            _ => None,
        };
        if let Some(flag) = bootstrap {
            warnings.push(format!(
                "environment variable {var} is ignored, as oauth2-proxy ignores it: use the flag {flag}"
            ));
            continue;
        }
        let Some(spec) = options::by_env(var) else {
            let envs: Vec<String> = options::OPTIONS.iter().map(OptionSpec::env).collect();
            let hint = options::suggest(var, envs.iter().map(String::as_str))
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default();
            warnings.push(format!(
                "environment variable {var} is not an option and is ignored (oauth2-proxy ignores it too){hint}"
            ));
            continue;
        };
        if value.is_empty() {
            continue;
        }
        layer.insert(
            spec.key,
            Setting {
                raw: Raw::Text(value.clone()),
                origin: Origin::Env(var.clone()),
            },
        );
    }
    layer
}

mod flags;

pub use flags::{go_parse_bool, read_csv, read_flags};

/// Split a list value given as one string (an environment variable, or a TOML string for a
/// list option) as v7's decoder does: on every comma, nothing trimmed, empty items kept
/// (`"a.com, b.com"` is `["a.com", " b.com"]`); only the empty string is the empty list.
pub fn split_list(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    s.split(',').map(String::from).collect()
}
