//! authproxy: an OAuth2 / OpenID Connect authenticating reverse proxy, a faster and safer
//! drop-in replacement for oauth2-proxy.
//!
//! Modules follow a request's path: [`config`] → [`server`] → [`routes`] → [`session`] →
//! [`provider`] → [`authz`] → [`upstream`]. Policy code ([`redirect`], [`session::codec`],
//! [`headers`], [`authz`]) is pure; I/O lives at the edges.
#![forbid(unsafe_code)]

pub mod authz;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod error;
pub mod flow;
pub mod headers;
pub mod inject;
pub mod metrics;
pub mod pages;
pub mod provider;
pub mod redirect;
pub mod routes;
pub mod server;
pub mod session;
pub mod telemetry;
pub mod upstream;

/// The response/request body type used across the crate.
pub type Body = http_body_util::combinators::BoxBody<bytes::Bytes, BoxError>;
/// A boxed, thread-safe error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub mod app;

/// Run the proxy until SIGTERM/SIGINT: bind, start provider discovery, serve, drain.
pub async fn run(cfg: config::Config) -> std::process::ExitCode {
    let _log_guard = telemetry::init(&cfg.logging);
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
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(address = %addr, error = %e, "cannot listen");
            eprintln!("authproxy: cannot listen on {addr}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(maddr) = metrics_addr {
        match tokio::net::TcpListener::bind(maddr).await {
            Ok(l) => {
                tracing::info!(address = %maddr, "metrics listening at /metrics");
                let endpoint =
                    std::sync::Arc::new(metrics::MetricsEndpoint(metrics::global().clone()));
                tokio::spawn(async move {
                    if let Err(e) = server::serve(l, endpoint, server::shutdown_signal()).await {
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
    tracing::info!(address = %addr, version = env!("CARGO_PKG_VERSION"), "authproxy listening");
    match server::serve(listener, app, server::shutdown_signal()).await {
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
