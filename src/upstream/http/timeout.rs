//! `upstream_timeout`: the wait for response headers, restarted whenever the request body
//! makes progress.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ::http::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::Instant;

use super::HttpTarget;
use crate::upstream::UpstreamError;
use crate::{Body, BoxError};

/// Waits for the response headers, timing out when neither the request body nor the upstream
/// has made progress for `timeout` (shared by the HTTP/1.1 clients and HTTP/2).
pub(super) async fn await_headers<F>(
    target: &HttpTarget,
    activity: Option<&Activity>,
    fut: F,
) -> Result<Response<Body>, UpstreamError>
where
    F: std::future::Future<Output = Result<Response<Body>, UpstreamError>>,
{
    tokio::pin!(fut);
    let start = activity.map_or_else(Instant::now, |a| a.start);
    let timeout = target.opts.timeout;
    // A zero timeout means none, as for Go's ResponseHeaderTimeout.
    if timeout.is_zero() {
        return fut.await;
    }
    loop {
        let last = activity.map_or(0, Activity::last_millis);
        let deadline = start + Duration::from_millis(last) + timeout;
        match tokio::time::timeout_at(deadline, &mut fut).await {
            Ok(result) => return result,
            // The request body moved after the deadline was computed: wait on.
            Err(_) if activity.is_some_and(|a| a.last_millis() != last) => {}
            Err(_) => {
                return Err(UpstreamError::Timeout {
                    target: target.label.clone(),
                    timeout,
                })
            }
        }
    }
}

/// Milliseconds since the request started at which the request body last made progress.
pub(super) struct Activity {
    start: Instant,
    last: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }

    fn last_millis(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }
}

/// The client's body on its way to the app, recording progress for the timeout.
pub(super) struct TrackedBody<B> {
    pub(super) inner: B,
    pub(super) activity: Option<Arc<Activity>>,
}

impl<B> HttpBody for TrackedBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let (Poll::Ready(_), Some(a)) = (&polled, &this.activity) {
            a.touch();
        }
        polled.map(|opt| opt.map(|res| res.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
