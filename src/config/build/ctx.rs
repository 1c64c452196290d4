//! The merged settings, typed: oauth2-proxy's weak typing of raw values (viper's), defaults
//! from the option table, and error/warning collection naming each option and its origin.

use std::collections::BTreeMap;
use std::time::Duration;

use super::super::duration::parse_go_duration;
use super::super::options::{self, Kind, OptionSpec, Support};
use super::super::sources::{split_list, Layer, Origin, Raw, Setting};
use super::super::ConfigError;

/// A typed value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    Str(String),
    List(Vec<String>),
    Dur(Duration),
    Int(i64),
}

/// Go's `strconv.ParseBool`, which both pflag and viper use.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Type a raw value for its option.
pub(crate) fn typed(spec: &OptionSpec, raw: &Raw) -> Result<Value, String> {
    match (spec.kind, raw) {
        (_, Raw::Other(what)) => Err(format!("expected {}, found {what}", kind_name(spec.kind))),
        (Kind::Bool, Raw::Bool(b)) => Ok(Value::Bool(*b)),
        (Kind::Bool, Raw::Int(i @ (0 | 1))) => Ok(Value::Bool(*i == 1)),
        (Kind::Bool, Raw::Text(s)) => parse_bool(s)
            .map(Value::Bool)
            .ok_or_else(|| format!("{s:?} is not a boolean; use true or false (or 1 / 0)")),
        (Kind::Str, Raw::Text(s)) => Ok(Value::Str(s.clone())),
        // Weak typing as viper does: `client_id = 12345` is the string "12345".
        (Kind::Str, Raw::Int(i)) => Ok(Value::Str(i.to_string())),
        (Kind::List, Raw::Items(v)) => Ok(Value::List(
            v.iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )),
        (Kind::List, Raw::Text(s)) => Ok(Value::List(split_list(s))),
        (Kind::Duration, Raw::Text(s)) => parse_go_duration(s).map(Value::Dur),
        (Kind::Duration, Raw::Int(0)) => Ok(Value::Dur(Duration::ZERO)),
        (Kind::Duration, Raw::Int(i)) => Err(format!(
            "{i} has no unit (oauth2-proxy would read it as {i} nanoseconds); write a Go duration such as \"{i}s\" or \"{i}m\""
        )),
        (Kind::Int, Raw::Int(i)) => Ok(Value::Int(*i)),
        (Kind::Int, Raw::Text(s)) => s
            .trim()
            .parse()
            .map(Value::Int)
            .map_err(|_| format!("{s:?} is not an integer")),
        (kind, other) => Err(format!(
            "expected {}, found {}",
            kind_name(kind),
            match other {
                Raw::Bool(_) => "a boolean",
                Raw::Int(_) => "an integer",
                Raw::Items(_) => "a list",
                Raw::Text(_) => "a string",
                Raw::Other(w) => w,
            }
        )),
    }
}

pub(crate) fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Bool => "a boolean",
        Kind::Str => "a string",
        Kind::List => "a list of strings",
        Kind::Duration => "a duration such as \"168h\"",
        Kind::Int => "an integer",
    }
}

/// The default of an option, typed.
pub(crate) fn default_value(spec: &OptionSpec) -> Value {
    match typed(spec, &Raw::Text(spec.default.to_string())) {
        Ok(v) => v,
        // Unreachable for a well-formed table (a unit test types every default).
        Err(_) => Value::Str(spec.default.to_string()),
    }
}

/// Merged settings plus the errors found while typing and validating them.
pub(crate) struct Ctx {
    pub(crate) settings: Layer,
    values: BTreeMap<&'static str, Value>,
    pub errors: Vec<ConfigError>,
    /// Problems that do not stop the start (oauth2-proxy accepts them), one sentence each.
    pub warnings: Vec<String>,
    /// The process environment [`super::super::load`] was given, for the few settings that
    /// come from outside the option table (`AZURE_FEDERATED_TOKEN_FILE`,
    /// `GOOGLE_APPLICATION_CREDENTIALS`, ...). Empty unless set by the loader.
    pub env: std::sync::Arc<std::collections::HashMap<String, String>>,
}

pub(crate) fn subject(key: &str, origin: &Origin) -> String {
    match origin {
        Origin::Default => format!("option `{key}`"),
        o => format!("option `{key}` ({o})"),
    }
}

impl Ctx {
    /// Merge by precedence (later layers win) and type every value.
    pub(crate) fn new(layers: Vec<Layer>, errors: Vec<ConfigError>) -> Self {
        let mut settings = Layer::new();
        for layer in layers {
            settings.extend(layer);
        }
        let mut ctx = Ctx {
            settings,
            values: BTreeMap::new(),
            errors,
            warnings: Vec::new(),
            env: Default::default(),
        };
        let keys: Vec<&'static str> = ctx.settings.keys().copied().collect();
        for key in keys {
            let (Some(spec), Some(setting)) = (options::by_key(key), ctx.settings.get(key)) else {
                continue;
            };
            match typed(spec, &setting.raw) {
                Ok(v) => {
                    if spec.support == Support::No && v != default_value(spec) {
                        let msg = format!(
                            "{} is an oauth2-proxy option authproxy does not support yet; remove it or set it to its default ({})",
                            subject(key, &setting.origin),
                            if spec.default.is_empty() { "empty" } else { spec.default }
                        );
                        ctx.errors.push(ConfigError::new(key, msg));
                    }
                    ctx.values.insert(key, v);
                }
                Err(e) => {
                    let msg = format!("{}: {e}", subject(key, &setting.origin));
                    ctx.errors.push(ConfigError::new(key, msg));
                }
            }
        }
        ctx
    }

    pub(crate) fn origin(&self, key: &str) -> Origin {
        self.settings
            .get(key)
            .map(|s: &Setting| s.origin.clone())
            .unwrap_or(Origin::Default)
    }

    /// Is the option explicitly set (by any source)?
    pub(crate) fn is_set(&self, key: &str) -> bool {
        self.settings.contains_key(key)
    }

    /// Record a warning (shown at startup and by --check).
    pub(crate) fn warn(&mut self, msg: impl Into<String>) {
        self.warnings.push(msg.into());
    }

    /// Record an error about `key`'s value.
    pub(crate) fn fail(&mut self, key: &str, msg: impl std::fmt::Display) {
        let line = format!("{}: {msg}", subject(key, &self.origin(key)));
        self.errors.push(ConfigError::new(key, line));
    }

    pub(crate) fn value(&self, key: &str) -> Value {
        if let Some(v) = self.values.get(key) {
            return v.clone();
        }
        options::by_key(key)
            .map(default_value)
            .unwrap_or(Value::Str(String::new()))
    }

    pub(crate) fn boolean(&self, key: &str) -> bool {
        matches!(self.value(key), Value::Bool(true))
    }
    pub(crate) fn string(&self, key: &str) -> String {
        match self.value(key) {
            Value::Str(s) => s,
            _ => String::new(),
        }
    }
    /// The string trimmed, `None` when empty.
    pub(crate) fn opt_string(&self, key: &str) -> Option<String> {
        let s = self.string(key);
        let t = s.trim();
        (!t.is_empty()).then(|| t.to_string())
    }
    pub(crate) fn list(&self, key: &str) -> Vec<String> {
        match self.value(key) {
            Value::List(v) => v,
            _ => Vec::new(),
        }
    }
    pub(crate) fn duration(&self, key: &str) -> Duration {
        match self.value(key) {
            Value::Dur(d) => d,
            _ => Duration::ZERO,
        }
    }
    /// A non-empty variable of the process environment.
    pub(crate) fn env_var(&self, name: &str) -> Option<String> {
        self.env.get(name).filter(|v| !v.is_empty()).cloned()
    }

    pub(crate) fn int(&self, key: &str) -> i64 {
        match self.value(key) {
            Value::Int(i) => i,
            _ => 0,
        }
    }
}
