//! Typing, validation and compilation of the merged settings into [`Config`]. Every
//! problem is collected (not just the first) and names the option and its origin.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod headers;
pub(super) mod server;
pub(super) mod upstreams;

use super::duration::{format_go_duration, parse_go_duration};
use super::options::{self, Kind, OptionSpec, Support};
use super::sources::{split_list, Layer, Origin, Raw, Setting};
use super::*;
use crate::crypto::{CookieSecret, Secret};

/// A typed value.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    Bool(bool),
    Str(String),
    List(Vec<String>),
    Dur(Duration),
    Int(i64),
}

/// Go's `strconv.ParseBool`, which both pflag and viper use.
fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Type a raw value for its option.
pub(super) fn typed(spec: &OptionSpec, raw: &Raw) -> Result<Value, String> {
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

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Bool => "a boolean",
        Kind::Str => "a string",
        Kind::List => "a list of strings",
        Kind::Duration => "a duration such as \"168h\"",
        Kind::Int => "an integer",
    }
}

/// The default of an option, typed.
pub(super) fn default_value(spec: &OptionSpec) -> Value {
    match typed(spec, &Raw::Text(spec.default.to_string())) {
        Ok(v) => v,
        // Unreachable for a well-formed table (a unit test types every default).
        Err(_) => Value::Str(spec.default.to_string()),
    }
}

/// Merged settings plus the errors found while typing and validating them.
pub(super) struct Ctx {
    pub(super) settings: Layer,
    values: BTreeMap<&'static str, Value>,
    pub errors: Vec<ConfigError>,
    /// Problems that do not stop the start (oauth2-proxy accepts them), one sentence each.
    pub warnings: Vec<String>,
}

fn subject(key: &str, origin: &Origin) -> String {
    match origin {
        Origin::Default => format!("option `{key}`"),
        o => format!("option `{key}` ({o})"),
    }
}

impl Ctx {
    /// Merge by precedence (later layers win) and type every value.
    pub(super) fn new(layers: Vec<Layer>, errors: Vec<ConfigError>) -> Self {
        let mut settings = Layer::new();
        for layer in layers {
            settings.extend(layer);
        }
        let mut ctx = Ctx {
            settings,
            values: BTreeMap::new(),
            errors,
            warnings: Vec::new(),
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

    pub(super) fn origin(&self, key: &str) -> Origin {
        self.settings
            .get(key)
            .map(|s: &Setting| s.origin.clone())
            .unwrap_or(Origin::Default)
    }

    /// Is the option explicitly set (by any source)?
    pub(super) fn is_set(&self, key: &str) -> bool {
        self.settings.contains_key(key)
    }

    /// Record a warning (shown at startup and by --check).
    pub(super) fn warn(&mut self, msg: impl Into<String>) {
        self.warnings.push(msg.into());
    }

    /// Record an error about `key`'s value.
    pub(super) fn fail(&mut self, key: &str, msg: impl std::fmt::Display) {
        let line = format!("{}: {msg}", subject(key, &self.origin(key)));
        self.errors.push(ConfigError::new(key, line));
    }

    fn value(&self, key: &str) -> Value {
        if let Some(v) = self.values.get(key) {
            return v.clone();
        }
        options::by_key(key)
            .map(default_value)
            .unwrap_or(Value::Str(String::new()))
    }

    pub(super) fn boolean(&self, key: &str) -> bool {
        matches!(self.value(key), Value::Bool(true))
    }
    pub(super) fn string(&self, key: &str) -> String {
        match self.value(key) {
            Value::Str(s) => s,
            _ => String::new(),
        }
    }
    /// The string trimmed, `None` when empty.
    pub(super) fn opt_string(&self, key: &str) -> Option<String> {
        let s = self.string(key);
        let t = s.trim();
        (!t.is_empty()).then(|| t.to_string())
    }
    pub(super) fn list(&self, key: &str) -> Vec<String> {
        match self.value(key) {
            Value::List(v) => v,
            _ => Vec::new(),
        }
    }
    pub(super) fn duration(&self, key: &str) -> Duration {
        match self.value(key) {
            Value::Dur(d) => d,
            _ => Duration::ZERO,
        }
    }
    pub(super) fn int(&self, key: &str) -> i64 {
        match self.value(key) {
            Value::Int(i) => i,
            _ => 0,
        }
    }
}

/// Compile the merged settings into a validated [`Config`].
pub(super) fn build(
    mut c: Ctx,
    config_file: Option<PathBuf>,
    alpha: Option<super::alpha::Alpha>,
) -> Result<Config, ConfigErrors> {
    let alpha_sections = alpha.as_ref();
    let server = match alpha_sections.and_then(|a| a.server.clone()) {
        Some(s) => s,
        None => server::main_server(&mut c),
    };
    let metrics_server = match alpha_sections.and_then(|a| a.metrics_server.clone()) {
        Some(s) => s,
        None => server::metrics_server(&mut c),
    };
    let grpc_ext_authz_address = match c.string("grpc_ext_authz_address").trim() {
        "" => None,
        s => {
            match server::parse_secure_address(s) {
                Ok(Some(a)) if server.bind_address == Some(BindAddress::Tcp(a)) => {
                    c.fail(
                    "grpc_ext_authz_address",
                    format!("{a} is also http_address; the gRPC ext_authz service needs its own port"),
                );
                    None
                }
                Ok(a) => a,
                Err(e) => {
                    c.fail("grpc_ext_authz_address", e);
                    None
                }
            }
        }
    };
    let proxy_prefix = path_option(&mut c, "proxy_prefix", true);
    let ping_path = path_option(&mut c, "ping_path", false);
    let ready_path = path_option(&mut c, "ready_path", false);
    let relative_redirect_url = c.boolean("relative_redirect_url");
    let redirect_url = redirect_url(&mut c, &proxy_prefix);
    let upstream_config = match alpha_sections.and_then(|a| a.upstream_config.clone()) {
        Some(u) => u,
        None => legacy_upstreams(&mut c),
    };
    let real_client_ip_header = c.string("real_client_ip_header");
    const IP_HEADERS: [&str; 5] = [
        "X-Forwarded-For",
        "X-Real-IP",
        "X-ProxyUser-IP",
        "X-Envoy-External-Address",
        "CF-Connecting-IP",
    ];
    if !IP_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&real_client_ip_header))
    {
        c.fail(
            "real_client_ip_header",
            format!(
                "{real_client_ip_header:?} is not one of {}",
                IP_HEADERS.join(", ")
            ),
        );
    }
    let whitelist_domains = c.list("whitelist_domains");
    for d in &whitelist_domains {
        if let Err(e) = validate_whitelist_domain(d) {
            c.fail("whitelist_domains", format!("entry {d:?}: {e}"));
        }
    }
    let providers = match alpha.as_ref().filter(|a| !a.providers.is_empty()) {
        Some(a) => alpha_providers(&mut c, a),
        None => provider(&mut c).map(|mut p| {
            // oauth2-proxy's id for the provider built from the legacy options.
            p.id = format!("{}={}", p.kind, p.client_id);
            vec![p]
        }),
    };
    let cookie = cookie(&mut c);
    let (inject_request_headers, inject_response_headers) =
        match alpha_sections.and_then(|a| a.headers.clone()) {
            Some(h) => h,
            None => legacy_headers(&mut c),
        };
    let authz = authz(&mut c);
    let machine = machine(&mut c);
    let pages = PageConfig {
        custom_templates_dir: c.opt_string("custom_templates_dir").map(PathBuf::from),
        banner: c.opt_string("banner"),
        footer: c.opt_string("footer"),
        skip_provider_button: c.boolean("skip_provider_button"),
        show_debug_on_error: c.boolean("show-debug-on-error"),
        custom_sign_in_logo: c.opt_string("custom_sign_in_logo"),
    };
    let json = match c
        .string("logging_format")
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "text" | "" => false,
        "json" => true,
        other => {
            c.fail(
                "logging_format",
                format!("{other:?} is not one of text, json"),
            );
            false
        }
    };
    let exclude_logging_paths = c.list("exclude_logging_paths");
    for p in &exclude_logging_paths {
        if !p.starts_with('/') {
            c.fail(
                "exclude_logging_paths",
                format!("entry {p:?} must start with /"),
            );
        }
    }
    let (trusted_proxy_ips, skip) = forwarding_and_skip(&mut c);
    let mut template =
        |kind: crate::logformat::TemplateKind| match crate::logformat::LogTemplate::parse(
            kind,
            &c.string(kind.option()),
        ) {
            Ok(t) => t,
            Err(e) => {
                c.fail(kind.option(), e);
                crate::logformat::LogTemplate::default_for(kind)
            }
        };
    let standard_format = template(crate::logformat::TemplateKind::Standard);
    let auth_format = template(crate::logformat::TemplateKind::Auth);
    let request_format = template(crate::logformat::TemplateKind::Request);
    let logging = LoggingConfig {
        standard_format,
        auth_format,
        request_format,
        json,
        request_logging: c.boolean("request_logging"),
        auth_logging: c.boolean("auth_logging"),
        standard_logging: c.boolean("standard_logging"),
        silence_ping_logging: c.boolean("silence_ping_logging"),
        exclude_logging_paths,
    };
    let limits = super::limits::limits(&mut c);
    if !c.errors.is_empty() {
        return Err(ConfigErrors(c.errors));
    }
    let (Some(providers), Some(cookie)) = (providers, cookie) else {
        // Each `None` above recorded an error; this is only reached if that invariant breaks.
        return Err(ConfigErrors(vec![ConfigError::new(
            "config",
            "internal error: configuration incomplete",
        )]));
    };
    Ok(Config {
        server,
        metrics_server,
        grpc_ext_authz_address,
        proxy_prefix,
        ping_path,
        ready_path,
        ping_user_agent: c.opt_string("ping_user_agent"),
        gcp_healthchecks: c.boolean("gcp_healthchecks"),
        redirect_url,
        relative_redirect_url,
        upstream_config,
        inject_request_headers,
        inject_response_headers,
        prefer_email_to_user: c.boolean("prefer_email_to_user"),
        reverse_proxy: c.boolean("reverse_proxy"),
        real_client_ip_header,
        whitelist_domains,
        providers,
        cookie,
        authz,
        pages,
        logging,
        machine,
        skip_auth_preflight: c.boolean("skip_auth_preflight"),
        trusted_proxy_ips,
        skip,
        force_https: c.boolean("force_https"),
        encode_state: c.boolean("encode_state"),
        config_file,
        alpha_config_file: alpha.map(|a| a.file),
        limits,
        load_warnings: c.warnings,
    })
}

/// The legacy `upstreams` list and its per-upstream options, converted as v7 does.
fn legacy_upstreams(c: &mut Ctx) -> UpstreamConfig {
    let upstream_timeout = c.duration("upstream_timeout");
    let opts = upstreams::LegacyUpstreamOptions {
        insecure_skip_tls_verify: c.boolean("ssl_upstream_insecure_skip_verify"),
        pass_host_header: c.boolean("pass_host_header"),
        proxy_websockets: c.boolean("proxy_websockets"),
        flush_interval: c.duration("flush_interval"),
        timeout: upstream_timeout,
        disable_keep_alives: c.boolean("disable_keep_alives"),
    };
    let mut warnings = Vec::new();
    let mut list = Vec::new();
    for entry in c.list("upstreams") {
        match upstreams::convert(&entry, &opts, &mut warnings) {
            Ok(u) => list.push(u),
            Err(e) => c.fail("upstreams", e),
        }
    }
    for w in warnings {
        c.warn(w);
    }
    for e in upstreams::validate(&list) {
        c.fail("upstreams", e);
    }
    UpstreamConfig {
        proxy_raw_path: false,
        upstreams: list,
    }
}

/// The legacy header switches, compiled into rules as v7 does.
fn legacy_headers(c: &mut Ctx) -> (Vec<HeaderRule>, Vec<HeaderRule>) {
    let l = headers::LegacyHeaders {
        pass_basic_auth: c.boolean("pass_basic_auth"),
        pass_user_headers: c.boolean("pass_user_headers"),
        pass_access_token: c.boolean("pass_access_token"),
        pass_authorization_header: c.boolean("pass_authorization_header"),
        set_authorization_header: c.boolean("set_authorization_header"),
        set_xauthrequest: c.boolean("set_xauthrequest"),
        set_basic_auth: c.boolean("set_basic_auth"),
        prefer_email_to_user: c.boolean("prefer_email_to_user"),
        skip_auth_strip_headers: c.boolean("skip_auth_strip_headers"),
        basic_auth_password: c.string("basic_auth_password"),
    };
    if l.set_basic_auth && l.basic_auth_password.is_empty() {
        c.fail(
            "set_basic_auth",
            "needs basic_auth_password (oauth2-proxy refuses it without one too)",
        );
    }
    let request = l.request_rules();
    let response = l.response_rules();
    for (rules, section) in [(&request, "pass_basic_auth"), (&response, "set_basic_auth")] {
        let auth = rules
            .iter()
            .filter(|r| r.name.eq_ignore_ascii_case("authorization"))
            .count();
        if auth > 1 {
            c.fail(
                section,
                if section == "pass_basic_auth" {
                    "with basic_auth_password and pass_authorization_header, two Authorization headers would go to the app (oauth2-proxy refuses this too); set pass_basic_auth = false or remove basic_auth_password"
                } else {
                    "set_basic_auth and set_authorization_header both set Authorization on responses (oauth2-proxy refuses this too); keep one"
                },
            );
        }
    }
    (request, response)
}

/// `trusted_proxy_ips` and the skip rules (`skip_auth_*`, `trusted_ips`, `api_routes`).
fn forwarding_and_skip(c: &mut Ctx) -> (Vec<crate::net::Cidr>, SkipConfig) {
    let mut trusted_proxy_ips = Vec::new();
    for entry in c.list("trusted_proxy_ips") {
        match crate::net::Cidr::parse(&entry) {
            Ok(n) => trusted_proxy_ips.push(n),
            Err(e) => c.fail("trusted_proxy_ips", e),
        }
    }
    if !c.boolean("skip_auth_strip_headers") {
        c.warn(format!(
            "{}: false would let clients send their own identity headers to the app; authproxy keeps stripping them (oauth2-proxy would not)",
            subject("skip_auth_strip_headers", &c.origin("skip_auth_strip_headers"))
        ));
    }
    let skip = match SkipConfig::parse(
        &c.list("skip_auth_routes"),
        &c.list("skip_auth_regex"),
        &c.list("api_routes"),
        &c.list("trusted_ips"),
        c.boolean("skip_auth_preflight"),
    ) {
        Ok(s) => s,
        Err(errors) => {
            for e in errors {
                c.fail(e.key, e.message);
            }
            SkipConfig::default()
        }
    };
    (trusted_proxy_ips, skip)
}

/// The alpha config's providers list: each entry is compiled like the legacy provider options
/// (over the global settings it inherits, e.g. `prompt` or `ssl_insecure_skip_verify`).
fn alpha_providers(c: &mut Ctx, alpha: &super::alpha::Alpha) -> Option<Vec<ProviderConfig>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (i, entry) in alpha.providers.iter().enumerate() {
        let mut pc = Ctx::new(vec![c.settings.clone(), entry.layer.clone()], Vec::new());
        let built = provider(&mut pc);
        let context = format!(
            "{} providers[{i}] (id {:?})",
            alpha.file.display(),
            entry.id
        );
        for e in pc.errors {
            // Errors about inherited global settings are already reported by the main pass.
            if c.errors.contains(&e) {
                continue;
            }
            let message = if e.message.contains("field providers[") {
                e.message
            } else {
                format!("{context}: {}", e.message)
            };
            c.errors.push(ConfigError {
                key: e.key,
                message,
            });
        }
        match built {
            Some(mut p) => {
                p.id = entry.id.clone();
                p.allowed_groups = entry.allowed_groups.clone();
                out.push(p);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `[http://]<ip>:<port>`; `:4180` means every IPv4 interface, `localhost` is 127.0.0.1.
/// A URL path option: must start with `/`; `strip_trailing` removes a trailing `/`.
fn path_option(c: &mut Ctx, key: &str, strip_trailing: bool) -> String {
    let raw = c.string(key);
    let v = raw.trim();
    if !v.starts_with('/') || v.starts_with("//") {
        c.fail(
            key,
            format!("{v:?} must be a path starting with a single /"),
        );
    } else if v
        .chars()
        .any(|ch| ch.is_whitespace() || ch.is_control() || matches!(ch, '?' | '#' | '\\' | '%'))
    {
        c.fail(
            key,
            format!("{v:?} must not contain whitespace, control characters, ?, #, % or \\"),
        );
    }
    let v = if strip_trailing {
        v.trim_end_matches('/')
    } else {
        v
    };
    v.to_string()
}

/// Parse an absolute http(s) URL with a host.
fn http_url(s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a valid URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("{s:?} must be an http:// or https:// URL"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("{s:?} has no host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!("{s:?} must not contain credentials"));
    }
    if u.fragment().is_some() {
        return Err(format!("{s:?} must not have a #fragment"));
    }
    Ok(u)
}

fn opt_url(c: &mut Ctx, key: &str) -> Option<url::Url> {
    let s = c.opt_string(key)?;
    match http_url(&s) {
        Ok(u) => Some(u),
        Err(e) => {
            c.fail(key, e);
            None
        }
    }
}

fn redirect_url(c: &mut Ctx, proxy_prefix: &str) -> Option<url::Url> {
    let s = c.opt_string("redirect_url")?;
    if s.starts_with('/') && !s.starts_with("//") {
        // oauth2-proxy allows a relative callback path; it is the derived default here.
        let want = format!("{proxy_prefix}/callback");
        if s != want {
            c.fail(
                "redirect_url",
                format!("relative redirect URL {s:?} must be {want:?} (the callback endpoint); use an absolute URL for another host"),
            );
        }
        return None;
    }
    opt_url(c, "redirect_url")
}

/// `example.com`, `.example.com`, `*.example.com`, each with an optional `:port` or `:*`.
pub(super) fn validate_whitelist_domain(entry: &str) -> Result<(), String> {
    if entry.contains("://") || entry.contains('/') {
        return Err("must be a host name such as .example.com, not a URL".into());
    }
    let host_port = entry
        .strip_prefix("*.")
        .or_else(|| entry.strip_prefix('.'))
        .unwrap_or(entry);
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("unclosed [ in IPv6 address")?;
        h.parse::<std::net::Ipv6Addr>()
            .map_err(|_| "invalid IPv6 address")?;
        (None, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(host_port), None),
        }
    };
    if let Some(p) = port {
        if p != "*" && p.parse::<u16>().is_err() {
            return Err(format!("port {p:?} must be a number or *"));
        }
    }
    if let Some(h) = host {
        validate_hostname(h)?;
    }
    Ok(())
}

fn validate_hostname(h: &str) -> Result<(), String> {
    if h.is_empty() {
        return Err("empty host name".into());
    }
    for label in h.split('.') {
        if label.is_empty() {
            return Err(format!("{h:?} has an empty label"));
        }
        if !label
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        {
            return Err(format!(
                "{h:?} may only contain letters, digits, '-', '_' and '.' (use punycode for international names)"
            ));
        }
    }
    Ok(())
}

fn provider(c: &mut Ctx) -> Option<ProviderConfig> {
    let mut ok = true;
    let kind = c.string("provider").trim().to_ascii_lowercase();
    if !PROVIDER_KINDS.contains(&kind.as_str()) {
        c.fail(
            "provider",
            format!(
                "provider {kind:?} is not supported; authproxy supports {} (other OpenID Connect providers work through provider = \"oidc\" with oidc_issuer_url)",
                PROVIDER_KINDS.join(", ")
            ),
        );
        ok = false;
    }
    // Providers with built-in endpoints need no issuer (GitHub is not OIDC at all).
    let needs_issuer = matches!(kind.as_str(), "oidc" | "keycloak-oidc" | "adfs" | "cidaas");
    let is_oidc = super::is_openid_connect(&kind);
    let client_id = c.opt_string("client_id");
    if client_id.is_none() {
        c.errors.push(ConfigError::new(
            "client_id",
            "option `client_id` is required (file key client_id, env OAUTH2_PROXY_CLIENT_ID, flag --client-id)",
        ));
        ok = false;
    }
    let client_secret =
        if kind == "login.gov" && !c.is_set("client_secret") && !c.is_set("client_secret_file") {
            // login.gov authenticates the client with a signed JWT (jwt_key), not a secret.
            Some(Secret::default())
        } else {
            client_secret(c)
        };
    ok &= client_secret.is_some();
    let oidc_issuer_url = opt_url(c, "oidc_issuer_url");
    let login_url = opt_url(c, "login_url");
    let redeem_url = opt_url(c, "redeem_url");
    let profile_url = opt_url(c, "profile_url");
    let oidc_jwks_url = opt_url(c, "oidc_jwks_url");
    let skip_oidc_discovery = c.boolean("skip_oidc_discovery");
    if skip_oidc_discovery {
        for (key, v) in [
            ("login_url", &login_url),
            ("redeem_url", &redeem_url),
            ("oidc_jwks_url", &oidc_jwks_url),
        ] {
            if v.is_none() && !c.is_set(key) {
                c.fail(key, "is required when skip_oidc_discovery is true");
                ok = false;
            }
        }
        if oidc_issuer_url.is_none() && !c.is_set("oidc_issuer_url") {
            c.fail(
                "oidc_issuer_url",
                "is required even with skip_oidc_discovery: ID tokens are checked against it (iss)",
            );
            ok = false;
        }
    } else if needs_issuer && oidc_issuer_url.is_none() && !c.is_set("oidc_issuer_url") {
        c.errors.push(ConfigError::new(
            "oidc_issuer_url",
            format!("option `oidc_issuer_url` is required for provider {kind:?} (file key oidc_issuer_url, env OAUTH2_PROXY_OIDC_ISSUER_URL, flag --oidc-issuer-url)"),
        ));
        ok = false;
    }
    let scope = c
        .opt_string("scope")
        .unwrap_or_else(|| default_scope(&kind).to_string());
    if is_oidc && !scope.split_whitespace().any(|s| s == "openid") {
        c.fail(
            "scope",
            format!(
                "{scope:?} must include openid (OpenID Connect needs it to return an ID token)"
            ),
        );
    }
    let code_challenge_method = code_challenge_method(c);
    let token_auth_method = match c.string("authproxy_token_auth_method").trim() {
        "" => None,
        "client_secret_basic" => Some(TokenAuthMethod::ClientSecretBasic),
        "client_secret_post" => Some(TokenAuthMethod::ClientSecretPost),
        other => {
            c.fail(
                "authproxy_token_auth_method",
                format!("{other:?} is not one of client_secret_basic, client_secret_post"),
            );
            None
        }
    };
    let claim = |c: &mut Ctx, key: &str| {
        let v = c.string(key).trim().to_string();
        if v.is_empty() || v.chars().any(char::is_whitespace) {
            c.fail(key, format!("{v:?} must be a claim name without spaces"));
        }
        v
    };
    let oidc_email_claim = claim(c, "oidc_email_claim");
    let oidc_groups_claim = claim(c, "oidc_groups_claim");
    let user_id_claim = claim(c, "user_id_claim");
    let provider_ca_files: Vec<PathBuf> = c
        .list("provider_ca_files")
        .into_iter()
        .map(PathBuf::from)
        .collect();
    for f in &provider_ca_files {
        if !f.is_file() {
            c.fail(
                "provider_ca_files",
                format!("file {} does not exist", f.display()),
            );
        }
    }
    let approval_prompt = c.string("approval_prompt").trim().to_string();
    let display_name = c
        .opt_string("provider_display_name")
        .unwrap_or_else(|| default_display_name(&kind).to_string());
    let validate_url = opt_url(c, "validate_url");
    let github = GithubOptions {
        org: c.string("github_org").trim().to_string(),
        team: c.string("github_team").trim().to_string(),
        repo: c.string("github_repo").trim().to_string(),
        token: Secret::new(c.string("github_token")),
        users: c.list("github_users"),
    };
    if !github.repo.is_empty() && !github.repo.contains('/') {
        c.fail(
            "github_repo",
            format!("{:?} is not owner/name", github.repo),
        );
    }
    let mut google_groups = c.list("google_groups");
    google_groups.extend(c.list("google_group"));
    let google_service_account_json = c
        .opt_string("google_service_account_json")
        .map(PathBuf::from);
    if let Some(f) = &google_service_account_json {
        if !f.is_file() {
            c.fail(
                "google_service_account_json",
                format!("file {} does not exist", f.display()),
            );
        }
    }
    if !google_groups.is_empty() && kind == "google" {
        for key in ["google_admin_email", "google_service_account_json"] {
            if c.opt_string(key).is_none() {
                c.fail(key, "is required with google_group (the Directory API needs a service account acting as an admin)");
            }
        }
    }
    // The hosted-domain check uses the exact domains of email_domains (no wildcards).
    let hosted_domains: Vec<String> = c
        .list("email_domains")
        .into_iter()
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty() && d != "*" && !d.starts_with('.'))
        .collect();
    let google = GoogleOptions {
        groups: google_groups,
        admin_email: c.string("google_admin_email").trim().to_string(),
        service_account_json: google_service_account_json,
        hosted_domains,
        admin_api_url: opt_url(c, "authproxy_google_admin_api_url"),
    };
    let azure = AzureOptions {
        tenant: c.string("azure_tenant").trim().to_string(),
        allowed_tenants: c.list("entra_id_allowed_tenants"),
        graph_group_field: c.string("azure_graph_group_field").trim().to_string(),
    };
    if !matches!(azure.graph_group_field.as_str(), "" | "id" | "displayName") {
        c.fail(
            "azure_graph_group_field",
            format!("{:?} is not id or displayName", azure.graph_group_field),
        );
    }
    let gitlab = GitlabOptions {
        groups: c.list("gitlab_groups"),
        projects: c.list("gitlab_projects"),
    };
    let keycloak = KeycloakOptions {
        groups: c.list("keycloak_groups"),
    };
    let allowed_roles = c.list("allowed_roles");
    let resource = resource_option(c, &kind);
    let bitbucket = bitbucket_options(c, &kind);
    let login_gov = login_gov_options(c, &kind);
    let adfs = adfs_options(c, &kind);
    if !ok {
        return None;
    }
    Some(ProviderConfig {
        // Set by the caller: legacy `<kind>=<client_id>` or the alpha entry's id.
        id: String::new(),
        kind,
        allowed_groups: Vec::new(),
        display_name,
        client_id: client_id.unwrap_or_default(),
        client_secret: client_secret.unwrap_or_default(),
        oidc_issuer_url,
        login_url,
        redeem_url,
        profile_url,
        oidc_jwks_url,
        skip_oidc_discovery,
        scope,
        code_challenge_method,
        oidc_email_claim,
        oidc_groups_claim,
        user_id_claim,
        insecure_oidc_allow_unverified_email: c.boolean("insecure_oidc_allow_unverified_email"),
        insecure_oidc_skip_issuer_verification: c.boolean("insecure_oidc_skip_issuer_verification"),
        insecure_oidc_skip_nonce: c.boolean("insecure_oidc_skip_nonce"),
        oidc_extra_audiences: c.list("oidc_extra_audiences"),
        ssl_insecure_skip_verify: c.boolean("ssl_insecure_skip_verify"),
        provider_ca_files,
        prompt: c.opt_string("prompt"),
        approval_prompt,
        acr_values: c.opt_string("acr_values"),
        token_auth_method,
        validate_url,
        allowed_roles,
        github,
        google,
        azure,
        gitlab,
        keycloak,
        resource,
        bitbucket,
        login_gov,
        adfs,
    })
}

/// An option that only one provider type reads: set for another type, it is an error
/// rather than silently ignored.
fn only_for(c: &mut Ctx, key: &str, kind: &str, for_kind: &str) -> bool {
    let non_default = c.is_set(key)
        && options::by_key(key).is_some_and(|spec| c.value(key) != default_value(spec));
    if kind != for_kind && non_default {
        c.fail(
            key,
            format!("applies to provider {for_kind:?} only, not {kind:?}"),
        );
        return false;
    }
    true
}

/// `resource` (adfs): the protected resource (a URL or URN) that prefixes the scope.
fn resource_option(c: &mut Ctx, kind: &str) -> Option<String> {
    if !only_for(c, "resource", kind, "adfs") {
        return None;
    }
    let r = c.opt_string("resource")?;
    if r.chars().any(|ch| ch.is_whitespace() || ch.is_control()) || !r.contains(':') {
        c.fail(
            "resource",
            format!("{r:?} must be a URL or URN without spaces (the relying party identifier)"),
        );
        return None;
    }
    Some(r)
}

/// `bitbucket_team`, `bitbucket_repository`.
fn bitbucket_options(c: &mut Ctx, kind: &str) -> BitbucketOptions {
    let mut o = BitbucketOptions::default();
    for key in ["bitbucket_team", "bitbucket_repository"] {
        if !only_for(c, key, kind, "bitbucket") {
            return o;
        }
    }
    o.team = c.string("bitbucket_team").trim().to_string();
    o.repository = c.string("bitbucket_repository").trim().to_string();
    if !o.repository.is_empty() {
        let well_formed = o
            .repository
            .split_once('/')
            .is_some_and(|(ws, repo)| !ws.is_empty() && !repo.is_empty() && !repo.contains('/'));
        if !well_formed {
            c.fail(
                "bitbucket_repository",
                format!("{:?} is not workspace/repository", o.repository),
            );
        }
    }
    o
}

/// `jwt_key` / `jwt_key_file` (exactly one, required for login.gov) and `pubjwk_url`.
fn login_gov_options(c: &mut Ctx, kind: &str) -> LoginGovOptions {
    let mut o = LoginGovOptions::default();
    for key in ["jwt_key", "jwt_key_file", "pubjwk_url"] {
        if !only_for(c, key, kind, "login.gov") {
            return o;
        }
    }
    if kind != "login.gov" {
        return o;
    }
    o.pubjwk_url = opt_url(c, "pubjwk_url");
    match (c.opt_string("jwt_key"), c.opt_string("jwt_key_file")) {
        (Some(_), Some(_)) => c.fail(
            "jwt_key_file",
            "cannot be set together with jwt_key; give the key one way",
        ),
        (Some(_), None) => o.jwt_key = Secret::new(c.string("jwt_key")),
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(pem) => o.jwt_key = Secret::new(pem),
            Err(e) => c.fail("jwt_key_file", format!("cannot read {path}: {e}")),
        },
        (None, None) => c.errors.push(ConfigError::new(
            "jwt_key",
            "option `jwt_key` or `jwt_key_file` is required for provider \"login.gov\": the PEM RSA private key whose public key is registered with login.gov (env OAUTH2_PROXY_JWT_KEY, flag --jwt-key)",
        )),
    }
    o
}

/// `authproxy_adfs_skip_scope` (alpha `ADFSConfig.skipScope`).
fn adfs_options(c: &mut Ctx, kind: &str) -> AdfsOptions {
    if !only_for(c, "authproxy_adfs_skip_scope", kind, "adfs") {
        return AdfsOptions::default();
    }
    AdfsOptions {
        skip_scope: c.boolean("authproxy_adfs_skip_scope"),
    }
}

/// The scope a provider asks for when `scope` is not set (oauth2-proxy's defaults; GitHub
/// adds read:org so orgs and teams can become groups).
pub(super) fn default_scope(kind: &str) -> &'static str {
    match kind {
        "github" => "user:email read:org",
        "gitlab" => "openid email",
        "cidaas" => "openid email profile roles groups",
        "bitbucket" => "email",
        "digitalocean" => "read",
        "facebook" => "public_profile email",
        "keycloak" => "api",
        "linkedin" => "r_emailaddress r_liteprofile",
        "login.gov" => "email openid",
        "nextcloud" => "",
        "sourcehut" => "meta.sr.ht/PROFILE:RO",
        _ => "openid email profile",
    }
}

/// The sign-in button's name when `provider_display_name` is not set.
pub(super) fn default_display_name(kind: &str) -> &'static str {
    match kind {
        "github" => "GitHub",
        "google" => "Google",
        "entra-id" | "azure" => "Microsoft",
        "gitlab" => "GitLab",
        "keycloak-oidc" | "keycloak" => "Keycloak",
        "adfs" => "ADFS",
        "bitbucket" => "Bitbucket",
        "cidaas" => "CIDAAS",
        "digitalocean" => "DigitalOcean",
        "facebook" => "Facebook",
        "linkedin" => "LinkedIn",
        "login.gov" => "login.gov",
        "nextcloud" => "Nextcloud",
        "sourcehut" => "SourceHut",
        _ => "OpenID Connect",
    }
}

fn code_challenge_method(c: &mut Ctx) -> CodeChallengeMethod {
    // force_code_challenge_method is oauth2-proxy's deprecated spelling; the new one wins.
    let key = if !c.is_set("code_challenge_method")
        && c.opt_string("force_code_challenge_method").is_some()
    {
        "force_code_challenge_method"
    } else {
        "code_challenge_method"
    };
    match c.string(key).trim() {
        // Empty is oauth2-proxy's "no PKCE" default; authproxy's default is S256.
        "" | "S256" => CodeChallengeMethod::S256,
        "plain" => CodeChallengeMethod::Plain,
        "none" => CodeChallengeMethod::Disabled,
        other => {
            c.fail(key, format!("{other:?} is not one of S256, plain, none"));
            CodeChallengeMethod::S256
        }
    }
}

fn client_secret(c: &mut Ctx) -> Option<Secret> {
    if let Some(s) = c.opt_string("client_secret") {
        return Some(Secret::new(s));
    }
    if let Some(path) = c.opt_string("client_secret_file") {
        return match std::fs::read_to_string(&path) {
            Ok(s) => {
                // Secret files are usually written with a trailing newline that no IdP
                // secret contains; dropping it avoids a confusing invalid_client.
                let s = s.strip_suffix('\n').unwrap_or(&s);
                let s = s.strip_suffix('\r').unwrap_or(s);
                if s.is_empty() {
                    c.fail("client_secret_file", format!("file {path} is empty"));
                    None
                } else {
                    Some(Secret::new(s))
                }
            }
            Err(e) => {
                c.fail("client_secret_file", format!("cannot read {path}: {e}"));
                None
            }
        };
    }
    c.errors.push(ConfigError::new(
        "client_secret",
        "option `client_secret` or `client_secret_file` is required (env OAUTH2_PROXY_CLIENT_SECRET, flag --client-secret)",
    ));
    None
}

fn cookie(c: &mut Ctx) -> Option<CookieConfig> {
    let name = c.string("cookie_name").trim().to_string();
    if let Err(e) = validate_cookie_name(&name) {
        c.fail("cookie_name", e);
    }
    let secret = cookie_secret(c);
    let domains = c.list("cookie_domains");
    for d in &domains {
        if let Err(e) = validate_hostname(d.strip_prefix('.').unwrap_or(d)) {
            c.fail("cookie_domains", format!("entry {d:?}: {e}"));
        }
    }
    let path = c.string("cookie_path").trim().to_string();
    if !path.starts_with('/')
        || path
            .chars()
            .any(|ch| ch == ';' || ch.is_control() || ch.is_whitespace())
    {
        c.fail(
            "cookie_path",
            format!("{path:?} must start with / and contain no ';', spaces or control characters"),
        );
    }
    let expire = c.duration("cookie_expire");
    let refresh = c.duration("cookie_refresh");
    if !refresh.is_zero() && !expire.is_zero() && refresh >= expire {
        c.fail(
            "cookie_refresh",
            format!(
                "({}) must be less than cookie_expire ({})",
                format_go_duration(refresh),
                format_go_duration(expire)
            ),
        );
    }
    let csrf_expire = c.duration("cookie_csrf_expire");
    if csrf_expire.is_zero() {
        c.fail("cookie_csrf_expire", "must be greater than zero");
    }
    let secure = c.boolean("cookie_secure");
    let samesite_raw = c.string("cookie_samesite");
    let samesite = match samesite_raw.trim().to_ascii_lowercase().as_str() {
        "" => SameSite::Unset,
        "lax" => SameSite::Lax,
        "strict" => SameSite::Strict,
        "none" => SameSite::None,
        other => {
            c.fail(
                "cookie_samesite",
                format!("{other:?} must be one of lax, strict, none or \"\""),
            );
            SameSite::Unset
        }
    };
    if samesite == SameSite::None && !secure {
        // Browsers drop SameSite=None cookies without Secure, so sign-in would loop.
        c.fail("cookie_samesite", "\"none\" requires cookie_secure = true (browsers reject SameSite=None cookies without Secure)");
    }
    if name.starts_with("__Secure-") || name.starts_with("__Host-") {
        if !secure {
            c.fail(
                "cookie_name",
                format!("{name:?}: the __Secure-/__Host- prefix requires cookie_secure = true"),
            );
        }
        if name.starts_with("__Host-") && (!domains.is_empty() || path != "/") {
            c.fail("cookie_name", format!("{name:?}: the __Host- prefix requires no cookie_domains and cookie_path = \"/\""));
        }
    }
    Some(CookieConfig {
        name,
        secret: secret?,
        domains,
        path,
        expire,
        refresh,
        secure,
        httponly: c.boolean("cookie_httponly"),
        samesite,
        csrf_per_request: c.boolean("cookie_csrf_per_request"),
        csrf_expire,
    })
}

/// RFC 6265 token, and short enough for the `_csrf` / `_N` suffixes.
pub(super) fn validate_cookie_name(name: &str) -> Result<(), String> {
    const MAX: usize = 256 - 64 - 1;
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(bad) = name.chars().find(|ch| {
        !ch.is_ascii() || ch.is_ascii_control() || " \t()<>@,;:\\\"/[]?={}".contains(*ch)
    }) {
        return Err(format!(
            "{name:?} contains {bad:?}; cookie names are ASCII letters, digits and !#$%&'*+-.^_`|~"
        ));
    }
    if name.len() > MAX {
        return Err(format!("is {} characters; the limit is {MAX}", name.len()));
    }
    Ok(())
}

fn cookie_secret(c: &mut Ctx) -> Option<CookieSecret> {
    let (key, bytes, file) = if let Some(s) = c.opt_string("cookie_secret") {
        ("cookie_secret", s.into_bytes(), None)
    } else if let Some(path) = c.opt_string("cookie_secret_file") {
        // Raw bytes, exactly as oauth2-proxy reads them: the secret string is also the
        // HMAC key, so trimming would break compatibility with its cookies.
        match std::fs::read(&path) {
            Ok(b) => ("cookie_secret_file", b, Some(path)),
            Err(e) => {
                c.fail("cookie_secret_file", format!("cannot read {path}: {e}"));
                return None;
            }
        }
    } else {
        c.errors.push(ConfigError::new(
            "cookie_secret",
            "option `cookie_secret` or `cookie_secret_file` is required (env OAUTH2_PROXY_COOKIE_SECRET, flag --cookie-secret); generate one with: openssl rand -base64 32",
        ));
        return None;
    };
    match CookieSecret::parse(&bytes) {
        Ok(s) => Some(s),
        Err(e) => {
            let hint = match (&file, bytes.last()) {
                (Some(path), Some(b'\n' | b'\r')) => format!(
                    " (file {path} ends with a newline, which counts as part of the secret as in oauth2-proxy; write it without one, e.g. printf '%s' \"$SECRET\" > {path})"
                ),
                _ => String::new(),
            };
            c.fail(key, format!("{e}{hint}"));
            None
        }
    }
}

fn authz(c: &mut Ctx) -> AuthzConfig {
    let email_domains: Vec<String> = c
        .list("email_domains")
        .into_iter()
        .map(|d| d.to_ascii_lowercase())
        .collect();
    for d in &email_domains {
        if d != "*" && (d.contains('@') || d.chars().any(char::is_whitespace)) {
            c.fail(
                "email_domains",
                format!("entry {d:?} must be a domain such as example.com (or * for any)"),
            );
        }
    }
    let file = c.opt_string("authenticated_emails_file").map(PathBuf::from);
    let emails = file.as_ref().and_then(|f| match read_emails_file(f) {
        Ok(set) => Some(set),
        Err(e) => {
            c.fail("authenticated_emails_file", e);
            None
        }
    });
    if email_domains.is_empty() && file.is_none() {
        c.errors.push(ConfigError::new(
            "email_domains",
            "option `email_domains` or `authenticated_emails_file` is required; use email_domains = [\"*\"] to allow every email (env OAUTH2_PROXY_EMAIL_DOMAINS, flag --email-domain)",
        ));
    }
    AuthzConfig {
        email_domains,
        authenticated_emails: emails,
        authenticated_emails_file: file,
        allowed_groups: c.list("allowed_groups"),
    }
}

/// `skip_jwt_bearer_tokens`, `extra_jwt_issuers`, `bearer_token_login_fallback`,
/// `htpasswd_file`, `htpasswd_user_groups`, `display_htpasswd_form`.
fn machine(c: &mut Ctx) -> MachineConfig {
    let skip_jwt_bearer_tokens = c.boolean("skip_jwt_bearer_tokens");
    let mut extra_jwt_issuers: Vec<TrustedIssuer> = Vec::new();
    for entry in c.list("extra_jwt_issuers") {
        let parsed = match entry.split('=').collect::<Vec<_>>().as_slice() {
            [issuer, audience] if !issuer.trim().is_empty() && !audience.trim().is_empty() => {
                http_url(issuer).map(|u| (u, audience.trim().to_owned()))
            }
            _ => Err(format!(
                "entry {entry:?} must be issuer=audience (e.g. https://login.example.com/realm=my-api)"
            )),
        };
        match parsed {
            Ok((issuer, audience)) => {
                match extra_jwt_issuers.iter_mut().find(|t| t.issuer == issuer) {
                    Some(t) => t.audiences.push(audience),
                    None => extra_jwt_issuers.push(TrustedIssuer {
                        issuer,
                        audiences: vec![audience],
                    }),
                }
            }
            Err(e) => c.fail("extra_jwt_issuers", e),
        }
    }
    if !extra_jwt_issuers.is_empty() && !skip_jwt_bearer_tokens {
        c.fail(
            "extra_jwt_issuers",
            "has no effect unless skip_jwt_bearer_tokens is true",
        );
    }
    let htpasswd_file = c.opt_string("htpasswd_file").map(PathBuf::from);
    if let Some(path) = &htpasswd_file {
        if let Err(e) = crate::htpasswd::Htpasswd::load(path) {
            c.fail("htpasswd_file", e);
        }
    }
    let htpasswd_user_groups = c.list("htpasswd_user_groups");
    if !htpasswd_user_groups.is_empty() && htpasswd_file.is_none() {
        c.fail(
            "htpasswd_user_groups",
            "has no effect without htpasswd_file",
        );
    }
    MachineConfig {
        skip_jwt_bearer_tokens,
        extra_jwt_issuers,
        bearer_token_login_fallback: c.boolean("bearer_token_login_fallback"),
        htpasswd_file,
        htpasswd_user_groups,
        display_htpasswd_form: c.boolean("display_htpasswd_form"),
    }
}

/// One email per line; trimmed, lower-cased; blank lines and `#` comments ignored.
pub(super) fn read_emails_file(path: &Path) -> Result<HashSet<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut set = HashSet::new();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let valid = l.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        }) && !l
            .chars()
            .any(|ch| ch.is_whitespace() || ch.is_control() || ch == ',');
        if valid {
            set.insert(l.to_lowercase());
        } else {
            bad.push(format!(
                "{}:{}: {l:?} is not an email address",
                path.display(),
                n + 1
            ));
        }
    }
    if bad.is_empty() {
        Ok(set)
    } else {
        Err(bad.join("; "))
    }
}
