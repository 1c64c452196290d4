//! Envoy gRPC ext_authz: the hand-written protobuf messages (src/ext_authz/proto.rs), the
//! rebuilt original request and the Check decision (src/ext_authz/mod.rs).
//!
//! Properties:
//! * any bytes decode to a `CheckRequest` or an error, never a panic, and whatever decodes is
//!   answered (allowed only with a valid session: bytes the fuzzer made up never allow);
//! * a request built from fields encodes and decodes to itself;
//! * allowed exactly when it carries a valid session cookie; and once Envoy applies the
//!   answer's header mutations, no client-sent identity header (in any case or `_` spelling)
//!   and none of the proxy's own cookies reach the app.

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::sync::OnceLock;

use authproxy::app::App;
use authproxy::config::{load, Command};
use authproxy::ext_authz::proto::{
    code, AttributeContext, AttributeRequest, CheckRequest, CheckResponse, HeaderAppendAction,
    HeaderMap, HeaderValue, HttpRequest, HttpResponse,
};
use authproxy::ext_authz::{check, original_request};
use authproxy::session::SessionState;
use bolero::TypeGenerator;
use prost::Message as _;

use crate::support::{bytes, expand, pick, typed};

struct Env {
    rt: tokio::runtime::Runtime,
    app: App,
    cookie: String,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let args: Vec<OsString> = [
            "--provider=oidc",
            "--oidc-issuer-url=https://idp.example.com",
            "--client-id=app",
            "--client-secret=s3cret",
            "--upstream=http://127.0.0.1:8080",
            "--email-domain=example.com",
            "--pass-user-headers",
            "--set-xauthrequest",
            "--pass-access-token",
            "--cookie-secure=false",
            "--cookie-secret=0123456789abcdef0123456789abcdef",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let cfg = match load(&args, &HashMap::new()) {
            Ok(Command::Run(c)) => *c,
            other => panic!("fuzz config: {other:?}"),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let app = rt.block_on(App::build(cfg, false)).expect("app");
        let now = app.clock.now();
        let session = SessionState {
            created_at: Some(now),
            expires_on: Some(now + std::time::Duration::from_secs(3600)),
            access_token: "at-1".to_owned(),
            email: "user@example.com".to_owned(),
            user: "u-1".to_owned(),
            groups: vec!["admins".to_owned()],
            ..SessionState::default()
        };
        let cookie = app.codec.encode(&session, now).expect("session cookie");
        Env { rt, app, cookie }
    })
}

fn run(req: CheckRequest) -> Option<CheckResponse> {
    let e = env();
    let peer: SocketAddr = "127.0.0.1:5555".parse().expect("peer");
    e.rt.block_on(check(&e.app, req, peer)).ok()
}

fn allowed(resp: &CheckResponse) -> bool {
    let ok = resp.status.as_ref().is_some_and(|s| s.code == code::OK);
    assert_eq!(
        ok,
        matches!(resp.http_response, Some(HttpResponse::OkResponse(_))),
        "status and response kind disagree: {resp:?}"
    );
    ok
}

#[test]
fn ext_authz_bytes() {
    bytes("ext_authz_bytes", 1024, |input| {
        let Ok(req) = CheckRequest::decode(input) else {
            return;
        };
        if let Ok(orig) = original_request(req.clone()) {
            assert!(orig.scheme == "http" || orig.scheme == "https");
            assert!(!orig.path.is_empty());
        }
        if let Some(resp) = run(req) {
            assert!(!allowed(&resp), "made-up bytes are allowed: {input:?}");
        }
    });
}

const NAMES: [&str; 14] = [
    "x-forwarded-user",
    "X_Forwarded_Email",
    "x-forwarded-groups",
    "x-forwarded-preferred-username",
    "x_forwarded_access_token",
    "x-auth-request-user",
    "X-Auth-Request-Email",
    "x-auth-request-anything",
    "gap-auth",
    "x-forwarded-provider",
    "authorization",
    "accept",
    "cookie",
    "x-other",
];

const IDENTITY: [&str; 9] = [
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-forwarded-preferred-username",
    "x-forwarded-access-token",
    "x-forwarded-id-token",
    "x-forwarded-provider",
    "gap-auth",
    "gap-signature",
];

fn is_identity(name: &str) -> bool {
    let folded: String = name
        .chars()
        .map(|c| {
            if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    folded.starts_with("x-auth-request-") || IDENTITY.contains(&folded.as_str())
}

#[derive(Debug, TypeGenerator)]
struct Input {
    method: u8,
    scheme: u8,
    path: Vec<u8>,
    host: Vec<u8>,
    headers: Vec<(u8, Vec<u8>)>,
    session: u8,
    flip_at: u16,
    raw_header_map: bool,
}

#[test]
fn ext_authz_check() {
    let e = env();
    typed::<Input>("ext_authz_check", 512, |input| {
        let mut headers: Vec<(String, String)> = input
            .headers
            .iter()
            .take(8)
            .map(|(n, v)| {
                (
                    pick(&NAMES, *n).to_string(),
                    expand(v, &["_oauth2_proxy=", "; ", "text/html"]),
                )
            })
            .collect();
        // 0: no session, 1: the valid cookie, 2: the cookie with one byte changed.
        let session = input.session % 3;
        if session > 0 {
            let mut v = e.cookie.clone().into_bytes();
            if session == 2 {
                let i = usize::from(input.flip_at) % v.len();
                v[i] = if v[i] == b'A' { b'B' } else { b'A' };
            }
            let v = String::from_utf8(v).expect("ASCII");
            headers.push((
                "cookie".to_owned(),
                format!("{}={v}; theme=dark", e.app.cookies.name),
            ));
        }
        let mut http = HttpRequest {
            method: pick(&["GET", "POST", "OPTIONS", "get", ""], input.method).to_string(),
            path: expand(&input.path, &["/", "?", "%2F"]),
            host: expand(&input.host, &["app.example.com", ":"]),
            scheme: pick(&["https", "http", "HTTPS", "ftp"], input.scheme).to_string(),
            ..HttpRequest::default()
        };
        if input.raw_header_map {
            http.header_map = Some(HeaderMap {
                headers: headers
                    .iter()
                    .map(|(k, v)| HeaderValue {
                        key: k.clone(),
                        value: String::new(),
                        raw_value: v.clone().into_bytes(),
                    })
                    .collect(),
            });
        } else {
            // Envoy merges repeated headers with `,`; the map keeps one value per name.
            let mut map: HashMap<String, String> = HashMap::new();
            for (k, v) in &headers {
                map.insert(k.clone(), v.clone());
            }
            headers = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            http.headers = map;
        }
        let req = CheckRequest {
            attributes: Some(AttributeContext {
                source: None,
                request: Some(AttributeRequest { http: Some(http) }),
                context_extensions: HashMap::new(),
            }),
        };
        let wire = req.encode_to_vec();
        let decoded = CheckRequest::decode(wire.as_slice()).expect("own encoding decodes");
        assert_eq!(decoded, req, "protobuf round trip");

        let Some(resp) = run(req) else {
            return;
        };
        let has_valid = session == 1
            && headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
                .count()
                == 1;
        if !allowed(&resp) {
            assert!(
                !has_valid || http_method_invalid(input.method),
                "a valid session is refused: {resp:?}"
            );
            return;
        }
        assert!(
            session == 1,
            "allowed without a valid session (session mode {session})"
        );
        let Some(HttpResponse::OkResponse(ok)) = &resp.http_response else {
            unreachable!("allowed() checked the kind");
        };
        // Apply the mutations as Envoy does: set (overwrite) first, then remove.
        let mut upstream: Vec<(String, String)> = headers
            .iter()
            .filter(|(k, _)| !k.starts_with(':'))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        let mut ours: Vec<(String, String)> = Vec::new();
        for o in &ok.headers {
            let h = o.header.as_ref().expect("header");
            let name = h.key.to_ascii_lowercase();
            assert_eq!(
                o.append_action,
                HeaderAppendAction::OverwriteIfExistsOrAdd as i32
            );
            upstream.retain(|(k, _)| *k != name);
            upstream.push((name.clone(), h.value.clone()));
            ours.push((name, h.value.clone()));
        }
        for r in &ok.headers_to_remove {
            let r = r.to_ascii_lowercase();
            upstream.retain(|(k, _)| *k != r);
        }
        for (k, v) in &upstream {
            if is_identity(k) {
                assert!(
                    ours.iter().any(|(n, ov)| n == k && ov == v),
                    "client-sent {k}: {v:?} reaches the app"
                );
            }
            if k == "cookie" {
                for pair in v.split(';') {
                    let n = pair.trim().split('=').next().unwrap_or("");
                    assert!(
                        !carries_session(n, &e.app.cookies.name),
                        "the proxy's cookie {n} reaches the app"
                    );
                }
            }
        }
    });
}

/// A method Envoy never sends (empty): the request is refused before any session check.
fn http_method_invalid(m: u8) -> bool {
    pick(&["GET", "POST", "OPTIONS", "get", ""], m).is_empty()
}

/// Cookies that carry the session or a CSRF token for base name `base`: the base cookie, its
/// chunks `base_N`, and `base_csrf` / `base_<hash>_csrf`. (`base` followed by anything else is
/// another application's cookie.)
fn carries_session(n: &str, base: &str) -> bool {
    if n == base {
        return true;
    }
    let Some(rest) = n.strip_prefix(base).and_then(|r| r.strip_prefix('_')) else {
        return false;
    };
    (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
        || rest == "csrf"
        || rest.ends_with("_csrf")
}
