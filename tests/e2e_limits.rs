//! End to end: the listener limits (docs/limits.md), each configured small so that a test
//! takes seconds, each asserted with a client that misbehaves exactly as an attacker would:
//! raw TCP for slowloris, oversized heads, idle keep-alive and the connection cap; raw HTTP/2
//! frames for the stream limit and a rapid-reset burst.

mod support;

use std::time::{Duration, Instant};

use support::h2raw::{self, H2};
use support::{IdpConfig, ProxyConfig, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// IdP, echo app and a proxy configured by `configure`; `/open…` skips authentication (the
/// echo app behind it reads the whole request body before it answers).
async fn stack(configure: impl FnOnce(ProxyConfig) -> ProxyConfig) -> Stack {
    Stack::start_with(IdpConfig::default(), |c| {
        configure(c.set("skip-auth-route", "^/open"))
    })
    .await
}

async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect")
}

/// Reads one response (status line, headers, Content-Length body); `None` on EOF or timeout.
async fn read_response(s: &mut TcpStream, wait: Duration) -> Option<(u16, String)> {
    let deadline = Instant::now() + wait;
    let mut buf = Vec::new();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status = head.split_whitespace().nth(1)?.parse().ok()?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Some((status, head));
            }
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
}

/// Waits until the server closes `s` (EOF or reset); how long that took, `None` if it stayed
/// open for `wait`. Anything the server sends first is discarded.
async fn closed_after(s: &mut TcpStream, wait: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut chunk = [0u8; 4096];
    loop {
        let left = (start + wait).checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

fn ping(extra: &str) -> String {
    format!("GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_heads_over_max_request_header_bytes_get_431_over_http1_and_http2() {
    let st = stack(|c| c.set("max-request-header-bytes", "8192")).await;
    let port = st.proxy.port();
    let header = |n: usize| format!("X-Big: {}\r\n", "a".repeat(n));

    for (size, want) in [(4_000, 200), (9_000, 431), (30_000, 431), (200_000, 431)] {
        let mut s = connect(port).await;
        // Write errors are fine for the largest head: the server may close while we write.
        let _ = s.write_all(ping(&header(size)).as_bytes()).await;
        let got = read_response(&mut s, Duration::from_secs(5)).await;
        assert_eq!(
            got.as_ref().map(|r| r.0),
            Some(want),
            "a {size}-byte header: {got:?}"
        );
    }
    // Many small fields add up just the same.
    let many: String = (0..400)
        .map(|i| format!("X-F{i}: 0123456789\r\n"))
        .collect();
    let mut s = connect(port).await;
    s.write_all(ping(&many).as_bytes()).await.unwrap();
    assert_eq!(
        read_response(&mut s, Duration::from_secs(5))
            .await
            .map(|r| r.0),
        Some(431)
    );

    // HTTP/2 (prior knowledge): the same limit, as SETTINGS_MAX_HEADER_LIST_SIZE and 431.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_proxy()
        .build()
        .unwrap();
    let url = st.proxy.url("/ping");
    let ok = h2
        .get(&url)
        .header("x-big", "a".repeat(4_000))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.version(), reqwest::Version::HTTP_2);
    let big = h2.get(&url).header("x-big", "a".repeat(9_000)).send().await;
    match big {
        Ok(resp) => assert_eq!(resp.status(), 431),
        // The client itself may refuse to send more than the server's advertised list size.
        Err(e) => assert!(format!("{e:?}").to_lowercase().contains("header"), "{e:?}"),
    }
    let mut raw = H2::connect(port).await;
    let (_, settings) = raw
        .until(Duration::from_secs(5), |f| {
            f.kind == h2raw::SETTINGS && f.flags & h2raw::ACK == 0
        })
        .await;
    let settings = settings.expect("server SETTINGS").settings();
    assert!(
        settings.contains(&(h2raw::SETTINGS_MAX_HEADER_LIST_SIZE, 8192)),
        "{settings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_trickled_slowly_is_dropped_after_header_read_timeout() {
    let st = stack(|c| {
        c.set("header-read-timeout", "1s")
            .set("idle-connection-timeout", "30s")
    })
    .await;
    let port = st.proxy.port();

    // Slowloris: a header line every 200 ms never completes the head.
    let mut slow = connect(port).await;
    slow.write_all(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let trickle = async {
        for i in 0..30 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow
                .write_all(format!("X-{i}: a\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
            let mut probe = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                _ => {}
            }
        }
        started.elapsed()
    };
    let cut = trickle.await;
    assert!(
        cut >= Duration::from_millis(900) && cut < Duration::from_secs(4),
        "a trickled head was cut after {cut:?}, not after about 1 s"
    );

    // A connection that sends nothing at all: its first head is due from the start.
    let mut silent = connect(port).await;
    let closed = closed_after(&mut silent, Duration::from_secs(5)).await;
    assert!(
        closed.is_some_and(|d| d >= Duration::from_millis(900)),
        "a silent connection: {closed:?}"
    );

    // Idle keep-alive time is NOT head time: 2 s idle (twice the header timeout) between two
    // requests is fine while idle_connection_timeout is 30 s.
    let mut kept = connect(port).await;
    kept.write_all(ping("").as_bytes()).await.unwrap();
    assert_eq!(
        read_response(&mut kept, Duration::from_secs(5))
            .await
            .map(|r| r.0),
        Some(200)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    kept.write_all(ping("").as_bytes()).await.unwrap();
    assert_eq!(
        read_response(&mut kept, Duration::from_secs(5))
            .await
            .map(|r| r.0),
        Some(200),
        "the keep-alive connection was closed while idle for less than idle_connection_timeout"
    );
    assert_eq!(st.app.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_keep_alive_connection_serves_its_next_requests_and_still_times_out() {
    // After 1 s idle an HTTP/1.1 connection keeps only its socket (src/server/park.rs); the
    // client must not notice, and idle_connection_timeout still counts from the last response.
    let st = stack(|c| {
        c.set("idle-connection-timeout", "3s")
            .set("header-read-timeout", "30s")
    })
    .await;
    let port = st.proxy.port();
    let mut s = connect(port).await;
    for round in 0..3 {
        let body = format!("round {round}");
        let upload = format!(
            "POST /open/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(upload.as_bytes()).await.unwrap();
        let resp = read_response(&mut s, Duration::from_secs(5)).await;
        assert_eq!(resp.map(|r| r.0), Some(200), "round {round} after parking");
        // Parked after 1 s, well within the 3 s idle timeout.
        tokio::time::sleep(Duration::from_millis(1600)).await;
    }
    assert_eq!(st.app.hits(), 3, "every request reached the app");
    let closed = closed_after(&mut s, Duration::from_secs(6)).await;
    assert!(
        closed.is_some_and(|d| d >= Duration::from_millis(1000) && d < Duration::from_secs(3)),
        "the parked connection was closed after {closed:?} more, not at idle_connection_timeout (3 s after its last response)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed_but_requests_in_progress_are_not() {
    let st = stack(|c| {
        c.set("idle-connection-timeout", "1s")
            .set("header-read-timeout", "30s")
    })
    .await;
    let port = st.proxy.port();

    let mut s = connect(port).await;
    s.write_all(ping("").as_bytes()).await.unwrap();
    assert_eq!(
        read_response(&mut s, Duration::from_secs(5))
            .await
            .map(|r| r.0),
        Some(200)
    );
    // Reused within the timeout: still open.
    tokio::time::sleep(Duration::from_millis(400)).await;
    s.write_all(ping("").as_bytes()).await.unwrap();
    assert_eq!(
        read_response(&mut s, Duration::from_secs(5))
            .await
            .map(|r| r.0),
        Some(200)
    );
    let closed = closed_after(&mut s, Duration::from_secs(6)).await;
    assert!(
        closed.is_some_and(|d| d >= Duration::from_millis(900) && d < Duration::from_secs(4)),
        "an idle keep-alive connection was closed after {closed:?}, not after about 1 s"
    );

    // A request whose body takes 2.5 s to arrive is in progress, not idle.
    let mut upload = connect(port).await;
    upload
        .write_all(
            b"POST /open/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        upload.write_all(b"4\r\ndata\r\n").await.unwrap();
    }
    upload.write_all(b"0\r\n\r\n").await.unwrap();
    let resp = read_response(&mut upload, Duration::from_secs(5)).await;
    assert_eq!(
        resp.map(|r| r.0),
        Some(200),
        "a slow upload was cut as idle"
    );

    // HTTP/2: an idle connection gets GOAWAY, then is closed.
    let mut h2 = H2::connect(port).await;
    h2.send(&h2raw::request(1, "GET", "/ping", "127.0.0.1", true))
        .await
        .unwrap();
    let (_, end) = h2
        .until(Duration::from_secs(5), |f| {
            f.stream == 1 && f.flags & h2raw::END_STREAM != 0
        })
        .await;
    assert!(end.is_some(), "no HTTP/2 response");
    let idle_from = Instant::now();
    let (_, goaway) = h2
        .until(Duration::from_secs(6), |f| f.kind == h2raw::GOAWAY)
        .await;
    let goaway = goaway.expect("GOAWAY on an idle HTTP/2 connection");
    assert_eq!(goaway.error_code(), Some(h2raw::NO_ERROR));
    let after = idle_from.elapsed();
    assert!(
        after >= Duration::from_millis(800) && after < Duration::from_secs(4),
        "GOAWAY after {after:?}"
    );
    let (closed, _) = h2.closed_within(Duration::from_secs(5)).await;
    assert!(
        closed,
        "the idle HTTP/2 connection stayed open after GOAWAY"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_max_connections_wait_until_a_slot_frees() {
    let st = stack(|c| c.set("max-connections", "4")).await;
    let port = st.proxy.port();
    // Four idle connections take every slot (the proxy's own readiness check has finished).
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect(port).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The kernel completes the fifth handshake, but the proxy does not accept it yet.
    let mut waiting = connect(port).await;
    waiting.write_all(ping("").as_bytes()).await.unwrap();
    assert_eq!(
        read_response(&mut waiting, Duration::from_millis(1500)).await,
        None,
        "a fifth connection was served with max_connections = 4"
    );
    // A slot frees: the waiting connection is accepted and answered.
    drop(held.pop());
    let started = Instant::now();
    assert_eq!(
        read_response(&mut waiting, Duration::from_secs(5))
            .await
            .map(|r| r.0),
        Some(200)
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// Open file descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// CPU time (user + system) of process `pid`, from /proc/PID/stat.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the `)`.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_fd_limit_lowers_max_connections_and_a_flood_neither_crashes_nor_spins() {
    // 256 descriptors: at most (256 - 128) / 2 = 64 client connections.
    let mut st = stack(|c| c.nofile(256)).await;
    let port = st.proxy.port();
    let pid = st.proxy.pid();
    assert!(
        st.proxy.log().contains("max_connections lowered"),
        "no warning about the lowered connection limit"
    );

    // 300 connections: far more than the descriptors allow.
    // (Connecting stops when the kernel's listen queue is full too.)
    let mut flood = Vec::new();
    for _ in 0..300 {
        match tokio::time::timeout(Duration::from_secs(1), connect_raw(port)).await {
            Ok(Some(s)) => flood.push(s),
            _ => break,
        }
    }
    assert!(
        flood.len() >= 150,
        "only {} connections opened",
        flood.len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu_before = cpu_time(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spent = cpu_time(pid).saturating_sub(cpu_before);
    assert!(
        spent < Duration::from_millis(500),
        "the proxy burnt {spent:?} of CPU in 2 s while full: it spins"
    );
    assert!(st.proxy.is_running(), "the proxy died under the flood");
    let fds = open_fds(pid);
    assert!(fds < 256, "{fds} descriptors open");
    assert!(
        !st.proxy.log().contains("Too many open files"),
        "the proxy ran out of file descriptors"
    );

    drop(flood);
    let started = Instant::now();
    let mut s = connect(port).await;
    s.write_all(ping("").as_bytes()).await.unwrap();
    assert_eq!(
        read_response(&mut s, Duration::from_secs(10))
            .await
            .map(|r| r.0),
        Some(200)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

async fn connect_raw(port: u16) -> Option<TcpStream> {
    TcpStream::connect(("127.0.0.1", port)).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_over_the_limit_are_refused() {
    let st = stack(|c| c.set("http2-max-concurrent-streams", "3")).await;
    let mut h2 = H2::connect(st.proxy.port()).await;
    let (_, settings) = h2
        .until(Duration::from_secs(5), |f| {
            f.kind == h2raw::SETTINGS && f.flags & h2raw::ACK == 0
        })
        .await;
    let settings = settings.expect("server SETTINGS").settings();
    assert!(
        settings.contains(&(h2raw::SETTINGS_MAX_CONCURRENT_STREAMS, 3)),
        "{settings:?}"
    );
    // Four uploads that never finish: the app waits for their bodies, the streams stay open.
    let mut burst = Vec::new();
    for id in [1, 3, 5, 7] {
        burst.extend(h2raw::request(id, "POST", "/open/hold", "127.0.0.1", false));
    }
    h2.send(&burst).await.unwrap();
    let (seen, refused) = h2
        .until(Duration::from_secs(5), |f| f.kind == h2raw::RST_STREAM)
        .await;
    let refused = refused.unwrap_or_else(|| panic!("no stream was refused; saw {seen:?}"));
    assert_eq!(refused.stream, 7);
    assert_eq!(refused.error_code(), Some(h2raw::REFUSED_STREAM));
    // The three streams within the limit are still open and the connection lives.
    h2.send(&h2raw::frame(h2raw::PING, 0, 0, &[7; 8]))
        .await
        .unwrap();
    let (_, pong) = h2
        .until(Duration::from_secs(5), |f| {
            f.kind == h2raw::PING && f.flags & h2raw::ACK != 0
        })
        .await;
    assert!(
        pong.is_some(),
        "the connection died after refusing one stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_rapid_reset_burst_closes_the_connection_with_enhance_your_calm() {
    let st = stack(|c| c.set("http2-max-pending-reset-streams", "5")).await;
    let mut h2 = H2::connect(st.proxy.port()).await;
    // CVE-2023-44487: open a stream and cancel it at once, over and over, in one write.
    // Twelve is over the configured 5 and under the default 20.
    let mut burst = Vec::new();
    for i in 0..12u32 {
        let id = 1 + 2 * i;
        burst.extend(h2raw::request(id, "GET", "/ping", "127.0.0.1", true));
        burst.extend(h2raw::rst_stream(id, h2raw::CANCEL));
    }
    let _ = h2.send(&burst).await;
    let (_, goaway) = h2
        .until(Duration::from_secs(5), |f| f.kind == h2raw::GOAWAY)
        .await;
    let goaway = goaway.expect("no GOAWAY after a rapid-reset burst");
    assert_eq!(goaway.error_code(), Some(h2raw::ENHANCE_YOUR_CALM));
    let (closed, _) = h2.closed_within(Duration::from_secs(5)).await;
    assert!(closed, "the connection stayed open after GOAWAY");

    // Other clients are served as usual.
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_proxy()
        .build()
        .unwrap();
    let resp = h2c.get(st.proxy.url("/ping")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_clients_that_make_the_proxy_reset_streams_are_disconnected() {
    let st = stack(|c| c.set("http2-max-local-reset-streams", "5")).await;
    let mut h2 = H2::connect(st.proxy.port()).await;
    // Malformed requests the server must answer with RST_STREAM (RFC 9113 §8.1.1: END_STREAM
    // on HEADERS that announce a body): twelve, over the configured 5 and under the default
    // 1024. Local resets are what "MadeYouReset" (CVE-2025-8671) provokes.
    let block = h2raw::header_block(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/ping"),
        (":authority", "127.0.0.1"),
        ("content-length", "5"),
    ]);
    let mut burst = Vec::new();
    for i in 0..12u32 {
        let flags = h2raw::END_HEADERS | h2raw::END_STREAM;
        burst.extend(h2raw::frame(h2raw::HEADERS, flags, 1 + 2 * i, &block));
    }
    let _ = h2.send(&burst).await;
    let (_, goaway) = h2
        .until(Duration::from_secs(5), |f| f.kind == h2raw::GOAWAY)
        .await;
    let goaway = goaway.expect("no GOAWAY after a burst of locally reset streams");
    assert_eq!(goaway.error_code(), Some(h2raw::ENHANCE_YOUR_CALM));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_websocket_keeps_its_connection_slot() {
    let st = stack(|c| {
        c.set("max-connections", "2")
            .add("skip-auth-route", "^/ws$")
    })
    .await;
    let port = st.proxy.port();
    let (ws, resp) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws"))
        .await
        .expect("WebSocket through the proxy");
    assert_eq!(resp.status(), 101);
    let _idle = connect(port).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The tunnel and the idle connection hold both slots.
    let mut waiting = connect(port).await;
    waiting.write_all(ping("").as_bytes()).await.unwrap();
    assert_eq!(
        read_response(&mut waiting, Duration::from_millis(1500)).await,
        None,
        "an upgraded connection gave its slot back while still open"
    );
    drop(ws);
    assert_eq!(
        read_response(&mut waiting, Duration::from_secs(5))
            .await
            .map(|r| r.0),
        Some(200)
    );
}
