use std::collections::HashMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn routes_of_the_proxy_endpoints_are_fixed_and_the_apps_are_not_guessed() {
    let table: &[(Option<&str>, Option<&str>)] = &[
        (Some("/callback"), Some("/oauth2/callback")),
        (Some("/start"), Some("/oauth2/start")),
        (Some("/sign_in"), Some("/oauth2/sign_in")),
        (Some("/sign_out"), Some("/oauth2/sign_out")),
        (Some("/userinfo"), Some("/oauth2/userinfo")),
        (Some("/auth"), Some("/oauth2/auth")),
        (
            Some("/backchannel-logout"),
            Some("/oauth2/backchannel-logout"),
        ),
        (Some("/ext_authz"), Some("/oauth2/ext_authz/*")),
        (
            Some("/ext_authz/some/app/path"),
            Some("/oauth2/ext_authz/*"),
        ),
        // An unknown endpoint: its path is not a route (unbounded cardinality).
        (Some("/callback2"), Some("/oauth2/*")),
        (Some("/auth/x"), Some("/oauth2/*")),
        (None, None),
    ];
    for (endpoint, want) in table {
        assert_eq!(
            request_route("/oauth2", *endpoint).as_deref(),
            *want,
            "{endpoint:?}"
        );
    }
}

#[test]
fn grant_type_is_read_from_a_form_body() {
    let table: &[(&[u8], Option<&str>)] = &[
        (
            b"grant_type=refresh_token&refresh_token=abc",
            Some("refresh_token"),
        ),
        (
            b"code=xyz&grant_type=authorization_code&redirect_uri=http%3A%2F%2Fa",
            Some("authorization_code"),
        ),
        (
            b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=x",
            Some("urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ),
        (b"grant_type=password", None),
        (b"xgrant_type=refresh_token", None),
        (b"", None),
    ];
    for (body, want) in table {
        assert_eq!(
            grant_type(body),
            *want,
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn defaults_without_otel_variables() {
    let s = ExportSettings::from_env(&env(&[])).unwrap();
    assert_eq!(
        s,
        ExportSettings {
            sdk_disabled: false,
            export: true,
            protocol: Protocol::HttpProtobuf,
            sampler: SamplerSetting {
                ratio: 1.0,
                parent_based: true
            },
            propagation: Propagation::TraceContext,
        }
    );
    // Empty counts as unset.
    assert_eq!(
        ExportSettings::from_env(&env(&[("OTEL_TRACES_SAMPLER", " ")])).unwrap(),
        s
    );
}

#[test]
fn standard_variables_are_understood() {
    let s = ExportSettings::from_env(&env(&[
        ("OTEL_SDK_DISABLED", "TRUE"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ("OTEL_PROPAGATORS", "baggage"),
    ]))
    .unwrap();
    assert!(s.sdk_disabled);
    assert!(!s.export);
    assert_eq!(
        s.protocol,
        Protocol::HttpJson,
        "the traces-specific one wins"
    );
    assert_eq!(
        s.sampler,
        SamplerSetting {
            ratio: 0.25,
            parent_based: true
        }
    );
    assert_eq!(s.propagation, Propagation::None, "no tracecontext listed");
    let table: &[(&str, f64, bool)] = &[
        ("always_on", 1.0, false),
        ("always_off", 0.0, false),
        ("traceidratio", 1.0, false),
        ("parentbased_always_off", 0.0, true),
        ("PARENTBASED_ALWAYS_ON", 1.0, true),
    ];
    for (name, ratio, parent_based) in table {
        let s = ExportSettings::from_env(&env(&[("OTEL_TRACES_SAMPLER", name)])).unwrap();
        assert_eq!(
            s.sampler,
            SamplerSetting {
                ratio: *ratio,
                parent_based: *parent_based
            },
            "{name}"
        );
    }
    let s =
        ExportSettings::from_env(&env(&[("OTEL_PROPAGATORS", "tracecontext, baggage")])).unwrap();
    assert_eq!(s.propagation, Propagation::TraceContext);
    let s = ExportSettings::from_env(&env(&[("OTEL_PROPAGATORS", "none")])).unwrap();
    assert_eq!(s.propagation, Propagation::None);
}

#[test]
fn bad_values_are_errors_naming_each_variable() {
    let e = ExportSettings::from_env(&env(&[
        ("OTEL_SDK_DISABLED", "yes"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http"),
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ("OTEL_PROPAGATORS", "tracecontext,b3"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ]))
    .unwrap_err();
    for name in [
        "OTEL_SDK_DISABLED: \"yes\"",
        "OTEL_TRACES_EXPORTER: \"zipkin\"",
        "OTEL_EXPORTER_OTLP_PROTOCOL: \"http\"",
        "OTEL_TRACES_SAMPLER_ARG: \"1.5\"",
        "OTEL_PROPAGATORS: \"b3\"",
        "OTEL_EXPORTER_OTLP_COMPRESSION: \"gzip\"",
    ] {
        assert!(e.contains(name), "{name} missing from {e}");
    }
    let e = ExportSettings::from_env(&env(&[("OTEL_TRACES_SAMPLER", "sometimes")])).unwrap_err();
    assert!(e.starts_with("OTEL_TRACES_SAMPLER: \"sometimes\""), "{e}");
}

#[test]
fn variables_are_checked_only_when_traces_are_on() {
    let bad = env(&[("OTEL_TRACES_SAMPLER", "sometimes")]);
    let off = TracingConfig::default();
    assert!(check_env(&off, &bad).is_ok());
    assert!(init(&off, &bad).unwrap().is_none(), "off: nothing set up");
    assert!(!enabled());
    let on = TracingConfig {
        enabled: true,
        record_user: false,
    };
    assert!(check_env(&on, &bad).is_err());
    // OTEL_SDK_DISABLED wins over the option.
    let disabled = env(&[("OTEL_SDK_DISABLED", "true")]);
    assert!(init(&on, &disabled).unwrap().is_none());
    assert!(!enabled());
}

#[test]
fn off_means_no_span_and_headers_left_alone() {
    // Nothing in the library tests turns traces on (the end-to-end tests do, in the binary).
    assert!(!enabled());
    let mut called = false;
    assert!(client_span("idp token", || {
        called = true;
        Vec::new()
    })
    .is_none());
    assert!(!called, "attributes are not even built");
    let mut req = http::Request::builder()
        .uri("/x")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .body(())
        .unwrap();
    assert!(upstream_span(&mut req).is_none());
    assert_eq!(
        req.headers()["traceparent"],
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    let mut headers = HeaderMap::new();
    forward_auth_headers(&mut headers);
    assert!(headers.is_empty());
}
