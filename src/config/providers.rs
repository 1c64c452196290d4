//! The identity-provider section of the configuration: [`ProviderConfig`], the provider
//! kinds authproxy builds, and each kind's own options.

use std::path::PathBuf;

/// PKCE method used on the authorization request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeChallengeMethod {
    /// No PKCE (only when explicitly configured as `none`... never the default).
    Disabled,
    Plain,
    S256,
}

/// One identity provider: from the legacy flat options (`provider`, `client_id`, ...) or one
/// entry of the alpha config's `providers:` list.
#[derive(Clone, Debug)]
pub struct ProviderConfig {
    /// Stable id: the alpha entry's `id`, or oauth2-proxy's legacy `<provider>=<client_id>`.
    /// The sealed state and the session name their provider by it.
    pub id: String,
    /// `provider`: only `oidc` for now (others are a startup error naming them).
    pub kind: String,
    /// Alpha `allowedGroups`: this provider's users must be in one of these groups (on top of
    /// the global `allowed_groups`). Always empty for the legacy flat options, whose
    /// `allowed_groups` is global.
    pub allowed_groups: Vec<String>,
    /// `provider_display_name` (default derived from the kind, e.g. "OpenID Connect").
    pub display_name: String,
    pub client_id: String,
    /// Already read from `client_secret_file` when that was given.
    pub client_secret: crate::crypto::Secret,
    pub oidc_issuer_url: Option<url::Url>,
    /// `login_url`, `redeem_url`, `profile_url`, `validate_url`, `oidc_jwks_url`: overrides of discovery.
    pub login_url: Option<url::Url>,
    pub redeem_url: Option<url::Url>,
    pub profile_url: Option<url::Url>,
    pub oidc_jwks_url: Option<url::Url>,
    /// `skip_oidc_discovery`: then login/redeem/jwks URLs are required.
    pub skip_oidc_discovery: bool,
    /// `scope` (default "openid email profile").
    pub scope: String,
    pub code_challenge_method: CodeChallengeMethod,
    /// `oidc_email_claim` (default "email").
    pub oidc_email_claim: String,
    /// `oidc_groups_claim` (default "groups").
    pub oidc_groups_claim: String,
    /// `user_id_claim` (default "email", as in oauth2-proxy).
    pub user_id_claim: String,
    pub insecure_oidc_allow_unverified_email: bool,
    /// `insecure_oidc_skip_issuer_verification`.
    pub insecure_oidc_skip_issuer_verification: bool,
    /// `insecure_oidc_skip_nonce` (default true in oauth2-proxy; we default to false: nonce always checked).
    pub insecure_oidc_skip_nonce: bool,
    /// `oidc_extra_audiences`.
    pub oidc_extra_audiences: Vec<String>,
    /// `ssl_insecure_skip_verify`: TLS verification of provider endpoints disabled (warned at startup).
    pub ssl_insecure_skip_verify: bool,
    /// `provider_ca_files`: extra CA bundles (PEM) for the provider connection.
    pub provider_ca_files: Vec<PathBuf>,
    /// `approval_prompt` (default "force") / `prompt` (overrides approval_prompt when set).
    pub prompt: Option<String>,
    pub approval_prompt: String,
    /// `acr_values`.
    pub acr_values: Option<String>,
    /// `auth_request_response_mode`: the `response_mode` authorization parameter (`None`: not
    /// sent). Provider kinds that oauth2-proxy never sends it for ignore it.
    pub auth_request_response_mode: Option<String>,
    /// `authproxy_token_auth_method` (an authproxy extension; oauth2-proxy has no such option).
    /// `None`: pick from discovery (`token_endpoint_auth_methods_supported`), basic first.
    pub token_auth_method: Option<TokenAuthMethod>,
    /// `validate_url`: GitHub's API base (default `https://api.github.com/`; GitHub
    /// Enterprise: `https://HOST/api/v3/`).
    pub validate_url: Option<url::Url>,
    /// `allowed_roles` (keycloak-oidc): realm roles, or `client:role` client roles.
    pub allowed_roles: Vec<String>,
    /// Options of provider `github`.
    pub github: GithubOptions,
    /// Options of provider `google`.
    pub google: GoogleOptions,
    /// Options of providers `entra-id` and `azure`.
    pub azure: AzureOptions,
    /// Options of provider `gitlab`.
    pub gitlab: GitlabOptions,
    /// Options of providers `keycloak-oidc` and `keycloak`.
    pub keycloak: KeycloakOptions,
    /// `resource` (provider `adfs`): the protected resource (relying party identifier, a URL
    /// or a URN); it prefixes the scope.
    pub resource: Option<String>,
    /// Options of provider `bitbucket`.
    pub bitbucket: BitbucketOptions,
    /// Options of provider `login.gov`.
    pub login_gov: LoginGovOptions,
    /// Options of provider `adfs`.
    pub adfs: AdfsOptions,
    /// The claims kept in the session (`ac`) besides its own fields, read from the ID token,
    /// else the profile URL: the alpha `additionalClaims`, then every other claim a header
    /// rule reads (dot paths allowed, `organization.name`), each once.
    pub additional_claims: Vec<String>,
    /// `skip_claims_from_profile_url`: never ask the profile URL (userinfo) for claims.
    pub skip_claims_from_profile_url: bool,
    /// `use_system_trust_store`: with `provider_ca_files`, trust the system roots too.
    pub use_system_trust_store: bool,
    /// `oidc_audience_claims` (default `["aud"]`): the first of them present in a token must
    /// name `client_id` or an `oidc_extra_audiences` entry.
    pub oidc_audience_claims: Vec<String>,
    /// `oidc_enabled_signing_algs`, validated, without the algorithms authproxy never
    /// verifies with (HS*, ES512; a warning names them). Empty: every algorithm authproxy
    /// implements, narrowed by discovery.
    pub oidc_enabled_signing_algs: Vec<String>,
    /// `oidc_public_key_files` (with `skip_oidc_discovery`): PEM public keys instead of a JWKS.
    pub oidc_public_key_files: Vec<PathBuf>,
    /// `backend_logout_url`: GET on sign-out, `{id_token}` replaced by the session's ID token.
    pub backend_logout_url: Option<String>,
}

/// The session claim (in `ac`) naming the provider a session was signed in with. oauth2-proxy
/// keeps `ac` as an opaque map, so its cookies stay readable by oauth2-proxy and vice versa.
pub const PROVIDER_CLAIM: &str = "authproxy.provider";

/// The provider kinds authproxy builds (`provider`, alpha `provider:`). The provider module
/// builds exactly these (a unit test there checks each one).
pub const PROVIDER_KINDS: &[&str] = &[
    "oidc",
    "github",
    "google",
    "entra-id",
    "azure",
    "gitlab",
    "keycloak-oidc",
    "adfs",
    "bitbucket",
    "cidaas",
    "digitalocean",
    "facebook",
    "keycloak",
    "linkedin",
    "login.gov",
    "nextcloud",
    "sourcehut",
];

/// Whether a provider type speaks OpenID Connect (its scope needs `openid`, it verifies ID
/// tokens). The others are plain OAuth 2.0 with a profile API.
pub fn is_openid_connect(kind: &str) -> bool {
    !matches!(
        kind,
        "github"
            | "bitbucket"
            | "digitalocean"
            | "facebook"
            | "keycloak"
            | "linkedin"
            | "nextcloud"
            | "sourcehut"
    )
}

/// `github_*` options.
#[derive(Clone, Debug, Default)]
pub struct GithubOptions {
    /// `github_org`.
    pub org: String,
    /// `github_team`: comma-separated team slugs of `github_org`, or `org:team`.
    pub team: String,
    /// `github_repo`: `owner/name`.
    pub repo: String,
    /// `github_token`: a token allowed to list the repo's collaborators.
    pub token: crate::crypto::Secret,
    /// `github_users`: logins allowed whatever their orgs, teams and repos.
    pub users: Vec<String>,
}

/// `google_*` options.
#[derive(Clone, Debug, Default)]
pub struct GoogleOptions {
    /// `google_group` / `google_groups`: group emails; members of any may sign in.
    pub groups: Vec<String>,
    /// `google_admin_email`: the Workspace admin the service account acts as.
    pub admin_email: String,
    /// `google_service_account_json`: the service account's JSON key file.
    pub service_account_json: Option<PathBuf>,
    /// The Workspace domains the `hd` claim must name: the exact domains of `email_domains`
    /// (empty: no hosted-domain check, e.g. `email_domains = ["*"]`).
    pub hosted_domains: Vec<String>,
    /// `authproxy_google_admin_api_url` (an authproxy extension): the Admin SDK base,
    /// default `https://admin.googleapis.com`.
    pub admin_api_url: Option<url::Url>,
    /// `google_use_organization_id`: the Directory user's organization ID becomes the
    /// preferred username.
    pub use_organization_id: bool,
    /// `google_admin_api_user_scope`: `cloud`, `user` or empty (read-only).
    pub admin_api_user_scope: String,
    /// `google_use_application_default_credentials`, with where they are found.
    pub application_default_credentials: Option<GoogleAdc>,
    /// `google_target_principal`: the service account ADC impersonate (empty: their own).
    pub target_principal: String,
}

/// Where Google's Application Default Credentials come from, as Google's client libraries
/// look for them: the file `GOOGLE_APPLICATION_CREDENTIALS` names, gcloud's
/// `$HOME/.config/gcloud/application_default_credentials.json`, else the metadata server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoogleAdc {
    /// The credentials file, when there is one.
    pub credentials_file: Option<PathBuf>,
    /// The metadata server host (`GCE_METADATA_HOST`, default `169.254.169.254`).
    pub metadata_host: String,
    /// `authproxy_google_iam_credentials_url` (default `https://iamcredentials.googleapis.com`).
    pub iam_credentials_url: Option<url::Url>,
    /// `authproxy_google_token_url` (default `https://oauth2.googleapis.com/token`).
    pub token_url: Option<url::Url>,
}

/// `azure_*` / `entra_id_*` options.
#[derive(Clone, Debug, Default)]
pub struct AzureOptions {
    /// `azure_tenant` (default `common`).
    pub tenant: String,
    /// `entra_id_allowed_tenants`: tenant IDs allowed with a multi-tenant issuer (`*` = any).
    pub allowed_tenants: Vec<String>,
    /// `azure_graph_group_field`: `id` (default) or `displayName`.
    pub graph_group_field: String,
    /// `entra_id_federated_token_auth` (entra-id): the file (`AZURE_FEDERATED_TOKEN_FILE`)
    /// whose token authenticates the client at the token endpoint, re-read at each use.
    pub federated_token_file: Option<PathBuf>,
}

/// `gitlab_*` options.
#[derive(Clone, Debug, Default)]
pub struct GitlabOptions {
    /// `gitlab_groups`: full group paths.
    pub groups: Vec<String>,
    /// `gitlab_projects`: `group/project` or `group/project=ACCESS_LEVEL` (default 20).
    pub projects: Vec<String>,
}

/// `keycloak_*` options.
#[derive(Clone, Debug, Default)]
pub struct KeycloakOptions {
    /// `keycloak_groups`.
    pub groups: Vec<String>,
}

/// `bitbucket_*` options.
#[derive(Clone, Debug, Default)]
pub struct BitbucketOptions {
    /// `bitbucket_team`: the workspace (slug) the user must be a member of.
    pub team: String,
    /// `bitbucket_repository`: `workspace/repo_slug` the user must be able to contribute to.
    pub repository: String,
}

/// Options of provider `login.gov`: `jwt_key` / `jwt_key_file`, `pubjwk_url`.
#[derive(Clone, Debug, Default)]
pub struct LoginGovOptions {
    /// The PEM RSA private key of `jwt_key`, or read from `jwt_key_file`.
    pub jwt_key: crate::crypto::Secret,
    /// `pubjwk_url`: login.gov's signing keys (JWKS).
    pub pubjwk_url: Option<url::Url>,
}

/// Options of provider `adfs` (alpha `ADFSConfig`).
#[derive(Clone, Debug, Default)]
pub struct AdfsOptions {
    /// `ADFSConfig.skipScope` / `authproxy_adfs_skip_scope`: no `scope` parameter on the
    /// authorization request.
    pub skip_scope: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
}
