//! `skip_auth_routes`, `skip_auth_regex`, `api_routes`, `trusted_ips`, `skip_auth_preflight`:
//! parsed and validated here (regexes compiled, networks parsed); matched by
//! [`crate::skip`].

use regex::Regex;

use crate::net::Cidr;

/// One `skip_auth_routes` / `skip_auth_regex` entry.
#[derive(Clone, Debug)]
pub struct SkipRoute {
    /// Upper-case method; `None` = any.
    pub method: Option<String>,
    /// `METHOD!=regex`: the route matches paths the regex does NOT match.
    pub negate: bool,
    pub regex: Regex,
}

/// The validated skip and API rules.
#[derive(Clone, Debug, Default)]
pub struct SkipConfig {
    pub routes: Vec<SkipRoute>,
    pub api_routes: Vec<Regex>,
    pub trusted_ips: Vec<Cidr>,
    pub preflight: bool,
}

/// One configuration problem: the option and a sentence about the entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    pub key: &'static str,
    pub message: String,
}

impl SkipConfig {
    /// Compiles the options; every bad entry is reported with its option name.
    pub fn parse(
        skip_auth_routes: &[String],
        skip_auth_regex: &[String],
        api_routes: &[String],
        trusted_ips: &[String],
        preflight: bool,
    ) -> Result<SkipConfig, Vec<RuleError>> {
        let mut errors = Vec::new();
        let mut rules = SkipConfig {
            preflight,
            ..SkipConfig::default()
        };
        for entry in skip_auth_regex {
            match compile_regex(entry) {
                Ok(regex) => rules.routes.push(SkipRoute {
                    method: None,
                    negate: false,
                    regex,
                }),
                Err(e) => errors.push(RuleError {
                    key: "skip_auth_regex",
                    message: e,
                }),
            }
        }
        for entry in skip_auth_routes {
            match parse_route(entry) {
                Ok(r) => rules.routes.push(r),
                Err(e) => errors.push(RuleError {
                    key: "skip_auth_routes",
                    message: e,
                }),
            }
        }
        for entry in api_routes {
            match compile_regex(entry) {
                Ok(r) => rules.api_routes.push(r),
                Err(e) => errors.push(RuleError {
                    key: "api_routes",
                    message: e,
                }),
            }
        }
        for entry in trusted_ips {
            match Cidr::parse(entry) {
                Ok(c) => rules.trusted_ips.push(c),
                Err(e) => errors.push(RuleError {
                    key: "trusted_ips",
                    message: e,
                }),
            }
        }
        if errors.is_empty() {
            Ok(rules)
        } else {
            Err(errors)
        }
    }
}

/// `METHOD=regex`, `METHOD!=regex` or `regex`.
fn parse_route(entry: &str) -> Result<SkipRoute, String> {
    // Only a leading token of letters counts as a method, so a regex containing `=` (say
    // `^/a=b`) is still read as a plain regex.
    let split = entry.find('=').and_then(|i| {
        let (head, negate) = match entry[..i].strip_suffix('!') {
            Some(h) => (h, true),
            None => (&entry[..i], false),
        };
        (!head.is_empty() && head.bytes().all(|b| b.is_ascii_alphabetic()))
            .then(|| (head.to_ascii_uppercase(), negate, &entry[i + 1..]))
    });
    let (method, negate, pattern) = match split {
        Some((m, n, p)) => (Some(m), n, p),
        None => (None, false, entry),
    };
    let regex = compile_regex(pattern).map_err(|e| format!("entry {entry:?}: {e}"))?;
    Ok(SkipRoute {
        method,
        negate,
        regex,
    })
}

fn compile_regex(pattern: &str) -> Result<Regex, String> {
    if pattern.is_empty() {
        return Err("an empty regex would match every path".into());
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("{pattern:?} is not a valid regex: {e}"))
}
