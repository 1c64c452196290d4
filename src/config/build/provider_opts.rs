//! The provider options added for oauth2-proxy v7.15's verification, claims and cloud
//! credentials: `oidc_audience_claims`, `oidc_enabled_signing_algs`, `oidc_public_key_files`,
//! `skip_claims_from_profile_url`, `use_system_trust_store`, `backend_logout_url`, Google's
//! organization ID and Application Default Credentials, Entra ID's federated token. Each
//! check follows v7's validation (`pkg/validation/providers.go`, the OIDC verifier options),
//! its message quoted where it names the problem well.

use std::path::PathBuf;

use super::super::*;
use super::ctx::Ctx;
use super::opt_url;

/// The algorithms oauth2-proxy v7 accepts in `oidc_enabled_signing_algs` (go-jose's names).
pub(crate) const V7_SIGNING_ALGS: [&str; 13] = [
    "EdDSA", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512",
    "PS256", "PS384", "PS512",
];

/// The ones authproxy never verifies an ID token with: HMAC (anyone holding the client
/// secret could forge one) and ES512 (P-521 is not implemented).
pub(crate) const NEVER_VERIFIED_ALGS: [&str; 4] = ["HS256", "HS384", "HS512", "ES512"];

/// `oidc_audience_claims`, `oidc_enabled_signing_algs`, `oidc_public_key_files` and their
/// interplay with `skip_oidc_discovery` / `oidc_jwks_url`.
pub(crate) struct Verification {
    pub audience_claims: Vec<String>,
    pub enabled_signing_algs: Vec<String>,
    pub public_key_files: Vec<PathBuf>,
}

pub(crate) fn verification(c: &mut Ctx) -> Verification {
    let audience_claims: Vec<String> = c
        .list("oidc_audience_claims")
        .into_iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect();
    if audience_claims.is_empty() {
        c.fail(
            "oidc_audience_claims",
            "must name at least one claim (default aud); with none no token has an audience",
        );
    }
    if let Some(bad) = audience_claims
        .iter()
        .find(|a| a.chars().any(char::is_whitespace))
    {
        c.fail(
            "oidc_audience_claims",
            format!("entry {bad:?} must be a claim name without spaces"),
        );
    }
    let mut enabled_signing_algs = Vec::new();
    let mut never = Vec::new();
    for alg in c.list("oidc_enabled_signing_algs") {
        let alg = alg.trim().to_owned();
        if !V7_SIGNING_ALGS.contains(&alg.as_str()) {
            // v7: `provider <id> has invalid EnabledSigningAlgs entry "<alg>"`.
            c.fail(
                "oidc_enabled_signing_algs",
                format!(
                    "has invalid EnabledSigningAlgs entry {alg:?} (accepted: {})",
                    V7_SIGNING_ALGS.join(", ")
                ),
            );
        } else if NEVER_VERIFIED_ALGS.contains(&alg.as_str()) {
            never.push(alg);
        } else if !enabled_signing_algs.contains(&alg) {
            enabled_signing_algs.push(alg);
        }
    }
    if !never.is_empty() {
        if enabled_signing_algs.is_empty() {
            c.fail(
                "oidc_enabled_signing_algs",
                format!(
                    "lists only {}, which authproxy never verifies ID tokens with (HMAC would let anyone holding the client secret forge a token; P-521 is not implemented); list the provider's asymmetric algorithm (RS256, ES256, ...)",
                    never.join(", ")
                ),
            );
        } else {
            c.warn(format!(
                "oidc_enabled_signing_algs: {} ignored: authproxy never verifies ID tokens with HMAC (anyone holding the client secret could forge one) or ES512; tokens signed so are refused",
                never.join(", ")
            ));
        }
    }
    let public_key_files: Vec<PathBuf> = c
        .list("oidc_public_key_files")
        .into_iter()
        .map(PathBuf::from)
        .collect();
    for f in &public_key_files {
        if !f.is_file() {
            c.fail(
                "oidc_public_key_files",
                format!("file {} does not exist", f.display()),
            );
        }
    }
    if !public_key_files.is_empty() && c.opt_string("oidc_jwks_url").is_some() {
        // v7's verifier options: `mutually exclusive settings: jwks-url and public-key-files`.
        c.fail(
            "oidc_public_key_files",
            "mutually exclusive settings: jwks-url and public-key-files (set oidc_jwks_url or oidc_public_key_files, not both)",
        );
    } else if !public_key_files.is_empty() && !c.boolean("skip_oidc_discovery") {
        c.warn("oidc_public_key_files is only used with skip_oidc_discovery: the keys of the discovered jwks_uri verify tokens (as in oauth2-proxy)");
    }
    Verification {
        audience_claims,
        enabled_signing_algs,
        public_key_files,
    }
}

/// `backend_logout_url`: an http(s) URL once `{id_token}` is filled in. oauth2-proxy does
/// not check it (a bad one fails at each sign-out, logged): it is accepted with a warning
/// and never called.
pub(crate) fn backend_logout_url(c: &mut Ctx) -> Option<String> {
    let raw = c.opt_string("backend_logout_url")?;
    let filled = raw.replace("{id_token}", "id-token");
    match super::http_url(&filled) {
        Ok(_) => Some(raw),
        Err(e) => {
            c.warn(format!(
                "backend_logout_url: {e} (with {{id_token}} filled in); sign-out will not call it"
            ));
            None
        }
    }
}

/// The Admin SDK scope of `google_admin_api_user_scope` (oauth2-proxy's mapping: anything but
/// `cloud` and `user` is the read-only user scope).
pub(crate) fn google_user_scope(c: &mut Ctx) -> String {
    let v = c.string("google_admin_api_user_scope").trim().to_owned();
    if !matches!(v.as_str(), "" | "cloud" | "user" | "readonly") {
        c.warn(format!(
            "google_admin_api_user_scope {v:?} is not cloud or user: the read-only user scope (admin.directory.user.readonly) is used, as in oauth2-proxy"
        ));
    }
    v
}

/// Google's credentials: `google_service_account_json` or Application Default Credentials,
/// checked as oauth2-proxy's `validateGoogleConfig` (only for provider `google`). Returns
/// `(service_account_json, adc)`.
pub(crate) fn google_credentials(
    c: &mut Ctx,
    kind: &str,
    needs_directory: bool,
) -> (Option<PathBuf>, Option<GoogleAdc>) {
    let sa = c
        .opt_string("google_service_account_json")
        .map(PathBuf::from);
    let use_adc = c.boolean("google_use_application_default_credentials");
    let admin = c.opt_string("google_admin_email").is_some();
    if kind != "google" {
        return (sa, None);
    }
    if use_adc && sa.is_some() {
        c.fail(
            "google_use_application_default_credentials",
            "invalid setting: can't use both google-service-account-json and google-use-application-default-credentials",
        );
    }
    if !admin && (sa.is_some() || use_adc || needs_directory) {
        c.fail(
            "google_admin_email",
            "missing setting: google-admin-email (the Workspace admin the Directory API calls act as)",
        );
    }
    if (admin || needs_directory) && sa.is_none() && !use_adc {
        c.fail(
            "google_service_account_json",
            "missing setting: google-service-account-json or google-use-application-default-credentials (the Directory API needs credentials)",
        );
    }
    if let Some(f) = &sa {
        if !f.is_file() {
            c.fail(
                "google_service_account_json",
                format!("Google credentials file not found: {}", f.display()),
            );
        }
    }
    if !use_adc {
        if c.opt_string("google_target_principal").is_some() {
            c.warn("google_target_principal is only used with google_use_application_default_credentials");
        }
        return (sa, None);
    }
    (sa, Some(adc_source(c)))
}

/// Where the Application Default Credentials are, as Google's libraries look.
fn adc_source(c: &mut Ctx) -> GoogleAdc {
    let credentials_file = match c.env_var("GOOGLE_APPLICATION_CREDENTIALS") {
        Some(f) => {
            let f = PathBuf::from(f);
            if !f.is_file() {
                c.fail(
                    "google_use_application_default_credentials",
                    format!(
                        "the file of the GOOGLE_APPLICATION_CREDENTIALS environment variable, {}, does not exist",
                        f.display()
                    ),
                );
            }
            Some(f)
        }
        None => c
            .env_var("HOME")
            .map(|h| {
                PathBuf::from(h)
                    .join(".config")
                    .join("gcloud")
                    .join("application_default_credentials.json")
            })
            .filter(|f| f.is_file()),
    };
    GoogleAdc {
        credentials_file,
        metadata_host: c
            .env_var("GCE_METADATA_HOST")
            .unwrap_or_else(|| "169.254.169.254".to_owned()),
        iam_credentials_url: opt_url(c, "authproxy_google_iam_credentials_url"),
        token_url: opt_url(c, "authproxy_google_token_url"),
    }
}

/// `entra_id_federated_token_auth`: the token file, checked as oauth2-proxy's
/// `validateEntraConfig`. For `azure` the option is ignored, as oauth2-proxy does.
pub(crate) fn federated_token_file(c: &mut Ctx, kind: &str) -> Option<PathBuf> {
    if !c.boolean("entra_id_federated_token_auth") {
        return None;
    }
    if kind != "entra-id" {
        c.warn(format!(
            "entra_id_federated_token_auth applies to provider \"entra-id\" only; ignored for {kind:?} (as oauth2-proxy does)"
        ));
        return None;
    }
    let Some(path) = c.env_var("AZURE_FEDERATED_TOKEN_FILE") else {
        c.fail(
            "entra_id_federated_token_auth",
            "entra federated token authentication is enabled, but AZURE_FEDERATED_TOKEN_FILE variable is not set, check your workload identity configuration.",
        );
        return None;
    };
    let path = PathBuf::from(path);
    if std::fs::metadata(&path).is_err() {
        c.fail(
            "entra_id_federated_token_auth",
            format!(
                "could not read entra federated token file {} (AZURE_FEDERATED_TOKEN_FILE)",
                path.display()
            ),
        );
        return None;
    }
    if c.is_set("client_secret") || c.is_set("client_secret_file") {
        c.warn("client_secret is not used with entra_id_federated_token_auth: the federated token authenticates the client");
    }
    Some(path)
}

/// Add the claims header rules read (other than the session's own fields) to every
/// provider's kept claims, after its `additionalClaims`, each once.
pub(crate) fn keep_header_claims(providers: &mut [ProviderConfig], rules: &[&[HeaderRule]]) {
    for p in providers {
        for claim in rules
            .iter()
            .flat_map(|r| r.iter())
            .flat_map(HeaderRule::extra_claims)
        {
            if !p.additional_claims.iter().any(|c| c == claim) {
                p.additional_claims.push(claim.to_owned());
            }
        }
    }
}

#[cfg(test)]
#[path = "provider_opts_tests.rs"]
mod tests;
