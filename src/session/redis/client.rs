//! The connection to Redis: a [`ConnectPlan`] turned into a fred client pool (standalone,
//! Sentinel or Cluster), with TLS through rustls. Reconnection (with exponential backoff),
//! Sentinel failover (re-asking the sentinels, checking the new master's role), Cluster
//! redirections, command timeouts and retries are fred's; this module only chooses settings and
//! maps errors.

use std::sync::Arc;
use std::time::Duration;

use fred::clients::{Client, Pool, SubscriberClient};
use fred::interfaces::{ClientLike as _, EventInterface as _};
use fred::types::config::{
    Config, ConnectionConfig, PerformanceConfig, ReconnectPolicy, Server, ServerConfig, TlsConfig,
    TlsConnector, UnresponsiveConfig,
};
use fred::types::{Builder, RespVersion};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::options::{ConnectPlan, OptionError, TlsPlan, Topology};
use super::url::Endpoint;
use super::StoreError;

/// A connected (or reconnecting) pool, the builder it came from (for the subscriber), the last
/// connection error (for messages), and the background tasks, stopped when the last clone drops.
#[derive(Clone)]
pub(crate) struct Connection {
    pool: Pool,
    builder: Arc<Builder>,
    last_error: watch::Receiver<Option<LastError>>,
    tasks: Arc<Tasks>,
}

/// The most recent error a client of the pool reported while (re)connecting.
#[derive(Clone, Debug)]
pub(crate) struct LastError {
    kind: fred::error::ErrorKind,
    text: String,
}

struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

impl Connection {
    /// Build the pool and start connecting in the background; never waits for the server.
    pub(crate) fn start(plan: &ConnectPlan) -> Result<Self, StoreError> {
        let builder = builder(plan)?;
        let pool = builder
            .build_pool(plan.pool_size.max(1))
            .map_err(|e| StoreError::Config(format!("Redis client: {e}")))?;
        let (tx, last_error) = watch::channel(None);
        let tx = Arc::new(tx);
        let mut tasks = Vec::new();
        for client in pool.clients() {
            // Subscribed before connecting, so the first failure is seen too.
            let mut errors = client.error_rx();
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    match errors.recv().await {
                        Ok((e, _server)) => {
                            tx.send_replace(Some(LastError {
                                kind: e.kind().clone(),
                                text: e.details().to_string(),
                            }));
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
            }));
        }
        // Each client reconnects by itself under the reconnect policy (which never gives up);
        // its task ends only when the client quits or the task is aborted.
        for handle in pool.connect_pool() {
            tasks.push(tokio::spawn(async move {
                let _ = handle.await;
            }));
        }
        if let Some(interval) = plan.heartbeat {
            let p = pool.clone();
            tasks.push(tokio::spawn(async move {
                use fred::interfaces::HeartbeatInterface as _;
                let _ = p.enable_heartbeat(interval, false).await;
            }));
        }
        Ok(Self {
            pool,
            builder: Arc::new(builder),
            last_error,
            tasks: Arc::new(Tasks(tasks)),
        })
    }

    /// A connected client of the pool, or `Unavailable` at once when none is connected (Redis
    /// down, or a Sentinel failover in progress): the caller gets a fast answer instead of
    /// waiting for the command timeout while fred reconnects.
    pub(crate) fn client(&self) -> Result<&Client, StoreError> {
        let c = self.pool.next_connected();
        if c.is_connected() {
            return Ok(c);
        }
        Err(match &*self.last_error.borrow() {
            Some(e) if e.kind == fred::error::ErrorKind::Auth => StoreError::Auth(e.text.clone()),
            Some(e) => StoreError::Unavailable(format!(
                "not connected to Redis, reconnecting (last error: {})",
                e.text
            )),
            None => StoreError::Unavailable("not connected to Redis yet".into()),
        })
    }

    /// Wait until every client of the pool has connected once, at most `timeout`. Refused
    /// credentials and TLS failures end the wait at once: retrying will not fix them.
    pub(crate) async fn wait_connected(&self, timeout: Duration) -> Result<(), StoreError> {
        let mut errors = self.last_error.clone();
        let fatal = async {
            loop {
                if let Some(e) = &*errors.borrow_and_update() {
                    match e.kind {
                        fred::error::ErrorKind::Auth => return StoreError::Auth(e.text.clone()),
                        fred::error::ErrorKind::Tls => {
                            return StoreError::Unavailable(format!("TLS error: {}", e.text))
                        }
                        _ => {}
                    }
                }
                if errors.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        let all = tokio::time::timeout(timeout, async {
            tokio::select! {
                r = self.pool.wait_for_connect() => r.map_err(map_error),
                e = fatal => Err(e),
            }
        });
        match all.await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Unavailable(match &*self.last_error.borrow() {
                Some(e) => format!("could not connect to Redis within {timeout:?}: {}", e.text),
                None => format!("could not connect to Redis within {timeout:?}"),
            })),
        }
    }

    /// A new dedicated subscriber connection, resubscribing by itself after reconnects.
    pub(crate) fn subscriber(&self) -> Result<SubscriberClient, StoreError> {
        self.builder
            .build_subscriber_client()
            .map_err(|e| StoreError::Config(format!("Redis subscriber: {e}")))
    }

    /// Close the connections (a polite QUIT when connected, bounded), and stop reconnecting.
    pub(crate) async fn quit(&self) {
        if self.pool.clients().iter().any(|c| c.is_connected()) {
            let _ = tokio::time::timeout(Duration::from_secs(2), self.pool.quit()).await;
        }
        for t in &self.tasks.0 {
            t.abort();
        }
    }
}

fn builder(plan: &ConnectPlan) -> Result<Builder, StoreError> {
    let server = match &plan.topology {
        Topology::Standalone(Endpoint::Tcp { host, port }) => ServerConfig::Centralized {
            server: Server::new(host.as_str(), *port),
        },
        Topology::Standalone(Endpoint::Unix { path }) => ServerConfig::Unix { path: path.into() },
        Topology::Sentinel {
            sentinels,
            master_name,
        } => ServerConfig::Sentinel {
            hosts: sentinels
                .iter()
                .map(|(h, p)| Server::new(h.as_str(), *p))
                .collect(),
            service_name: master_name.clone(),
            // v7 sends only a password to the sentinels (no SentinelUsername).
            username: None,
            password: plan
                .sentinel_password
                .as_ref()
                .map(|s| s.expose().to_owned()),
        },
        Topology::Cluster { nodes } => ServerConfig::Clustered {
            hosts: nodes
                .iter()
                .map(|(h, p)| Server::new(h.as_str(), *p))
                .collect(),
            policy: Default::default(),
        },
    };
    let tls = match &plan.tls {
        Some(t) => Some(TlsConfig::from(TlsConnector::from(
            tls_client_config(t).map_err(|e| StoreError::Config(e.to_string()))?,
        ))),
        None => None,
    };
    let config = Config {
        // Start even when Redis is down; the reconnect policy keeps trying.
        fail_fast: false,
        username: plan.username.clone(),
        password: plan.password.as_ref().map(|s| s.expose().to_owned()),
        server,
        version: if plan.resp3 {
            RespVersion::RESP3
        } else {
            RespVersion::RESP2
        },
        database: (plan.database != 0).then_some(plan.database),
        tls,
        ..Default::default()
    };
    let mut b = Builder::from_config(config);
    b.set_policy(ReconnectPolicy::new_exponential(
        0,
        millis(plan.min_backoff).max(1),
        millis(plan.max_backoff)
            .max(millis(plan.min_backoff))
            .max(1),
        2,
    ));
    b.set_connection_config(ConnectionConfig {
        connection_timeout: plan.dial_timeout,
        internal_command_timeout: plan.dial_timeout,
        max_command_attempts: plan.command_attempts,
        // A server that stops answering (hung, or a network partition) is treated as gone.
        unresponsive: UnresponsiveConfig {
            max_timeout: plan.command_timeout,
            interval: Duration::from_secs(1),
        },
        ..Default::default()
    });
    b.set_performance_config(PerformanceConfig {
        default_command_timeout: plan.command_timeout.unwrap_or(Duration::ZERO),
        ..Default::default()
    });
    Ok(b)
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// The rustls client configuration for Redis TLS (aws-lc-rs provider): the system trust store
/// plus `redis_ca_path`, or no verification with `redis_insecure_skip_tls_verify`. Callable on
/// its own so a configuration check can report an unreadable CA file before starting.
pub fn tls_client_config(t: &TlsPlan) -> Result<rustls::ClientConfig, OptionError> {
    let err = |key: &'static str, message: String| OptionError { key, message };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| err("redis_ca_path", format!("TLS setup failed: {e}")))?;
    if t.insecure_skip_verify {
        tracing::warn!(
            "redis_insecure_skip_tls_verify: the Redis server's certificate is NOT verified"
        );
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::tls::AcceptAnyCert(provider)))
            .with_no_client_auth());
    }
    let mut extra = Vec::new();
    if let Some(path) = &t.ca_path {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| err("redis_ca_path", format!("{}: {e}", path.display())))?
            .collect::<Result<_, _>>()
            .map_err(|e| err("redis_ca_path", format!("{}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(err(
                "redis_ca_path",
                format!("{}: no PEM CERTIFICATE block found", path.display()),
            ));
        }
        extra = certs;
    }
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
        .map_err(|e| {
            err(
                "redis_ca_path",
                format!("loading the system trust store for Redis TLS failed: {e}"),
            )
        })?;
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// A fred error as a store error: connection trouble, refused credentials, or a server reply.
pub(crate) fn map_error(e: fred::error::Error) -> StoreError {
    use fred::error::ErrorKind as K;
    let detail = e.details().to_string();
    match e.kind() {
        K::Auth => StoreError::Auth(detail),
        K::Config | K::Url | K::InvalidArgument => StoreError::Config(detail),
        K::IO | K::Timeout | K::Canceled | K::Tls | K::Sentinel | K::Cluster | K::Routing => {
            StoreError::Unavailable(format!("{}: {detail}", kind_name(e.kind())))
        }
        _ if is_auth_reply(&detail) => StoreError::Auth(detail),
        _ if detail.starts_with("LOADING")
            || detail.starts_with("READONLY")
            || detail.starts_with("CLUSTERDOWN")
            || detail.starts_with("MASTERDOWN")
            || detail.starts_with("TRYAGAIN") =>
        {
            StoreError::Unavailable(detail)
        }
        _ => StoreError::Server(detail),
    }
}

fn is_auth_reply(detail: &str) -> bool {
    [
        "WRONGPASS",
        "NOAUTH",
        "NOPERM",
        "invalid password",
        "invalid username-password",
    ]
    .iter()
    .any(|p| detail.contains(p))
}

fn kind_name(k: &fred::error::ErrorKind) -> &'static str {
    use fred::error::ErrorKind as K;
    match k {
        K::IO => "I/O error",
        K::Timeout => "timed out",
        K::Canceled => "connection lost",
        K::Tls => "TLS error",
        K::Sentinel => "Sentinel error",
        K::Cluster => "Cluster error",
        K::Routing => "routing error",
        _ => "error",
    }
}
