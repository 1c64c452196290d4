//! What one connection is doing, for the header-read and idle timeouts.
//!
//! hyper's own header-read timer starts whenever an HTTP/1.1 connection waits for a request
//! head, idle keep-alive time included, so it cannot tell a slow client from an idle one.
//! nginx can, and so can this: a connection is
//! * *reading a head* from its start, and again from the first byte received after its last
//!   response; the head must be complete within `header_read_timeout` (slowloris), or the
//!   connection is dropped;
//! * *busy* while a request is being served (from the head until the response body is sent);
//! * *idle* otherwise; after `idle_connection_timeout` it is shut down gracefully (HTTP/1.1:
//!   closed, HTTP/2: GOAWAY).
//!
//! HTTP/2 connections are never "reading a head" after their first request: bytes between
//! requests may be pings or window updates, and stream headers are bounded by the h2 limits.
//!
//! The bookkeeping is a few relaxed atomics per read and per request; the timer is one sleep
//! per connection, re-armed when it fires.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Version;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::BoxError;

/// `head_since` when no request head is arriving.
const NOT_READING: u64 = u64::MAX;

/// The state of one connection; times are milliseconds since the connection started.
#[derive(Debug)]
pub(super) struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    /// When the connection last became idle.
    idle_since: AtomicU64,
    /// When the head of the next request started to arrive, or [`NOT_READING`].
    head_since: AtomicU64,
    /// An HTTP/2 connection (set at its first request).
    http2: AtomicBool,
    /// The last write or flush toward the client could not complete (the client is not
    /// reading): hyper still holds bytes to send.
    write_pending: AtomicBool,
}

/// Whether an idle connection's hyper state can be dropped ([`super::park`]).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Park {
    /// Not now: a request is in flight or arriving, output is pending, or it is HTTP/2.
    No,
    /// Idle, and due for parking after this long.
    In(Duration),
    /// Idle long enough: park it.
    Now,
}

/// What the connection's timer should do now.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Check {
    /// Nothing is due: look again after this long.
    Wait(Duration),
    /// A request head did not arrive within `header_read_timeout`: drop the connection.
    HeadTimeout,
    /// No request for `idle_connection_timeout`: shut the connection down.
    Idle,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Activity {
    /// A new connection: its first request head is due from now on.
    pub(super) fn new() -> Self {
        Self {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            http2: AtomicBool::new(false),
            write_pending: AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        millis(self.start.elapsed())
    }

    /// Bytes arrived from the client.
    fn bytes_read(&self) {
        if self.head_since.load(Ordering::Relaxed) == NOT_READING
            && self.in_flight.load(Ordering::Relaxed) == 0
            && !self.http2.load(Ordering::Relaxed)
        {
            self.head_since.store(self.now(), Ordering::Relaxed);
        }
    }

    /// A request head was received; the connection is busy until the guard is dropped (with
    /// the response body, or with the request if it is cancelled).
    pub(super) fn request_started(self: &Arc<Self>, version: Version) -> RequestGuard {
        if version == Version::HTTP_2 {
            self.http2.store(true, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(NOT_READING, Ordering::Relaxed);
        RequestGuard(Arc::clone(self))
    }

    /// Whether the connection can be parked, `after` being the idle time that makes it due.
    pub(super) fn park(&self, after: Duration) -> Park {
        self.park_at(self.now(), after)
    }

    pub(super) fn park_at(&self, now: u64, after: Duration) -> Park {
        if self.in_flight.load(Ordering::Acquire) > 0
            || self.head_since.load(Ordering::Relaxed) != NOT_READING
            || self.http2.load(Ordering::Relaxed)
            || self.write_pending.load(Ordering::Relaxed)
        {
            return Park::No;
        }
        let due = self
            .idle_since
            .load(Ordering::Relaxed)
            .saturating_add(millis(after));
        if now >= due {
            Park::Now
        } else {
            Park::In(Duration::from_millis(due - now))
        }
    }

    /// How much of `idle_timeout` is left since the connection last became idle.
    pub(super) fn idle_left(&self, idle_timeout: Duration) -> Duration {
        let due = self
            .idle_since
            .load(Ordering::Relaxed)
            .saturating_add(millis(idle_timeout));
        Duration::from_millis(due.saturating_sub(self.now()))
    }

    fn wrote(&self, polled: bool) {
        self.write_pending.store(!polled, Ordering::Relaxed);
    }

    /// What is due, given the two timeouts.
    pub(super) fn check(&self, header_timeout: Duration, idle_timeout: Duration) -> Check {
        self.check_at(self.now(), header_timeout, idle_timeout)
    }

    pub(super) fn check_at(&self, now: u64, header_timeout: Duration, idle: Duration) -> Check {
        let (header_ms, idle_ms) = (millis(header_timeout), millis(idle));
        // The state may change at any moment (a head starts to arrive, a request ends): never
        // sleep longer than the shorter timeout, so that every deadline is seen on time (the
        // check after a change computes it exactly).
        let poll = Duration::from_millis(header_ms.min(idle_ms).max(1));
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Check::Wait(poll);
        }
        let head = self.head_since.load(Ordering::Relaxed);
        if head != NOT_READING && !self.http2.load(Ordering::Relaxed) {
            let due = head.saturating_add(header_ms);
            return if now >= due {
                Check::HeadTimeout
            } else {
                Check::Wait(Duration::from_millis(due - now).min(poll))
            };
        }
        let due = self
            .idle_since
            .load(Ordering::Relaxed)
            .saturating_add(idle_ms);
        if now >= due {
            Check::Idle
        } else {
            Check::Wait(Duration::from_millis(due - now).min(poll))
        }
    }
}

/// Keeps its connection busy while it lives.
#[derive(Debug)]
pub(super) struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let a = &self.0;
        if a.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            a.idle_since.store(a.now(), Ordering::Relaxed);
        }
    }
}

/// A response body that keeps its connection busy until it is sent (or dropped).
pub(super) struct TrackedBody {
    pub(super) inner: crate::Body,
    pub(super) _guard: RequestGuard,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The client's stream, reporting received bytes to its [`Activity`]. It holds the
/// connection's slot (and its count in `authproxy_connections_open`) for as long as it
/// lives: after an upgrade (WebSocket) that is the tunnel's lifetime, not the HTTP
/// connection's.
pub(super) struct TrackedIo<T> {
    inner: T,
    activity: Arc<Activity>,
    /// `None` when the socket holds the slot itself ([`super::park::Shared`]).
    _slot: Option<Slot>,
}

/// A connection slot and its count in `authproxy_connections_open`.
pub(super) type Slot = (
    tokio::sync::OwnedSemaphorePermit,
    crate::metrics::InFlight<'static>,
);

impl<T> TrackedIo<T> {
    pub(super) fn new(inner: T, activity: Arc<Activity>, slot: Option<Slot>) -> Self {
        Self {
            inner,
            activity,
            _slot: slot,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.activity.wrote(polled.is_ready());
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.activity.wrote(polled.is_ready());
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.activity.wrote(polled.is_ready());
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: Duration = Duration::from_secs(1);
    const IDLE: Duration = Duration::from_secs(2);

    fn wait(ms: u64) -> Check {
        Check::Wait(Duration::from_millis(ms))
    }

    #[test]
    fn the_first_head_is_due_from_the_connection_start() {
        let a = Activity::new();
        assert_eq!(a.check_at(0, HEAD, IDLE), wait(1000));
        assert_eq!(a.check_at(400, HEAD, IDLE), wait(600));
        assert_eq!(a.check_at(1000, HEAD, IDLE), Check::HeadTimeout);
        // A long head timeout: still woken within the idle timeout, in case the head
        // completes and the connection goes idle.
        assert_eq!(a.check_at(0, IDLE * 10, IDLE), wait(2000));
    }

    #[test]
    fn a_busy_connection_has_no_deadline_and_is_polled() {
        let a = Arc::new(Activity::new());
        let guard = a.request_started(Version::HTTP_11);
        assert_eq!(a.check_at(50_000, HEAD, IDLE), wait(1000));
        a.bytes_read(); // request body bytes: still busy, not a new head
        assert_eq!(a.head_since.load(Ordering::Relaxed), NOT_READING);
        drop(guard);
        assert_eq!(a.in_flight.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn idle_time_counts_from_the_end_of_the_last_response() {
        let a = Arc::new(Activity::new());
        drop(a.request_started(Version::HTTP_11));
        a.idle_since.store(10_000, Ordering::Relaxed);
        // Idle: never sleep past a head timeout that could start any moment.
        assert_eq!(a.check_at(10_000, HEAD, IDLE), wait(1000));
        assert_eq!(a.check_at(11_500, HEAD, IDLE), wait(500));
        assert_eq!(a.check_at(12_000, HEAD, IDLE), Check::Idle);
    }

    #[test]
    fn the_first_byte_after_idle_starts_the_head_timeout() {
        let a = Arc::new(Activity::new());
        drop(a.request_started(Version::HTTP_11));
        a.bytes_read();
        let since = a.head_since.load(Ordering::Relaxed);
        assert_ne!(since, NOT_READING);
        // More bytes do not move the deadline (slowloris trickling).
        a.head_since.store(5_000, Ordering::Relaxed);
        a.bytes_read();
        assert_eq!(a.head_since.load(Ordering::Relaxed), 5_000);
        assert_eq!(a.check_at(5_900, HEAD, IDLE), wait(100));
        assert_eq!(a.check_at(6_000, HEAD, IDLE), Check::HeadTimeout);
        // The head completes: busy again.
        let _g = a.request_started(Version::HTTP_11);
        assert_eq!(a.check_at(60_000, HEAD, IDLE), wait(1000));
    }

    #[test]
    fn http2_connections_are_only_timed_for_idleness_after_their_first_request() {
        let a = Arc::new(Activity::new());
        drop(a.request_started(Version::HTTP_2));
        a.idle_since.store(0, Ordering::Relaxed);
        a.bytes_read(); // a PING or WINDOW_UPDATE
        assert_eq!(a.head_since.load(Ordering::Relaxed), NOT_READING);
        assert_eq!(a.check_at(1_500, HEAD, IDLE), wait(500));
        assert_eq!(a.check_at(2_000, HEAD, IDLE), Check::Idle);
    }

    #[test]
    fn only_a_quiet_http1_connection_is_parked_after_its_idle_time() {
        const AFTER: Duration = Duration::from_secs(1);
        let a = Arc::new(Activity::new());
        // Before its first request a connection is reading a head: never parked.
        assert_eq!(a.park_at(10_000, AFTER), Park::No);
        let guard = a.request_started(Version::HTTP_11);
        assert_eq!(a.park_at(10_000, AFTER), Park::No, "busy");
        drop(guard);
        a.idle_since.store(10_000, Ordering::Relaxed);
        assert_eq!(
            a.park_at(10_400, AFTER),
            Park::In(Duration::from_millis(600))
        );
        assert_eq!(a.park_at(11_000, AFTER), Park::Now);
        // Output the client has not taken yet: hyper still holds it.
        a.wrote(false);
        assert_eq!(a.park_at(11_000, AFTER), Park::No);
        a.wrote(true);
        assert_eq!(a.park_at(11_000, AFTER), Park::Now);
        // The next request starts to arrive.
        a.bytes_read();
        assert_eq!(a.park_at(11_000, AFTER), Park::No);
        // HTTP/2 connections are never parked.
        let h2 = Arc::new(Activity::new());
        drop(h2.request_started(Version::HTTP_2));
        h2.idle_since.store(0, Ordering::Relaxed);
        assert_eq!(h2.park_at(100_000, AFTER), Park::No);
    }

    #[test]
    fn requests_in_flight_are_counted_until_the_last_guard_drops() {
        let a = Arc::new(Activity::new());
        let one = a.request_started(Version::HTTP_2);
        let two = a.request_started(Version::HTTP_2);
        a.idle_since.store(0, Ordering::Relaxed);
        drop(one);
        assert_eq!(a.check_at(100_000, HEAD, IDLE), wait(1000));
        drop(two);
        assert_eq!(a.in_flight.load(Ordering::Relaxed), 0);
        assert_eq!(a.check_at(u64::MAX, HEAD, IDLE), Check::Idle);
    }
}
