//! authproxy: an OAuth2 / OpenID Connect authenticating reverse proxy, a faster and safer
//! drop-in replacement for oauth2-proxy.
//!
//! Modules follow a request's path: [`config`] → [`server`] → [`routes`] → [`session`] →
//! [`provider`] → [`authz`] → [`upstream`]. Policy code ([`redirect`], [`session::codec`],
//! [`headers`], [`authz`]) is pure; I/O lives at the edges.
#![forbid(unsafe_code)]

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
pub mod logformat;
pub mod machine;
pub mod metrics;
pub mod net;
pub mod pages;
pub mod provider;
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

/// Connections the metrics listener serves at once (Prometheus scrapers, health probes).
const METRICS_CONNECTIONS: usize = 64;

/// Run the proxy until SIGTERM/SIGINT: bind, start provider discovery, serve, drain.
pub async fn run(cfg: config::Config) -> std::process::ExitCode {
    let _log_guard = telemetry::init_with_queue(&cfg.logging, cfg.limits.log_queue_lines);
    let addr = cfg.http_address;
    let metrics_addr = cfg.metrics_address;
    let app = match app::App::build(cfg, true).await {
        Ok(app) => std::sync::Arc::new(app),
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("authproxy: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // Every series the shipped alerts and dashboard query exists from the first scrape on.
    metrics::global().preregister(app.providers.iter().map(|p| p.id()));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(address = %addr, error = %e, "cannot listen");
            eprintln!("authproxy: cannot listen on {addr}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The HTTPS listener, when configured: certificate problems stop the start.
    let https = match &app.cfg.tls {
        Some(t) => {
            let config = match tls::server_config(t) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("authproxy: {e}");
                    return std::process::ExitCode::from(2);
                }
            };
            match tokio::net::TcpListener::bind(t.address).await {
                Ok(l) => Some((l, config, t.address)),
                Err(e) => {
                    tracing::error!(address = %t.address, error = %e, "cannot listen");
                    eprintln!("authproxy: cannot listen on {}: {e}", t.address);
                    return std::process::ExitCode::FAILURE;
                }
            }
        }
        None => None,
    };
    // Listener limits: the HTTP, HTTPS and gRPC listeners share the connection slots.
    let nofile = server::raise_fd_limit();
    let serve_opts = server::ServeOptions {
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
    tracing::info!(address = %addr, version = env!("CARGO_PKG_VERSION"), "authproxy listening (HTTP)");
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
    if let Some(maddr) = metrics_addr {
        match tokio::net::TcpListener::bind(maddr).await {
            Ok(l) => {
                tracing::info!(address = %maddr, "metrics listening at /metrics");
                let endpoint =
                    std::sync::Arc::new(metrics::MetricsEndpoint(metrics::global().clone()));
                let metrics_stop = stopped(stop_rx.clone());
                tokio::spawn(async move {
                    // Scrapes get slots of their own: a flood on the main listener
                    // does not blind the monitoring.
                    let opts = server::ServeOptions::with_slots(METRICS_CONNECTIONS);
                    if let Err(e) = server::serve(l, endpoint, opts, metrics_stop).await {
                        tracing::error!(error = %e, "metrics listener failed");
                    }
                });
            }
            Err(e) => {
                tracing::error!(address = %maddr, error = %e, "cannot listen for metrics");
                eprintln!("authproxy: cannot listen on {maddr} (metrics_address): {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    tokio::spawn(async move {
        server::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let http_result = server::serve(listener, app, serve_opts, stopped(stop_rx)).await;
    let https_result = match https_task {
        Some(t) => t.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
        None => Ok(()),
    };
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
