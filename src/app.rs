//! The assembled proxy: every component built once from the validated [`Config`], shared
//! read-only by all requests (no lock on the hot path).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_TYPE, EXPIRES, LOCATION, PRAGMA, SET_COOKIE,
};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::sync::OnceCell;

use crate::authz::AuthzPolicy;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::AppError;
use crate::headers::IdentityHeaders;
use crate::pages::{ErrorData, Pages};
use crate::provider::Provider;
use crate::redirect::Whitelist;
use crate::session::codec::SessionCodec;
use crate::session::cookie::CookieOptions;
use crate::session::SessionState;
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
    pub authz: AuthzPolicy,
    pub whitelist: Whitelist,
    pub identity: IdentityHeaders,
    pub upstreams: Upstreams,
    pub pages: Pages,
    pub refresher: Refresher,
    /// Bearer tokens and htpasswd users.
    pub machine: crate::machine::MachineAuth,
    /// When forwarding headers are believed (`reverse_proxy` + `trusted_proxy_ips`).
    pub forward: crate::forwarded::ForwardPolicy,
    /// Which requests are health checks (by path; see [`crate::health`]).
    pub health: crate::health::HealthChecks,
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
    /// The connection's cache of the last verified session.
    pub sessions: Arc<crate::flow::cache::SessionCache>,
}

/// Make one refresh per stale session, however many requests carry it at once.
///
/// The map is touched only on the refresh path (at most once per cookie_refresh interval per
/// session), never by ordinary authenticated requests.
#[derive(Default)]
pub struct Refresher {
    inflight: Mutex<HashMap<String, (SystemTime, RefreshCell)>>,
}

/// The shared outcome of one refresh: the new session, or `None` when it failed.
pub type RefreshCell = Arc<OnceCell<Option<SessionState>>>;

/// How long a finished refresh result is reused for requests that still carry the old cookie.
const REFRESH_REUSE: Duration = Duration::from_secs(30);

impl Refresher {
    /// The shared cell for this refresh token; expired entries are dropped on the way.
    pub fn cell(&self, key: &str, now: SystemTime) -> RefreshCell {
        let mut map = match self.inflight.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.retain(|_, (started, _)| {
            now.duration_since(*started)
                .map(|d| d < REFRESH_REUSE)
                .unwrap_or(true)
        });
        map.entry(key.to_owned())
            .or_insert_with(|| (now, Arc::new(OnceCell::new())))
            .1
            .clone()
    }
}

/// A body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Headers every auth page carries: never cached by browsers or shared caches.
pub fn no_cache(headers: &mut HeaderMap) {
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate, max-age=0"),
    );
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        EXPIRES,
        HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 UTC"),
    );
}

/// A response with the given status, content type and body, plus no-cache headers.
pub fn page(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    no_cache(resp.headers_mut());
    resp
}

/// A 302 redirect with no-cache headers.
pub fn redirect(location: &str) -> Response<Body> {
    let mut resp = page(StatusCode::FOUND, "text/html; charset=utf-8", Bytes::new());
    match HeaderValue::from_str(location) {
        Ok(v) => {
            resp.headers_mut().insert(LOCATION, v);
        }
        Err(_) => {
            // Only validated targets reach here; a value that is not a legal header still
            // must not become a response splitting vector: fall back to the site root.
            resp.headers_mut()
                .insert(LOCATION, HeaderValue::from_static("/"));
        }
    }
    resp
}

/// Append Set-Cookie header values.
pub fn add_cookies(resp: &mut Response<Body>, cookies: &[String]) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            resp.headers_mut().append(SET_COOKIE, v);
        }
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
        if ctx.wants_json {
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
        );
        let whitelist = Whitelist::parse(&cfg.whitelist_domains)
            .map_err(|e| format!("whitelist_domains: {e}"))?;
        let mut authz =
            AuthzPolicy::from_config(&cfg.authz).map_err(|e| format!("email_domains: {e}"))?;
        let machine = crate::machine::MachineAuth::from_config(&cfg, start_discovery)?;
        authz.allow_users_without_email(machine.has_users());
        let identity = IdentityHeaders::from_config(&cfg.headers);
        let upstreams = Upstreams::new(
            &cfg.upstreams,
            crate::upstream::UpstreamOptions::from_config(&cfg),
        )
        .map_err(|e| format!("upstreams: {e}"))?;
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
        Ok(App {
            health,
            cfg,
            clock,
            codec,
            cookies,
            providers,
            provider_groups,
            authz,
            whitelist,
            identity,
            upstreams,
            pages,
            refresher: Refresher::default(),
            machine,
            forward,
        })
    }

    /// The cookie secret (session, CSRF and state keys derive from it).
    pub fn cookies_secret(&self) -> &crate::crypto::CookieSecret {
        &self.cfg.cookie.secret
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
            cfg.ssl_upstream_insecure_skip_verify,
            "ssl_upstream_insecure_skip_verify",
        ),
        (!cfg.cookie.secure, "cookie_secure=false"),
    ] {
        if on {
            tracing::warn!(option = name, "insecure option enabled");
        }
    }
}
