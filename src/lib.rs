//! authproxy: an OAuth2 / OpenID Connect authenticating reverse proxy, a faster and safer
//! drop-in replacement for oauth2-proxy.
//!
//! Modules follow a request's path: [`config`] → [`server`] → [`routes`] → [`session`] →
//! [`provider`] → [`authz`] → [`upstream`]. Policy code ([`redirect`], [`session::codec`],
//! [`headers`], [`authz`]) is pure; I/O lives at the edges.
#![forbid(unsafe_code)]

pub mod assertion;
pub mod auth;
pub mod authz;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod error;
pub mod ext_authz;
pub mod flow;
pub mod forward;
pub mod forwarded;
pub mod headers;
pub mod health;
pub mod htpasswd;
pub mod inject;
pub mod logfile;
pub mod logformat;
pub mod machine;
pub mod metrics;
pub mod net;
pub mod otel;
pub mod pages;
pub mod policy;
pub mod provider;
pub mod query;
pub mod redirect;
pub mod response;
pub mod routes;
pub mod server;
pub mod session;
pub mod skip;
pub mod telemetry;
pub mod tls;
pub mod upstream;

/// The response/request body type used across the crate.
pub type Body = http_body_util::combinators::BoxBody<bytes::Bytes, BoxError>;
/// A boxed, thread-safe error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub mod app;

/// Bind a plain listener for `option` (TCP, or a Unix socket), or report why not (exit
/// code 1).
async fn bind_plain(
    addr: &config::BindAddress,
    option: &str,
) -> Result<server::Listener, std::process::ExitCode> {
    let bound = match addr {
        config::BindAddress::Tcp(a) => tokio::net::TcpListener::bind(a).await.map(Into::into),
        config::BindAddress::Unix { path, mode } => server::Listener::bind_unix(path, *mode),
        config::BindAddress::Fd(fd) => server::Listener::inherited(*fd),
    };
    bound.map_err(|e| {
        tracing::error!(address = %addr, error = %e, option, "cannot listen");
        eprintln!("authproxy: cannot listen on {addr} ({option}): {e}");
        std::process::ExitCode::FAILURE
    })
}

/// A TLS listener: the certificate checked (exit code 2) and the port bound (exit code 1).
async fn bind_tls(
    addr: std::net::SocketAddr,
    tls: &config::TlsConfig,
    option: &str,
) -> Result<
    (
        tokio::net::TcpListener,
        std::sync::Arc<rustls::ServerConfig>,
    ),
    std::process::ExitCode,
> {
    let config = tls::server_config(tls, option).map_err(|e| {
        tracing::error!("{e}");
        eprintln!("authproxy: {e}");
        std::process::ExitCode::from(2)
    })?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        tracing::error!(address = %addr, error = %e, option, "cannot listen");
        eprintln!("authproxy: cannot listen on {addr} ({option}): {e}");
        std::process::ExitCode::FAILURE
    })?;
    Ok((listener, config))
}

/// Connections the metrics listener serves at once (Prometheus scrapers, health probes).
const METRICS_CONNECTIONS: usize = 64;

/// Run the proxy until SIGTERM/SIGINT: bind, start provider discovery, serve, drain.
/// How many serving workers: `AUTHPROXY_WORKERS` when set to a positive number, else one per
/// CPU this process may use.
fn worker_count() -> usize {
    std::env::var("AUTHPROXY_WORKERS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(server::default_worker_count)
}

pub async fn run(cfg: config::Config) -> std::process::ExitCode {
    let _log_guard = telemetry::init_with_queue(&cfg.logging, cfg.limits.log_queue_lines);
    for w in cfg.warnings() {
        tracing::warn!("{w}");
    }
    // OpenTelemetry traces (`otel_traces_enabled` + `OTEL_*`), before anything makes a span.
    let traces = match otel::init(&cfg.tracing, &config::process_env()) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("authproxy: invalid OpenTelemetry settings:\n{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let app = match app::App::build(cfg, true).await {
        Ok(app) => std::sync::Arc::new(app),
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("authproxy: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(store) = &app.redis {
        auth::stored::spawn_invalidation(std::sync::Arc::downgrade(&app), store.clone());
    }
    // Every series the shipped alerts and dashboard query exists from the first scrape on.
    metrics::global().preregister(app.providers.iter().map(|p| p.id()));
    if let Some(p) = &app.policy {
        metrics::global().set_policy_counters(p.counters().clone());
    }
    let server_cfg = app.cfg.server.clone();
    let plain = match &server_cfg.bind_address {
        Some(a) => match bind_plain(a, "http_address").await {
            Ok(l) => Some((l, a.clone())),
            Err(code) => return code,
        },
        None => None,
    };
    let https = match (&server_cfg.secure_bind_address, &server_cfg.tls) {
        (Some(addr), Some(tls)) => match bind_tls(*addr, tls, "tls_cert_file").await {
            Ok((l, c)) => Some((l, c, *addr)),
            Err(code) => return code,
        },
        _ => None,
    };
    if plain.is_none() && https.is_none() {
        tracing::error!(
            "no listener: http_address is disabled and no HTTPS listener is configured"
        );
        eprintln!("authproxy: no listener: http_address is disabled and no HTTPS listener (https_address with tls_cert_file and tls_key_file) is configured");
        return std::process::ExitCode::from(2);
    }
    // Listener limits: the HTTP, HTTPS and gRPC listeners share the connection slots.
    let nofile = server::raise_fd_limit();
    // The main HTTP and HTTPS listeners serve on one single-threaded worker per core
    // (see server/workers.rs); the rest (metrics, gRPC ext_authz, discovery, Redis) stays on
    // the multi-threaded runtime.
    let workers = match server::Workers::start(
        worker_count(),
        telemetry::worker_started,
        telemetry::worker_tick,
        telemetry::WORKER_TICK,
    ) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the serving workers");
            eprintln!("authproxy: cannot start the serving workers: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!(workers = workers.len(), "serving workers started");
    let serve_opts = server::ServeOptions {
        workers: Some(workers),
        limits: server::ListenerLimits::from_config(&app.cfg.limits),
        slots: server::connection_slots(
            app.cfg.limits.max_connections,
            app.cfg.limits.max_connections_set,
            nofile,
        ),
    };
    tracing::info!(
        max_connections = serve_opts.slots.max(),
        nofile = nofile.unwrap_or(0),
        "connection limit"
    );
    if let Some((_, a)) = &plain {
        tracing::info!(address = %a, version = env!("CARGO_PKG_VERSION"), "authproxy listening (HTTP)");
    }
    // One signal stops every listener.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let https_task = https.map(|(l, config, address)| {
        tracing::info!(address = %address, "authproxy listening (HTTPS, HTTP/2 + HTTP/1.1)");
        tokio::spawn(server::serve_tls(
            l,
            config,
            app.clone(),
            serve_opts.clone(),
            stopped(stop_rx.clone()),
        ))
    });
    // Envoy gRPC ext_authz, on its own listener (see `ext_authz`); bound before serving so a
    // taken port fails startup instead of a silent half-working proxy.
    if let Some(grpc_addr) = app.cfg.grpc_ext_authz_address {
        let grpc_listener = match tokio::net::TcpListener::bind(grpc_addr).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(address = %grpc_addr, error = %e, "cannot listen (grpc_ext_authz_address)");
                eprintln!("authproxy: cannot listen on {grpc_addr} (grpc_ext_authz_address): {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        tracing::info!(address = %grpc_addr, "Envoy gRPC ext_authz listening");
        let grpc_app = app.clone();
        let grpc_stop = stopped(stop_rx.clone());
        let grpc_opts = serve_opts.clone();
        tokio::spawn(async move {
            if let Err(e) = ext_authz::serve(grpc_listener, grpc_app, grpc_opts, grpc_stop).await {
                tracing::error!(error = %e, "gRPC ext_authz server failed");
            }
        });
    }
    let metrics_cfg = app.cfg.metrics_server.clone();
    let endpoint = std::sync::Arc::new(routes::MetricsEndpoint(metrics::global().clone()));
    if let Some(a) = &metrics_cfg.bind_address {
        let l = match bind_plain(a, "metrics_address").await {
            Ok(l) => l,
            Err(code) => return code,
        };
        tracing::info!(address = %a, "metrics listening at /metrics");
        let (endpoint, metrics_stop) = (endpoint.clone(), stopped(stop_rx.clone()));
        tokio::spawn(async move {
            // Scrapes get slots of their own: a flood on the main listener does not blind
            // the monitoring.
            let opts = server::ServeOptions::with_slots(METRICS_CONNECTIONS);
            if let Err(e) = server::serve(l, endpoint, opts, metrics_stop).await {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
    }
    if let (Some(addr), Some(tls)) = (metrics_cfg.secure_bind_address, &metrics_cfg.tls) {
        let (l, config) = match bind_tls(addr, tls, "metrics_tls_cert_file").await {
            Ok(x) => x,
            Err(code) => return code,
        };
        tracing::info!(address = %addr, "metrics listening at /metrics (HTTPS)");
        let metrics_stop = stopped(stop_rx.clone());
        tokio::spawn(async move {
            let opts = server::ServeOptions::with_slots(METRICS_CONNECTIONS);
            if let Err(e) = server::serve_tls(l, config, endpoint, opts, metrics_stop).await {
                tracing::error!(error = %e, "metrics HTTPS listener failed");
            }
        });
    }
    tokio::spawn(async move {
        server::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let http_result = match plain {
        Some((l, _)) => server::serve(l, app, serve_opts, stopped(stop_rx)).await,
        None => {
            stopped(stop_rx).await;
            Ok(())
        }
    };
    let https_result = match https_task {
        Some(t) => t.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
        None => Ok(()),
    };
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    match http_result.and(https_result) {
        Ok(()) => {
            tracing::info!("stopped");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            std::process::ExitCode::FAILURE
        }
    }
}
