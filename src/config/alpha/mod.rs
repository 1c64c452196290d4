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

use std::collections::HashMap;

use super::options;
use super::sources::{Layer, Origin, Raw, Setting};
use super::structured::{HeaderRule, ServerConfig, UpstreamConfig};
use super::ConfigError;

mod envsubst;
mod login_params;
mod sections;

#[cfg(test)]
mod tests;

/// One `providers:` entry, as raw settings keyed by legacy option name.
#[derive(Debug)]
pub(super) struct AlphaProvider {
    /// `id` (required, unique).
    pub id: String,
    /// `allowedGroups`.
    pub allowed_groups: Vec<String>,
    /// `additionalClaims`: claims kept in the session (ID token, else the profile URL).
    pub additional_claims: Vec<String>,
    /// Every other field, under its legacy option key.
    pub layer: Layer,
}

/// The alpha file, read. A section the file does not have is `None`: the legacy options
/// then configure it (an authproxy leniency: oauth2-proxy v7 refuses legacy options there).
#[derive(Debug, Default)]
pub(super) struct Alpha {
    pub file: PathBuf,
    /// The providers list (empty when the file has none: the legacy options then apply).
    pub providers: Vec<AlphaProvider>,
    pub upstream_config: Option<UpstreamConfig>,
    /// Both header lists, when the file has either section.
    pub headers: Option<(Vec<HeaderRule>, Vec<HeaderRule>)>,
    pub server: Option<ServerConfig>,
    pub metrics_server: Option<ServerConfig>,
    /// `authproxyPolicy` (authproxy extension: oauth2-proxy refuses a file with it).
    pub policy: Option<super::policy::PolicyConfig>,
    /// Accepted but worth telling (deprecated forms, v7 quirks).
    pub warnings: Vec<String>,
}

/// Where a provider entry field goes: a legacy option key, or a special handling.
enum Target {
    Key(&'static str),
    /// A nested block whose fields are looked up in this table.
    Block(&'static [(&'static str, Target)]),
    Id,
    AllowedGroups,
    /// `loginURLParameters` (see login_params.rs).
    LoginUrlParameters,
    /// `additionalClaims`: claims kept in the session (provider options).
    AdditionalClaims,
}

use Target::{AdditionalClaims, AllowedGroups, Block, Id, Key, LoginUrlParameters};

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
    ("enabledSigningAlgs", Key("oidc_enabled_signing_algs")),
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
    ("useOrganizationID", Key("google_use_organization_id")),
    ("adminAPIUserScope", Key("google_admin_api_user_scope")),
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
    ("authRequestResponseMode", Key("auth_request_response_mode")),
    ("allowedGroups", AllowedGroups),
    ("additionalClaims", AdditionalClaims),
    ("loginURLParameters", LoginUrlParameters),
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
pub(super) fn read_alpha(
    path: &Path,
    env: &HashMap<String, String>,
    errors: &mut Vec<ConfigError>,
) -> Alpha {
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
    // oauth2-proxy substitutes ${VAR} in the whole file before parsing it.
    let text = match envsubst::substitute(&text, env) {
        Ok(t) => t,
        Err(e) => {
            errors.push(ConfigError::new(
                "alpha-config",
                format!("alpha config file {}: {e}", path.display()),
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
        env,
        warnings: Vec::new(),
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
        "authproxyPolicy",
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
            "upstreamConfig" => alpha.upstream_config = r.upstream_config(v),
            "injectRequestHeaders" => request_headers = Some(r.headers(v, section, true)),
            "injectResponseHeaders" => response_headers = Some(r.headers(v, section, false)),
            "server" => alpha.server = r.server(v, "server"),
            "authproxyPolicy" => alpha.policy = r.policy(v),
            _ => alpha.metrics_server = r.server(v, "metricsServer"),
        }
    }
    if request_headers.is_some() || response_headers.is_some() {
        alpha.headers = Some((
            request_headers.unwrap_or_default(),
            response_headers.unwrap_or_default(),
        ));
    }
    alpha.warnings = r.warnings;
    alpha
}

/// The legacy options each alpha section replaces.
const UPSTREAM_KEYS: &[&str] = &[
    "upstreams",
    "upstream_timeout",
    "flush_interval",
    "pass_host_header",
    "proxy_websockets",
    "ssl_upstream_insecure_skip_verify",
    "disable_keep_alives",
];
const HEADER_KEYS: &[&str] = &[
    "pass_basic_auth",
    "basic_auth_password",
    "pass_user_headers",
    "pass_access_token",
    "pass_authorization_header",
    "set_authorization_header",
    "set_xauthrequest",
    "set_basic_auth",
    "prefer_email_to_user",
    "skip_auth_strip_headers",
];
const SERVER_KEYS: &[&str] = &[
    "http_address",
    "https_address",
    "tls_cert_file",
    "tls_key_file",
    "tls_min_version",
    "tls_cipher_suites",
];
const METRICS_KEYS: &[&str] = &[
    "metrics_address",
    "metrics_secure_address",
    "metrics_tls_cert_file",
    "metrics_tls_key_file",
];

/// A legacy option that the alpha file's section replaces is refused when it is set in the
/// config file or by a flag (as oauth2-proxy v7 refuses it), and ignored with a warning when
/// it comes from the environment (v7 ignores it). `warnings` gets those.
pub(super) fn conflicts(
    alpha: &Alpha,
    legacy: &Layer,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<String>,
) -> Vec<&'static str> {
    let file = alpha.file.display();
    let mut ignored = Vec::new();
    // oauth2-proxy v7 re-reads the file and flags against its core options only in alpha mode,
    // so every legacy option of these sections is refused there, whether or not the alpha file
    // has the section (a section it leaves out stays empty: v7 never falls back to them).
    let mut provider = provider_keys();
    provider.extend(["provider_display_name", "provider"]);
    let sections: [(&str, Vec<&'static str>); 5] = [
        ("upstreamConfig", UPSTREAM_KEYS.to_vec()),
        (
            "injectRequestHeaders / injectResponseHeaders",
            HEADER_KEYS.to_vec(),
        ),
        ("server", SERVER_KEYS.to_vec()),
        ("metricsServer", METRICS_KEYS.to_vec()),
        ("providers", provider),
    ];
    for (section, keys) in sections {
        for key in keys {
            let Some(l) = legacy.get(key) else { continue };
            if matches!(l.origin, Origin::Env(_)) {
                warnings.push(format!(
                    "option `{key}` ({}) is ignored: {file} configures {section} (oauth2-proxy ignores it too)",
                    l.origin
                ));
                ignored.push(key);
                continue;
            }
            errors.push(ConfigError::new(
                key,
                format!(
                    "option `{key}` ({}) is replaced by the {section} section of {file}; with --alpha-config set it there (oauth2-proxy refuses it too)",
                    l.origin
                ),
            ));
        }
    }
    ignored
}

/// A field path inside the alpha file for errors.
struct Reader<'e> {
    file: PathBuf,
    errors: &'e mut Vec<ConfigError>,
    /// For `fromEnv` secrets.
    env: &'e HashMap<String, String>,
    warnings: Vec<String>,
}

impl Reader<'_> {
    fn warn(&mut self, msg: String) {
        self.warnings.push(msg);
    }

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

    /// `authproxyPolicy`: the per-route policy (docs/policy.md).
    fn policy(&mut self, v: &Value) -> Option<super::policy::PolicyConfig> {
        let origin = format!("{} field authproxyPolicy", self.file.display());
        let tree = match serde_json::to_value(v) {
            Ok(t) => t,
            Err(e) => {
                self.err("authproxyPolicy", e);
                return None;
            }
        };
        match super::policy::read(&tree, &origin) {
            Ok(p) => Some(p),
            Err(es) => {
                self.errors
                    .extend(es.into_iter().map(|e| ConfigError::new("alpha-config", e)));
                None
            }
        }
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
                additional_claims: Vec::new(),
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
                AdditionalClaims => match self.raw(v, &field) {
                    Some(raw @ (Raw::Items(_) | Raw::Text(_))) => {
                        let items = match raw {
                            Raw::Items(items) => items,
                            Raw::Text(s) => vec![s],
                            _ => Vec::new(),
                        };
                        for claim in items.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
                            if claim.chars().any(char::is_whitespace) {
                                self.err(&field, format!("claim {claim:?} contains spaces"));
                            } else if !p.additional_claims.iter().any(|c| c == claim) {
                                p.additional_claims.push(claim.to_owned());
                            }
                        }
                    }
                    Some(_) => self.err(&field, "must be a list of claim names"),
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
                LoginUrlParameters => match login_params::read(v) {
                    Ok(pairs) => {
                        for (key, value) in pairs {
                            let origin = self.origin(&field);
                            p.layer.insert(
                                key,
                                Setting {
                                    raw: Raw::Text(value),
                                    origin,
                                },
                            );
                        }
                    }
                    Err(why) => self.err(&field, why),
                },
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
