//! The assembled proxy: every component built once from the validated [`Config`], shared
//! read-only by all requests (no lock on the hot path).

use std::sync::Arc;
use std::time::SystemTime;

use http::Response;

use crate::authz::AuthzPolicy;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::AppError;
use crate::pages::{ErrorData, Pages};
use crate::provider::Provider;
use crate::redirect::Whitelist;
use crate::session::codec::SessionCodec;
use crate::session::cookie::CookieOptions;
use crate::upstream::Upstreams;
use crate::Body;

/// Everything a request needs, built once.
pub struct App {
    pub cfg: Config,
    pub clock: Arc<dyn Clock>,
    pub codec: SessionCodec,
    pub cookies: CookieOptions,
    /// Every configured provider, in configuration order (`cfg.providers[i]` configures
    /// `providers[i]`). Never empty.
    pub providers: Vec<Arc<dyn Provider>>,
    /// `allowedGroups` of each provider (alpha config), same order; empty = no restriction.
    pub provider_groups: Vec<std::collections::HashSet<String>>,
    /// `backend_logout_url` of each provider, same order.
    pub backend_logouts: Vec<Option<crate::provider::BackendLogout>>,
    pub authz: AuthzPolicy,
    pub whitelist: Whitelist,
    /// The compiled header injection rules.
    pub headers: crate::headers::plan::HeaderPlan,
    pub upstreams: Upstreams,
    pub pages: Pages,
    /// One refresh per stale session.
    pub refresher: crate::session::refresh::Refresher,
    /// The Redis session store (`session_store_type = redis`); `None`: sessions in cookies.
    pub redis: Option<crate::session::redis::RedisStore>,
    /// The cookie secret, then the previous ones ([`App::cookie_secrets`]).
    secrets: Vec<crate::crypto::CookieSecret>,
    /// Verified sessions and machine credentials, process-wide.
    pub sessions: crate::session::cache::SessionCache,
    /// Bearer tokens and htpasswd users.
    pub machine: crate::machine::MachineAuth,
    /// When forwarding headers are believed (`reverse_proxy` + `trusted_proxy_ips`).
    pub forward: crate::forwarded::ForwardPolicy,
    /// `skip_auth_routes` & co., compiled.
    pub skip: crate::skip::SkipRules,
    /// Which requests are health checks (by path; see [`crate::health`]).
    pub health: crate::health::HealthChecks,
    /// The per-route policy (authproxy extension); `None`: the global rules alone decide.
    pub policy: Option<crate::policy::Policy>,
    /// The identity assertion signer and its JWKS (authproxy extension).
    pub assertions: Option<crate::assertion::Assertions>,
}

/// Facts about one request, computed once at the top of the request path.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub request_id: String,
    pub now: SystemTime,
    /// `http` or `https` as the client used it (X-Forwarded-Proto behind a trusted reverse proxy).
    pub scheme: &'static str,
    /// Host (with port when present) as the client used it.
    pub host: String,
    pub client_ip: std::net::IpAddr,
    /// The TCP peer (the front proxy, when there is one).
    pub peer: std::net::IpAddr,
    /// The forwarding headers of this request were believed (see [`crate::forwarded`]).
    pub proxied: bool,
    /// The client prefers JSON (API client): 401 JSON instead of a sign-in page.
    pub wants_json: bool,
}

pub use crate::response::{add_cookies, full, no_cache, page, redirect};

/// The request's id: the value of `request_id_header` when the client (or a front proxy) sent
/// a non-empty one, oauth2-proxy's rule; otherwise a random UUID. It is only read, never
/// added to the request to the app or to the response (oauth2-proxy neither).
pub fn request_id(headers: &http::HeaderMap, request_id_header: &str) -> String {
    match headers.get(request_id_header) {
        Some(v) if !v.is_empty() => String::from_utf8_lossy(v.as_bytes()).into_owned(),
        _ => crate::crypto::request_id(),
    }
}

impl App {
    /// The error page (or JSON error) for `err`.
    pub fn error_response(
        &self,
        ctx: &RequestCtx,
        err: &AppError,
        redirect: &str,
    ) -> Response<Body> {
        self.error_response_retry(ctx, err, redirect, err.can_retry())
    }

    /// [`App::error_response`] deciding whether the page offers "Try again" (a link to the
    /// sign-in page, or to `redirect` for gateway errors).
    pub fn error_response_retry(
        &self,
        ctx: &RequestCtx,
        err: &AppError,
        redirect: &str,
        can_retry: bool,
    ) -> Response<Body> {
        let status = err.status();
        // `force_json_errors`: every error page is JSON (oauth2-proxy's option covers the
        // sign-in and access-denied answers of protected requests; authproxy all of them).
        if ctx.wants_json || self.cfg.force_json_errors {
            let body = crate::pages::json_error(status.as_u16(), &err.message());
            return page(status, "application/json", body);
        }
        let html = self.pages.render_error(&ErrorData {
            status_code: status.as_u16(),
            title: Some(err.title().to_owned()),
            message: Some(if self.cfg.pages.show_debug_on_error {
                format!("{} (reason: {})", err.message(), err.reason())
            } else {
                err.message()
            }),
            redirect: redirect.to_owned(),
            request_id: ctx.request_id.clone(),
            can_retry: Some(can_retry),
        });
        page(status, "text/html; charset=utf-8", html)
    }
}

impl App {
    /// Build every component from the validated configuration. With `start_discovery`, OIDC
    /// discovery runs in the background (retrying with backoff) and `/ready` reports it.
    pub async fn build(cfg: Config, start_discovery: bool) -> Result<App, String> {
        Self::build_with_clock(cfg, Arc::new(crate::clock::SystemClock), start_discovery).await
    }

    /// [`App::build`] with an injected clock (tests).
    pub async fn build_with_clock(
        cfg: Config,
        clock: Arc<dyn Clock>,
        start_discovery: bool,
    ) -> Result<App, String> {
        let cookies = CookieOptions::from(&cfg.cookie);
        let codec = SessionCodec::new(
            cfg.cookie.secret.clone(),
            &cfg.cookie.name,
            cfg.cookie.expire,
        )
        .with_minimal(cfg.cookie.minimal)
        .with_previous_secrets(&cfg.cookie.previous_secrets);
        let mut secrets = vec![cfg.cookie.secret.clone()];
        secrets.extend(cfg.cookie.previous_secrets.iter().cloned());
        // The configuration already left out entries that match nothing (oauth2-proxy accepts
        // them, and they match nothing there either, with a warning); an entry the runtime
        // parsers still refuse is left out the same way rather than failing the start.
        let whitelist_entries: Vec<String> = cfg
            .whitelist_domains
            .iter()
            .filter(|e| match Whitelist::parse(std::slice::from_ref(*e)) {
                Ok(_) => true,
                Err(why) => {
                    tracing::warn!("whitelist_domains: {why}; the entry is ignored");
                    false
                }
            })
            .cloned()
            .collect();
        let whitelist =
            Whitelist::parse(&whitelist_entries).map_err(|e| format!("whitelist_domains: {e}"))?;
        let mut authz_cfg = cfg.authz.clone();
        authz_cfg.email_domains.retain(|d| {
            let one = crate::config::AuthzConfig {
                email_domains: vec![d.clone()],
                ..Default::default()
            };
            match AuthzPolicy::from_config(&one) {
                Ok(_) => true,
                Err(why) => {
                    tracing::warn!("{why}; the entry is ignored (it matches no email)");
                    false
                }
            }
        });
        let mut authz =
            AuthzPolicy::from_config(&authz_cfg).map_err(|e| format!("email_domains: {e}"))?;
        let machine = crate::machine::MachineAuth::from_config(&cfg, start_discovery)?;
        authz.allow_users_without_email(machine.has_users());
        let headers = crate::headers::plan::HeaderPlan::new(
            &cfg.inject_request_headers,
            &cfg.inject_response_headers,
        )
        .map_err(|e| e.to_string())?;
        for name in headers.ignored_preserves() {
            tracing::warn!(header = name, "preserveRequestValue is ignored for an identity header: authproxy always strips client-sent copies");
        }
        let upstreams = Upstreams::new(&cfg.upstream_config, cfg.limits.upstream_connect_timeout)
            .map_err(|e| format!("upstreams: {e}"))?
            .with_signature(cfg.signature.as_ref());
        let mut pages = Pages::load(&cfg.pages, &cfg.proxy_prefix).map_err(|e| e.to_string())?;
        pages.set_default_sign_in_message(
            &cfg.authz.email_domains,
            cfg.authz.authenticated_emails_file.is_some(),
        );
        if cfg.providers.is_empty() {
            return Err("no provider is configured".into());
        }
        let mut providers = Vec::with_capacity(cfg.providers.len());
        for p in &cfg.providers {
            let provider =
                crate::provider::from_config(p).map_err(|e| format!("provider {:?}: {e}", p.id))?;
            if start_discovery {
                crate::provider::spawn_discovery(provider.clone());
            }
            providers.push(provider);
        }
        let provider_groups = cfg
            .providers
            .iter()
            .map(|p| p.allowed_groups.iter().cloned().collect())
            .collect();
        let mut backend_logouts = Vec::with_capacity(cfg.providers.len());
        for p in &cfg.providers {
            backend_logouts.push(
                crate::provider::BackendLogout::from_config(p)
                    .map_err(|e| format!("provider {:?}: {e}", p.id))?,
            );
        }
        warn_insecure(&cfg);
        let forward = crate::forwarded::ForwardPolicy {
            reverse_proxy: cfg.reverse_proxy,
            trusted_proxies: cfg.trusted_proxy_ips.clone(),
            client_ip_header: http::HeaderName::from_bytes(
                cfg.real_client_ip_header.to_ascii_lowercase().as_bytes(),
            )
            .map_err(|e| format!("real_client_ip_header: {e}"))?,
        };
        let health = crate::health::HealthChecks {
            ping_path: cfg.ping_path.clone(),
            ready_path: cfg.ready_path.clone(),
            ping_user_agent: cfg.ping_user_agent.clone().unwrap_or_default(),
            gcp: cfg.gcp_healthchecks,
        };
        if cfg.gcp_healthchecks {
            tracing::warn!("gcp_healthchecks is deprecated (as in oauth2-proxy): probe ping_path instead; /liveness_check and /readiness_check answer only User-Agent GoogleHC/1.0 or ping_user_agent");
        }
        let policy = match &cfg.policy {
            Some(p) => Some(crate::policy::Policy::new(p, start_discovery)?),
            None => None,
        };
        let assertions = match &cfg.identity_assertion {
            Some(a) => Some(crate::assertion::Assertions::new(
                a,
                cfg.redirect_url.as_ref(),
            )?),
            None => None,
        };
        if let Some(sig) = &cfg.signature {
            tracing::warn!(algorithm = sig.algorithm.name(), "signature_key is deprecated (as in oauth2-proxy, which will remove it): requests to the app carry GAP-Auth and GAP-Signature");
        }
        let redis = match &cfg.session_store {
            crate::config::SessionStoreConfig::Cookie => None,
            crate::config::SessionStoreConfig::Redis(opts) => {
                Some(session_store(&cfg, opts, start_discovery).await?)
            }
        };
        Ok(App {
            policy,
            assertions,
            secrets,
            redis,
            skip: crate::skip::SkipRules::new(&cfg.skip),
            health,
            cfg,
            clock,
            codec,
            cookies,
            providers,
            provider_groups,
            backend_logouts,
            authz,
            whitelist,
            headers,
            upstreams,
            pages,
            refresher: Default::default(),
            sessions: Default::default(),
            machine,
            forward,
        })
    }

    /// The cookie secret (session, CSRF and state keys derive from it).
    pub fn cookies_secret(&self) -> &crate::crypto::CookieSecret {
        &self.cfg.cookie.secret
    }

    /// Every secret a value may be sealed with: the current one first, then the previous
    /// ones (`cookie_previous_secrets`), accepted for reading only.
    pub fn cookie_secrets(&self) -> &[crate::crypto::CookieSecret] {
        &self.secrets
    }
}

impl App {
    /// The index of the provider with this id.
    pub fn provider_index(&self, id: &str) -> Option<usize> {
        self.providers.iter().position(|p| p.id() == id)
    }

    /// `/ready`: every provider must be discovered. A provider that is down would otherwise
    /// leave its button failing with 503 while the pod looks healthy; readiness keeps the
    /// instance out of rotation until all of its sign-in options work.
    pub fn all_providers_ready(&self) -> bool {
        self.providers.iter().all(|p| p.is_ready())
    }
}

/// Connect to Redis. When serving (`connect`), wait for it and run oauth2-proxy's startup
/// check (write, read back, delete a key): like oauth2-proxy, authproxy does not start with a
/// session store it cannot use. Otherwise (configuration check, tests) connect in the background.
async fn session_store(
    cfg: &Config,
    opts: &crate::config::redis::RedisOptions,
    connect: bool,
) -> Result<crate::session::redis::RedisStore, String> {
    use crate::session::redis::{RedisStore, TicketCodec};
    let mut secrets = vec![cfg.cookie.secret.clone()];
    secrets.extend(cfg.cookie.previous_secrets.iter().cloned());
    let codec = TicketCodec::new(&secrets, &cfg.cookie.name, cfg.cookie.expire)
        .map_err(|e| format!("cookie_secret: {e}"))?;
    let store = if connect {
        let timeout = opts
            .validate()
            .map(|p| p.dial_timeout)
            .unwrap_or(std::time::Duration::from_secs(5))
            .min(std::time::Duration::from_secs(30));
        RedisStore::connect(opts, codec, timeout).await
    } else {
        RedisStore::new(opts, codec).await
    };
    let store = store.map_err(|e| format!("session_store_type = redis: {e}"))?;
    for note in &store.plan().notes {
        tracing::info!("session store: {note}");
    }
    Ok(store)
}

/// Every dangerous option logs a warning at startup.
fn warn_insecure(cfg: &Config) {
    for p in &cfg.providers {
        for (on, name) in [
            (p.ssl_insecure_skip_verify, "ssl_insecure_skip_verify"),
            (
                p.insecure_oidc_allow_unverified_email,
                "insecure_oidc_allow_unverified_email",
            ),
            (
                p.insecure_oidc_skip_issuer_verification,
                "insecure_oidc_skip_issuer_verification",
            ),
            (p.insecure_oidc_skip_nonce, "insecure_oidc_skip_nonce"),
        ] {
            if on {
                tracing::warn!(option = name, provider = %p.id, "insecure option enabled");
            }
        }
    }
    for (on, name) in [
        (
            cfg.upstream_config
                .upstreams
                .iter()
                .any(|u| u.insecure_skip_tls_verify),
            "ssl_upstream_insecure_skip_verify",
        ),
        (!cfg.cookie.secure, "cookie_secure=false"),
    ] {
        if on {
            tracing::warn!(option = name, "insecure option enabled");
        }
    }
}
