//! Parking idle HTTP/1.1 keep-alive connections.
//!
//! hyper keeps a connection's read and write buffers (16 KiB and 8 KiB) as long as its
//! connection state lives. An HTTP/1.1 connection with no request in flight, nothing received
//! since its last response and nothing left to write holds no state worth keeping. After
//! [`PARK_AFTER`] like that, its hyper state is dropped and only the socket is kept, which is
//! what nginx does between requests. A fresh hyper connection is built when the socket becomes
//! readable again: the client's next request, or its close. Clients see nothing of this; the
//! TCP connection and its keep-alive stay as they were.
//!
//! The socket is shared ([`Shared`]) between the connection task and the [`SharedIo`] handed
//! to hyper, so that dropping hyper's state does not close it. Reads and writes go through
//! tokio's readiness API (`poll_read_ready` + `try_read_buf`, `poll_write_ready` +
//! `try_write`), which needs only `&self`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::conn::Slot;

/// How long an HTTP/1.1 connection must be idle before its hyper state is dropped. Short enough
/// that idle keep-alive connections (behind a front proxy's pool, or a browser's) cost little;
/// long enough that a busy connection is never parked between two of its requests.
pub(super) const PARK_AFTER: Duration = Duration::from_secs(1);

/// A stream socket usable through `&self` (tokio's TCP and Unix streams).
pub(super) trait Socket: Send + Sync + 'static {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    fn try_read_buf(&self, buf: &mut ReadBuf<'_>) -> io::Result<usize>;
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize>;
    fn shutdown_write(&self) -> io::Result<()>;
}

macro_rules! socket {
    ($t:ty) => {
        impl Socket for $t {
            fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                <$t>::poll_read_ready(self, cx)
            }
            fn try_read_buf(&self, buf: &mut ReadBuf<'_>) -> io::Result<usize> {
                <$t>::try_read_buf(self, buf)
            }
            fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                <$t>::poll_write_ready(self, cx)
            }
            fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
                <$t>::try_write(self, buf)
            }
            fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
                <$t>::try_write_vectored(self, bufs)
            }
            fn shutdown_write(&self) -> io::Result<()> {
                socket2::SockRef::from(self).shutdown(std::net::Shutdown::Write)
            }
        }
    };
}

socket!(tokio::net::TcpStream);
socket!(tokio::net::UnixStream);

/// The socket, and the connection's slot (held for as long as anything uses the socket:
/// the connection task, or a WebSocket tunnel after an upgrade).
pub(super) struct Shared<S> {
    socket: S,
    _slot: Slot,
}

impl<S: Socket> Shared<S> {
    pub(super) fn new(socket: S, slot: Slot) -> Arc<Self> {
        Arc::new(Self {
            socket,
            _slot: slot,
        })
    }

    /// Resolves when the socket has something to read (a request, or the client's close).
    pub(super) async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.socket.poll_read_ready(cx)).await
    }
}

/// hyper's view of a [`Shared`] socket. Dropping it leaves the socket open.
pub(super) struct SharedIo<S>(pub(super) Arc<Shared<S>>);

impl<S: Socket> AsyncRead for SharedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let socket = &self.0.socket;
        loop {
            ready!(socket.poll_read_ready(cx))?;
            match socket.try_read_buf(buf) {
                Ok(_) => return Poll::Ready(Ok(())),
                // The readiness was stale (cleared by try_read_buf): wait for the next.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl<S: Socket> AsyncWrite for SharedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let socket = &self.0.socket;
        loop {
            ready!(socket.poll_write_ready(cx))?;
            match socket.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let socket = &self.0.socket;
        loop {
            ready!(socket.poll_write_ready(cx))?;
            match socket.try_write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the socket.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.0.socket.shutdown_write() {
            // Already closed by the peer: nothing left to shut down.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
            done => Poll::Ready(done),
        }
    }
}
