//! A tiny in-process HTTP server on 127.0.0.1 for provider fakes: every request is read
//! whole, handed to a handler, and recorded.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Req {
    /// The form-encoded body as a map.
    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The bearer / `token` credential of the Authorization header.
    pub fn token(&self) -> Option<String> {
        let h = self.headers.get("authorization")?;
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("token "))
            .map(str::to_owned)
    }
}

/// What the fake answers.
#[derive(Clone, Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering (timeouts).
    pub delay: Option<Duration>,
}

impl Resp {
    pub fn json(status: u16, v: &serde_json::Value) -> Resp {
        Resp {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: v.to_string().into_bytes(),
            delay: None,
        }
    }
    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: None,
        }
    }
    pub fn redirect(location: &str) -> Resp {
        Resp {
            status: 302,
            headers: vec![("location".into(), location.to_owned())],
            body: Vec::new(),
            delay: None,
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
}

type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

/// A running fake; stopped when dropped.
pub struct FakeServer {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Req>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    /// Listen on 127.0.0.1:0 and serve `handler`.
    pub async fn start(handler: Handler) -> FakeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake");
        let addr = listener.local_addr().expect("fake addr");
        let requests: Arc<Mutex<Vec<Req>>> = Arc::default();
        let log = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let handler = handler.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let handler = handler.clone();
                            let log = log.clone();
                            async move {
                                let (parts, body) = req.into_parts();
                                let body = body
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let r = Req {
                                    method: parts.method.to_string(),
                                    path: parts.uri.path().to_owned(),
                                    query: url::form_urlencoded::parse(
                                        parts.uri.query().unwrap_or("").as_bytes(),
                                    )
                                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                                    .collect(),
                                    headers: parts
                                        .headers
                                        .iter()
                                        .map(|(k, v)| {
                                            (
                                                k.as_str().to_owned(),
                                                v.to_str().unwrap_or("").to_owned(),
                                            )
                                        })
                                        .collect(),
                                    body: body.to_vec(),
                                };
                                log.lock().unwrap().push(r.clone());
                                let resp = handler(&r);
                                if let Some(d) = resp.delay {
                                    tokio::time::sleep(d).await;
                                }
                                let mut out =
                                    hyper::Response::new(Full::new(Bytes::from(resp.body)));
                                *out.status_mut() =
                                    hyper::StatusCode::from_u16(resp.status).unwrap();
                                for (k, v) in resp.headers {
                                    out.headers_mut().append(
                                        hyper::header::HeaderName::from_bytes(k.as_bytes())
                                            .unwrap(),
                                        hyper::header::HeaderValue::from_str(&v).unwrap(),
                                    );
                                }
                                Ok::<_, Infallible>(out)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FakeServer {
            addr,
            requests,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Paths requested so far, in order.
    pub fn paths(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.path.clone())
            .collect()
    }
}
