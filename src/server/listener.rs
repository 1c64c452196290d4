//! What a server accepts connections on: a TCP socket, or a Unix domain socket
//! (`http_address = "unix:///run/authproxy.sock[,mode=0660]"`, as oauth2-proxy v7).
//!
//! A Unix socket's file is created with the given mode and removed when the listener is
//! dropped (Go's listener does the same, so restarts behave alike). A socket file left behind
//! by a process that is gone (nothing accepts on it) is replaced; any other existing file is
//! an error, as in v7. Connections over a Unix socket come from this host: their peer is
//! reported as 127.0.0.1 (port 0), so the forwarded-header trust rule treats them as local.
//!
//! `fd:<n>` (systemd socket activation, as v7): the listening socket systemd passed as file
//! descriptor `n` (`LISTEN_FDS` / `LISTEN_PID`, the first one being 3), TCP or Unix. Its
//! socket file, if any, belongs to systemd and is left in place.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// A bound listener.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixSocket),
}

/// A Unix socket listener that removes its file on drop.
#[derive(Debug)]
pub struct UnixSocket {
    listener: UnixListener,
    /// The socket file this process created (none for an inherited socket).
    path: Option<PathBuf>,
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The sockets systemd passed (taken from the environment once, the first time asked; v7's
/// go-systemd reader also removes `LISTEN_FDS` / `LISTEN_PID` so children do not see them).
static INHERITED: Mutex<Option<listenfd::ListenFd>> = Mutex::new(None);

/// Read `LISTEN_FDS` / `LISTEN_PID` now. `main` calls this before it starts any thread (the
/// reader removes the two variables from the environment); later calls do nothing.
pub fn take_inherited_sockets() {
    let mut guard = INHERITED.lock().unwrap_or_else(|p| p.into_inner());
    if guard.is_none() {
        *guard = Some(listenfd::ListenFd::from_env());
    }
}

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: u32 = 3;

/// One accepted connection.
pub enum Accepted {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// The address reported for connections over a Unix socket (and as its local address).
pub const UNIX_PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

impl From<TcpListener> for Listener {
    fn from(l: TcpListener) -> Self {
        Listener::Tcp(l)
    }
}

impl Listener {
    /// Bind a Unix socket at `path`, then set its file `mode` when given.
    pub fn bind_unix(path: &Path, mode: Option<u32>) -> io::Result<Self> {
        let listener = match UnixListener::bind(path) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && is_stale_socket(path) => {
                std::fs::remove_file(path)?;
                UnixListener::bind(path)?
            }
            Err(e) => return Err(e),
        };
        let socket = UnixSocket {
            listener,
            path: Some(path.to_owned()),
        };
        if let Some(mode) = mode {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot set the socket file mode {mode:o} on {}: {e}",
                        path.display()
                    ),
                )
            })?;
        }
        Ok(Listener::Unix(socket))
    }

    /// The listening socket systemd passed as descriptor `fd` (`fd:3` is the first), TCP or
    /// Unix; an error names what is wrong (no socket activation, out of range, taken twice,
    /// not a listening stream socket).
    pub fn inherited(fd: u32) -> io::Result<Self> {
        take_inherited_sockets();
        let mut guard = INHERITED.lock().unwrap_or_else(|p| p.into_inner());
        let fds = guard.get_or_insert_with(listenfd::ListenFd::empty);
        let count = fds.len();
        let index = fd
            .checked_sub(LISTEN_FDS_START)
            .map(|i| i as usize)
            .filter(|i| *i < count)
            .ok_or_else(|| {
                let passed = match count {
                    0 => "systemd passed no sockets to this process (LISTEN_FDS / LISTEN_PID)"
                        .to_owned(),
                    n => format!("systemd passed {n} socket(s): fd:3 to fd:{}", 2 + n),
                };
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("fd:{fd} is outside the available file descriptors: {passed}"),
                )
            })?;
        let taken_twice = || {
            io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("fd:{fd} is already used by another listener"),
            )
        };
        match fds.take_tcp_listener(index) {
            Ok(Some(l)) => {
                l.set_nonblocking(true)?;
                return Ok(Listener::Tcp(TcpListener::from_std(l)?));
            }
            Ok(None) => return Err(taken_twice()),
            Err(_) => {}
        }
        match fds.take_unix_listener(index) {
            Ok(Some(l)) => {
                l.set_nonblocking(true)?;
                Ok(Listener::Unix(UnixSocket {
                    listener: UnixListener::from_std(l)?,
                    path: None,
                }))
            }
            Ok(None) => Err(taken_twice()),
            Err(e) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("fd:{fd} is not a listening TCP or Unix stream socket ({e})"),
            )),
        }
    }

    /// The local address (for a Unix socket, [`UNIX_PEER`]).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr(),
            Listener::Unix(_) => Ok(UNIX_PEER),
        }
    }

    /// The next connection and its peer address.
    pub async fn accept(&self) -> io::Result<(Accepted, SocketAddr)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((Accepted::Tcp(s), peer))
            }
            Listener::Unix(u) => {
                let (s, _) = u.listener.accept().await?;
                Ok((Accepted::Unix(s), UNIX_PEER))
            }
        }
    }
}

/// A socket file nobody accepts on any more.
fn is_stale_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
    is_socket && std::os::unix::net::UnixStream::connect(path).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unix_socket_gets_its_mode_replaces_a_stale_file_and_is_removed_on_drop() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("authproxy-listener-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.sock");
        let l = Listener::bind_unix(&path, Some(0o660)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        // In use: a second bind fails.
        assert!(Listener::bind_unix(&path, None).is_err());
        let client = tokio::spawn({
            let path = path.clone();
            async move { UnixStream::connect(&path).await.is_ok() }
        });
        let (_, peer) = l.accept().await.unwrap();
        assert_eq!(peer, UNIX_PEER);
        assert!(client.await.unwrap());
        drop(l);
        assert!(
            !path.exists(),
            "the socket file is removed with the listener"
        );

        // A stale socket file (its listener gone without cleanup) is replaced.
        let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(stale);
        assert!(path.exists());
        let l = Listener::bind_unix(&path, None).unwrap();
        drop(l);
        // Any other file is left alone and is an error.
        std::fs::write(&path, b"not a socket").unwrap();
        assert!(Listener::bind_unix(&path, None).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
