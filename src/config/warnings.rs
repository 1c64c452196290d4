//! [`Config::warnings`]: the insecure or surprising settings reported at startup.

use super::{BindAddress, CodeChallengeMethod, Config};

impl Config {
    /// Insecure or surprising settings worth a warning at startup (one sentence each).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = self.load_warnings.clone();
        // With several providers, each provider's warning names it.
        let many = self.providers.len() > 1;
        for p in &self.providers {
            let label = if many {
                format!("provider {:?}: ", p.id)
            } else {
                String::new()
            };
            let flags = [
                (p.ssl_insecure_skip_verify, "ssl_insecure_skip_verify is on: the provider's TLS certificate is not verified"),
                (p.insecure_oidc_allow_unverified_email, "insecure_oidc_allow_unverified_email is on: unverified email addresses are accepted"),
                (p.insecure_oidc_skip_issuer_verification, "insecure_oidc_skip_issuer_verification is on: the discovered issuer is not checked"),
                (p.insecure_oidc_skip_nonce, "insecure_oidc_skip_nonce is on: ID token nonces are not checked (replay protection off)"),
                (p.code_challenge_method == CodeChallengeMethod::Disabled, "code_challenge_method is none: PKCE is off"),
                (p.code_challenge_method == CodeChallengeMethod::Plain, "code_challenge_method is plain: prefer S256"),
                (p.oidc_issuer_url.as_ref().is_some_and(|u| u.scheme() == "http"), "oidc_issuer_url uses plain http"),
            ];
            w.extend(
                flags
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, m)| format!("{label}{m}")),
            );
        }
        let flags = [
            (!self.cookie.secure, "cookie_secure is false: session cookies are sent over plain HTTP"),
            (self.upstream_config.upstreams.iter().any(|u| u.insecure_skip_tls_verify), "ssl_upstream_insecure_skip_verify (insecureSkipTLSVerify) is on: HTTPS upstream certificates are not verified"),
            (self.pages.show_debug_on_error, "show_debug_on_error is on: error pages show internal details"),
        ];
        w.extend(
            flags
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, m)| m.to_string()),
        );
        if let (Some(BindAddress::Tcp(a)), Some(_)) = (&self.server.bind_address, &self.server.tls)
        {
            if !a.ip().is_loopback() {
                w.push(format!("http_address {a} serves plain HTTP next to the HTTPS listener (oauth2-proxy v7 would not listen on http_address with TLS configured); set http_address = \"-\" for HTTPS only"));
            }
        }
        if self.redirect_url.is_none() && !self.cookie.secure && !self.reverse_proxy {
            w.push("no redirect_url: the callback URL is derived from the request and will use plain http".into());
        }
        if let Some(u) = &self.redirect_url {
            let want = format!("{}/callback", self.proxy_prefix);
            if u.path() != want {
                w.push(format!("redirect_url path {:?} is not this proxy's callback endpoint {want:?}; make sure it routes to one", u.path()));
            }
        }
        for p in &self.providers {
            let tenant = match &p.oidc_issuer_url {
                Some(u) => u.path_segments().and_then(|mut s| s.next()).unwrap_or(""),
                None => p.azure.tenant.as_str(),
            };
            if matches!(p.kind.as_str(), "entra-id" | "azure")
                && matches!(tenant, "" | "common" | "organizations")
                && p.azure.allowed_tenants.is_empty()
            {
                w.push(format!("provider {:?}: azure_tenant is multi-tenant and entra_id_allowed_tenants is empty: users of any Entra tenant can sign in", p.id));
            }
        }
        if self.authz.email_domains.iter().any(|d| d == "*")
            && self.authz.allowed_groups.is_empty()
            && self.providers.iter().any(|p| p.allowed_groups.is_empty())
        {
            w.push("email_domains = [\"*\"] with no allowed_groups: anyone the provider signs in is allowed".into());
        }
        w
    }
}
