//! The alpha file's `upstreamConfig`, `injectRequestHeaders` / `injectResponseHeaders`,
//! `server` and `metricsServer`, read straight into the structured model with oauth2-proxy
//! v7's rules: keys match case-insensitively, values are strictly typed, defaults as v7's
//! `EnsureDefaults`, and v7's validation messages.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use super::{canonical, join, Reader};
use crate::config::build::server::{
    cipher_suites, parse_bind_address, parse_secure_address, tls_version,
};
use crate::config::build::upstreams::{finish, static_upstream, validate};
use crate::config::duration::parse_go_duration;
use crate::config::structured::{
    AssertionSource, ClaimSource, HeaderRule, HeaderValueSource, RuleOrigin, SecretBytes,
    SecretOrigin, SecretSource, ServerConfig, TlsConfig, Upstream, UpstreamConfig, UpstreamKind,
};

impl Reader<'_> {
    /// The fields of a mapping by canonical name (unknown ones reported).
    fn fields<'v>(
        &mut self,
        m: &'v Mapping,
        at: &str,
        known: &'static [&'static str],
    ) -> Vec<(&'static str, &'v Value)> {
        let mut out = Vec::new();
        for (k, v) in m {
            let Some(name) = self.key(k, at) else {
                continue;
            };
            match canonical(&name, known.iter().copied()) {
                Some(c) => out.push((c, v)),
                None => self.unknown(at, &name, known.iter().copied()),
            }
        }
        out
    }

    fn bool(&mut self, v: &Value, field: &str) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            Value::Null => None,
            other => {
                self.err(
                    field,
                    format!("expected a boolean (true or false), found {}", kind(other)),
                );
                None
            }
        }
    }

    fn string(&mut self, v: &Value, field: &str) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            Value::Number(n) => {
                self.err(
                    field,
                    format!("expected a string, found the number {n}; quote it (\"{n}\")"),
                );
                None
            }
            other => {
                self.err(field, format!("expected a string, found {}", kind(other)));
                None
            }
        }
    }

    fn strings(&mut self, v: &Value, field: &str) -> Vec<String> {
        match v {
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.string(item, &format!("{field}[{i}]")))
                .collect(),
            Value::Null => Vec::new(),
            other => {
                self.err(field, format!("expected a list, found {}", kind(other)));
                Vec::new()
            }
        }
    }

    /// v7's duration hook: a Go duration string, a float (seconds), an integer
    /// (nanoseconds, as v7 reads it, with a warning).
    fn duration(&mut self, v: &Value, field: &str) -> Option<Duration> {
        match v {
            Value::String(s) => match parse_go_duration(s) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.err(field, e);
                    None
                }
            },
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                let ns = n.as_u64().unwrap_or(0);
                self.warn(format!(
                    "{} field {field}: the integer {n} is read as {n} nanoseconds (as oauth2-proxy does); write a duration such as \"{n}s\"",
                    self.file.display()
                ));
                Some(Duration::from_nanos(ns))
            }
            Value::Number(n) => match n.as_f64() {
                Some(f) if f >= 0.0 && f.is_finite() => Some(Duration::from_secs_f64(f)),
                _ => {
                    self.err(field, format!("{n} is not a duration"));
                    None
                }
            },
            Value::Null => None,
            other => {
                self.err(
                    field,
                    format!("expected a duration such as \"30s\", found {}", kind(other)),
                );
                None
            }
        }
    }

    /// `secretSource`: exactly one of `value` (literal bytes: a string, or a list of byte
    /// values as --convert-config-to-alpha prints them), `fromEnv`, `fromFile`; read now.
    pub(super) fn secret(&mut self, v: &Value, at: &str) -> Option<SecretSource> {
        let m = self.mapping(v, at)?;
        let fields = self.fields(m, at, &["value", "fromEnv", "fromFile"]);
        let set: Vec<_> = fields.iter().filter(|(_, v)| !v.is_null()).collect();
        if set.len() != 1 {
            self.err(at, "multiple values specified for secret source: specify exactly one of value, fromEnv or fromFile");
            return None;
        }
        let (name, value) = *set[0];
        let field = join(at, name);
        match name {
            "value" => {
                let bytes = match value {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Sequence(items) => {
                        let mut out = Vec::with_capacity(items.len());
                        for item in items {
                            match item.as_u64().and_then(|b| u8::try_from(b).ok()) {
                                Some(b) => out.push(b),
                                None => {
                                    self.err(&field, "a list value must hold byte values (0-255)");
                                    return None;
                                }
                            }
                        }
                        out
                    }
                    other => {
                        self.err(&field, format!("expected a string, found {}", kind(other)));
                        return None;
                    }
                };
                Some(SecretSource {
                    origin: SecretOrigin::Value,
                    bytes: SecretBytes(bytes),
                })
            }
            "fromEnv" => {
                let var = self.string(value, &field)?;
                match self.env.get(&var).filter(|v| !v.is_empty()) {
                    Some(v) => Some(SecretSource {
                        bytes: SecretBytes(v.as_bytes().to_vec()),
                        origin: SecretOrigin::FromEnv(var),
                    }),
                    None => {
                        self.err(
                            &field,
                            format!("environment variable {var:?} is not set or empty"),
                        );
                        None
                    }
                }
            }
            _ => {
                let path = self.string(value, &field)?;
                match std::fs::read(&path) {
                    Ok(bytes) => Some(SecretSource {
                        origin: SecretOrigin::FromFile(PathBuf::from(path)),
                        bytes: SecretBytes(bytes),
                    }),
                    Err(e) => {
                        self.err(&field, format!("cannot read {path:?}: {e}"));
                        None
                    }
                }
            }
        }
    }

    pub(super) fn upstream_config(&mut self, v: &Value) -> Option<UpstreamConfig> {
        let m = self.mapping(v, "upstreamConfig")?;
        let mut cfg = UpstreamConfig::default();
        for (name, v) in self.fields(m, "upstreamConfig", &["proxyRawPath", "upstreams"]) {
            let field = join("upstreamConfig", name);
            match name {
                "proxyRawPath" => cfg.proxy_raw_path = self.bool(v, &field).unwrap_or(false),
                _ => match v {
                    Value::Sequence(items) => {
                        for (i, item) in items.iter().enumerate() {
                            let at = format!("upstreamConfig.upstreams[{i}]");
                            let Some(u) = self.mapping(item, &at) else {
                                self.err(&at, "is empty");
                                continue;
                            };
                            if let Some(up) = self.upstream(u, &at) {
                                cfg.upstreams.push(up);
                            }
                        }
                    }
                    Value::Null => {}
                    other => self.err(
                        &field,
                        format!("expected a list of upstreams, found {}", kind(other)),
                    ),
                },
            }
        }
        for e in validate(&cfg.upstreams) {
            self.err("upstreamConfig.upstreams", e);
        }
        Some(cfg)
    }

    fn upstream(&mut self, m: &Mapping, at: &str) -> Option<Upstream> {
        const FIELDS: &[&str] = &[
            "id",
            "path",
            "rewriteTarget",
            "uri",
            "insecureSkipTLSVerify",
            "static",
            "staticCode",
            "flushInterval",
            "passHostHeader",
            "proxyWebSockets",
            "timeout",
            "disableKeepAlives",
        ];
        let mut u = Upstream {
            id: String::new(),
            path: String::new(),
            rewrite_target: None,
            uri: String::new(),
            kind: UpstreamKind::Static(200),
            insecure_skip_tls_verify: false,
            flush_interval: Duration::from_secs(1),
            pass_host_header: true,
            proxy_websockets: true,
            timeout: Duration::from_secs(30),
            disable_keep_alives: false,
        };
        let (mut is_static, mut code) = (false, None);
        for (name, v) in self.fields(m, at, FIELDS) {
            let field = join(at, name);
            match name {
                "id" => u.id = self.string(v, &field).unwrap_or_default(),
                "path" => u.path = self.string(v, &field).unwrap_or_default(),
                "rewriteTarget" => {
                    u.rewrite_target = self.string(v, &field).filter(|t| !t.is_empty())
                }
                "uri" => u.uri = self.string(v, &field).unwrap_or_default(),
                "insecureSkipTLSVerify" => {
                    u.insecure_skip_tls_verify = self.bool(v, &field).unwrap_or(false)
                }
                "static" => is_static = self.bool(v, &field).unwrap_or(false),
                "staticCode" => match v {
                    Value::Number(n) => match n
                        .as_f64()
                        .map(|f| f as i64)
                        .and_then(|c| u16::try_from(c).ok())
                    {
                        Some(c) => code = Some(c),
                        None => self.err(&field, format!("{n} is not a status code")),
                    },
                    Value::Null => {}
                    other => self.err(
                        &field,
                        format!("expected an integer, found {}", kind(other)),
                    ),
                },
                "flushInterval" => {
                    if let Some(d) = self.duration(v, &field) {
                        u.flush_interval = d;
                    }
                }
                "passHostHeader" => u.pass_host_header = self.bool(v, &field).unwrap_or(true),
                "proxyWebSockets" => u.proxy_websockets = self.bool(v, &field).unwrap_or(true),
                "timeout" => {
                    if let Some(d) = self.duration(v, &field) {
                        u.timeout = d;
                    }
                }
                _ => u.disable_keep_alives = self.bool(v, &field).unwrap_or(false),
            }
        }
        if is_static {
            // v7's EnsureDefaults overwrites these for a static upstream.
            let mut s = static_upstream(u.id, u.path, code.unwrap_or(200));
            s.rewrite_target = u.rewrite_target;
            return Some(s);
        }
        if let Some(c) = code {
            self.err(
                at,
                format!("upstream {:?} has staticCode ({c}), but is not a static upstream, set 'static' for a static response", u.id),
            );
            return None;
        }
        match finish(u) {
            Ok(u) => Some(u),
            Err(e) => {
                self.err(at, e);
                None
            }
        }
    }

    /// `injectRequestHeaders` / `injectResponseHeaders`.
    pub(super) fn headers(&mut self, v: &Value, section: &str, request: bool) -> Vec<HeaderRule> {
        let items = match v {
            Value::Sequence(s) => s,
            Value::Null => return Vec::new(),
            other => {
                self.err(
                    section,
                    format!("expected a list of headers, found {}", kind(other)),
                );
                return Vec::new();
            }
        };
        let mut out: Vec<HeaderRule> = Vec::new();
        let mut names = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("{section}[{i}]");
            let Some(m) = self.mapping(item, &at) else {
                self.err(&at, "is empty");
                continue;
            };
            let mut rule = HeaderRule {
                name: String::new(),
                preserve_request_value: false,
                insecure_skip_header_normalization: false,
                values: Vec::new(),
                origin: RuleOrigin::Standard,
            };
            for (name, v) in self.fields(
                m,
                &at,
                &[
                    "name",
                    "preserveRequestValue",
                    "InsecureSkipHeaderNormalization",
                    "values",
                ],
            ) {
                let field = join(&at, name);
                match name {
                    "name" => rule.name = self.string(v, &field).unwrap_or_default(),
                    "preserveRequestValue" => {
                        rule.preserve_request_value =
                            self.bool(v, &field).unwrap_or(false) && request
                    }
                    "InsecureSkipHeaderNormalization" => {
                        rule.insecure_skip_header_normalization =
                            self.bool(v, &field).unwrap_or(false)
                    }
                    _ => rule.values = self.header_values(v, &field),
                }
            }
            if rule.name.is_empty() {
                self.err(
                    &at,
                    "header has empty name: names are required for all headers",
                );
                continue;
            }
            if !names.insert(rule.name.clone()) {
                self.err(
                    &at,
                    format!(
                        "multiple headers found with name {:?}: header names must be unique",
                        rule.name
                    ),
                );
                continue;
            }
            if rule.assertion().is_some() && rule.values.len() != 1 {
                self.err(
                    &join(&at, "values"),
                    "a header with identityAssertionSource has no other value (the token is the whole value)",
                );
                continue;
            }
            if http::HeaderName::from_bytes(rule.name.as_bytes()).is_err() {
                self.err(
                    &join(&at, "name"),
                    format!("{:?} is not a valid HTTP header name", rule.name),
                );
                continue;
            }
            out.push(rule);
        }
        out
    }

    fn header_values(&mut self, v: &Value, at: &str) -> Vec<HeaderValueSource> {
        let items = match v {
            Value::Sequence(s) => s,
            Value::Null => return Vec::new(),
            other => {
                self.err(
                    at,
                    format!("expected a list of values, found {}", kind(other)),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let field = format!("{at}[{i}]");
            let Some(m) = self.mapping(item, &field) else {
                self.err(
                    &field,
                    "header value has no entries: give claimSource or secretSource",
                );
                continue;
            };
            // The pre-7.14 flat form (`- claim: user`, `- value: ...`): v7.15 refuses it;
            // migrating users still have it, so it is read, with a deprecation warning.
            let flat = m.keys().any(|k| {
                k.as_str().is_some_and(|k| {
                    [
                        "claim",
                        "prefix",
                        "basicAuthPassword",
                        "value",
                        "fromEnv",
                        "fromFile",
                    ]
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(k))
                })
            });
            if flat {
                self.warn(format!(
                    "{} field {field}: the flat header value form (claim:/value: directly under values) is deprecated since oauth2-proxy v7.14, which refuses it; write claimSource: or secretSource:",
                    self.file.display()
                ));
                let is_claim = m
                    .keys()
                    .any(|k| k.as_str().is_some_and(|k| k.eq_ignore_ascii_case("claim")));
                if is_claim {
                    if let Some(c) = self.claim_source(item, &field) {
                        out.push(HeaderValueSource::Claim(c));
                    }
                } else if let Some(s) = self.secret(item, &field) {
                    out.push(HeaderValueSource::Secret(s));
                }
                continue;
            }
            let fields = self.fields(
                m,
                &field,
                &["claimSource", "secretSource", "identityAssertionSource"],
            );
            let set: Vec<_> = fields.iter().filter(|(_, v)| !v.is_null()).collect();
            if set.len() != 1 {
                self.err(
                    &field,
                    "header value has multiple entries: only one entry per value is allowed",
                );
                continue;
            }
            let (name, v) = *set[0];
            let inner = join(&field, name);
            if name == "claimSource" {
                if let Some(c) = self.claim_source(v, &inner) {
                    out.push(HeaderValueSource::Claim(c));
                }
            } else if name == "identityAssertionSource" {
                if let Some(a) = self.assertion_source(v, &inner) {
                    out.push(HeaderValueSource::IdentityAssertion(a));
                }
            } else if let Some(s) = self.secret(v, &inner) {
                out.push(HeaderValueSource::Secret(s));
            }
        }
        out
    }

    /// `identityAssertionSource` (authproxy extension): `{}` or `{prefix: "Bearer "}`.
    fn assertion_source(&mut self, v: &Value, at: &str) -> Option<AssertionSource> {
        let mut a = AssertionSource::default();
        let Value::Mapping(m) = v else {
            if v.is_null() {
                return Some(a);
            }
            self.err(at, "must be a mapping (e.g. {} or {prefix: \"Bearer \"})");
            return None;
        };
        for (name, v) in self.fields(m, at, &["prefix"]) {
            a.prefix = self.string(v, &join(at, name)).unwrap_or_default();
        }
        Some(a)
    }

    fn claim_source(&mut self, v: &Value, at: &str) -> Option<ClaimSource> {
        let m = self.mapping(v, at)?;
        let mut c = ClaimSource {
            claim: String::new(),
            prefix: String::new(),
            basic_auth_password: None,
        };
        let mut ok = true;
        for (name, v) in self.fields(m, at, &["claim", "prefix", "basicAuthPassword"]) {
            let field = join(at, name);
            match name {
                "claim" => c.claim = self.string(v, &field).unwrap_or_default(),
                "prefix" => c.prefix = self.string(v, &field).unwrap_or_default(),
                _ => match self.secret(v, &field) {
                    Some(s) => c.basic_auth_password = Some(s),
                    None => ok = false,
                },
            }
        }
        if c.claim.is_empty() {
            self.err(at, "claim should not be empty");
            return None;
        }
        ok.then_some(c)
    }

    /// `server` / `metricsServer`.
    pub(super) fn server(&mut self, v: &Value, section: &str) -> Option<ServerConfig> {
        let Some(m) = self.mapping(v, section) else {
            return Some(ServerConfig::default());
        };
        let mut cfg = ServerConfig::default();
        for (name, v) in self.fields(m, section, &["bindAddress", "secureBindAddress", "tls"]) {
            let field = join(section, name);
            match name {
                "bindAddress" => {
                    if let Some(s) = self.string(v, &field) {
                        match parse_bind_address(&s) {
                            Ok(a) => cfg.bind_address = a,
                            Err(e) => self.err(&field, e),
                        }
                    }
                }
                "secureBindAddress" => {
                    if let Some(s) = self.string(v, &field) {
                        match parse_secure_address(&s) {
                            Ok(a) => cfg.secure_bind_address = a,
                            Err(e) => self.err(&field, e),
                        }
                    }
                }
                _ => cfg.tls = self.tls(v, &field),
            }
        }
        if cfg.secure_bind_address.is_some() && cfg.tls.is_none() {
            self.err(section, "secureBindAddress needs tls (key and cert)");
        }
        Some(cfg)
    }

    fn tls(&mut self, v: &Value, at: &str) -> Option<TlsConfig> {
        let m = self.mapping(v, at)?;
        let (mut key, mut cert, mut min_version, mut suites) =
            (None, None, Default::default(), Vec::new());
        for (name, v) in self.fields(m, at, &["key", "cert", "minVersion", "cipherSuites"]) {
            let field = join(at, name);
            match name {
                "key" => key = self.secret(v, &field),
                "cert" => cert = self.secret(v, &field),
                "minVersion" => {
                    if let Some(s) = self.string(v, &field) {
                        match tls_version(&s) {
                            Ok(t) => min_version = t,
                            Err(e) => self.err(&field, e),
                        }
                    }
                }
                _ => match cipher_suites(&self.strings(v, &field)) {
                    Ok(s) => suites = s,
                    Err(e) => self.err(&field, e),
                },
            }
        }
        match (key, cert) {
            (Some(key), Some(cert)) => Some(TlsConfig {
                key,
                cert,
                min_version,
                cipher_suites: suites,
            }),
            _ => {
                self.err(
                    at,
                    "needs both key and cert (each a secret source: fromFile, fromEnv or value)",
                );
                None
            }
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}
