//! oauth2-proxy v7.15.3's Redis session store options (`redis_*`), and their validation into a
//! [`ConnectPlan`]: which servers, which credentials, TLS or not, which timeouts.
//!
//! v7 builds its client from these options with go-redis (pkg/sessions/redis/redis_store.go):
//!
//! * standalone: `redis.ParseURL(redis_connection_url)`; every URL setting applies (database,
//!   userinfo, `rediss://`, query options such as `dial_timeout`);
//! * Sentinel: every URL of `redis_sentinel_connection_urls` is parsed (so a bad one is refused),
//!   their `host:port` are the sentinels; userinfo and `rediss://` come from the LAST URL and are
//!   the master's credentials and TLS; the database and the query options are dropped (v7 builds
//!   `FailoverOptions` without them), so the master's database is always 0;
//! * Cluster: the same for `redis_cluster_connection_urls` (database 0, query options dropped);
//! * in all three `redis_username` / `redis_password` replace the URL's when set, and
//!   `redis_ca_path` or `redis_insecure_skip_tls_verify` turn TLS ON even for a `redis://` URL
//!   (v7 creates a `tls.Config` for them, and go-redis dials TLS whenever one exists).
//!
//! authproxy follows all of that, so one configuration means the same servers, database and keys
//! for an oauth2-proxy replica and an authproxy replica. What v7 drops silently is reported by
//! [`ConnectPlan::notes`] so the caller can log it.

use std::path::PathBuf;
use std::time::Duration;

pub mod url;

use self::url::{parse_redis_url, redact, Endpoint, GoDuration, ParsedUrl};
use crate::crypto::Secret;

/// The `redis_*` options, with oauth2-proxy's names and meanings. Empty strings and lists mean
/// "not set", as in v7.
#[derive(Clone, Default, PartialEq)]
pub struct RedisOptions {
    /// `redis_connection_url`: `redis://[user[:password]@]host[:port][/db][?option=value...]`,
    /// `rediss://...` (TLS) or `unix://[user[:password]@]/path/to/socket[?db=N...]`.
    pub connection_url: String,
    /// `redis_username` (ACL user); replaces the URL's user when set.
    pub username: String,
    /// `redis_password`; replaces the URL's password when set.
    pub password: Secret,
    /// `redis_use_sentinel`
    pub use_sentinel: bool,
    /// `redis_sentinel_password`: the password the sentinels themselves require.
    pub sentinel_password: Secret,
    /// `redis_sentinel_master_name`
    pub sentinel_master_name: String,
    /// `redis_sentinel_connection_urls`
    pub sentinel_connection_urls: Vec<String>,
    /// `redis_use_cluster`
    pub use_cluster: bool,
    /// `redis_cluster_connection_urls`
    pub cluster_connection_urls: Vec<String>,
    /// `redis_ca_path`: PEM certificates trusted in addition to the system's.
    pub ca_path: String,
    /// `redis_insecure_skip_tls_verify`
    pub insecure_skip_tls_verify: bool,
    /// `redis_connection_idle_timeout`, seconds (0 = go-redis' default).
    pub connection_idle_timeout: i64,
}

impl std::fmt::Debug for RedisOptions {
    // URLs may carry passwords: show them with the userinfo redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls = |v: &[String]| v.iter().map(|u| redact(u)).collect::<Vec<_>>();
        f.debug_struct("RedisOptions")
            .field("connection_url", &redact(&self.connection_url))
            .field("username", &self.username)
            .field("password", &self.password)
            .field("use_sentinel", &self.use_sentinel)
            .field("sentinel_password", &self.sentinel_password)
            .field("sentinel_master_name", &self.sentinel_master_name)
            .field(
                "sentinel_connection_urls",
                &urls(&self.sentinel_connection_urls),
            )
            .field("use_cluster", &self.use_cluster)
            .field(
                "cluster_connection_urls",
                &urls(&self.cluster_connection_urls),
            )
            .field("ca_path", &self.ca_path)
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field("connection_idle_timeout", &self.connection_idle_timeout)
            .finish()
    }
}

/// A refused option: the oauth2-proxy key and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct OptionError {
    /// The oauth2-proxy option key (`redis_connection_url`, ...).
    pub key: &'static str,
    pub message: String,
}

fn err(key: &'static str, message: impl Into<String>) -> OptionError {
    OptionError {
        key,
        message: message.into(),
    }
}

/// Which servers to talk to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topology {
    Standalone(Endpoint),
    Sentinel {
        sentinels: Vec<(String, u16)>,
        master_name: String,
    },
    Cluster {
        nodes: Vec<(String, u16)>,
    },
}

/// TLS settings, when TLS is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsPlan {
    /// Extra trusted certificates (`redis_ca_path`), on top of the system trust store.
    pub ca_path: Option<PathBuf>,
    /// `redis_insecure_skip_tls_verify`, or `skip_verify=true` in a `rediss://` URL.
    pub insecure_skip_verify: bool,
}

/// The validated options: everything needed to connect, no I/O done yet.
#[derive(Clone, Debug)]
pub struct ConnectPlan {
    pub topology: Topology,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub sentinel_password: Option<Secret>,
    pub database: u8,
    pub tls: Option<TlsPlan>,
    /// `protocol=3` in the URL (standalone only).
    pub resp3: bool,
    /// Connection (and TLS handshake) timeout: `dial_timeout`, go-redis default 5 s.
    pub dial_timeout: Duration,
    /// Per-command timeout: `read_timeout` + `write_timeout` (go-redis defaults 3 s + 3 s);
    /// `None` when both are disabled.
    pub command_timeout: Option<Duration>,
    /// Attempts per command: 1 + `max_retries` (go-redis default 3 retries).
    pub command_attempts: u32,
    /// Reconnection backoff bounds: `min_retry_backoff`, `max_retry_backoff` (8 ms, 512 ms).
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Connections in the pool (`pool_size`); each is multiplexed (pipelined).
    pub pool_size: usize,
    /// Keep connections from idling out: a PING on every connection at this interval
    /// (`redis_connection_idle_timeout` / `conn_max_idle_time`, see [`ConnectPlan::notes`]).
    pub heartbeat: Option<Duration>,
    /// Settings that were accepted but have no effect, one sentence each, for the log.
    pub notes: Vec<String>,
}

/// go-redis defaults (options.go `init`).
const DEFAULT_DIAL: Duration = Duration::from_secs(5);
const DEFAULT_READ: Duration = Duration::from_secs(3);
const DEFAULT_RETRIES: u32 = 3;
const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(8);
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_millis(512);
/// go-redis opens up to 10 × GOMAXPROCS connections on demand; a multiplexed connection carries
/// many concurrent commands, so authproxy opens this many (eagerly) unless `pool_size` says.
const DEFAULT_POOL: usize = 2;
/// "Disabled" timeouts still end: a day is beyond any request.
const NO_LIMIT: Duration = Duration::from_secs(24 * 3600);

impl RedisOptions {
    /// Check the options as oauth2-proxy v7 does at startup (it refuses to start on every one of
    /// these) and resolve them. Reads nothing from disk: `redis_ca_path` is read on connect.
    pub fn validate(&self) -> Result<ConnectPlan, Vec<OptionError>> {
        let mut errors = Vec::new();
        if self.use_sentinel && self.use_cluster {
            errors.push(err(
                "redis_use_sentinel",
                "redis_use_sentinel and redis_use_cluster are mutually exclusive",
            ));
            return Err(errors);
        }
        let plan = if self.use_sentinel {
            self.sentinel_plan(&mut errors)
        } else if self.use_cluster {
            self.list_plan(
                "redis_cluster_connection_urls",
                &self.cluster_connection_urls,
                &mut errors,
            )
            .map(|(nodes, last, notes)| (Topology::Cluster { nodes }, last, notes))
        } else {
            self.standalone_plan(&mut errors)
        };
        if self.connection_idle_timeout < 0 {
            errors.push(err(
                "redis_connection_idle_timeout",
                format!(
                    "must be a number of seconds, 0 or more; found {}",
                    self.connection_idle_timeout
                ),
            ));
        }
        let Some((topology, url, mut notes)) = plan else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let applies_url_options = matches!(topology, Topology::Standalone(_));
        let username = non_empty(&self.username).or_else(|| url.username.clone());
        let password = if self.password.is_empty() {
            url.password.clone()
        } else {
            Some(self.password.clone())
        };
        let tls =
            (url.tls || !self.ca_path.is_empty() || self.insecure_skip_tls_verify).then(|| {
                TlsPlan {
                    ca_path: non_empty(&self.ca_path).map(PathBuf::from),
                    insecure_skip_verify: self.insecure_skip_tls_verify || url.skip_verify,
                }
            });
        let q = if applies_url_options {
            url.query.clone()
        } else {
            Default::default()
        };
        let read = q.read_timeout.resolve(DEFAULT_READ);
        let write = match q.write_timeout {
            GoDuration::Default => read,
            other => other.resolve(DEFAULT_READ),
        };
        let command_timeout = match (read, write) {
            (None, None) => None,
            (r, w) => Some(r.unwrap_or(Duration::ZERO) + w.unwrap_or(Duration::ZERO)),
        };
        let retries = match q.max_retries {
            Some(n) if n < 0 => 0,
            Some(0) | None => DEFAULT_RETRIES,
            Some(n) => u32::try_from(n).unwrap_or(u32::MAX - 1).min(100),
        };
        let idle = if self.connection_idle_timeout > 0 {
            GoDuration::Set(Duration::from_secs(self.connection_idle_timeout as u64))
        } else {
            q.conn_max_idle_time
        };
        let heartbeat = match idle {
            GoDuration::Set(d) => Some((d / 2).max(Duration::from_secs(1))),
            _ => None,
        };
        if heartbeat.is_some() {
            notes.push(
                "redis_connection_idle_timeout: connections are kept (not closed when idle); \
                 each is pinged at half the idle timeout so a server-side idle timeout never \
                 closes it"
                    .to_owned(),
            );
        }
        notes.extend(q.no_effect.iter().map(|name| {
            format!(
                "{name} in the Redis URL has no effect in authproxy (its connections are \
                 multiplexed, not pooled per command)"
            )
        }));
        let database = if applies_url_options { url.database } else { 0 };
        Ok(ConnectPlan {
            topology,
            username,
            password,
            sentinel_password: (!self.sentinel_password.is_empty())
                .then(|| self.sentinel_password.clone()),
            database,
            tls,
            resp3: q.protocol == Some(3),
            dial_timeout: q.dial_timeout.resolve(DEFAULT_DIAL).unwrap_or(NO_LIMIT),
            command_timeout,
            command_attempts: retries + 1,
            min_backoff: q
                .min_retry_backoff
                .resolve(DEFAULT_MIN_BACKOFF)
                .unwrap_or(Duration::ZERO),
            max_backoff: q
                .max_retry_backoff
                .resolve(DEFAULT_MAX_BACKOFF)
                .unwrap_or(Duration::ZERO),
            pool_size: match q.pool_size {
                Some(n) if n > 0 => usize::try_from(n).unwrap_or(DEFAULT_POOL),
                _ => DEFAULT_POOL,
            },
            heartbeat,
            notes,
        })
    }

    fn standalone_plan(
        &self,
        errors: &mut Vec<OptionError>,
    ) -> Option<(Topology, ParsedUrl, Vec<String>)> {
        const KEY: &str = "redis_connection_url";
        if self.connection_url.is_empty() {
            errors.push(err(
                KEY,
                "is required when redis_use_sentinel and redis_use_cluster are false \
                 (e.g. redis://127.0.0.1:6379)",
            ));
            return None;
        }
        match parse_redis_url(&self.connection_url) {
            Ok(url) => Some((Topology::Standalone(url.endpoint.clone()), url, Vec::new())),
            Err(e) => {
                errors.push(err(KEY, e));
                None
            }
        }
    }

    fn sentinel_plan(
        &self,
        errors: &mut Vec<OptionError>,
    ) -> Option<(Topology, ParsedUrl, Vec<String>)> {
        if self.sentinel_master_name.is_empty() {
            // v7 starts its connection test and fails it (no sentinel knows a master named "").
            errors.push(err(
                "redis_sentinel_master_name",
                "is required when redis_use_sentinel is true",
            ));
        }
        let (sentinels, last, notes) = self.list_plan(
            "redis_sentinel_connection_urls",
            &self.sentinel_connection_urls,
            errors,
        )?;
        Some((
            Topology::Sentinel {
                sentinels,
                master_name: self.sentinel_master_name.clone(),
            },
            last,
            notes,
        ))
    }

    /// The URL list of Sentinel or Cluster mode: every URL must parse, the last one's userinfo
    /// and scheme win, the rest of each URL only gives an address.
    #[allow(clippy::type_complexity)]
    fn list_plan(
        &self,
        key: &'static str,
        urls: &[String],
        errors: &mut Vec<OptionError>,
    ) -> Option<(Vec<(String, u16)>, ParsedUrl, Vec<String>)> {
        let mode = if key.contains("sentinel") {
            "redis_use_sentinel"
        } else {
            "redis_use_cluster"
        };
        if urls.is_empty() {
            errors.push(err(
                key,
                format!("at least one URL is required when {mode} is true"),
            ));
            return None;
        }
        let mut addrs = Vec::with_capacity(urls.len());
        let mut notes = Vec::new();
        let mut last = None;
        for (i, u) in urls.iter().enumerate() {
            match parse_redis_url(u) {
                Ok(p) => {
                    match &p.endpoint {
                        Endpoint::Tcp { host, port } => addrs.push((host.clone(), *port)),
                        Endpoint::Unix { .. } => {
                            errors.push(err(
                                key,
                                format!("URL #{}: unix sockets cannot be used with {mode}", i + 1),
                            ));
                            continue;
                        }
                    }
                    if p.database != 0 {
                        notes.push(format!(
                            "{key}: the database number in URL #{} is ignored ({mode} always \
                             uses database 0, as oauth2-proxy)",
                            i + 1
                        ));
                    }
                    if !p.query.is_empty() {
                        notes.push(format!(
                            "{key}: the query options of URL #{} are ignored with {mode} (as \
                             oauth2-proxy); go-redis defaults apply",
                            i + 1
                        ));
                    }
                    last = Some(p);
                }
                Err(e) => errors.push(err(key, format!("URL #{}: {e}", i + 1))),
            }
        }
        let last = last?;
        if errors.is_empty() {
            Some((addrs, last, notes))
        } else {
            None
        }
    }
}

impl ConnectPlan {
    /// Whether commands go to a Redis Cluster (keys of one command must share a slot).
    pub fn is_cluster(&self) -> bool {
        matches!(self.topology, Topology::Cluster { .. })
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}
