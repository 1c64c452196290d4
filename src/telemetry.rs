//! Logging setup. Log lines never carry tokens or cookie values; emails appear only in auth
//! and request events, as oauth2-proxy's auth and request logs do.
//!
//! Three streams, as oauth2-proxy has them: request lines (target `request`), authentication
//! events (target `auth`) and everything else (standard). Each can be switched off.
//!
//! Where lines go, as oauth2-proxy's logger: stdout, or the rotated `logging_filename`
//! ([`crate::logfile`]); error-level standard lines to stderr instead, unless
//! `errors_to_info_log`. Timestamps are local time unless `logging_local_time = false`.

use std::fmt::Write as _;

use tracing::field::{Field as TField, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_appender::non_blocking::NonBlocking;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LoggingConfig;

pub use crate::logformat::{write_quoted, Field, LogTemplate, TemplateKind};

mod batch;

/// The main output, for the serving workers' batches ([`worker_started`]).
static MAIN_OUTPUT: std::sync::OnceLock<NonBlocking> = std::sync::OnceLock::new();

/// A serving worker starts: its log lines are batched from now on (see `telemetry/batch.rs`).
pub fn worker_started() {
    if let Some(out) = MAIN_OUTPUT.get() {
        batch::enable_on_this_thread(out);
    }
}

/// A serving worker's tick: hand over its buffered log lines.
pub fn worker_tick() {
    batch::flush_this_thread();
}

/// How often a serving worker must call [`worker_tick`].
pub const WORKER_TICK: std::time::Duration = batch::TICK;

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

/// Keeps the background log writers alive; dropping it flushes what is still queued.
pub struct LogGuard(#[allow(dead_code)] Vec<tracing_appender::non_blocking::WorkerGuard>);

/// The writers of the two outputs: the main one (stdout or the log file) and the one for
/// error-level standard lines (stderr, or the main one with `errors_to_info_log`).
struct Outputs {
    main: NonBlocking,
    errors: NonBlocking,
}

/// One event's writer: the main output (batched on serving workers) or the error output.
enum OutWriter<'a> {
    Main(batch::LineWriter<'a>),
    Errors(NonBlocking),
}

impl std::io::Write for OutWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            OutWriter::Main(w) => w.write(buf),
            OutWriter::Errors(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Outputs {
    type Writer = OutWriter<'a>;

    fn make_writer(&'a self) -> OutWriter<'a> {
        OutWriter::Main(batch::LineWriter { direct: &self.main })
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> OutWriter<'a> {
        // oauth2-proxy's auth and request lines always go to the main output; only its
        // error-level standard lines go to the error writer.
        if *meta.level() == Level::ERROR && !matches!(meta.target(), "request" | "auth") {
            OutWriter::Errors(self.errors.clone())
        } else {
            self.make_writer()
        }
    }
}

/// A lossy bounded queue in front of `out`, written by a background thread.
fn queued(
    out: impl std::io::Write + Send + 'static,
    queue_lines: usize,
    name: &str,
) -> (NonBlocking, tracing_appender::non_blocking::WorkerGuard) {
    tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(queue_lines.max(1))
        .thread_name(name)
        .finish(out)
}

/// The main output's queue bound in messages: the serving workers queue batches of up to
/// [`batch::BATCH_BYTES`] (request lines are a few hundred bytes), so `log_queue_lines` lines
/// take about an eighth as many messages, and the memory bound stays what it was per line.
fn batched_queue(queue_lines: usize) -> usize {
    (queue_lines / 8).max(64)
}

/// Log lines queued for stdout by default (`log_queue_lines`).
pub const DEFAULT_LOG_QUEUE_LINES: usize = 16_384;

/// [`init_with_queue`] with the default queue.
pub fn init(log: &LoggingConfig) -> LogGuard {
    init_with_queue(log, DEFAULT_LOG_QUEUE_LINES)
}

/// Install the global subscriber: text (default) or one JSON object per line, written to
/// stdout (or `logging_filename`) by a background thread so request handlers never wait on
/// the output.
///
/// At most `queue_lines` lines wait for that thread. When the output does not keep up (a slow
/// or stuck log collector, a pipe nobody reads, a slow disk) further lines are dropped and
/// counted (`authproxy_log_lines_dropped_total`): a worker never blocks on logging. The error
/// stream (stderr) has a queue of its own, with the same bound.
pub fn init_with_queue(log: &LoggingConfig, queue_lines: usize) -> LogGuard {
    // An empty RUST_LOG counts as unset.
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(v.trim()).ok(),
        _ => None,
    }
    .unwrap_or_else(|| EnvFilter::new(filter_directives(log)));
    // The worker writes a whole batch of queued lines, then flushes: one write(2) per batch
    // instead of one per line under load (the log file buffers the same way).
    let (main, main_guard) = match &log.file {
        Some(file) => {
            // oauth2-proxy announces the switch on stdout before it.
            println!("Redirecting logging to file: {}", file.path.display());
            let rotation = crate::logfile::Rotation {
                max_size_mb: file.max_size_mb,
                max_age_days: file.max_age_days,
                max_backups: file.max_backups,
                local_time: log.local_time,
                compress: file.compress,
            };
            queued(
                crate::logfile::RotatingFile::new(file.path.clone(), rotation),
                batched_queue(queue_lines),
                "authproxy-log-file",
            )
        }
        None => queued(
            std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            batched_queue(queue_lines),
            "authproxy-log-stdout",
        ),
    };
    let _ = MAIN_OUTPUT.set(main.clone());
    let mut guards = vec![main_guard];
    let errors = if log.errors_to_info {
        main.clone()
    } else {
        let (errors, guard) = queued(
            std::io::BufWriter::with_capacity(16 * 1024, std::io::stderr()),
            queue_lines,
            "authproxy-log-stderr",
        );
        crate::metrics::global().set_error_log_drop_counter(errors.error_counter());
        guards.push(guard);
        errors
    };
    crate::metrics::global().set_log_drop_counter(main.error_counter());
    let ansi = log.file.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(Outputs { main, errors })
        .with_ansi(ansi);
    // A second init (tests, demo) is harmless: keep the first subscriber.
    let installed = if log.json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder
            .event_format(TemplateFormat {
                standard: log.standard_format.clone(),
                auth: log.auth_format.clone(),
                request: log.request_format.clone(),
                local_time: log.local_time,
            })
            .try_init()
    };
    LogGuard(if installed.is_ok() {
        guards
    } else {
        Vec::new()
    })
}

/// The text format: each event through the template of its stream (target `request`,
/// `auth`, or anything else for standard lines). The templates were parsed once, at startup.
pub struct TemplateFormat {
    pub standard: LogTemplate,
    pub auth: LogTemplate,
    pub request: LogTemplate,
    /// `logging_local_time`: timestamps in local time (else UTC).
    pub local_time: bool,
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

/// oauth2-proxy's `{{.Timestamp}}` layout, `2006/01/02 15:04:05`, in local time (as
/// oauth2-proxy with `logging_local_time`, its default) or UTC.
fn write_timestamp(w: &mut impl std::fmt::Write, local: bool) -> std::fmt::Result {
    fn civil<T: chrono::Datelike + chrono::Timelike>(
        w: &mut impl std::fmt::Write,
        t: &T,
    ) -> std::fmt::Result {
        write!(
            w,
            "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
    let now = chrono::Utc::now();
    if local {
        civil(w, &now.with_timezone(&chrono::Local))
    } else {
        civil(w, &now)
    }
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
                Field::Timestamp => write_timestamp(w, self.local_time),
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
