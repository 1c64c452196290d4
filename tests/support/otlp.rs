//! A local OTLP/HTTP trace receiver: `POST /v1/traces` with `application/x-protobuf` bodies,
//! decoded with the published OpenTelemetry protobuf definitions (the `opentelemetry-proto`
//! crate's generated messages), spans kept for the test to inspect. Listens on 127.0.0.1;
//! anything but a well-formed export request is recorded as an error the test asserts on.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One received span, flattened for assertions (ids in lower-case hex).
#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// `SpanKind` of the protocol: 2 server, 3 client.
    pub kind: i32,
    pub attributes: BTreeMap<String, String>,
    /// `Status.code`: 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    /// The resource's `service.name`.
    pub service_name: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
}

impl Span {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

pub const SERVER: i32 = 2;
pub const CLIENT: i32 = 3;

#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    errors: Vec<String>,
    exports: usize,
}

/// The running receiver; stops on drop.
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<Received>>,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn value_text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), value_text(&kv.value)))
        .collect()
}

fn flatten(req: ExportTraceServiceRequest) -> Vec<Span> {
    let mut out = Vec::new();
    for rs in req.resource_spans {
        let resource = rs
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                out.push(Span {
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: hex(&s.parent_span_id),
                    name: s.name,
                    kind: s.kind,
                    attributes: attributes(&s.attributes),
                    status_code: s.status.map_or(0, |st| st.code),
                    service_name: service.clone(),
                    start_unix_nano: s.start_time_unix_nano,
                    end_unix_nano: s.end_time_unix_nano,
                });
            }
        }
    }
    out
}

fn answer(status: u16, content_type: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("response")
}

async fn handle(state: Arc<Mutex<Received>>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let fail = |msg: String| {
        state
            .lock()
            .expect("receiver state")
            .errors
            .push(msg.clone());
        answer(400, "text/plain", msg.into_bytes())
    };
    if req.method() != hyper::Method::POST || req.uri().path() != "/v1/traces" {
        return fail(format!("unexpected {} {}", req.method(), req.uri()));
    }
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if ct != "application/x-protobuf" {
        return fail(format!(
            "content-type {ct:?}, expected application/x-protobuf"
        ));
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return fail(format!("body: {e}")),
    };
    match ExportTraceServiceRequest::decode(body) {
        Ok(export) => {
            let spans = flatten(export);
            let mut s = state.lock().expect("receiver state");
            s.exports += 1;
            s.spans.extend(spans);
            drop(s);
            answer(
                200,
                "application/x-protobuf",
                ExportTraceServiceResponse::default().encode_to_vec(),
            )
        }
        Err(e) => fail(format!("not an ExportTraceServiceRequest: {e}")),
    }
}

impl Receiver {
    /// Binds 127.0.0.1 on a free port and serves.
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind OTLP receiver");
        let addr = listener.local_addr().expect("receiver addr");
        let state = Arc::new(Mutex::new(Received::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver { addr, state, task }
    }

    /// `http://127.0.0.1:PORT` (the value for `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.state.lock().expect("receiver state").spans.clone()
    }

    /// Export requests received so far.
    pub fn exports(&self) -> usize {
        self.state.lock().expect("receiver state").exports
    }

    /// Requests that were not well-formed exports.
    pub fn errors(&self) -> Vec<String> {
        self.state.lock().expect("receiver state").errors.clone()
    }

    /// Waits (at most `timeout`) until `done` holds for the received spans; returns them.
    /// Panics with what arrived when it never does.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            if Instant::now() >= deadline {
                let names: Vec<String> = spans
                    .iter()
                    .map(|s| {
                        format!(
                            "{} {} <- {} {}",
                            s.trace_id, s.span_id, s.parent_span_id, s.name
                        )
                    })
                    .collect();
                panic!(
                    "the OTLP receiver did not get the expected spans within {timeout:?}; got:\n{}\nerrors: {:?}",
                    names.join("\n"),
                    self.errors()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
