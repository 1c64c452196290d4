//! oauth2-proxy's alpha configuration (`--alpha-config FILE`, YAML).
//!
//! The alpha file is read at the edge into the same raw [`Layer`]s as the other sources, so
//! every value is typed and validated by the one builder (`build.rs`):
//!
//! * `providers:` becomes one layer per entry, each compiled like the legacy flat provider
//!   options (`providers[0].oidcConfig.issuerURL` is `oidc_issuer_url` for that provider). Unlike
//!   oauth2-proxy, which only uses the first entry, every entry is a working provider.
//! * `upstreamConfig`, `injectRequestHeaders` / `injectResponseHeaders`, `server` and
//!   `metricsServer` become global options (`upstreams`, the header switches, `http_address`,
//!   `metrics_address`) where their meaning maps exactly onto authproxy's; anything else is an
//!   error naming the field.
//!
//! A value set both in the alpha file and by the legacy sources is an error (never silently one
//! or the other), and so is a legacy provider option when the alpha file has a providers list.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use super::options;
use super::sources::{Layer, Origin, Raw, Setting};
use super::ConfigError;

#[cfg(test)]
#[path = "alpha_tests.rs"]
mod tests;

/// One `providers:` entry, as raw settings keyed by legacy option name.
#[derive(Debug)]
pub(super) struct AlphaProvider {
    /// `id` (required, unique).
    pub id: String,
    /// `allowedGroups`.
    pub allowed_groups: Vec<String>,
    /// Every other field, under its legacy option key.
    pub layer: Layer,
}

/// The alpha file, read.
#[derive(Debug, Default)]
pub(super) struct Alpha {
    pub file: PathBuf,
    /// Global options the file sets (`upstreams`, `http_address`, header switches, ...).
    pub global: Layer,
    /// The providers list (empty when the file has none: the legacy options then apply).
    pub providers: Vec<AlphaProvider>,
}

/// Where a provider entry field goes: a legacy option key, or a special handling.
enum Target {
    Key(&'static str),
    /// A nested block whose fields are looked up in this table.
    Block(&'static [(&'static str, Target)]),
    Id,
    AllowedGroups,
    /// An oauth2-proxy field authproxy does not support (with the reason).
    Unsupported(&'static str),
}

use Target::{AllowedGroups, Block, Id, Key, Unsupported};

const OIDC_CONFIG: &[(&str, Target)] = &[
    ("issuerURL", Key("oidc_issuer_url")),
    (
        "insecureAllowUnverifiedEmail",
        Key("insecure_oidc_allow_unverified_email"),
    ),
    (
        "insecureSkipIssuerVerification",
        Key("insecure_oidc_skip_issuer_verification"),
    ),
    ("insecureSkipNonce", Key("insecure_oidc_skip_nonce")),
    ("skipDiscovery", Key("skip_oidc_discovery")),
    ("jwksURL", Key("oidc_jwks_url")),
    ("publicKeyFiles", Key("oidc_public_key_files")),
    ("emailClaim", Key("oidc_email_claim")),
    ("groupsClaim", Key("oidc_groups_claim")),
    ("userIDClaim", Key("user_id_claim")),
    ("audienceClaims", Key("oidc_audience_claims")),
    ("extraAudiences", Key("oidc_extra_audiences")),
];

const GITHUB_CONFIG: &[(&str, Target)] = &[
    ("org", Key("github_org")),
    ("team", Key("github_team")),
    ("repo", Key("github_repo")),
    ("token", Key("github_token")),
    ("users", Key("github_users")),
];

const GOOGLE_CONFIG: &[(&str, Target)] = &[
    ("group", Key("google_groups")),
    ("adminEmail", Key("google_admin_email")),
    ("serviceAccountJson", Key("google_service_account_json")),
    (
        "useApplicationDefaultCredentials",
        Key("google_use_application_default_credentials"),
    ),
    ("targetPrincipal", Key("google_target_principal")),
];

const AZURE_CONFIG: &[(&str, Target)] = &[
    ("tenant", Key("azure_tenant")),
    ("graphGroupField", Key("azure_graph_group_field")),
];

const ENTRA_CONFIG: &[(&str, Target)] = &[
    ("allowedTenants", Key("entra_id_allowed_tenants")),
    ("federatedTokenAuth", Key("entra_id_federated_token_auth")),
];

const GITLAB_CONFIG: &[(&str, Target)] = &[
    ("group", Key("gitlab_groups")),
    ("projects", Key("gitlab_projects")),
];

const KEYCLOAK_CONFIG: &[(&str, Target)] = &[
    ("groups", Key("keycloak_groups")),
    ("roles", Key("allowed_roles")),
];

const BITBUCKET_CONFIG: &[(&str, Target)] = &[
    ("team", Key("bitbucket_team")),
    ("repository", Key("bitbucket_repository")),
];

const LOGIN_GOV_CONFIG: &[(&str, Target)] = &[
    ("jwtKey", Key("jwt_key")),
    ("jwtKeyFile", Key("jwt_key_file")),
    ("pubjwkURL", Key("pubjwk_url")),
];

const ADFS_CONFIG: &[(&str, Target)] = &[("skipScope", Key("authproxy_adfs_skip_scope"))];

/// The fields of one `providers:` entry (oauth2-proxy's `Provider` struct, alpha spelling).
const PROVIDER_FIELDS: &[(&str, Target)] = &[
    ("id", Id),
    ("provider", Key("provider")),
    ("name", Key("provider_display_name")),
    ("clientID", Key("client_id")),
    ("clientSecret", Key("client_secret")),
    ("clientSecretFile", Key("client_secret_file")),
    ("scope", Key("scope")),
    ("loginURL", Key("login_url")),
    ("redeemURL", Key("redeem_url")),
    ("profileURL", Key("profile_url")),
    ("validateURL", Key("validate_url")),
    ("backendLogoutURL", Key("backend_logout_url")),
    ("resource", Key("resource")),
    (
        "skipClaimsFromProfileURL",
        Key("skip_claims_from_profile_url"),
    ),
    ("caFiles", Key("provider_ca_files")),
    ("useSystemTrustStore", Key("use_system_trust_store")),
    ("code_challenge_method", Key("code_challenge_method")),
    ("allowedGroups", AllowedGroups),
    (
        "loginURLParameters",
        Unsupported("use the global prompt / approval_prompt / acr_values options instead"),
    ),
    ("oidcConfig", Block(OIDC_CONFIG)),
    ("githubConfig", Block(GITHUB_CONFIG)),
    ("googleConfig", Block(GOOGLE_CONFIG)),
    ("azureConfig", Block(AZURE_CONFIG)),
    ("microsoftEntraIDConfig", Block(ENTRA_CONFIG)),
    ("gitlabConfig", Block(GITLAB_CONFIG)),
    ("keycloakConfig", Block(KEYCLOAK_CONFIG)),
    ("bitbucketConfig", Block(BITBUCKET_CONFIG)),
    ("loginGovConfig", Block(LOGIN_GOV_CONFIG)),
    ("ADFSConfig", Block(ADFS_CONFIG)),
];

/// Every legacy option key a providers entry can set (for the conflict check).
pub(super) fn provider_keys() -> Vec<&'static str> {
    fn walk(table: &'static [(&'static str, Target)], out: &mut Vec<&'static str>) {
        for (_, t) in table {
            match t {
                Key(k) => out.push(k),
                Block(inner) => walk(inner, out),
                _ => {}
            }
        }
    }
    let mut out = vec!["force_code_challenge_method"];
    walk(PROVIDER_FIELDS, &mut out);
    out
}

/// Read and compile the alpha file. Errors name the file and the field.
pub(super) fn read_alpha(path: &Path, errors: &mut Vec<ConfigError>) -> Alpha {
    let mut alpha = Alpha {
        file: path.to_path_buf(),
        ..Alpha::default()
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            errors.push(ConfigError::new(
                "alpha-config",
                format!("cannot read alpha config file {}: {e}", path.display()),
            ));
            return alpha;
        }
    };
    let doc: Value = match serde_yaml_ng::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            errors.push(ConfigError::new(
                "alpha-config",
                format!(
                    "alpha config file {} is not valid YAML: {e}",
                    path.display()
                ),
            ));
            return alpha;
        }
    };
    let mut r = Reader {
        file: path.to_path_buf(),
        errors,
    };
    let top = match &doc {
        Value::Mapping(m) => m,
        Value::Null => return alpha,
        _ => {
            r.err("(top level)", "must be a mapping of sections (providers, upstreamConfig, injectRequestHeaders, injectResponseHeaders, server, metricsServer)");
            return alpha;
        }
    };
    const SECTIONS: &[&str] = &[
        "providers",
        "upstreamConfig",
        "injectRequestHeaders",
        "injectResponseHeaders",
        "server",
        "metricsServer",
    ];
    let mut request_headers = None;
    let mut response_headers = None;
    for (k, v) in top {
        let Some(name) = r.key(k, "(top level)") else {
            continue;
        };
        let Some(section) = canonical(&name, SECTIONS.iter().copied()) else {
            r.unknown("", &name, SECTIONS.iter().copied());
            continue;
        };
        match section {
            "providers" => alpha.providers = r.providers(v),
            "upstreamConfig" => r.upstream_config(v, &mut alpha.global),
            "injectRequestHeaders" => request_headers = Some(r.headers(v, section, true)),
            "injectResponseHeaders" => response_headers = Some(r.headers(v, section, false)),
            "server" => r.server(v, "server", "http_address", &mut alpha.global),
            _ => r.server(v, "metricsServer", "metrics_address", &mut alpha.global),
        }
    }
    if request_headers.is_some() || response_headers.is_some() {
        r.header_switches(
            request_headers.unwrap_or_default(),
            response_headers.unwrap_or_default(),
            &mut alpha.global,
        );
    }
    alpha
}

/// Settings from the legacy sources that the alpha file also sets (or, with a providers list,
/// any legacy provider option) are errors: the operator must choose one place.
pub(super) fn conflicts(alpha: &Alpha, legacy: &Layer, errors: &mut Vec<ConfigError>) {
    let file = alpha.file.display();
    for (key, setting) in &alpha.global {
        if let Some(l) = legacy.get(key) {
            let field = match &setting.origin {
                Origin::Alpha { field, .. } => field.as_str(),
                _ => "",
            };
            errors.push(ConfigError::new(
                key,
                format!(
                    "option `{key}` ({}) is also set by {file} ({field}); set it in one place",
                    l.origin
                ),
            ));
        }
    }
    if alpha.providers.is_empty() {
        return;
    }
    for key in provider_keys()
        .into_iter()
        .chain(["provider_display_name", "provider"])
    {
        if let Some(l) = legacy.get(key) {
            errors.push(ConfigError::new(
                key,
                format!(
                    "option `{key}` ({}) is a provider option, but {file} has a providers list: with --alpha-config every provider is configured in that list",
                    l.origin
                ),
            ));
        }
    }
}

/// A field path inside the alpha file for errors.
struct Reader<'e> {
    file: PathBuf,
    errors: &'e mut Vec<ConfigError>,
}

impl Reader<'_> {
    fn err(&mut self, field: &str, msg: impl std::fmt::Display) {
        self.errors.push(ConfigError::new(
            "alpha-config",
            format!("{} field {field}: {msg}", self.file.display()),
        ));
    }

    fn origin(&self, field: &str) -> Origin {
        Origin::Alpha {
            file: self.file.clone(),
            field: field.to_owned(),
        }
    }

    fn key(&mut self, k: &Value, at: &str) -> Option<String> {
        match k {
            Value::String(s) => Some(s.clone()),
            other => {
                self.err(at, format!("key {other:?} is not a string"));
                None
            }
        }
    }

    fn unknown<'a>(
        &mut self,
        prefix: &str,
        name: &str,
        known: impl Iterator<Item = &'a str> + Clone,
    ) {
        let hint = options::suggest(name, known.clone())
            .map(|s| format!("; did you mean {s}?"))
            .unwrap_or_default();
        let field = join(prefix, name);
        self.err(
            &field,
            format!(
                "unknown alpha config field {name:?}{hint} (known here: {})",
                known.collect::<Vec<_>>().join(", ")
            ),
        );
    }

    fn mapping<'v>(&mut self, v: &'v Value, field: &str) -> Option<&'v serde_yaml_ng::Mapping> {
        match v {
            Value::Mapping(m) => Some(m),
            Value::Null => None,
            _ => {
                self.err(field, "must be a mapping");
                None
            }
        }
    }

    fn providers(&mut self, v: &Value) -> Vec<AlphaProvider> {
        let items = match v {
            Value::Sequence(s) => s,
            Value::Null => return Vec::new(),
            _ => {
                self.err("providers", "must be a list of providers");
                return Vec::new();
            }
        };
        let mut out: Vec<AlphaProvider> = Vec::new();
        let mut ids = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("providers[{i}]");
            let Some(m) = self.mapping(item, &at) else {
                self.err(&at, "is empty");
                continue;
            };
            let mut p = AlphaProvider {
                id: String::new(),
                allowed_groups: Vec::new(),
                layer: Layer::new(),
            };
            self.provider_fields(m, PROVIDER_FIELDS, &at, &mut p);
            let id = p.id.trim().to_owned();
            if id.is_empty() {
                self.err(
                    &at,
                    "id is required (a unique name for this provider, e.g. github)",
                );
                continue;
            }
            if let Some(bad) = id
                .chars()
                .find(|c| c.is_control() || c.is_whitespace() || !c.is_ascii())
            {
                self.err(
                    &format!("{at}.id"),
                    format!("{id:?} contains {bad:?}; ids are ASCII without spaces"),
                );
                continue;
            }
            if !ids.insert(id.clone()) {
                self.err(
                    &format!("{at}.id"),
                    format!("{id:?} is used by another provider; ids must be unique"),
                );
                continue;
            }
            p.id = id;
            out.push(p);
        }
        if out.is_empty() && !items.is_empty() {
            // Every entry was refused above; the errors say why.
            return out;
        }
        if items.is_empty() {
            self.err("providers", "is empty; list at least one provider or remove the key to use the legacy provider options");
        }
        out
    }

    fn provider_fields(
        &mut self,
        m: &serde_yaml_ng::Mapping,
        table: &'static [(&'static str, Target)],
        at: &str,
        p: &mut AlphaProvider,
    ) {
        for (k, v) in m {
            let Some(name) = self.key(k, at) else {
                continue;
            };
            let Some((canon, target)) = table.iter().find(|(f, _)| f.eq_ignore_ascii_case(&name))
            else {
                self.unknown(at, &name, table.iter().map(|(f, _)| *f));
                continue;
            };
            let field = join(at, canon);
            match target {
                Id => match scalar(v) {
                    Some(Raw::Text(s)) => p.id = s,
                    _ => self.err(&field, "must be a string"),
                },
                AllowedGroups => match self.raw(v, &field) {
                    Some(Raw::Items(items)) => p.allowed_groups = items,
                    Some(Raw::Text(s)) => p.allowed_groups = vec![s],
                    Some(_) => self.err(&field, "must be a list of group names"),
                    None => {}
                },
                Key(key) => {
                    if let Some(raw) = self.raw(v, &field) {
                        let origin = self.origin(&field);
                        p.layer.insert(key, Setting { raw, origin });
                    }
                }
                Block(inner) => {
                    if let Some(m) = self.mapping(v, &field) {
                        self.provider_fields(m, inner, &field, p);
                    }
                }
                Unsupported(why) => {
                    if !is_empty(v) {
                        self.err(
                            &field,
                            format!(
                                "is an oauth2-proxy alpha field authproxy does not support; {why}"
                            ),
                        );
                    }
                }
            }
        }
    }

    /// A YAML value as a raw option value.
    fn raw(&mut self, v: &Value, field: &str) -> Option<Raw> {
        if let Some(r) = scalar(v) {
            return Some(r);
        }
        match v {
            Value::Null => None,
            Value::Sequence(items) => {
                let mut out = Vec::new();
                for item in items {
                    match scalar(item) {
                        Some(Raw::Text(s)) => out.push(s),
                        Some(Raw::Int(i)) => out.push(i.to_string()),
                        Some(Raw::Bool(b)) => out.push(b.to_string()),
                        _ => {
                            self.err(field, "must be a list of strings");
                            return None;
                        }
                    }
                }
                Some(Raw::Items(out))
            }
            _ => {
                self.err(
                    field,
                    "must be a string, number, boolean or list of strings",
                );
                None
            }
        }
    }

    fn upstream_config(&mut self, v: &Value, global: &mut Layer) {
        let Some(m) = self.mapping(v, "upstreamConfig") else {
            return;
        };
        const FIELDS: &[&str] = &["proxyRawPath", "upstreams"];
        let mut entries = Vec::new();
        let mut timeout: Option<(String, String)> = None;
        let mut insecure: Option<(bool, String)> = None;
        let mut pass_host: Option<(bool, String)> = None;
        for (k, v) in m {
            let Some(name) = self.key(k, "upstreamConfig") else {
                continue;
            };
            match canonical(&name, FIELDS.iter().copied()) {
                Some("proxyRawPath") => {
                    if matches!(v, Value::Bool(true)) {
                        self.err("upstreamConfig.proxyRawPath", "is not supported: authproxy forwards the path as normalised by the HTTP parser; remove it or set it to false");
                    }
                }
                Some(_) => {
                    let Value::Sequence(items) = v else {
                        self.err("upstreamConfig.upstreams", "must be a list of upstreams");
                        continue;
                    };
                    for (i, item) in items.iter().enumerate() {
                        let at = format!("upstreamConfig.upstreams[{i}]");
                        let Some(u) = self.mapping(item, &at) else {
                            self.err(&at, "is empty");
                            continue;
                        };
                        if let Some(e) =
                            self.upstream(u, &at, &mut timeout, &mut insecure, &mut pass_host)
                        {
                            entries.push(e);
                        }
                    }
                }
                None => self.unknown("upstreamConfig", &name, FIELDS.iter().copied()),
            }
        }
        let origin = self.origin("upstreamConfig.upstreams");
        global.insert(
            "upstreams",
            Setting {
                raw: Raw::Items(entries),
                origin,
            },
        );
        if let Some((t, field)) = timeout {
            let origin = self.origin(&field);
            global.insert(
                "upstream_timeout",
                Setting {
                    raw: Raw::Text(t),
                    origin,
                },
            );
        }
        if let Some((b, field)) = insecure {
            let origin = self.origin(&field);
            global.insert(
                "ssl_upstream_insecure_skip_verify",
                Setting {
                    raw: Raw::Bool(b),
                    origin,
                },
            );
        }
        if let Some((b, field)) = pass_host {
            let origin = self.origin(&field);
            global.insert(
                "pass_host_header",
                Setting {
                    raw: Raw::Bool(b),
                    origin,
                },
            );
        }
    }

    /// One alpha upstream as a legacy `upstreams` entry. Per-upstream settings that authproxy
    /// only has globally must agree across upstreams.
    fn upstream(
        &mut self,
        m: &serde_yaml_ng::Mapping,
        at: &str,
        timeout: &mut Option<(String, String)>,
        insecure: &mut Option<(bool, String)>,
        pass_host: &mut Option<(bool, String)>,
    ) -> Option<String> {
        const FIELDS: &[&str] = &[
            "id",
            "path",
            "uri",
            "static",
            "staticCode",
            "rewriteTarget",
            "insecureSkipTLSVerify",
            "flushInterval",
            "passHostHeader",
            "proxyWebSockets",
            "timeout",
        ];
        let mut path = None;
        let mut uri = None;
        let mut is_static = false;
        let mut code = None;
        for (k, v) in m {
            let name = self.key(k, at)?;
            let Some(canon) = canonical(&name, FIELDS.iter().copied()) else {
                self.unknown(at, &name, FIELDS.iter().copied());
                continue;
            };
            let field = join(at, canon);
            let text = scalar_text(v);
            match canon {
                "id" => {}
                "path" => path = text,
                "uri" => uri = text,
                "static" => is_static = matches!(v, Value::Bool(true)),
                "staticCode" => code = text,
                "rewriteTarget" if !is_empty(v) => {
                    self.err(&field, "is not supported: authproxy routes by path prefix without rewriting; remove it");
                }
                "flushInterval" => {} // authproxy forwards streamed data as it arrives.
                "proxyWebSockets" => {
                    if matches!(v, Value::Bool(false)) {
                        self.err(&field, "false is not supported: authproxy always proxies WebSockets; remove it");
                    }
                }
                "timeout" | "insecureSkipTLSVerify" | "passHostHeader" => {
                    let slot_ok = match canon {
                        "timeout" => agree(timeout, text.unwrap_or_default(), &field),
                        "insecureSkipTLSVerify" => {
                            agree(insecure, matches!(v, Value::Bool(true)), &field)
                        }
                        _ => agree(pass_host, !matches!(v, Value::Bool(false)), &field),
                    };
                    if let Err(first) = slot_ok {
                        self.err(&field, format!("differs from {first}: authproxy applies {canon} to every upstream, so all upstreams must use the same value"));
                    }
                }
                _ => {}
            }
        }
        let path = path.unwrap_or_else(|| "/".to_owned());
        if path.starts_with('^') || path.ends_with('$') {
            self.err(&join(at, "path"), format!("{path:?}: regular expression paths are not supported; use a path prefix such as /api/"));
            return None;
        }
        if is_static {
            if path != "/" {
                self.err(
                    &join(at, "path"),
                    format!("{path:?}: a static upstream serves every path (/); remove the path"),
                );
                return None;
            }
            return Some(format!("static://{}", code.unwrap_or_else(|| "200".into())));
        }
        let Some(uri) = uri else {
            self.err(at, "uri is required (or static: true)");
            return None;
        };
        let parsed = match url::Url::parse(&uri) {
            Ok(u) => u,
            Err(e) => {
                self.err(&join(at, "uri"), format!("{uri:?} is not a valid URL: {e}"));
                return None;
            }
        };
        if parsed.scheme() == "file" {
            return Some(format!("{}#{path}", uri.split('#').next().unwrap_or(&uri)));
        }
        // Legacy upstreams route by the URL's own path; alpha's `path` must then be that path.
        let uri_path = parsed.path();
        if uri_path == path || (uri_path == "/" && path == "/") {
            Some(uri)
        } else if uri_path == "/" {
            Some(format!("{}{}", uri.trim_end_matches('/'), path))
        } else {
            self.err(at, format!("path {path:?} with uri path {uri_path:?}: authproxy cannot rewrite one path into another; make them equal"));
            None
        }
    }

    fn server(&mut self, v: &Value, section: &str, key: &'static str, global: &mut Layer) {
        let Some(m) = self.mapping(v, section) else {
            return;
        };
        const FIELDS: &[&str] = &[
            "BindAddress",
            "SecureBindAddress",
            "TLS",
            "ShutdownDuration",
        ];
        for (k, v) in m {
            let Some(name) = self.key(k, section) else {
                continue;
            };
            let Some(canon) = canonical(&name, FIELDS.iter().copied()) else {
                self.unknown(section, &name, FIELDS.iter().copied());
                continue;
            };
            let field = join(section, canon);
            match canon {
                "BindAddress" => {
                    if let Some(a) = scalar_text(v).filter(|a| !a.is_empty() && a != "-") {
                        let origin = self.origin(&field);
                        global.insert(
                            key,
                            Setting {
                                raw: Raw::Text(a),
                                origin,
                            },
                        );
                    }
                }
                "SecureBindAddress" => {
                    if scalar_text(v).is_some_and(|a| !a.is_empty() && a != "-") {
                        self.err(&field, "HTTPS listening is not supported yet; terminate TLS in front of authproxy (Istio gateway, ingress) and remove it");
                    }
                }
                "TLS" => {
                    if !is_empty(v) {
                        self.err(&field, "HTTPS listening is not supported yet; terminate TLS in front of authproxy and remove it");
                    }
                }
                _ => {
                    if !is_empty(v) {
                        self.err(&field, "is not supported yet: authproxy stops accepting on SIGTERM and drains open requests; remove it");
                    }
                }
            }
        }
    }

    /// The header list, as `(header name, claim, prefix)` triples.
    fn headers(
        &mut self,
        v: &Value,
        section: &str,
        request: bool,
    ) -> Vec<(String, String, String)> {
        let items = match v {
            Value::Sequence(s) => s,
            Value::Null => return Vec::new(),
            _ => {
                self.err(section, "must be a list of headers");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("{section}[{i}]");
            let Some(m) = self.mapping(item, &at) else {
                self.err(&at, "is empty");
                continue;
            };
            let mut name = None;
            let mut values = None;
            for (k, v) in m {
                let Some(key) = self.key(k, &at) else {
                    continue;
                };
                match canonical(&key, ["name", "preserveRequestValue", "values"].into_iter()) {
                    Some("name") => name = scalar_text(v),
                    Some("preserveRequestValue") => {
                        if matches!(v, Value::Bool(true)) && request {
                            self.err(&join(&at, "preserveRequestValue"), "true is not supported: authproxy always strips client-sent identity headers (they could be forged)");
                        }
                    }
                    Some(_) => values = Some(v),
                    None => self.unknown(
                        &at,
                        &key,
                        ["name", "preserveRequestValue", "values"].into_iter(),
                    ),
                }
            }
            let Some(name) = name.filter(|n| !n.is_empty()) else {
                self.err(&at, "name is required");
                continue;
            };
            let values = match values {
                Some(Value::Sequence(v)) if v.len() == 1 => &v[0],
                _ => {
                    self.err(
                        &join(&at, "values"),
                        format!("header {name}: exactly one value (a claim) is supported"),
                    );
                    continue;
                }
            };
            let Some(vm) = self.mapping(values, &join(&at, "values[0]")) else {
                continue;
            };
            let mut claim = None;
            let mut prefix = String::new();
            for (k, v) in vm {
                let Some(key) = self.key(k, &at) else {
                    continue;
                };
                match canonical(&key, ["claim", "prefix"].into_iter()) {
                    Some("claim") => claim = scalar_text(v),
                    Some(_) => prefix = scalar_text(v).unwrap_or_default(),
                    None => {
                        self.err(&join(&at, &format!("values[0].{key}")), format!("header {name}: only claim values (claim, prefix) are supported; secret values (value, fromEnv, fromFile), basicAuthPassword and request-scope fields are not"));
                    }
                }
            }
            match claim {
                Some(c) => out.push((name, c, prefix)),
                None => self.err(
                    &join(&at, "values[0]"),
                    format!("header {name}: claim is required"),
                ),
            }
        }
        out
    }

    /// Map the header lists onto authproxy's header switches. authproxy sends fixed header
    /// groups, so a list must name each group completely (as oauth2-proxy's own conversion of
    /// the legacy options does) or not at all.
    fn header_switches(
        &mut self,
        request: Vec<(String, String, String)>,
        response: Vec<(String, String, String)>,
        global: &mut Layer,
    ) {
        // (header, claim, prefix, switch). `X-Forwarded-User` with claim email is
        // prefer_email_to_user.
        const REQ: &[(&str, &str, &str, &str)] = &[
            ("X-Forwarded-User", "user", "", "pass_user_headers"),
            ("X-Forwarded-Email", "email", "", "pass_user_headers"),
            ("X-Forwarded-Groups", "groups", "", "pass_user_headers"),
            (
                "X-Forwarded-Preferred-Username",
                "preferred_username",
                "",
                "pass_user_headers",
            ),
            (
                "X-Forwarded-Access-Token",
                "access_token",
                "",
                "pass_access_token",
            ),
            (
                "Authorization",
                "id_token",
                "Bearer ",
                "pass_authorization_header",
            ),
            ("X-Auth-Request-User", "user", "", "set_xauthrequest"),
            ("X-Auth-Request-Email", "email", "", "set_xauthrequest"),
            ("X-Auth-Request-Groups", "groups", "", "set_xauthrequest"),
            (
                "X-Auth-Request-Preferred-Username",
                "preferred_username",
                "",
                "set_xauthrequest",
            ),
            (
                "X-Auth-Request-Access-Token",
                "access_token",
                "",
                "pass_access_token",
            ),
        ];
        const RESP: &[(&str, &str, &str, &str)] = &[
            ("X-Auth-Request-User", "user", "", "set_xauthrequest"),
            ("X-Auth-Request-Email", "email", "", "set_xauthrequest"),
            ("X-Auth-Request-Groups", "groups", "", "set_xauthrequest"),
            (
                "X-Auth-Request-Preferred-Username",
                "preferred_username",
                "",
                "set_xauthrequest",
            ),
            (
                "X-Auth-Request-Access-Token",
                "access_token",
                "",
                "pass_access_token",
            ),
            (
                "Authorization",
                "id_token",
                "Bearer ",
                "set_authorization_header",
            ),
        ];
        let mut on: Vec<&'static str> = Vec::new();
        let mut prefer_email = false;
        for (section, list, table) in [
            ("injectRequestHeaders", &request, REQ),
            ("injectResponseHeaders", &response, RESP),
        ] {
            let mut seen: Vec<&'static str> = Vec::new();
            for (name, claim, prefix) in list.iter() {
                if section == "injectRequestHeaders"
                    && name.eq_ignore_ascii_case("X-Forwarded-User")
                    && claim == "email"
                {
                    prefer_email = true;
                    seen.push("X-Forwarded-User");
                    on.push("pass_user_headers");
                    continue;
                }
                match table.iter().find(|(h, c, p, _)| {
                    h.eq_ignore_ascii_case(name) && c == claim && p == prefix
                }) {
                    Some((h, _, _, switch)) => {
                        seen.push(h);
                        on.push(switch);
                    }
                    None => self.err(section, format!(
                        "header {name} from claim {claim:?}{}: authproxy sends a fixed set of identity headers and cannot inject this one; supported: {}",
                        if prefix.is_empty() { String::new() } else { format!(" with prefix {prefix:?}") },
                        table.iter().map(|(h, c, p, _)| if p.is_empty() { format!("{h} ({c})") } else { format!("{h} ({p}{c})") }).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
            // Every header of an enabled group must be listed: the group is sent as a whole.
            for (h, _, _, switch) in table.iter() {
                let listed = seen.contains(h);
                let group_on = on.contains(switch);
                let optional = *h == "X-Auth-Request-Access-Token";
                if group_on && !listed && !optional {
                    self.err(section, format!("{h} is missing: authproxy sends it together with the other headers of {switch}; list it too"));
                }
            }
        }
        for switch in [
            "pass_user_headers",
            "pass_access_token",
            "pass_authorization_header",
            "set_xauthrequest",
            "set_authorization_header",
        ] {
            let origin = self.origin("injectRequestHeaders/injectResponseHeaders");
            global.insert(
                switch,
                Setting {
                    raw: Raw::Bool(on.contains(&switch)),
                    origin,
                },
            );
        }
        // pass_basic_auth also turns the user headers on; the alpha lists decide alone.
        let origin = self.origin("injectRequestHeaders");
        global.insert(
            "pass_basic_auth",
            Setting {
                raw: Raw::Bool(false),
                origin,
            },
        );
        if prefer_email {
            let origin = self.origin("injectRequestHeaders");
            global.insert(
                "prefer_email_to_user",
                Setting {
                    raw: Raw::Bool(true),
                    origin,
                },
            );
        }
    }
}

/// Keep the first value of a per-upstream setting; `Err(first field)` when another differs.
fn agree<T: PartialEq>(slot: &mut Option<(T, String)>, v: T, field: &str) -> Result<(), String> {
    match slot {
        Some((first, at)) if *first != v => Err(at.clone()),
        Some(_) => Ok(()),
        None => {
            *slot = Some((v, field.to_owned()));
            Ok(())
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The canonical spelling of `name` among `known` (YAML keys match case-insensitively, as
/// oauth2-proxy's decoder does).
fn canonical<'a>(name: &str, mut known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known.find(|k| k.eq_ignore_ascii_case(name))
}

fn scalar(v: &Value) -> Option<Raw> {
    match v {
        Value::String(s) => Some(Raw::Text(s.clone())),
        Value::Bool(b) => Some(Raw::Bool(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(Raw::Int)
            .or_else(|| Some(Raw::Text(n.to_string()))),
        _ => None,
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match scalar(v)? {
        Raw::Text(s) => Some(s),
        Raw::Int(i) => Some(i.to_string()),
        Raw::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Sequence(s) => s.is_empty(),
        Value::Mapping(m) => m.is_empty(),
        _ => false,
    }
}
