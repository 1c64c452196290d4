//! End to end: SIGTERM drains. A request in flight when the signal arrives completes, the
//! listener stops accepting new connections, and the process exits successfully.

mod support;

use std::time::Duration;

use bytes::Bytes;
use support::idp::Login;
use support::{Browser, EchoReply, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_cleanly() {
    let mut stack = Stack::start().await;
    let browser = Browser::new();
    stack.sign_in(&browser, "/", &Login::new("sam")).await;
    let cookie = browser
        .cookie_header(&stack.proxy.url("/upload"))
        .expect("session cookie");

    // An upload whose body we feed by hand, so it is still in flight at the signal.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = stack.proxy.url("/upload");
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .header("cookie", cookie)
            .body(body)
            .send()
            .await
    });
    tx.send(Ok(Bytes::from(vec![b'a'; 1000]))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let status = std::process::Command::new("kill")
        .args(["-TERM", &stack.proxy.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(500)).await;

    // New connections are refused once the drain has started.
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", stack.proxy.port())).await;
    assert!(refused.is_err(), "listener still accepting after SIGTERM");

    // The request in flight still completes.
    tx.send(Ok(Bytes::from(vec![b'b'; 1000]))).await.unwrap();
    drop(tx);
    let resp = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .expect("in-flight request finished")
        .unwrap()
        .expect("in-flight request answered");
    assert_eq!(resp.status(), 200);
    let echo: EchoReply = resp.json().await.unwrap();
    assert_eq!(echo.body_len, 2000);

    let exit = stack
        .proxy
        .wait_exit(Duration::from_secs(10))
        .expect("authproxy exited after draining");
    assert!(exit.success(), "exit status {exit:?}");
}

/// A `Stream` over an mpsc receiver (without pulling in tokio-stream).
fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
