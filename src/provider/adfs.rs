//! Active Directory Federation Services (`provider = "adfs"`): OpenID Connect against the
//! ADFS farm (`oidc_issuer_url = https://HOST/adfs`), as oauth2-proxy:
//!
//! * The email is the `email` claim (or `oidc_email_claim`), else the `upn` claim: ADFS
//!   issues the user principal name by default and an email only with a claim rule. The same
//!   holds after a refresh.
//! * `resource` (the relying party identifier) prefixes the scope as ADFS expects it
//!   (`https://app.example/openid email profile`); the access token is then for that
//!   resource, so the userinfo endpoint (which only accepts tokens for itself) is not called.
//! * `ADFSConfig.skipScope` (`authproxy_adfs_skip_scope`): the authorization request carries
//!   no `scope` (the application group's permitted scopes apply).
//! * oauth2-proxy escapes the state once more because ADFS mangled its `nonce:redirect`
//!   state; authproxy's state is base64url, which needs no escaping, so it is sent as is.

use crate::config::ProviderConfig;

use super::error::ProviderError;
use super::oidc::{Enrich, Oidc, OidcCore, OidcKind};

/// The ADFS scope for `resource`: `RESOURCE/` in front, unless the scope already starts with
/// it (pure; oauth2-proxy's rule).
pub(crate) fn resource_scope(resource: &str, scope: &str) -> String {
    let mut prefix = resource.to_owned();
    if !prefix.ends_with('/') {
        prefix.push('/');
    }
    if scope.is_empty() || scope.starts_with(&prefix) {
        scope.to_owned()
    } else {
        format!("{prefix}{scope}")
    }
}

/// What the ADFS kind adds (the UPN fallback and scope handling live in the core settings).
#[derive(Debug, Default)]
pub struct Adfs;

/// The ADFS provider.
pub type AdfsProvider = Oidc<Adfs>;

impl AdfsProvider {
    /// Validate the options and build the provider (no network I/O).
    pub fn new(cfg: &ProviderConfig) -> Result<Self, ProviderError> {
        if cfg.oidc_issuer_url.is_none() {
            return Err(ProviderError::Config {
                key: "oidc_issuer_url",
                message: "is required for provider \"adfs\" (https://HOST/adfs)".into(),
            });
        }
        let mut inner = cfg.clone();
        if inner.display_name.is_empty() || inner.display_name == "OpenID Connect" {
            inner.display_name = "ADFS".into();
        }
        if inner.scope.is_empty() {
            inner.scope = "openid email profile".into();
        }
        if let Some(resource) = &cfg.resource {
            inner.scope = resource_scope(resource, &inner.scope);
        }
        let mut core = OidcCore::new(&inner)?
            .with_email_fallback(vec!["upn"])
            .with_skip_scope(cfg.adfs.skip_scope);
        if cfg.resource.is_some() {
            core = core.without_userinfo();
        }
        Ok(Oidc::from_parts(core, Adfs))
    }
}

impl OidcKind for Adfs {
    async fn enrich<'a>(
        &'a self,
        _core: &'a OidcCore,
        _e: Enrich<'a>,
    ) -> Result<(), ProviderError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_prefixes_the_scope_once() {
        assert_eq!(
            resource_scope("https://app.example", "openid email profile"),
            "https://app.example/openid email profile"
        );
        assert_eq!(
            resource_scope("https://app.example/", "https://app.example/openid"),
            "https://app.example/openid"
        );
        assert_eq!(resource_scope("urn:app", "openid"), "urn:app/openid");
    }
}
