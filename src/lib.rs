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
