//! Machine clients: JWT bearer tokens (`skip_jwt_bearer_tokens`, `extra_jwt_issuers`) and
//! htpasswd users (`htpasswd_file`: HTTP basic auth and the sign-in form).
//!
//! The order is oauth2-proxy's session chain: an `Authorization` header that authenticates
//! wins; otherwise the session cookie is tried. What happens when the header does NOT
//! authenticate:
//!
//! * `Bearer` with `bearer_token_login_fallback = true` (default): a valid session cookie may
//!   still authenticate the request; without one the answer is 401 with
//!   `WWW-Authenticate: Bearer error="invalid_token"` — never a login redirect, since a client
//!   that sends a bearer token cannot follow one.
//! * `Bearer` with `bearer_token_login_fallback = false`: 401 `invalid_token` whatever the
//!   cookie (oauth2-proxy answers 403 there; 401 is RFC 6750's status for a bad token).
//! * `Basic` with wrong credentials: the cookie is tried, else 401 with
//!   `WWW-Authenticate: Basic`.
//!
//! Verification work is cached per connection ([`crate::flow::cache::SessionCache`]) under the
//! whole `Authorization` value, so a keep-alive client pays for the signature check or bcrypt
//! once, not per request, and no lock is shared by all requests. A header value always
//! contains a space, so it can never equal a session cookie value in that cache.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;

use crate::config::Config;
use crate::provider::JwtVerifier;

use crate::htpasswd::{self, Htpasswd};

/// How often the htpasswd file is checked for changes.
const HTPASSWD_POLL: Duration = Duration::from_secs(5);

/// htpasswd users, reloaded when the file changes.
pub struct Users {
    path: PathBuf,
    /// `htpasswd_user_groups`.
    pub groups: Vec<String>,
    /// Swapped whole on reload; read only by basic-auth and form logins (not by cookie or
    /// bearer requests), and only to clone the `Arc`.
    current: RwLock<Arc<Htpasswd>>,
    /// The bounded pool of password checks (`htpasswd_max_concurrent_checks`).
    checks: CheckPool,
}

/// The outcome of a password check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The user exists and the password matches.
    Valid,
    /// Unknown user or wrong password.
    Invalid,
    /// Every check slot stayed busy for `htpasswd_queue_timeout`: not checked (answer 503).
    Busy,
}

/// At most `permits` password checks run at once, on the blocking pool; a check waits at most
/// `wait` for a slot. bcrypt costs tens of milliseconds of CPU by design, so without a bound a
/// flood of wrong Basic credentials would occupy every core (and up to 512 blocking threads)
/// and starve the requests of signed-in users.
pub struct CheckPool {
    slots: Arc<tokio::sync::Semaphore>,
    wait: Duration,
}

impl CheckPool {
    /// `permits` concurrent checks (at least one), `wait` for a free one.
    pub fn new(permits: usize, wait: Duration) -> Self {
        let permits = permits.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        Self {
            slots: Arc::new(tokio::sync::Semaphore::new(permits)),
            wait,
        }
    }

    /// Runs `check` on the blocking pool once a slot is free.
    pub async fn run(&self, check: impl FnOnce() -> bool + Send + 'static) -> Verdict {
        let slot = Arc::clone(&self.slots).acquire_owned();
        let permit = match tokio::time::timeout(self.wait, slot).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) | Err(_) => return Verdict::Busy,
        };
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            check()
        })
        .await
        .unwrap_or(false);
        if ok {
            Verdict::Valid
        } else {
            Verdict::Invalid
        }
    }
}

impl Users {
    fn current(&self) -> Arc<Htpasswd> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-read the file; on an error the previous users stay in force (logged).
    fn reload(&self) {
        match Htpasswd::load(&self.path) {
            Ok(parsed) => {
                for w in &parsed.warnings {
                    tracing::warn!(target: "auth", "htpasswd_file: {w}");
                }
                tracing::info!(file = %self.path.display(), users = parsed.htpasswd.len(), "htpasswd_file reloaded");
                let new = Arc::new(parsed.htpasswd);
                match self.current.write() {
                    Ok(mut g) => *g = new,
                    Err(poisoned) => *poisoned.into_inner() = new,
                }
            }
            Err(e) => {
                tracing::error!(file = %self.path.display(), error = %e,
                    "htpasswd_file changed but cannot be used; the previous users stay in force");
            }
        }
    }

    /// Check `user`/`password` off the async runtime (bcrypt takes tens of milliseconds), on
    /// the bounded pool: [`Verdict::Busy`] when no check slot frees up in time.
    pub async fn verify(&self, user: &str, password: &str) -> Verdict {
        let table = self.current();
        let (user, password) = (user.to_owned(), password.to_owned());
        let verdict = self
            .checks
            .run(move || table.verify(&user, &password))
            .await;
        if verdict == Verdict::Busy {
            crate::metrics::global().htpasswd_busy();
        }
        verdict
    }
}

/// Bearer and htpasswd authentication, built once from the configuration.
#[derive(Default)]
pub struct MachineAuth {
    jwt: Option<Arc<JwtVerifier>>,
    fallback: bool,
    users: Option<Arc<Users>>,
    form: bool,
}

impl std::fmt::Debug for MachineAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineAuth")
            .field("jwt", &self.jwt)
            .field("htpasswd", &self.users.as_ref().map(|u| u.path.clone()))
            .field("form", &self.form)
            .finish()
    }
}

impl MachineAuth {
    /// Build from the configuration. With `start_tasks`, issuer discovery and the htpasswd
    /// watcher run in the background (needs a Tokio runtime).
    pub fn from_config(cfg: &Config, start_tasks: bool) -> Result<Self, String> {
        let m = &cfg.machine;
        let jwt = if m.skip_jwt_bearer_tokens {
            let v = JwtVerifier::new(&cfg.providers[0], true, &m.extra_jwt_issuers)
                .map_err(|e| format!("skip_jwt_bearer_tokens: {e}"))?;
            Some(Arc::new(v))
        } else {
            None
        };
        let users = match &m.htpasswd_file {
            Some(path) => {
                let parsed = Htpasswd::load(path).map_err(|e| format!("htpasswd_file: {e}"))?;
                for w in &parsed.warnings {
                    tracing::warn!(target: "auth", "htpasswd_file: {w}");
                }
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                let permits = cfg.limits.htpasswd_checks(cpus);
                Some(Arc::new(Users {
                    path: path.clone(),
                    groups: m.htpasswd_user_groups.clone(),
                    current: RwLock::new(Arc::new(parsed.htpasswd)),
                    checks: CheckPool::new(permits, cfg.limits.htpasswd_queue_timeout),
                }))
            }
            None => None,
        };
        if start_tasks {
            if let Some(v) = &jwt {
                tracing::info!(issuers = ?v.issuer_urls(), "bearer tokens accepted");
                v.spawn_discovery();
            }
            if let Some(u) = &users {
                spawn_watcher(Arc::clone(u));
            }
        }
        Ok(Self {
            jwt,
            fallback: m.bearer_token_login_fallback,
            form: users.is_some() && m.display_htpasswd_form,
            users,
        })
    }

    /// Whether the sign-in page shows the username/password form.
    pub fn shows_form(&self) -> bool {
        self.form
    }

    /// Whether htpasswd users exist (sessions without email are then possible).
    pub fn has_users(&self) -> bool {
        self.users.is_some()
    }

    /// The bearer-token verifier (`skip_jwt_bearer_tokens`).
    pub fn bearer(&self) -> Option<&JwtVerifier> {
        self.jwt.as_deref()
    }

    /// The htpasswd users.
    pub fn users(&self) -> Option<&Users> {
        self.users.as_deref()
    }

    /// `bearer_token_login_fallback`: an invalid bearer token leaves the cookie to decide.
    pub fn bearer_fallback(&self) -> bool {
        self.fallback
    }
}

/// Poll the htpasswd file's modification time and size; reload on change.
fn spawn_watcher(users: Arc<Users>) {
    tokio::spawn(async move {
        let mut seen = htpasswd::fingerprint(&users.path);
        let mut tick = tokio::time::interval(HTPASSWD_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = htpasswd::fingerprint(&users.path);
            if now != seen {
                seen = now;
                if seen.is_some() {
                    users.reload();
                } else {
                    tracing::error!(file = %users.path.display(),
                        "htpasswd_file disappeared; the previous users stay in force");
                }
            }
        }
    });
}

/// `Authorization` scheme and credentials (scheme compared case-insensitively, RFC 9110 11.1).
pub fn split_authorization(value: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    (!rest.is_empty()).then_some((scheme, rest))
}

/// `user:password` from a Basic credential.
pub fn basic_credentials(b64: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    (!user.is_empty()).then(|| (user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests;
