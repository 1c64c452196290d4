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

/// Go's `strconv.ParseBool`, which both pflag and viper use (exact: no trimming).
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    super::super::sources::go_parse_bool(s)
}

/// Go's `strconv.ParseInt(s, 0, 64)`, what viper's decoder uses for integers: an optional sign,
/// then decimal, `0x` hex, `0o` / leading-`0` octal or `0b` binary, `_` between digits.
pub(crate) fn go_parse_int(s: &str) -> Option<i64> {
    if s.contains('_') && !go_underscore_ok(s) {
        return None;
    }
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    i64::try_from(if neg { -v } else { v }).ok()
}

/// Go's `underscoreOK`: underscores only between digits (a base prefix counts as a digit).
fn go_underscore_ok(s: &str) -> bool {
    let b = s.trim_start_matches(['+', '-']).as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || hex && c.is_ascii_hexdigit() {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Type a raw value for its option. Strings (environment, flags, TOML strings) are parsed as
/// v7 parses them; TOML values were already coerced by the reader (`sources::toml_value`).
pub(crate) fn typed(spec: &OptionSpec, raw: &Raw) -> Result<Value, String> {
    match (spec.kind, raw) {
        (_, Raw::Other(what)) => Err(format!("expected {}: {what}", kind_name(spec.kind))),
        (Kind::Bool, Raw::Bool(b)) => Ok(Value::Bool(*b)),
        (Kind::Bool, Raw::Int(i)) => Ok(Value::Bool(*i != 0)),
        (Kind::Bool, Raw::Text(s)) => parse_bool(s)
            .map(Value::Bool)
            .ok_or_else(|| format!("{s:?} is not a boolean (strconv.ParseBool: use true or false, 1 or 0, t or f)")),
        (Kind::Str, Raw::Text(s)) => Ok(Value::Str(s.clone())),
        // Weak typing as viper does: `client_id = 12345` is the string "12345".
        (Kind::Str, Raw::Int(i)) => Ok(Value::Str(i.to_string())),
        (Kind::Str, Raw::Bool(b)) => Ok(Value::Str(if *b { "1" } else { "0" }.into())),
        (Kind::List, Raw::Items(v)) => Ok(Value::List(v.clone())),
        (Kind::List, Raw::Text(s)) => Ok(Value::List(split_list(s))),
        (Kind::Duration, Raw::Text(s)) => parse_go_duration(s).map(Value::Dur),
        (Kind::Duration, Raw::Nanos(n) | Raw::Int(n)) => u64::try_from(*n)
            .map(|n| Value::Dur(Duration::from_nanos(n)))
            .map_err(|_| format!("{n} nanoseconds is negative; it must be zero or more")),
        (Kind::Int, Raw::Int(i)) => Ok(Value::Int(*i)),
        (Kind::Int, Raw::Bool(b)) => Ok(Value::Int(i64::from(*b))),
        (Kind::Int, Raw::Text(s)) => go_parse_int(s)
            .map(Value::Int)
            .ok_or_else(|| format!("{s:?} is not an integer (strconv.ParseInt: decimal, 0x hex, 0o octal or 0b binary)")),
        (kind, other) => Err(format!(
            "expected {}, found {}",
            kind_name(kind),
            match other {
                Raw::Bool(_) => "a boolean",
                Raw::Int(_) | Raw::Nanos(_) => "an integer",
                Raw::Items(_) => "a list",
                Raw::Text(_) => "a string",
                Raw::Other(w) => w,
            }
        )),
    }
}

/// Why a value v7 accepts as written is probably a mistake (one sentence), if it is.
fn value_warning(spec: &OptionSpec, raw: &Raw, v: &Value) -> Option<String> {
    match (raw, v) {
        (Raw::Nanos(n), _) if *n != 0 => Some(format!(
            "the integer {n} is read as {n} nanoseconds, as oauth2-proxy reads it; write a duration with a unit such as \"{n}s\" or \"1h\""
        )),
        (_, Value::List(items)) => {
            let odd: Vec<String> = items
                .iter()
                .filter(|i| {
                    i.is_empty()
                        || i.trim() != i.as_str()
                        || (i.len() >= 2 && (i.starts_with('"') && i.ends_with('"') || i.starts_with('\'') && i.ends_with('\'')))
                })
                .map(|i| format!("{i:?}"))
                .collect();
            (!odd.is_empty()).then(|| format!(
                "entries {} are kept exactly as written (empty, surrounding spaces or quotes), as oauth2-proxy keeps them: lists are split on every comma and nothing is trimmed, so such an entry matches nothing it was meant to; separate entries with a bare comma",
                odd.join(", ")
            ))
        }
        (Raw::Text(s), Value::Str(_))
            if spec.kind == Kind::Str
                && s.len() >= 2
                && (s.starts_with('"') && s.ends_with('"') || s.starts_with('\'') && s.ends_with('\'')) =>
        {
            Some(format!(
                "the value {s:?} includes its quotes, as oauth2-proxy reads it; remove them unless they are meant"
            ))
        }
        _ => None,
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
                    if let Some(w) = value_warning(spec, &setting.raw, &v) {
                        ctx.warnings
                            .push(format!("{}: {w}", subject(key, &setting.origin)));
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

    /// Record a warning about `key`'s value (the sentence is prefixed with the option and its
    /// origin, as errors are).
    pub(crate) fn warn_about(&mut self, key: &str, msg: impl std::fmt::Display) {
        let line = format!("{}: {msg}", subject(key, &self.origin(key)));
        self.warnings.push(line);
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
