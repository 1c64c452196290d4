//! Logging setup. Log lines never carry tokens or cookie values; emails appear only in auth
//! and request events, as oauth2-proxy's auth and request logs do.
//!
//! Three streams, as oauth2-proxy has them: request lines (target `request`), authentication
//! events (target `auth`) and everything else (standard). Each can be switched off.

use std::fmt::Write as _;

use tracing::field::{Field as TField, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LoggingConfig;

pub use crate::logformat::{write_quoted, Field, LogTemplate, TemplateKind};

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
    // The Redis client's own reconnection chatter: authproxy logs what a failure means
    // (request refused, readiness down) itself.
    d.push("fred=error".to_owned());
    d.join(",")
}

/// Keeps the background log writer alive; dropping it flushes what is still queued.
pub struct LogGuard(#[allow(dead_code)] Option<tracing_appender::non_blocking::WorkerGuard>);

/// Log lines queued for stdout by default (`log_queue_lines`).
pub const DEFAULT_LOG_QUEUE_LINES: usize = 16_384;

/// [`init_with_queue`] with the default queue.
pub fn init(log: &LoggingConfig) -> LogGuard {
    init_with_queue(log, DEFAULT_LOG_QUEUE_LINES)
}

/// Install the global subscriber: text (default) or one JSON object per line, written to
/// stdout by a background thread so request handlers never wait on stdout.
///
/// At most `queue_lines` lines wait for that thread. When stdout does not keep up (a slow or
/// stuck log collector, a pipe nobody reads) further lines are dropped and counted
/// (`authproxy_log_lines_dropped_total`): a worker never blocks on logging.
pub fn init_with_queue(log: &LoggingConfig, queue_lines: usize) -> LogGuard {
    // An empty RUST_LOG counts as unset.
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(v.trim()).ok(),
        _ => None,
    }
    .unwrap_or_else(|| EnvFilter::new(filter_directives(log)));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(queue_lines.max(1))
        // The worker writes a whole batch of queued lines, then flushes: one write(2) per batch
        // instead of one per line under load.
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ));
    crate::metrics::global().set_log_drop_counter(writer.error_counter());
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    // A second init (tests, demo) is harmless: keep the first subscriber.
    let installed = if log.json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder
            .event_format(TemplateFormat {
                standard: log.standard_format.clone(),
                auth: log.auth_format.clone(),
                request: log.request_format.clone(),
            })
            .try_init()
    };
    LogGuard(installed.ok().map(|()| guard))
}

/// The text format: each event through the template of its stream (target `request`,
/// `auth`, or anything else for standard lines). The templates were parsed once, at startup.
pub struct TemplateFormat {
    pub standard: LogTemplate,
    pub auth: LogTemplate,
    pub request: LogTemplate,
}

/// One optional text field of an event; the buffer keeps its capacity between events.
#[derive(Default)]
struct Slot {
    set: bool,
    text: String,
}

impl Slot {
    fn clear(&mut self) {
        self.set = false;
        self.text.clear();
    }
    /// The value, or `-` when absent or empty (oauth2-proxy's placeholder).
    fn or_dash(&self) -> &str {
        if self.set && !self.text.is_empty() {
            &self.text
        } else {
            "-"
        }
    }
    fn get(&self) -> Option<&str> {
        self.set.then_some(self.text.as_str())
    }
}

/// The fields of one event, as the templates need them. One per thread, reused: formatting a
/// request line allocates nothing once the buffers have grown.
#[derive(Default)]
struct EventFields {
    message: String,
    request_id: Slot,
    client: Slot,
    user: Slot,
    host: Slot,
    method: Slot,
    uri: Slot,
    protocol: Slot,
    status: Slot,
    size: Slot,
    upstream: Slot,
    duration_ms: Option<f64>,
    user_agent: Slot,
    /// Every other field as ` key=value`, appended to the message so nothing is lost.
    extra: String,
}

impl EventFields {
    fn clear(&mut self) {
        self.message.clear();
        for slot in [
            &mut self.request_id,
            &mut self.client,
            &mut self.user,
            &mut self.host,
            &mut self.method,
            &mut self.uri,
            &mut self.protocol,
            &mut self.status,
            &mut self.size,
            &mut self.upstream,
            &mut self.user_agent,
        ] {
            slot.clear();
        }
        self.duration_ms = None;
        self.extra.clear();
    }
}

thread_local! {
    static FIELDS: std::cell::RefCell<EventFields> = std::cell::RefCell::new(EventFields::default());
}

impl Visit for EventFields {
    fn record_f64(&mut self, field: &TField, value: f64) {
        if field.name() == "duration_ms" {
            self.duration_ms = Some(value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_i64(&mut self, field: &TField, value: i64) {
        // A response size that is not known up front is logged as -1: shown as "-".
        if field.name() == "size" && value < 0 {
            return;
        }
        self.record_debug(field, &value);
    }

    fn record_str(&mut self, field: &TField, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &TField, value: &dyn std::fmt::Debug) {
        let slot = match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
                return;
            }
            "request_id" => &mut self.request_id,
            "client" => &mut self.client,
            "user" => &mut self.user,
            "host" => &mut self.host,
            "method" => &mut self.method,
            "uri" => &mut self.uri,
            "protocol" => &mut self.protocol,
            "status" => &mut self.status,
            "size" => &mut self.size,
            "upstream" => &mut self.upstream,
            "user_agent" => &mut self.user_agent,
            name => {
                let _ = write!(self.extra, " {name}={value:?}");
                return;
            }
        };
        slot.text.clear();
        let _ = write!(slot.text, "{value:?}");
        slot.set = slot.text != "-1";
    }
}

/// oauth2-proxy's `{{.Timestamp}}` layout, `2006/01/02 15:04:05`, in UTC.
fn write_timestamp(w: &mut impl std::fmt::Write) -> std::fmt::Result {
    let now = cookie::time::OffsetDateTime::now_utc();
    write!(
        w,
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// oauth2-proxy's auth status from the event: errors are `AuthError`, warnings and refusals
/// `AuthFailure`, the rest `AuthSuccess`.
fn auth_status(level: &Level, message: &str) -> &'static str {
    if *level == Level::ERROR {
        "AuthError"
    } else if *level == Level::WARN || message.contains("rejected") || message.contains("failed") {
        "AuthFailure"
    } else {
        "AuthSuccess"
    }
}

impl<S, N> FormatEvent<S, N> for TemplateFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let template = match meta.target() {
            "request" => &self.request,
            "auth" => &self.auth,
            _ => &self.standard,
        };
        FIELDS.with(|cell| {
            // A re-entrant event (logging while formatting) gets fresh buffers.
            let mut fresh;
            let mut borrowed = cell.try_borrow_mut();
            let f: &mut EventFields = match borrowed.as_deref_mut() {
                Ok(f) => f,
                Err(_) => {
                    fresh = EventFields::default();
                    &mut fresh
                }
            };
            f.clear();
            event.record(f);
            let f = &*f;
            template.render(&mut writer, |field, w| match field {
                Field::Timestamp => write_timestamp(w),
                Field::File => {
                    let file = meta.file().unwrap_or("???");
                    let file = file.rsplit('/').next().unwrap_or(file);
                    write!(w, "{file}:{}", meta.line().unwrap_or(0))
                }
                Field::Message => {
                    if template.kind() == TemplateKind::Standard && *meta.level() != Level::INFO {
                        write!(w, "{}: ", meta.level())?;
                    }
                    w.write_str(&f.message)?;
                    w.write_str(&f.extra)
                }
                Field::Status => w.write_str(auth_status(meta.level(), &f.message)),
                Field::Client => w.write_str(f.client.or_dash()),
                Field::Host => w.write_str(f.host.or_dash()),
                Field::Protocol => w.write_str(f.protocol.or_dash()),
                Field::RequestID => w.write_str(f.request_id.or_dash()),
                Field::RequestMethod => w.write_str(f.method.or_dash()),
                Field::Username => w.write_str(f.user.or_dash()),
                Field::Upstream => w.write_str(f.upstream.or_dash()),
                Field::StatusCode => w.write_str(f.status.or_dash()),
                Field::ResponseSize => w.write_str(f.size.or_dash()),
                Field::RequestURI => write_quoted(w, f.uri.get().unwrap_or("")),
                Field::UserAgent => {
                    write_quoted(w, f.user_agent.get().filter(|u| *u != "-").unwrap_or(""))
                }
                Field::RequestDuration => {
                    write!(w, "{:.3}", f.duration_ms.unwrap_or(0.0) / 1000.0)
                }
            })
        })?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stream_can_be_switched_off() {
        let mut log = LoggingConfig::default();
        assert_eq!(
            filter_directives(&log),
            "info,request=info,auth=info,fred=error"
        );
        log.request_logging = false;
        log.auth_logging = false;
        log.standard_logging = false;
        assert_eq!(
            filter_directives(&log),
            "warn,request=off,auth=off,fred=error"
        );
    }
}
