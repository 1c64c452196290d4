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
        Self::parse_warned(
            skip_auth_routes,
            skip_auth_regex,
            api_routes,
            trusted_ips,
            preflight,
        )
        .map(|(c, _)| c)
    }

    /// [`SkipConfig::parse`], also returning the entries accepted as v7 accepts them that are
    /// probably mistakes (one sentence each).
    pub fn parse_warned(
        skip_auth_routes: &[String],
        skip_auth_regex: &[String],
        api_routes: &[String],
        trusted_ips: &[String],
        preflight: bool,
    ) -> Result<(SkipConfig, Vec<RuleError>), Vec<RuleError>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
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
                Ok(r) => {
                    if let Some(m) = &r.method {
                        if !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                            warnings.push(RuleError {
                                key: "skip_auth_routes",
                                message: format!("entry {entry:?} is read as method {m:?} and path regex {:?}, as oauth2-proxy splits it at the first '=' (or '!='); no request has that method, so it never matches (write [METHOD=]regex, and \\x3d for a '=' in the regex)", r.regex.as_str()),
                            });
                        }
                    }
                    rules.routes.push(r)
                }
                Err(e) => errors.push(RuleError {
                    key: "skip_auth_routes",
                    message: e,
                }),
            }
        }
        let match_all = Regex::new("");
        for entry in api_routes {
            if entry.is_empty() {
                // v7 compiles it: every path is an API route (401 instead of the sign-in page).
                warnings.push(RuleError {
                    key: "api_routes",
                    message: "an empty entry matches every path: every unauthenticated request gets 401 instead of the sign-in page (as in oauth2-proxy)".into(),
                });
                match &match_all {
                    Ok(r) => rules.api_routes.push(r.clone()),
                    Err(e) => errors.push(RuleError {
                        key: "api_routes",
                        message: e.to_string(),
                    }),
                }
                continue;
            }
            match compile_regex(entry) {
                Ok(r) => rules.api_routes.push(r),
                Err(e) => errors.push(RuleError {
                    key: "api_routes",
                    message: e,
                }),
            }
        }
        for entry in trusted_ips {
            if entry.trim() != entry || entry.is_empty() {
                errors.push(RuleError {
                    key: "trusted_ips",
                    message: format!("entry {entry:?} could not be recognized (oauth2-proxy refuses it too: list entries are not trimmed; separate them with a bare comma)"),
                });
                continue;
            }
            match Cidr::parse(entry) {
                Ok(c) => rules.trusted_ips.push(c),
                Err(e) => errors.push(RuleError {
                    key: "trusted_ips",
                    message: e,
                }),
            }
        }
        if errors.is_empty() {
            Ok((rules, warnings))
        } else {
            Err(errors)
        }
    }
}

/// `METHOD=regex`, `METHOD!=regex` or `regex`, split as v7 splits it: at the first `=` or
/// `!=`, the part before is the method (upper-cased, whatever it is: `^/a=b` is method `^/A`,
/// which no request has, and regex `b`).
fn parse_route(entry: &str) -> Result<SkipRoute, String> {
    let split = entry.find('=').map(|i| {
        let (head, negate) = match entry[..i].strip_suffix('!') {
            Some(h) => (h, true),
            None => (&entry[..i], false),
        };
        (head.to_ascii_uppercase(), negate, &entry[i + 1..])
    });
    let (method, negate, pattern) = match split {
        Some((m, n, p)) => (Some(m), n, p),
        None => (None, false, entry),
    };
    // v7 negates a route whenever "!=" appears anywhere in it: `GET=^/a!=b` would skip
    // authentication for every GET path NOT matching `^/a!=b`. Never what was meant.
    if !negate && pattern.contains("!=") {
        return Err(format!("entry {entry:?}: oauth2-proxy would read it as a negated route (skip authentication for every path NOT matching {pattern:?}) because it contains \"!=\" after the method; authproxy refuses it: write \\x21= for a literal \"!=\" in the regex"));
    }
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
