use std::io;
use std::time::Duration;

use super::*;

#[test]
fn accept_backs_off_on_resource_errors_and_not_on_clients_giving_up() {
    let emfile = io::Error::from_raw_os_error(24); // EMFILE
    let enfile = io::Error::from_raw_os_error(23); // ENFILE
    let mut wait = Duration::ZERO;
    let mut seen = Vec::new();
    for _ in 0..10 {
        wait = accept_backoff(&emfile, wait);
        seen.push(wait.as_millis());
    }
    assert_eq!(seen, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
    assert_eq!(
        accept_backoff(&enfile, Duration::ZERO),
        Duration::from_millis(10)
    );
    for kind in [
        io::ErrorKind::ConnectionAborted,
        io::ErrorKind::ConnectionReset,
        io::ErrorKind::Interrupted,
    ] {
        assert_eq!(
            accept_backoff(&io::Error::from(kind), Duration::from_secs(1)),
            Duration::ZERO
        );
    }
}

#[test]
fn the_fd_limit_caps_connections_at_two_descriptors_each_plus_a_reserve() {
    assert_eq!(fd_connection_cap(1024), (1024 - FD_RESERVE as usize) / 2);
    assert_eq!(
        fd_connection_cap(1 << 20),
        ((1 << 20) - FD_RESERVE as usize) / 2
    );
    assert_eq!(fd_connection_cap(10), 1);
    assert_eq!(connection_slots(4096, false, Some(1024)).max(), 448);
    assert_eq!(connection_slots(100, false, Some(1024)).max(), 100);
    assert_eq!(connection_slots(100, false, None).max(), 100);
    // Set explicitly: kept (with a warning), as nginx keeps worker_connections.
    assert_eq!(connection_slots(4096, true, Some(1024)).max(), 4096);
}

#[tokio::test]
async fn slots_are_shared_and_returned() {
    let slots = ConnectionSlots::new(2);
    let other = slots.clone();
    let a = slots.acquire().await.unwrap();
    let _b = other.acquire().await.unwrap();
    assert_eq!(slots.open(), 2);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), slots.acquire())
            .await
            .is_err(),
        "a third connection got a slot"
    );
    drop(a);
    assert!(slots.acquire().await.is_some());
}

#[test]
fn the_head_size_counts_the_request_line_and_every_field() {
    let req = Request::get("/path?q=1")
        .header("host", "example.com")
        .header("x-long", "v".repeat(1000))
        .body(())
        .unwrap();
    let line = "GET".len() + "/path?q=1".len() + " HTTP/1.1\r\n".len();
    let fields = ("host".len() + "example.com".len() + 4) + ("x-long".len() + 1000 + 4);
    assert_eq!(request_head_size(&req), line + fields);
}

#[test]
fn default_listener_limits_are_the_documented_ones() {
    let l = ListenerLimits::default();
    assert_eq!(l.max_request_header_bytes, 65536);
    assert_eq!(l.header_read_timeout, Duration::from_secs(60));
    assert_eq!(l.idle_timeout, Duration::from_secs(75));
    assert_eq!(l.http2_max_concurrent_streams, 128);
    assert_eq!(l.http2_max_pending_reset_streams, 20);
    assert_eq!(l.http2_max_local_reset_streams, 1024);
}
