//! Logging setup. Log lines never carry tokens or cookie values; emails appear only in auth
//! events, as oauth2-proxy's auth log does.

use tracing_subscriber::{fmt, EnvFilter};

/// Install the global subscriber: text (default) or one JSON object per line.
/// `RUST_LOG` refines the filter (default `info`).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    // A second init (tests, demo) is harmless: keep the first subscriber.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
