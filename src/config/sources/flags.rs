//! Command-line flags, read the way oauth2-proxy v7's flag library (spf13/pflag) reads them:
//!
//! * only `--name=value` / `--name value`; a single dash is a shorthand and v7 has none but
//!   `-h`, so `-cookie-name=x` is refused (as v7 refuses it);
//! * a boolean flag takes a value only after `=`: `--cookie-secure false` turns the flag ON and
//!   leaves `false` as a positional argument, which v7 ignores (authproxy warns; for flags whose
//!   `true` weakens security it refuses, see [`INSECURE_WHEN_TRUE`]);
//! * positional arguments are ignored, `--` ends the flags (everything after it is ignored);
//! * each occurrence of a list flag is one CSV record (Go's `encoding/csv`): commas separate
//!   items, double quotes protect commas, nothing is trimmed; repeated flags append.

use std::ffi::OsString;
use std::path::PathBuf;

use super::super::options::{self, Kind};
use super::super::ConfigError;
use super::{Layer, Origin, Raw, Setting};

/// What the command line asked for besides options.
#[derive(Debug, Default)]
pub struct FlagRequest {
    pub config: Option<PathBuf>,
    /// `--alpha-config FILE`: oauth2-proxy's alpha YAML (providers list, upstreams, headers, server).
    pub alpha_config: Option<PathBuf>,
    pub help: bool,
    pub version: bool,
    /// `--check` (authproxy) or `--config-test` (oauth2-proxy v7.15).
    pub check: bool,
    /// `--config-test` was the spelling (its output is v7's `configuration is valid`).
    pub config_test: bool,
    /// `--convert-config-to-alpha`.
    pub convert_to_alpha: bool,
}

/// Boolean flags whose `true` weakens security. `--flag false` would turn them ON in v7; that
/// is never what was meant, so authproxy refuses it instead of following v7.
pub const INSECURE_WHEN_TRUE: &[&str] = &[
    "ssl-insecure-skip-verify",
    "ssl-upstream-insecure-skip-verify",
    "insecure-oidc-allow-unverified-email",
    "insecure-oidc-skip-issuer-verification",
    "insecure-oidc-skip-nonce",
    "redis-insecure-skip-tls-verify",
    "skip-auth-preflight",
    "skip-jwt-bearer-tokens",
    "reverse-proxy",
    "show-debug-on-error",
    "pass-access-token",
    "pass-authorization-header",
    "set-authorization-header",
    "allow-query-semicolons",
    "skip-oidc-discovery",
];

/// Boolean options that v7 registers as *string* flags: they need a value
/// (`--google-use-organization-id=true`), `--flag true` consumes `true`.
const STRING_TYPED_BOOL_FLAGS: &[&str] = &[
    "google-use-application-default-credentials",
    "google-use-organization-id",
];

/// Go's `strconv.ParseBool`, which pflag and viper use (no trimming).
pub fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Parse `args` (without argv\[0\]). Errors and warnings name the flag.
pub fn read_flags(
    args: &[OsString],
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<String>,
) -> (Layer, FlagRequest) {
    let mut layer = Layer::new();
    let mut req = FlagRequest::default();
    let mut i = 0;
    // A boolean flag given without `=`, for the warning about a following `true`/`false`.
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
        if arg == "--" {
            let rest: Vec<String> = args[i..]
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            if !rest.is_empty() {
                warnings.push(format!(
                    "the arguments after `--` are ignored, as oauth2-proxy ignores them: {}",
                    rest.join(" ")
                ));
            }
            break;
        }
        let Some(body) = arg.strip_prefix("--") else {
            if arg == "-h" {
                req.help = true;
            } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
                let first = short.chars().next().unwrap_or('-');
                let name = short.split('=').next().unwrap_or(short);
                errors.push(ConfigError::new(
                    name,
                    format!(
                        "flag {arg}: single-dash flags are not accepted (oauth2-proxy refuses them too: \"unknown shorthand flag: '{first}' in {arg}\"); write --{short}"
                    ),
                ));
            } else {
                positional(arg, previous_bool.as_deref(), errors, warnings);
            }
            continue;
        };
        if body.starts_with('-') || body.starts_with('=') {
            errors.push(ConfigError::new(
                "arguments",
                format!("bad flag syntax: {arg}"),
            ));
            continue;
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let spelling = format!("--{name}");
        let meta: Option<&mut bool> = match name {
            "h" | "help" => Some(&mut req.help),
            "version" => Some(&mut req.version),
            "check" => Some(&mut req.check),
            "config-test" => Some(&mut req.config_test),
            "convert-config-to-alpha" => Some(&mut req.convert_to_alpha),
            _ => None,
        };
        if let Some(slot) = meta {
            match inline.as_deref().map(go_parse_bool) {
                None => {
                    *slot = true;
                    last_bool_flag = Some(spelling);
                }
                Some(Some(b)) => *slot = b,
                Some(None) => errors.push(ConfigError::new(
                    name,
                    format!(
                        "flag {spelling}: {:?} is not a boolean (strconv.ParseBool syntax: true, false, 1, 0, t, f)",
                        inline.unwrap_or_default()
                    ),
                )),
            }
            continue;
        }
        let spec = options::by_flag(name);
        let is_bool_flag =
            spec.is_some_and(|s| s.kind == Kind::Bool) && !STRING_TYPED_BOOL_FLAGS.contains(&name);
        let needs_value =
            name == "config" || name == "alpha-config" || (spec.is_some() && !is_bool_flag);
        let value = if needs_value && inline.is_none() {
            // pflag takes the next argument whatever it looks like (`--cookie-name -x`).
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
        let Some(spec) = spec else {
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
        let origin = Origin::Flag(spelling.clone());
        match spec.kind {
            Kind::Bool => {
                if value.is_none() {
                    last_bool_flag = Some(spelling);
                }
                let raw = Raw::Text(value.unwrap_or_else(|| "true".into()));
                layer.insert(spec.key, Setting { raw, origin });
            }
            Kind::List => {
                let items = match read_csv_record(value.as_deref().unwrap_or_default()) {
                    Ok(items) => items,
                    Err(e) => {
                        errors.push(ConfigError::new(
                            spec.key,
                            format!(
                                "option `{}` (from flag {spelling}): invalid argument {:?}: {e} (each occurrence is one CSV record, as in oauth2-proxy: quote an item containing a comma or a quote as \"a,b\" and double inner quotes)",
                                spec.key,
                                value.unwrap_or_default()
                            ),
                        ));
                        continue;
                    }
                };
                // Repeated flags accumulate (pflag StringSlice); the first replaces the other sources.
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

/// A positional argument: ignored as v7 ignores it, with a warning; after a boolean flag given
/// without `=`, the warning explains pflag's rule, and for a security-weakening flag followed
/// by a false word the start is refused.
fn positional(
    arg: &str,
    previous_bool: Option<&str>,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<String>,
) {
    match (previous_bool, go_parse_bool(arg)) {
        (Some(flag), Some(b)) => {
            let name = flag.trim_start_matches('-');
            if !b && INSECURE_WHEN_TRUE.contains(&name) {
                let key = options::by_flag(name).map_or(name, |s| s.key);
                errors.push(ConfigError::new(
                    key,
                    format!(
                        "option `{key}` (from flag {flag}): `{flag} {arg}`: a boolean flag takes its value only after '=', so oauth2-proxy would turn {flag} ON and ignore `{arg}`; authproxy refuses this rather than weaken security: write {flag}=false (or drop it)"
                    ),
                ));
            } else {
                warnings.push(format!(
                    "`{flag} {arg}`: a boolean flag takes its value only after '=', so {flag} is ON and the argument `{arg}` is ignored, as in oauth2-proxy; write {flag}={arg}"
                ));
            }
        }
        _ => warnings.push(format!(
            "argument `{arg}` is ignored, as oauth2-proxy ignores positional arguments; options are flags such as --upstream=http://127.0.0.1:8080 (see --help)"
        )),
    }
}

/// One record of Go's `encoding/csv` (comma separator, strict quotes, no trimming), which is
/// how pflag reads each occurrence of a list flag. `""` is the empty list; a newline outside
/// quotes ends the record (the rest is ignored, as `csv.Reader.Read` returns the first record).
/// Hand-written because exact compatibility with Go's parser is the point (the `csv` crate
/// trims and quotes differently).
pub fn read_csv_record(value: &str) -> Result<Vec<String>, String> {
    read_csv(value, false)
}

/// [`read_csv_record`] with Go's `TrimLeadingSpace` option (leading white space of every field
/// is skipped, also before a quoted field).
pub fn read_csv(value: &str, trim_leading_space: bool) -> Result<Vec<String>, String> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    let normalized = value.replace("\r\n", "\n");
    // Empty lines before the record are skipped.
    let line = normalized.trim_start_matches('\n');
    let bytes = line.as_bytes();
    let mut fields = Vec::new();
    let mut pos = 0usize;
    let mut line_no = 1usize;
    let mut line_start = 0usize;
    loop {
        if trim_leading_space {
            while pos < bytes.len() && matches!(bytes[pos], b' ' | b'\t' | b'\x0b' | b'\x0c') {
                pos += 1;
            }
        }
        if pos < bytes.len() && bytes[pos] == b'"' {
            // Quoted field.
            let mut field = Vec::new();
            pos += 1;
            loop {
                match bytes.get(pos) {
                    None => {
                        return Err(format!(
                            "parse error on line {line_no}, column {}: extraneous or missing \" in quoted-field",
                            pos - line_start + 1
                        ))
                    }
                    Some(b'"') => match bytes.get(pos + 1) {
                        Some(b'"') => {
                            field.push(b'"');
                            pos += 2;
                        }
                        Some(b',') => {
                            pos += 2;
                            fields.push(String::from_utf8_lossy(&field).into_owned());
                            break;
                        }
                        None | Some(b'\n') => {
                            fields.push(String::from_utf8_lossy(&field).into_owned());
                            return Ok(fields);
                        }
                        Some(_) => {
                            return Err(format!(
                                "parse error on line {line_no}, column {}: extraneous or missing \" in quoted-field",
                                pos - line_start + 1
                            ))
                        }
                    },
                    Some(&b) => {
                        if b == b'\n' {
                            line_no += 1;
                            line_start = pos + 1;
                        }
                        field.push(b);
                        pos += 1;
                    }
                }
            }
        } else {
            // Plain field: up to the next comma or the end of the line.
            let end = bytes[pos..]
                .iter()
                .position(|&b| b == b',' || b == b'\n')
                .map_or(bytes.len(), |j| pos + j);
            let field = &line[pos..end];
            if let Some(j) = field.find('"') {
                return Err(format!(
                    "parse error on line {line_no}, column {}: bare \" in non-quoted-field",
                    pos - line_start + j + 1
                ));
            }
            fields.push(field.to_owned());
            if bytes.get(end) == Some(&b',') {
                pos = end + 1;
            } else {
                return Ok(fields);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_split_as_go_encoding_csv_does() {
        let ok: &[(&str, &[&str])] = &[
            ("", &[]),
            ("a", &["a"]),
            ("a,b", &["a", "b"]),
            ("a,", &["a", ""]),
            (",", &["", ""]),
            ("a b", &["a b"]),
            (" a , b ", &[" a ", " b "]),
            ("\"a,b\",c", &["a,b", "c"]),
            ("\"^/a{1,3}$\"", &["^/a{1,3}$"]),
            ("^/a{1,3}$", &["^/a{1", "3}$"]),
            ("\"say \"\"hi\"\"\"", &["say \"hi\""]),
            ("a\nb", &["a"]),
            ("\"a\nb\",c", &["a\nb", "c"]),
        ];
        for (input, want) in ok {
            assert_eq!(read_csv_record(input).unwrap(), *want, "{input:?}");
        }
        let e = read_csv_record("a\"b").unwrap_err();
        assert_eq!(
            e,
            "parse error on line 1, column 2: bare \" in non-quoted-field"
        );
        for bad in ["\"abc", "\"a\"b", "x,\"y"] {
            let e = read_csv_record(bad).unwrap_err();
            assert!(e.contains("extraneous or missing"), "{bad}: {e}");
        }
    }

    #[test]
    fn go_booleans_are_exact() {
        for t in ["1", "t", "T", "true", "TRUE", "True"] {
            assert_eq!(go_parse_bool(t), Some(true));
        }
        for f in ["0", "f", "F", "false", "FALSE", "False"] {
            assert_eq!(go_parse_bool(f), Some(false));
        }
        for bad in ["yes", "on", " true", "tRUE", ""] {
            assert_eq!(go_parse_bool(bad), None, "{bad:?}");
        }
    }
}
