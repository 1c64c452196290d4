use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::Arc;
use std::time::SystemTime;

use prost::Message;

use super::proto::{self, code, AttributeContext, AttributeRequest, CheckRequest, HttpRequest};
use super::*;
use crate::app::App;
use crate::config::{load, Command};
use crate::session::SessionState;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

async fn app(extra: &[&str]) -> App {
    let mut args: Vec<OsString> = [
        "--provider=oidc",
        "--oidc-issuer-url=https://idp.example.com",
        "--client-id=app",
        "--client-secret=s3cret",
        "--upstream=http://127.0.0.1:8080",
        "--email-domain=example.com",
        "--pass-user-headers",
        "--set-xauthrequest",
        "--cookie-secure=false",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(format!("--cookie-secret={SECRET}").into());
    args.extend(extra.iter().map(OsString::from));
    let cfg = match load(&args, &HashMap::new()) {
        Ok(Command::Run(c)) => *c,
        Ok(other) => panic!("expected Run, got {other:?}"),
        Err(e) => panic!("config: {e}"),
    };
    let clock = Arc::new(crate::clock::ManualClock::new(SystemTime::now()));
    App::build_with_clock(cfg, clock, false).await.unwrap()
}

/// `_oauth2_proxy=<sealed session>` for `email`.
fn session_cookie(app: &App, email: &str) -> String {
    let s = SessionState {
        created_at: Some(app.clock.now()),
        email: email.to_owned(),
        user: "u-1".to_owned(),
        groups: vec!["admins".to_owned()],
        ..SessionState::default()
    };
    let value = app.codec.encode(&s, app.clock.now()).unwrap();
    format!("{}={value}", app.cookies.name)
}

fn check_request(method: &str, path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            source: None,
            request: Some(AttributeRequest {
                http: Some(HttpRequest {
                    method: method.to_owned(),
                    path: path.to_owned(),
                    host: "app.example.com".to_owned(),
                    scheme: "https".to_owned(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    ..HttpRequest::default()
                }),
            }),
            context_extensions: HashMap::new(),
        }),
    }
}

async fn run(app: &App, req: CheckRequest) -> CheckResponse {
    let peer: SocketAddr = "127.0.0.1:5555".parse().unwrap();
    check(app, req, peer).await.unwrap()
}

fn ok(resp: &CheckResponse) -> &OkHttpResponse {
    assert_eq!(resp.status.as_ref().unwrap().code, code::OK);
    match &resp.http_response {
        Some(HttpResponse::OkResponse(ok)) => ok,
        other => panic!("expected an ok_response, got {other:?}"),
    }
}

fn denied(resp: &CheckResponse) -> &DeniedHttpResponse {
    assert_ne!(resp.status.as_ref().unwrap().code, code::OK);
    match &resp.http_response {
        Some(HttpResponse::DeniedResponse(d)) => d,
        other => panic!("expected a denied_response, got {other:?}"),
    }
}

fn values<'a>(opts: &'a [HeaderValueOption], name: &str) -> Vec<&'a str> {
    opts.iter()
        .filter_map(|o| o.header.as_ref())
        .filter(|h| h.key.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
        .collect()
}

#[test]
fn decodes_the_field_numbers_of_envoys_check_request() {
    // Hand-encoded per envoy/service/auth/v3: CheckRequest.attributes(1) →
    // AttributeContext.request(4) → Request.http(2) → HttpRequest{method(2), path(4), host(5),
    // scheme(6)}, and AttributeContext.source(1) → Peer.address(1) → Address.socket_address(1)
    // → SocketAddress.address(2).
    fn field(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![(tag << 3) | 2, body.len() as u8];
        v.extend_from_slice(body);
        v
    }
    let http = [
        field(2, b"POST"),
        field(4, b"/a?b=1"),
        field(5, b"h.example"),
        field(6, b"https"),
        // headers(3) map entry: key(1) "cookie", value(2) "a=b"
        field(3, &[field(1, b"cookie"), field(2, b"a=b")].concat()),
    ]
    .concat();
    let source = field(1, &field(1, &field(1, &field(2, b"10.1.2.3"))));
    let attrs = [source, field(4, &field(2, &http))].concat();
    let bytes = field(1, &attrs);
    let req = CheckRequest::decode(bytes.as_slice()).unwrap();
    let orig = original_request(req).unwrap();
    assert_eq!(orig.method, Method::POST);
    assert_eq!(orig.path, "/a?b=1");
    assert_eq!(orig.host, "h.example");
    assert_eq!(orig.scheme, "https");
    assert_eq!(orig.headers.get("cookie").unwrap(), "a=b");
    assert_eq!(orig.client_ip, Some("10.1.2.3".parse().unwrap()));
}

#[test]
fn encodes_the_field_numbers_of_envoys_check_response() {
    let resp = CheckResponse {
        status: Some(RpcStatus {
            code: 16,
            message: String::new(),
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus { code: 401 }),
            headers: Vec::new(),
            body: String::new(),
        })),
    };
    // status(1){code(1)=16}, denied_response(2){status(1){code(1)=401}}
    assert_eq!(
        resp.encode_to_vec(),
        vec![0x0a, 0x02, 0x08, 16, 0x12, 0x05, 0x0a, 0x03, 0x08, 0x91, 0x03]
    );
}

#[test]
fn raw_header_map_is_read_when_envoy_encodes_raw_headers() {
    let mut req = check_request("GET", "/", &[]);
    let http = req
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
        .unwrap();
    http.header_map = Some(proto::HeaderMap {
        headers: vec![
            proto::HeaderValue {
                key: "cookie".into(),
                value: String::new(),
                raw_value: b"x=1".to_vec(),
            },
            proto::HeaderValue {
                key: ":authority".into(),
                value: String::new(),
                raw_value: b"ignored".to_vec(),
            },
        ],
    });
    let orig = original_request(req).unwrap();
    assert_eq!(orig.headers.get("cookie").unwrap(), "x=1");
    assert_eq!(orig.headers.len(), 1, "pseudo-headers are not headers");
}

#[test]
fn a_check_request_without_http_attributes_is_an_invalid_argument() {
    let err = original_request(CheckRequest { attributes: None }).unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let err = original_request(CheckRequest {
        attributes: Some(AttributeContext::default()),
    })
    .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn a_valid_session_is_allowed_with_identity_headers_and_forged_ones_removed() {
    let app = app(&[]).await;
    let cookie = format!("theme=dark; {}", session_cookie(&app, "ada@example.com"));
    let resp = run(
        &app,
        check_request(
            "GET",
            "/private",
            &[
                ("cookie", &cookie),
                ("x-auth-request-email", "mallory@example.com"),
                ("x_forwarded_email", "mallory@example.com"),
                ("x-auth_request-groups", "admins"),
                ("accept", "text/html"),
            ],
        ),
    )
    .await;
    let ok = ok(&resp);
    assert_eq!(
        values(&ok.headers, "x-auth-request-email"),
        ["ada@example.com"]
    );
    assert_eq!(
        values(&ok.headers, "x-forwarded-email"),
        ["ada@example.com"]
    );
    assert_eq!(values(&ok.headers, "x-forwarded-user"), ["u-1"]);
    assert!(ok
        .headers
        .iter()
        .all(|h| h.append_action == HeaderAppendAction::OverwriteIfExistsOrAdd as i32));
    let mut removed = ok.headers_to_remove.clone();
    removed.sort();
    assert_eq!(removed, ["x-auth_request-groups", "x_forwarded_email"]);
    assert_eq!(
        values(&ok.headers, "cookie"),
        ["theme=dark"],
        "the session cookie does not reach the app"
    );
    assert!(ok.response_headers_to_add.is_empty());
}

/// Found by tests/fuzz (ext_authz_check): a forged identity header whose value is not legal
/// HTTP (a control byte) used to be dropped while rebuilding the request, so it was not listed
/// in `headers_to_remove` and Envoy would have forwarded it to the app.
#[tokio::test]
async fn a_forged_identity_header_with_an_illegal_value_is_still_removed() {
    let app = app(&[]).await;
    let cookie = session_cookie(&app, "ada@example.com");
    let resp = run(
        &app,
        check_request(
            "GET",
            "/private",
            &[
                ("cookie", &cookie),
                ("x-auth-request-anything", "admin\u{7}"),
                ("x-forwarded-id-token", "forged\r"),
            ],
        ),
    )
    .await;
    let ok = ok(&resp);
    let mut removed = ok.headers_to_remove.clone();
    removed.sort();
    assert_eq!(
        removed,
        ["cookie", "x-auth-request-anything", "x-forwarded-id-token"]
    );
    let orig = original_request(check_request("GET", "/", &[("x-other", "a\u{0}b")])).unwrap();
    assert_eq!(
        orig.headers.get("x-other").unwrap(),
        "",
        "an illegal value reads as empty"
    );
}

#[tokio::test]
async fn a_session_cookie_alone_is_removed_from_the_request_to_the_app() {
    let app = app(&[]).await;
    let cookie = session_cookie(&app, "ada@example.com");
    let resp = run(&app, check_request("GET", "/", &[("cookie", &cookie)])).await;
    let ok = ok(&resp);
    assert_eq!(ok.headers_to_remove, ["cookie"]);
    assert!(values(&ok.headers, "cookie").is_empty());
}

#[tokio::test]
async fn a_browser_without_a_session_is_sent_to_sign_in_and_back() {
    let app = app(&[]).await;
    let resp = run(
        &app,
        check_request("GET", "/docs/a?x=1&y=2", &[("accept", "text/html,*/*")]),
    )
    .await;
    assert_eq!(resp.status.as_ref().unwrap().code, code::UNAUTHENTICATED);
    let d = denied(&resp);
    assert_eq!(d.status.as_ref().unwrap().code, 302);
    assert_eq!(
        values(&d.headers, "location"),
        ["/oauth2/start?rd=%2Fdocs%2Fa%3Fx%3D1%26y%3D2"]
    );
}

#[tokio::test]
async fn the_return_url_is_absolute_when_the_callback_is_on_another_host() {
    let app = app(&["--redirect-url=https://auth.example.com/oauth2/callback"]).await;
    let resp = run(
        &app,
        check_request("GET", "/p?q", &[("accept", "text/html")]),
    )
    .await;
    assert_eq!(
        values(&denied(&resp).headers, "location"),
        ["/oauth2/start?rd=https%3A%2F%2Fapp.example.com%2Fp%3Fq"]
    );
}

/// A session naming a provider that is not configured (removed from the alpha config, or
/// forged by someone holding the cookie secret of another deployment) is refused, never
/// attributed to the first provider; a provider claim of the wrong type likewise.
#[tokio::test]
async fn a_session_of_an_unknown_provider_is_refused() {
    let app = app(&[]).await;
    let mk = |provider: Option<rmpv::Value>| {
        let mut s = SessionState {
            created_at: Some(app.clock.now()),
            email: "ada@example.com".to_owned(),
            user: "u-1".to_owned(),
            ..SessionState::default()
        };
        if let Some(p) = provider {
            s.additional_claims
                .insert(crate::config::PROVIDER_CLAIM.to_owned(), p);
        }
        let value = app.codec.encode(&s, app.clock.now()).unwrap();
        format!("{}={value}", app.cookies.name)
    };
    // Control: no provider claim (an oauth2-proxy cookie) belongs to the first provider.
    let cookie = mk(None);
    let resp = run(&app, check_request("GET", "/", &[("cookie", &cookie)])).await;
    ok(&resp);
    let own_id = app.cfg.providers[0].id.clone();
    let cookie = mk(Some(rmpv::Value::from(own_id.as_str())));
    ok(&run(&app, check_request("GET", "/", &[("cookie", &cookie)])).await);
    for bad in [
        rmpv::Value::from("gone"),
        rmpv::Value::from(7),
        rmpv::Value::Nil,
    ] {
        let cookie = mk(Some(bad.clone()));
        let resp = run(&app, check_request("GET", "/", &[("cookie", &cookie)])).await;
        assert_eq!(
            resp.status.as_ref().unwrap().code,
            code::UNAUTHENTICATED,
            "provider claim {bad:?} is accepted"
        );
    }
}

#[tokio::test]
async fn an_api_client_without_a_session_gets_401_json() {
    let app = app(&[]).await;
    for accept in [Some("application/json"), None] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        let resp = run(&app, check_request("GET", "/api", &headers)).await;
        let d = denied(&resp);
        assert_eq!(d.status.as_ref().unwrap().code, 401, "accept {accept:?}");
        assert_eq!(values(&d.headers, "content-type"), ["application/json"]);
        assert!(values(&d.headers, "location").is_empty());
        let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(body["status"], 401);
    }
}

#[tokio::test]
async fn a_tampered_cookie_is_denied_and_cleared() {
    let app = app(&[]).await;
    let mut cookie = session_cookie(&app, "ada@example.com");
    cookie.push('x');
    let resp = run(
        &app,
        check_request("GET", "/", &[("cookie", &cookie), ("accept", "text/html")]),
    )
    .await;
    let d = denied(&resp);
    let clears = values(&d.headers, "set-cookie");
    assert_eq!(clears.len(), 1, "{clears:?}");
    assert!(clears[0].starts_with("_oauth2_proxy=;"), "{}", clears[0]);
    assert!(d
        .headers
        .iter()
        .filter(|h| h.header.as_ref().unwrap().key == "set-cookie")
        .all(|h| h.append_action == HeaderAppendAction::AppendIfExistsOrAdd as i32));
}

#[tokio::test]
async fn a_session_the_rules_refuse_is_forbidden() {
    let app = app(&[]).await;
    let cookie = session_cookie(&app, "eve@evil.example");
    let resp = run(&app, check_request("GET", "/", &[("cookie", &cookie)])).await;
    assert_eq!(resp.status.as_ref().unwrap().code, code::PERMISSION_DENIED);
    assert_eq!(denied(&resp).status.as_ref().unwrap().code, 403);
}

#[tokio::test]
async fn an_email_with_two_at_signs_is_not_allowed_by_a_domain_rule() {
    let app = app(&[]).await;
    let cookie = session_cookie(&app, "eve@evil.example@example.com");
    let resp = run(&app, check_request("GET", "/", &[("cookie", &cookie)])).await;
    assert_eq!(denied(&resp).status.as_ref().unwrap().code, 403);
}

#[tokio::test]
async fn preflight_passes_without_identity_only_with_skip_auth_preflight() {
    let app_on = app(&["--skip-auth-preflight"]).await;
    let forged = [("x-forwarded-email", "mallory@example.com")];
    let resp = run(&app_on, check_request("OPTIONS", "/api", &forged)).await;
    let ok = ok(&resp);
    assert!(ok.headers.is_empty(), "no identity on a skipped request");
    assert_eq!(ok.headers_to_remove, ["x-forwarded-email"]);

    let app_off = app(&[]).await;
    let resp = run(&app_off, check_request("OPTIONS", "/api", &forged)).await;
    assert_eq!(denied(&resp).status.as_ref().unwrap().code, 401);
}

#[tokio::test]
async fn only_the_check_method_is_served() {
    use http_body_util::BodyExt;
    let resp = status_only(Status::unimplemented("x"));
    assert_eq!(resp.headers().get("grpc-status").unwrap(), "12");
    assert!(resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .is_empty());
}

#[test]
fn grpc_ext_authz_address_is_off_by_default_and_validated() {
    let base = |extra: &[&str]| -> Vec<OsString> {
        [
            "--provider=oidc",
            "--oidc-issuer-url=https://idp.example.com",
            "--client-id=app",
            "--client-secret=s3cret",
            "--email-domain=*",
            "--http-address=127.0.0.1:4180",
        ]
        .iter()
        .chain(extra)
        .map(OsString::from)
        .chain([OsString::from(format!("--cookie-secret={SECRET}"))])
        .collect()
    };
    let cfg = |extra: &[&str]| match load(&base(extra), &HashMap::new()) {
        Ok(Command::Run(c)) => Ok(c.grpc_ext_authz_address),
        Ok(other) => panic!("expected Run, got {other:?}"),
        Err(e) => Err(e.to_string()),
    };
    assert_eq!(cfg(&[]), Ok(None));
    assert_eq!(
        cfg(&["--grpc-ext-authz-address=127.0.0.1:9191"]),
        Ok(Some("127.0.0.1:9191".parse().unwrap()))
    );
    for bad in ["nonsense", "127.0.0.1:4180"] {
        let flag = format!("--grpc-ext-authz-address={bad}");
        let err = cfg(&[&flag]).unwrap_err();
        assert!(err.contains("grpc_ext_authz_address"), "{err}");
    }
}
