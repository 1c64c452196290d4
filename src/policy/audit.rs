//! The policy's audit log (`auditLog`): one JSON object per decision, one per line, appended
//! to its own file (never mixed with the request log).
//!
//! Requests never wait for the disk: lines go through a bounded queue to a writer thread, and
//! when the queue is full the line is dropped and counted
//! (`authproxy_policy_audit_lines_dropped_total`).

use std::io::Write as _;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::SystemTime;

use crate::metrics::PolicyCounters;

/// Lines queued for the writer.
const QUEUE_LINES: usize = 16_384;

/// One decision, as written.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditEntry {
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    pub request_id: String,
    /// `proxy`, `auth_request`, `ext_authz`, `ext_authz_grpc`.
    pub endpoint: &'static str,
    pub user: String,
    pub email: String,
    pub provider: String,
    /// `session`, `bearer`, `htpasswd`.
    pub auth_method: &'static str,
    pub method: String,
    pub host: String,
    /// The path without its query (a query may carry secrets).
    pub path: String,
    /// The deciding rule, `(default)` or `(unmatchable)`.
    pub rule: String,
    /// `allow` or `deny`.
    pub decision: &'static str,
    pub reason: &'static str,
}

impl AuditEntry {
    /// The current time in the audit format.
    pub fn timestamp(now: SystemTime) -> String {
        humantime::format_rfc3339_millis(now).to_string()
    }
}

/// The open audit file's queue.
pub(super) struct AuditLog {
    tx: SyncSender<String>,
    counters: Arc<PolicyCounters>,
}

impl AuditLog {
    /// Open `path` for appending (created with mode 0600 when missing) and start its writer.
    pub fn open(path: &Path, counters: Arc<PolicyCounters>) -> Result<AuditLog, String> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options.open(path).map_err(|e| {
            format!(
                "policy auditLog {}: cannot open for appending: {e}",
                path.display()
            )
        })?;
        let (tx, rx) = sync_channel(QUEUE_LINES);
        let shown = path.display().to_string();
        std::thread::Builder::new()
            .name("policy-audit".into())
            .spawn(move || writer(file, rx, &shown))
            .map_err(|e| format!("policy auditLog: cannot start its writer: {e}"))?;
        Ok(AuditLog { tx, counters })
    }

    /// Queue one entry (dropped and counted when the writer is behind).
    pub fn write(&self, entry: AuditEntry) {
        let Ok(mut line) = serde_json::to_string(&entry) else {
            return;
        };
        line.push('\n');
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counters.audit_dropped();
            }
        }
    }
}

/// Write lines until every sender is gone; flush whenever the queue runs empty.
fn writer(file: std::fs::File, rx: Receiver<String>, path: &str) {
    let mut out = std::io::BufWriter::new(file);
    let mut failing = false;
    while let Ok(line) = rx.recv() {
        let mut result = out.write_all(line.as_bytes());
        while let Ok(more) = rx.try_recv() {
            result = result.and_then(|()| out.write_all(more.as_bytes()));
        }
        result = result.and_then(|()| out.flush());
        match result {
            Err(e) if !failing => {
                tracing::error!(file = path, error = %e, "cannot write the policy audit log");
                failing = true;
            }
            Ok(()) => failing = false,
            Err(_) => {}
        }
    }
}
