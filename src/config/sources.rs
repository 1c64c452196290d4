//! The three edges: the TOML file, `OAUTH2_PROXY_*` variables and flags, each read into a
//! [`Layer`] of raw values that remember where they came from. No value is interpreted
//! here; `build.rs` types and validates the merged result.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
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
    /// A TOML value of a type no option takes (table, float, date, mixed array).
    Other(&'static str),
}

/// One option's value and origin.
#[derive(Clone, Debug)]
pub struct Setting {
    pub raw: Raw,
    pub origin: Origin,
}

/// One source's settings by option key.
pub type Layer = BTreeMap<&'static str, Setting>;

/// Read and parse the TOML file. Keys are case-insensitive, as in viper.
pub fn read_file(path: &Path, errors: &mut Vec<ConfigError>) -> Layer {
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
            errors.push(ConfigError::new(
                &key,
                format!(
                    "unknown option `{key}` in config file {}{hint}",
                    path.display()
                ),
            ));
            continue;
        };
        let raw = match value {
            toml::Value::String(s) => Raw::Text(s),
            toml::Value::Boolean(b) => Raw::Bool(b),
            toml::Value::Integer(i) => Raw::Int(i),
            toml::Value::Float(_) => Raw::Other("a float"),
            toml::Value::Datetime(_) => Raw::Other("a date"),
            toml::Value::Table(_) => Raw::Other("a table"),
            toml::Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut bad = false;
                for item in items {
                    match item {
                        toml::Value::String(s) => out.push(s),
                        // Numbers in a list (e.g. static upstream codes) read as their text.
                        toml::Value::Integer(i) => out.push(i.to_string()),
                        _ => bad = true,
                    }
                }
                if bad {
                    Raw::Other("an array with non-string items")
                } else {
                    Raw::Items(out)
                }
            }
        };
        layer.insert(
            spec.key,
            Setting {
                raw,
                origin: Origin::File(path.to_path_buf()),
            },
        );
    }
    layer
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

/// Read `OAUTH2_PROXY_*` variables. Empty values count as unset (viper's default).
/// Returns the layer and the `OAUTH2_PROXY_CONFIG` path if set.
pub fn read_env(
    env: &HashMap<String, String>,
    errors: &mut Vec<ConfigError>,
) -> (Layer, Option<PathBuf>) {
    let mut layer = Layer::new();
    let mut config = None;
    // Sorted so errors come out in a stable order.
    let mut vars: Vec<(&String, &String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("OAUTH2_PROXY_"))
        .collect();
    vars.sort();
    for (var, value) in vars {
        if value.is_empty() || is_kubernetes_service_link(var) {
            continue;
        }
        if var == "OAUTH2_PROXY_CONFIG" {
            config = Some(PathBuf::from(value));
            continue;
        }
        let Some(spec) = options::by_env(var) else {
            let envs: Vec<String> = options::OPTIONS.iter().map(OptionSpec::env).collect();
            let hint = options::suggest(var, envs.iter().map(String::as_str))
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default();
            errors.push(ConfigError::new(
                var,
                format!("unknown environment variable {var}{hint}"),
            ));
            continue;
        };
        layer.insert(
            spec.key,
            Setting {
                raw: Raw::Text(value.clone()),
                origin: Origin::Env(var.clone()),
            },
        );
    }
    (layer, config)
}

/// What the command line asked for besides options.
#[derive(Debug, Default)]
pub struct FlagRequest {
    pub config: Option<PathBuf>,
    /// `--alpha-config FILE`: oauth2-proxy's alpha YAML (providers list, upstreams, headers, server).
    pub alpha_config: Option<PathBuf>,
    pub help: bool,
    pub version: bool,
    pub check: bool,
}

/// Parse flags the way pflag does: `--name value`, `--name=value`, booleans as `--name`
/// or `--name=false`, list flags repeated and/or comma-separated. A single leading dash
/// is accepted too (old oauth2_proxy documentation uses it).
pub fn read_flags(args: &[OsString], errors: &mut Vec<ConfigError>) -> (Layer, FlagRequest) {
    let mut layer = Layer::new();
    let mut req = FlagRequest::default();
    let mut i = 0;
    // pflag booleans take their value only after `=`; `--flag false` is a classic mistake.
    let mut last_bool_flag: Option<String> = None;
    while i < args.len() {
        let Some(arg) = args[i].to_str() else {
            errors.push(ConfigError::new(
                "arguments",
                format!("argument {:?} is not valid UTF-8", args[i]),
            ));
            i += 1;
            continue;
        };
        i += 1;
        let previous_bool = last_bool_flag.take();
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            if let (Some(flag), Some(b)) = (&previous_bool, parse_bool_word(arg)) {
                errors.push(ConfigError::new(
                    "arguments",
                    format!("unexpected argument `{arg}` after {flag}; boolean flags take their value after '=': {flag}={b}"),
                ));
                continue;
            }
            errors.push(ConfigError::new(
                "arguments",
                format!("unexpected argument `{arg}`; options are flags such as --upstream=http://127.0.0.1:8080 (see --help)"),
            ));
            continue;
        };
        if body.is_empty() {
            errors.push(ConfigError::new(
                "arguments",
                format!("unexpected argument `{arg}`"),
            ));
            continue;
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let spelling = format!("--{name}");
        match name {
            "h" | "help" => {
                req.help = true;
                continue;
            }
            "version" => {
                req.version = true;
                continue;
            }
            "check" => {
                req.check = true;
                continue;
            }
            _ => {}
        }
        let needs_value = name == "config"
            || name == "alpha-config"
            || options::by_flag(name).is_some_and(|s| s.kind != Kind::Bool);
        let value = if needs_value && inline.is_none() {
            match args.get(i).and_then(|a| a.to_str()) {
                Some(v) => {
                    i += 1;
                    Some(v.to_string())
                }
                None => {
                    errors.push(ConfigError::new(
                        name,
                        format!("flag {spelling} needs a value"),
                    ));
                    continue;
                }
            }
        } else {
            inline
        };
        if name == "config" {
            req.config = value.map(PathBuf::from);
            continue;
        }
        if name == "alpha-config" {
            req.alpha_config = value.map(PathBuf::from);
            continue;
        }
        if options::UNSUPPORTED_META_FLAGS.contains(&name) {
            errors.push(ConfigError::new(
                name,
                format!("flag {spelling} (oauth2-proxy's alpha configuration) is not supported yet; use the TOML config file, environment or flags"),
            ));
            continue;
        }
        let Some(spec) = options::by_flag(name) else {
            let hint = options::suggest(
                name,
                options::OPTIONS
                    .iter()
                    .filter_map(|o| o.flag)
                    .chain(options::META_FLAGS.iter().map(|(f, _)| *f)),
            )
            .map(|s| format!("; did you mean --{s}?"))
            .unwrap_or_default();
            errors.push(ConfigError::new(
                name,
                format!("unknown flag {spelling}{hint}"),
            ));
            continue;
        };
        let origin = Origin::Flag(spelling);
        match spec.kind {
            Kind::Bool => {
                if value.is_none() {
                    last_bool_flag = Some(format!("--{name}"));
                }
                let raw = Raw::Text(value.unwrap_or_else(|| "true".into()));
                layer.insert(spec.key, Setting { raw, origin });
            }
            Kind::List => {
                let items = split_list(value.as_deref().unwrap_or_default());
                // Repeated flags accumulate (pflag StringSlice).
                let entry = layer.entry(spec.key).or_insert(Setting {
                    raw: Raw::Items(Vec::new()),
                    origin,
                });
                if let Raw::Items(v) = &mut entry.raw {
                    v.extend(items);
                }
            }
            _ => {
                let raw = Raw::Text(value.unwrap_or_default());
                layer.insert(spec.key, Setting { raw, origin });
            }
        }
    }
    (layer, req)
}

fn parse_bool_word(s: &str) -> Option<&'static str> {
    match s {
        "true" | "TRUE" | "True" => Some("true"),
        "false" | "FALSE" | "False" => Some("false"),
        _ => None,
    }
}

/// Split a comma-separated list (flags, env, or a TOML string for a list key), trimming
/// blanks around items and dropping empty items.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}
