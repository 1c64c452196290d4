//! The `OTEL_*` environment variables authproxy interprets itself (validated, each error naming
//! its variable: the SDK would silently fall back to a default), and the OTLP pipeline.
//!
//! The exporter crate reads the rest itself: `OTEL_EXPORTER_OTLP[_TRACES]_ENDPOINT`, `_HEADERS`,
//! `_TIMEOUT`, `_INSECURE`; the SDK reads `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*` and `OTEL_SPAN_*_LIMIT`.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

use crate::config::TracingConfig;

/// The OTLP transport (`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`, the default (as the OpenTelemetry specification recommends).
    HttpProtobuf,
    /// `http/json`.
    HttpJson,
    /// `grpc`.
    Grpc,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
            Protocol::Grpc => "grpc",
        }
    }
}

/// `OTEL_TRACES_SAMPLER` (+ `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerSetting {
    /// The decision for a trace authproxy starts: the share of traces kept, 0.0 to 1.0.
    pub ratio: f64,
    /// `parentbased_*`: a continued trace keeps its parent's decision.
    pub parent_based: bool,
}

impl SamplerSetting {
    fn sampler(self) -> Sampler {
        let root = if self.ratio >= 1.0 {
            Sampler::AlwaysOn
        } else if self.ratio <= 0.0 {
            Sampler::AlwaysOff
        } else {
            Sampler::TraceIdRatioBased(self.ratio)
        };
        if self.parent_based {
            Sampler::ParentBased(Box::new(root))
        } else {
            root
        }
    }
}

/// `OTEL_PROPAGATORS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    /// `tracecontext` (the default; `baggage` may be listed too and is passed through).
    TraceContext,
    /// `none`: `traceparent` is neither read nor written.
    None,
}

/// The validated settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportSettings {
    /// `OTEL_SDK_DISABLED=true`: traces off despite `otel_traces_enabled`.
    pub sdk_disabled: bool,
    /// `OTEL_TRACES_EXPORTER`: `otlp` (true, the default) or `none` (spans are made, so trace
    /// context is propagated, but not exported).
    pub export: bool,
    pub protocol: Protocol,
    pub sampler: SamplerSetting,
    pub propagation: Propagation,
}

/// A variable's value; empty counts as unset (the specification's rule).
fn var<'a>(env: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

impl ExportSettings {
    /// Read and check the variables.
    pub fn from_env(env: &HashMap<String, String>) -> Result<Self, String> {
        let mut errors = Vec::new();
        let sdk_disabled = match var(env, "OTEL_SDK_DISABLED") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                errors.push(format!("OTEL_SDK_DISABLED: {v:?} is not true or false"));
                false
            }
        };
        let export = match var(env, "OTEL_TRACES_EXPORTER") {
            None => true,
            Some(v) if v.eq_ignore_ascii_case("otlp") => true,
            Some(v) if v.eq_ignore_ascii_case("none") => false,
            Some(v) => {
                errors.push(format!(
                    "OTEL_TRACES_EXPORTER: {v:?} is not supported; authproxy exports with otlp (or none)"
                ));
                true
            }
        };
        let protocol_var = if var(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").is_some() {
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
        } else {
            "OTEL_EXPORTER_OTLP_PROTOCOL"
        };
        let protocol = match var(env, protocol_var)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("http/protobuf") => Protocol::HttpProtobuf,
            Some("http/json") => Protocol::HttpJson,
            Some("grpc") => Protocol::Grpc,
            Some(v) => {
                errors.push(format!(
                    "{protocol_var}: {v:?} is not one of grpc, http/protobuf, http/json"
                ));
                Protocol::HttpProtobuf
            }
        };
        // Compressed exports would need another compression library in the binary.
        for name in [
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        ] {
            if let Some(v) = var(env, name).filter(|v| !v.eq_ignore_ascii_case("none")) {
                errors.push(format!(
                    "{name}: {v:?} is not supported; authproxy sends OTLP exports uncompressed (none)"
                ));
            }
        }
        let sampler = match sampler(env) {
            Ok(s) => s,
            Err(e) => {
                errors.push(e);
                SamplerSetting {
                    ratio: 1.0,
                    parent_based: true,
                }
            }
        };
        let mut propagation = Propagation::TraceContext;
        if let Some(list) = var(env, "OTEL_PROPAGATORS") {
            let names: Vec<String> = list
                .split(',')
                .map(|n| n.trim().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect();
            if names.iter().all(|n| n == "none") {
                propagation = Propagation::None;
            } else if let Some(bad) = names
                .iter()
                .find(|n| !matches!(n.as_str(), "tracecontext" | "baggage"))
            {
                errors.push(format!(
                    "OTEL_PROPAGATORS: {bad:?} is not supported; authproxy propagates W3C trace context (tracecontext)"
                ));
            } else if !names.iter().any(|n| n == "tracecontext") {
                propagation = Propagation::None;
            }
        }
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        Ok(Self {
            sdk_disabled,
            export,
            protocol,
            sampler,
            propagation,
        })
    }
}

fn sampler(env: &HashMap<String, String>) -> Result<SamplerSetting, String> {
    let name = var(env, "OTEL_TRACES_SAMPLER")
        .unwrap_or("parentbased_always_on")
        .to_ascii_lowercase();
    let arg = var(env, "OTEL_TRACES_SAMPLER_ARG");
    let ratio = || -> Result<f64, String> {
        match arg {
            None => Ok(1.0),
            Some(a) => match a.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(format!(
                    "OTEL_TRACES_SAMPLER_ARG: {a:?} is not a sampling ratio between 0 and 1"
                )),
            },
        }
    };
    let (ratio, parent_based) = match name.as_str() {
        "always_on" => (1.0, false),
        "always_off" => (0.0, false),
        "traceidratio" => (ratio()?, false),
        "parentbased_always_on" => (1.0, true),
        "parentbased_always_off" => (0.0, true),
        "parentbased_traceidratio" => (ratio()?, true),
        other => {
            return Err(format!(
                "OTEL_TRACES_SAMPLER: {other:?} is not one of always_on, always_off, traceidratio, \
                 parentbased_always_on, parentbased_always_off, parentbased_traceidratio"
            ))
        }
    };
    Ok(SamplerSetting {
        ratio,
        parent_based,
    })
}

/// `--check`: with traces on, the `OTEL_*` variables must be valid.
pub fn check_env(cfg: &TracingConfig, env: &HashMap<String, String>) -> Result<(), String> {
    if cfg.enabled {
        ExportSettings::from_env(env)?;
    }
    Ok(())
}

/// The running pipeline; [`Exporter::shutdown`] sends what is still queued.
pub struct Exporter {
    provider: SdkTracerProvider,
}

/// How long shutdown waits for the last spans to be sent.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

impl Exporter {
    /// Export the queued spans (at most [`SHUTDOWN_TIMEOUT`]) and stop.
    pub async fn shutdown(self) {
        let provider = self.provider;
        // The SDK's shutdown blocks until its export thread is done.
        let done =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT))
                .await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "OpenTelemetry: the last spans were not all exported")
            }
            Err(e) => tracing::warn!(error = %e, "OpenTelemetry: shutdown failed"),
        }
    }
}

/// The tracer and its pipeline. Must run inside the Tokio runtime (the gRPC channel lives on
/// it).
pub(super) fn start(
    s: &ExportSettings,
    env: &HashMap<String, String>,
) -> Result<(SdkTracer, Exporter), String> {
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(s.sampler.sampler())
        .with_resource(resource(env));
    let endpoint = endpoint(s.protocol, env);
    if s.export {
        builder =
            builder.with_span_processor(BatchSpanProcessor::builder(exporter(s, env)?).build());
    }
    let provider = builder.build();
    let tracer = provider.tracer_with_scope(
        InstrumentationScope::builder("authproxy")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    );
    tracing::info!(
        protocol = s.protocol.as_str(),
        endpoint = if s.export { endpoint.as_str() } else { "none (OTEL_TRACES_EXPORTER=none)" },
        sampler = ?s.sampler,
        "OpenTelemetry traces on"
    );
    Ok((tracer, Exporter { provider }))
}

fn exporter(s: &ExportSettings, env: &HashMap<String, String>) -> Result<SpanExporter, String> {
    let built = match s.protocol {
        Protocol::HttpProtobuf => SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .build(),
        Protocol::HttpJson => SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpJson)
            .build(),
        Protocol::Grpc => {
            use opentelemetry_otlp::tonic_types::transport::ClientTlsConfig;
            use opentelemetry_otlp::WithTonicConfig as _;
            let builder = SpanExporter::builder().with_tonic();
            if grpc_uses_tls(env) {
                // The system's trust store (the exporter would otherwise trust no CA at all).
                builder
                    .with_tls_config(ClientTlsConfig::new().with_native_roots())
                    .build()
            } else {
                builder.build()
            }
        }
    };
    built.map_err(|e| format!("OpenTelemetry OTLP exporter ({}): {e}", s.protocol.as_str()))
}

/// The endpoint spans go to, for the startup log line.
fn endpoint(protocol: Protocol, env: &HashMap<String, String>) -> String {
    if let Some(e) = var(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return e.to_owned();
    }
    let base = var(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
    match protocol {
        Protocol::Grpc => base.unwrap_or("http://localhost:4317").to_owned(),
        _ => format!(
            "{}/v1/traces",
            base.unwrap_or("http://localhost:4318")
                .trim_end_matches('/')
        ),
    }
}

/// A gRPC endpoint is reached over TLS when it says `https://`, or names no scheme and
/// `OTEL_EXPORTER_OTLP[_TRACES]_INSECURE` is not true (the exporter's rule).
fn grpc_uses_tls(env: &HashMap<String, String>) -> bool {
    let endpoint = var(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| var(env, "OTEL_EXPORTER_OTLP_ENDPOINT"))
        .unwrap_or("http://localhost:4317");
    if let Some((scheme, _)) = endpoint.split_once("://") {
        return scheme.eq_ignore_ascii_case("https");
    }
    let insecure = var(env, "OTEL_EXPORTER_OTLP_TRACES_INSECURE")
        .or_else(|| var(env, "OTEL_EXPORTER_OTLP_INSECURE"))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    !insecure
}

/// The SDK's resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, the SDK's own
/// attributes), with `service.name=authproxy` and `service.version` unless the environment
/// names them.
fn resource(env: &HashMap<String, String>) -> Resource {
    let attrs = var(env, "OTEL_RESOURCE_ATTRIBUTES").unwrap_or("");
    let has = |key: &str| {
        attrs
            .split(',')
            .any(|kv| kv.split_once('=').is_some_and(|(k, _)| k.trim() == key))
    };
    let mut builder = Resource::builder();
    if var(env, "OTEL_SERVICE_NAME").is_none() && !has("service.name") {
        builder = builder.with_service_name("authproxy");
    }
    if !has("service.version") {
        builder =
            builder.with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    }
    builder.build()
}
