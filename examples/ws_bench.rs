//! WebSocket load for `bench/run.sh`: CLIENTS connections to an echo endpoint (examples/bench_app
//! `/ws`, directly or through a proxy), each sending a message and waiting for its echo, again
//! and again for SECONDS. Prints one line, `messages_per_s p50_ms p99_ms messages`, on stdout.
//! Exits non-zero when a connection fails, an echo differs from what was sent, or no message
//! made the round trip, so a broken proxy gives an error rather than a figure.
//!
//! Usage: `ws_bench URL CLIENTS SECONDS [MESSAGE_BYTES] [COOKIE]`
//!   e.g. `ws_bench ws://127.0.0.1:4180/ws 50 10 128 "_oauth2_proxy=..."`

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: ws_bench URL CLIENTS SECONDS [MESSAGE_BYTES] [COOKIE]");
        std::process::exit(2);
    }
    match run(&args).await {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("ws_bench: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(args: &[String]) -> Result<String, Error> {
    let url = args[0].clone();
    let clients: usize = args[1].parse()?;
    let seconds: f64 = args[2].parse()?;
    let size: usize = args.get(3).map_or(Ok(128), |s| s.parse())?;
    let cookie = args.get(4).cloned().unwrap_or_default();
    let payload = "m".repeat(size);

    // Connect every client first, so the measured window is message exchange only.
    let mut sockets = Vec::with_capacity(clients);
    for _ in 0..clients {
        let mut request = url.as_str().into_client_request()?;
        if !cookie.is_empty() {
            request.headers_mut().insert("cookie", cookie.parse()?);
        }
        let (ws, response) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(request),
        )
        .await
        .map_err(|_| "WebSocket handshake timed out")??;
        if response.status().as_u16() != 101 {
            return Err(format!("handshake answered {}", response.status()).into());
        }
        sockets.push(ws);
    }

    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for mut ws in sockets {
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let mut rtts: Vec<u32> = Vec::with_capacity(65536);
            while Instant::now() < end {
                let t0 = Instant::now();
                ws.send(Message::text(payload.clone())).await?;
                let echo = tokio::time::timeout(Duration::from_secs(5), ws.next())
                    .await
                    .map_err(|_| "no echo within 5 s")?
                    .ok_or("connection closed")??;
                if echo.to_text()? != payload {
                    return Err::<Vec<u32>, Error>("the echo differs from the message".into());
                }
                rtts.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            let _ = ws.close(None).await;
            Ok(rtts)
        }));
    }
    let mut all: Vec<u32> = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    if all.is_empty() {
        return Err("no message made the round trip".into());
    }
    all.sort_unstable();
    let pick = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)] as f64 / 1000.0;
    Ok(format!(
        "{:.0} {:.3} {:.3} {}",
        all.len() as f64 / elapsed,
        pick(0.50),
        pick(0.99),
        all.len()
    ))
}
