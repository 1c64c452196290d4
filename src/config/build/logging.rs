//! Where the log lines go: `logging_filename` with its rotation options, `errors_to_info_log`,
//! `logging_local_time`, and `request_id_header` (the request id of every log line).

use std::path::PathBuf;

use super::super::*;
use super::ctx::Ctx;

/// The output options of [`LoggingConfig`] (the rest keeps its defaults; the caller fills the
/// line formats and switches).
pub(super) fn log_outputs(c: &mut Ctx) -> LoggingConfig {
    let request_id_header = c.string("request_id_header").trim().to_string();
    if let Err(e) = http::HeaderName::from_bytes(request_id_header.as_bytes()) {
        c.fail(
            "request_id_header",
            format!("{request_id_header:?} is not a valid HTTP header name: {e}"),
        );
    }
    LoggingConfig {
        errors_to_info: c.boolean("errors_to_info_log"),
        local_time: c.boolean("logging_local_time"),
        request_id_header,
        file: log_file(c),
        ..LoggingConfig::default()
    }
}

fn log_file(c: &mut Ctx) -> Option<LogFileConfig> {
    let max_size_mb = count(c, "logging_max_size", false);
    let max_age_days = count(c, "logging_max_age", true);
    let max_backups = count(c, "logging_max_backups", true);
    let compress = c.boolean("logging_compress");
    let path = PathBuf::from(c.opt_string("logging_filename")?);
    if max_size_mb > u64::MAX / (1024 * 1024) {
        c.fail(
            "logging_max_size",
            format!("{max_size_mb} megabytes is too large"),
        );
    }
    // As oauth2-proxy's validation: the file is opened (created 0600 when missing) now, so a
    // path that cannot be written fails at startup and not at the first log line.
    if let Err(e) = check_writable(&path) {
        c.fail("logging_filename", e);
    }
    Some(LogFileConfig {
        path,
        max_size_mb,
        max_age_days,
        max_backups: usize::try_from(max_backups).unwrap_or(usize::MAX),
        compress,
    })
}

/// A count option: lumberjack treats a negative age or backup count as "no limit"; a negative
/// size would make every write fail (oauth2-proxy then panics on its first log line), so it is
/// refused.
fn count(c: &mut Ctx, key: &str, allow_negative: bool) -> u64 {
    let n = c.int(key);
    match u64::try_from(n) {
        Ok(v) => v,
        Err(_) if allow_negative => 0,
        Err(_) => {
            c.fail(key, format!("{n} must not be negative"));
            0
        }
    }
}

fn check_writable(path: &std::path::Path) -> Result<(), String> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        open.mode(0o600);
    }
    match open.open(path) {
        Ok(_) => Ok(()),
        // oauth2-proxy's words for this case; for any other failure it says "error closing the
        // log file", which names the wrong cause: the reason is given here instead.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(format!(
            "unable to write to log file: {} ({e})",
            path.display()
        )),
        Err(e) => Err(format!(
            "unable to open the log file {} ({e}); its directory must exist",
            path.display()
        )),
    }
}
