//! Logging setup. Log lines never carry tokens or cookie values; emails appear only in auth
//! and request events, as oauth2-proxy's auth and request logs do.
//!
//! Three streams, as oauth2-proxy has them: request lines (target `request`), authentication
//! events (target `auth`) and everything else (standard). Each can be switched off.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LoggingConfig;

/// The filter directives for the configured streams. `RUST_LOG`, when set, wins.
pub fn filter_directives(log: &LoggingConfig) -> String {
    let mut d = vec![if log.standard_logging { "info" } else { "warn" }.to_owned()];
    d.push(format!(
        "request={}",
        if log.request_logging { "info" } else { "off" }
    ));
    d.push(format!(
        "auth={}",
        if log.auth_logging { "info" } else { "off" }
    ));
    d.join(",")
}

/// Keeps the background log writer alive; dropping it flushes what is still queued.
pub struct LogGuard(#[allow(dead_code)] Option<tracing_appender::non_blocking::WorkerGuard>);

/// Install the global subscriber: text (default) or one JSON object per line, written to
/// stdout by a background thread so request handlers never wait on the stdout lock.
pub fn init(log: &LoggingConfig) -> LogGuard {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(filter_directives(log)));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        // Never drop log lines (the default would drop them when the queue is full).
        .lossy(false)
        // The worker writes a whole batch of queued lines, then flushes: one write(2) per batch
        // instead of one per line under load.
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ));
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    // A second init (tests, demo) is harmless: keep the first subscriber.
    let installed = if log.json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    LogGuard(installed.ok().map(|()| guard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stream_can_be_switched_off() {
        let mut log = LoggingConfig::default();
        assert_eq!(filter_directives(&log), "info,request=info,auth=info");
        log.request_logging = false;
        log.auth_logging = false;
        log.standard_logging = false;
        assert_eq!(filter_directives(&log), "warn,request=off,auth=off");
    }
}
