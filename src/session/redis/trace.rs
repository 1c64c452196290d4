//! OpenTelemetry spans of session store operations (`redis load`, `redis save`, ...), children
//! of the request span. Off: one atomic load, the operation runs as it is.

use std::future::Future;

use crate::otel::KeyValue;

use super::StoreError;

/// Run `op` (one store operation: the Redis `commands` it sends) inside a client span `name`.
pub(super) async fn traced<T>(
    name: &'static str,
    commands: &'static str,
    op: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let Some(span) = crate::otel::client_span(name, || {
        vec![
            KeyValue::new("db.system.name", "redis"),
            KeyValue::new("db.operation.name", commands),
        ]
    }) else {
        return op.await;
    };
    let out = op.await;
    if let Err(e) = &out {
        span.fail(error_kind(e), e.to_string());
    }
    span.end();
    out
}

/// The `error.type` of a failed store operation.
fn error_kind(e: &StoreError) -> &'static str {
    match e {
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Auth(_) => "auth",
        StoreError::Server(_) => "server",
        StoreError::NotFound => "not_found",
        StoreError::Corrupt(_) | StoreError::Ticket(_) => "corrupt",
        StoreError::Options(_) | StoreError::Config(_) | StoreError::Encode(_) => "config",
    }
}
