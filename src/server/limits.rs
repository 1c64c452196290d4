//! What a listener allows one client, the connection slots the listeners share, and the
//! file-descriptor budget behind them.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::LimitsConfig;

/// Per-connection limits of a listener (`max_request_header_bytes`, `header_read_timeout`,
/// `idle_connection_timeout` and the `http2_*` options).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Request line plus header fields; larger requests get 431.
    pub max_request_header_bytes: usize,
    /// Time to receive a whole request head, from the connection's start or from the first
    /// byte of a later request.
    pub header_read_timeout: Duration,
    /// A connection with no request in progress is closed after this.
    pub idle_timeout: Duration,
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2 streams a client may open and reset before they are served (rapid reset).
    pub http2_max_pending_reset_streams: usize,
    /// HTTP/2 streams the server may reset for a client's errors before closing the connection.
    pub http2_max_local_reset_streams: usize,
}

impl ListenerLimits {
    /// The limits the configuration asks for.
    pub fn from_config(l: &LimitsConfig) -> Self {
        Self {
            max_request_header_bytes: l.max_request_header_bytes,
            header_read_timeout: l.header_read_timeout,
            idle_timeout: l.idle_connection_timeout,
            http2_max_concurrent_streams: l.http2_max_concurrent_streams,
            http2_max_pending_reset_streams: l.http2_max_pending_reset_streams,
            http2_max_local_reset_streams: l.http2_max_local_reset_streams,
        }
    }
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self::from_config(&LimitsConfig::default())
    }
}

/// Connection slots: every accepted client connection holds one until it is closed. When all
/// are taken the listeners stop accepting, so new connections wait in the kernel's listen
/// queue (and are refused by the kernel once that is full) instead of costing memory and
/// file descriptors here.
#[derive(Clone, Debug)]
pub struct ConnectionSlots {
    sem: Arc<Semaphore>,
    max: usize,
}

impl ConnectionSlots {
    /// `max` slots (at least one).
    pub fn new(max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            sem: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// The number of slots.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Connections holding a slot now.
    pub fn open(&self) -> usize {
        self.max.saturating_sub(self.sem.available_permits())
    }

    /// Waits for a free slot. `None` only if the slots were closed (never, in practice).
    pub(super) async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.sem).acquire_owned().await.ok()
    }
}

/// File descriptors kept for everything that is not a client connection: listeners, the
/// metrics listener's 64 connections, the epoll instance, stdout, the identity provider's and
/// the app's idle pooled connections.
pub const FD_RESERVE: u64 = 128;

/// The most client connections a file-descriptor limit of `nofile` allows: each may hold one
/// connection to the app while its request is in flight, plus [`FD_RESERVE`].
pub fn fd_connection_cap(nofile: u64) -> usize {
    let cap = nofile.saturating_sub(FD_RESERVE) / 2;
    usize::try_from(cap).unwrap_or(usize::MAX).max(1)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as every Go program (oauth2-proxy
/// included) does at startup since Go 1.19, and returns the soft limit in force afterwards
/// (`None`: unlimited or unknown).
#[cfg(unix)]
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    // Linux refuses more than fs.nr_open (1 Mi by default) even with an unlimited hard limit.
    const CEILING: u64 = 1 << 20;
    let now = getrlimit(Resource::Nofile);
    let want = now.maximum.unwrap_or(CEILING);
    if now.current.is_some_and(|c| c < want) {
        let raised = Rlimit {
            current: Some(want),
            maximum: now.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!(error = %e, "could not raise the file-descriptor limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// Without `getrlimit`, nothing is known.
#[cfg(not(unix))]
pub fn raise_fd_limit() -> Option<u64> {
    None
}

/// The connection slots for `max_connections` when the file-descriptor limit is `nofile`.
/// The default is lowered to what the limit allows (with a warning naming the option); a value
/// set explicitly is kept, with a warning, as nginx does with `worker_connections`: then under
/// full load `accept` (which backs off) or connecting to the app (a 502) may run short of
/// descriptors, but nothing else.
pub fn connection_slots(
    max_connections: usize,
    explicit: bool,
    nofile: Option<u64>,
) -> ConnectionSlots {
    let allowed = nofile.map_or(usize::MAX, fd_connection_cap);
    if allowed >= max_connections {
        return ConnectionSlots::new(max_connections);
    }
    if explicit {
        tracing::warn!(
            max_connections,
            fd_budget = allowed,
            nofile = nofile.unwrap_or(0),
            "max_connections exceeds what the file-descriptor limit (ulimit -n) allows at two \
             per connection (client and app); kept as configured"
        );
        return ConnectionSlots::new(max_connections);
    }
    tracing::warn!(
        max_connections,
        lowered_to = allowed,
        nofile = nofile.unwrap_or(0),
        "max_connections lowered to what the file-descriptor limit (ulimit -n) allows: \
         each connection may use two (client and app); raise the limit to serve more"
    );
    ConnectionSlots::new(allowed)
}

/// How long to wait before the next `accept` after it failed with `e`; `previous` is the
/// wait after the last failure (zero after a success).
///
/// A client that gave up before it was accepted is no reason to wait. Anything else (out of
/// file descriptors, EMFILE / ENFILE, or memory, ENOBUFS / ENOMEM) backs off, doubling from
/// 10 ms up to 1 s while the failures go on, so that a process that is full neither spins on
/// a listener that stays readable nor floods its log.
pub fn accept_backoff(e: &io::Error, previous: Duration) -> Duration {
    match e.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted
        | io::ErrorKind::WouldBlock => Duration::ZERO,
        _ => (previous * 2).clamp(Duration::from_millis(10), Duration::from_secs(1)),
    }
}
