//! `authproxy inject`: add the authproxy sidecar to Kubernetes workloads, like `linkerd inject`.
//!
//! Input is Kubernetes YAML: one or more documents (`---`-separated), each a Deployment,
//! StatefulSet, DaemonSet, a `kind: List` (or `*List`) of objects, or any other object, which passes
//! through unchanged. For every workload the pod template gets:
//!
//! * the sidecar container (image, `--config`, `--http-address`, `--upstream`, secrets as
//!   `OAUTH2_PROXY_*` environment variables, the config volume read-only, port
//!   [`PROXY_PORT_NAME`], `/ping` liveness and `/ready` readiness probes, a non-root read-only
//!   security context and small resource requests/limits);
//! * the config volume (a ConfigMap) and the label [`INJECTED_LABEL`];
//! * the annotations [`APP_PORT_ANNOTATION`] (the app port the sidecar forwards to) and
//!   [`APP_BIND_ANNOTATION`] (what is known about the app listening on 127.0.0.1 only);
//! * unless metrics are off ([`InjectOptions::metrics_port`] `None`): `--metrics-address` on the
//!   sidecar, its container port [`METRICS_PORT_NAME`], the Prometheus scrape annotations
//!   (`prometheus.io/scrape`, `/port`, `/path`) and [`METRICS_PORT_ANNOTATION`] recording that
//!   inject wrote them. Scrape annotations the pod already has for its own metrics (another port,
//!   not written by inject) are kept, with a warning: a pod has only one annotated scrape port.
//!
//! Services in the same input whose selector matches an injected pod template get the ports that
//! pointed at the app retargeted to the proxy port.
//!
//! The transformation is idempotent: an existing sidecar is found by container name and replaced
//! in place, so running inject on its own output yields byte-identical YAML. YAML comments,
//! anchors and formatting are not preserved (the documents are re-serialized).
//!
//! Binding the app to 127.0.0.1 cannot be done from outside the app: inject sets the environment
//! variables named with `--app-bind-env` to `127.0.0.1` when asked; otherwise it records
//! `authproxy.io/app-bind: unverified` and warns, because the app port may still be reachable on the
//! pod IP, bypassing the proxy, unless a NetworkPolicy / AuthorizationPolicy closes it.

mod cli;
mod emit;
mod workload;

#[cfg(test)]
mod tests;

pub use cli::run_cli;

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

/// Name of the sidecar's container port (used by the probes).
pub const PROXY_PORT_NAME: &str = "http-authproxy";
/// Name of the pod volume holding the ConfigMap.
pub const CONFIG_VOLUME: &str = "authproxy-config";
/// Where the ConfigMap is mounted in the sidecar.
pub const CONFIG_DIR: &str = "/etc/authproxy";
/// The ConfigMap key (file name) of the configuration file.
pub const CONFIG_FILE: &str = "authproxy.cfg";
/// Pod-template label marking injected pods (NetworkPolicy / AuthorizationPolicy select on it).
pub const INJECTED_LABEL: &str = "authproxy.io/injected";
/// Pod-template annotation: the app port the sidecar forwards to.
pub const APP_PORT_ANNOTATION: &str = "authproxy.io/app-port";
/// Pod-template annotation: how the app is bound to 127.0.0.1 (`unverified` when unknown).
pub const APP_BIND_ANNOTATION: &str = "authproxy.io/app-bind";
/// Value of [`APP_BIND_ANNOTATION`] when inject knows nothing about the app's listen address.
pub const APP_BIND_UNVERIFIED: &str = "unverified";
/// Name of the sidecar's metrics container port (what a PodMonitor selects).
pub const METRICS_PORT_NAME: &str = "metrics";
/// Path the metrics listener serves.
pub const METRICS_PATH: &str = "/metrics";
/// Default metrics port of `authproxy inject` and the deploy manifests.
pub const DEFAULT_METRICS_PORT: u16 = 9090;
/// Pod-template annotation: the sidecar's metrics port, set when inject wrote the
/// `prometheus.io/*` annotations (so a later run can tell its own annotations from the app's).
pub const METRICS_PORT_ANNOTATION: &str = "authproxy.io/metrics-port";
/// Prometheus' conventional pod annotations (the `kubernetes-pods` scrape job).
pub const PROMETHEUS_SCRAPE_ANNOTATION: &str = "prometheus.io/scrape";
/// See [`PROMETHEUS_SCRAPE_ANNOTATION`].
pub const PROMETHEUS_PORT_ANNOTATION: &str = "prometheus.io/port";
/// See [`PROMETHEUS_SCRAPE_ANNOTATION`].
pub const PROMETHEUS_PATH_ANNOTATION: &str = "prometheus.io/path";
/// Default sidecar image (a local name: pass `--image` with your registry's reference).
pub const DEFAULT_IMAGE: &str = concat!("authproxy:", env!("CARGO_PKG_VERSION"));

/// What to inject. [`Default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectOptions {
    /// Sidecar container image.
    pub image: String,
    /// ConfigMap holding `authproxy.cfg`.
    pub config_map: String,
    /// Secret with the keys `client-id`, `client-secret` and `cookie-secret`.
    pub secret: String,
    /// Port the sidecar listens on (on all pod addresses).
    pub proxy_port: u16,
    /// The app's port; `None`: from the `authproxy.io/app-port` annotation, else the app
    /// container's only declared containerPort.
    pub app_port: Option<u16>,
    /// Upstream URL; `None`: `http://127.0.0.1:<app port>`.
    pub upstream: Option<String>,
    /// Sidecar container name (also how an existing sidecar is recognized).
    pub container_name: String,
    /// Environment variables set to `127.0.0.1` in the app container (e.g. `HOST`,
    /// `BIND_ADDRESS`), for apps that choose their listen address from the environment.
    pub app_bind_env: Vec<String>,
    /// Port of the sidecar's metrics listener (`--metrics-address=0.0.0.0:<port>`, container
    /// port [`METRICS_PORT_NAME`], scrape annotations); `None`: no metrics listener, even if the
    /// shared config file sets `metrics_address`.
    pub metrics_port: Option<u16>,
}

impl Default for InjectOptions {
    fn default() -> Self {
        Self {
            image: DEFAULT_IMAGE.to_owned(),
            config_map: "authproxy-config".to_owned(),
            secret: "authproxy-secret".to_owned(),
            proxy_port: 4180,
            app_port: None,
            upstream: None,
            container_name: "authproxy".to_owned(),
            app_bind_env: Vec::new(),
            metrics_port: Some(DEFAULT_METRICS_PORT),
        }
    }
}

/// Why inject refused its input or options.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// An option value is unusable.
    #[error("invalid option --{option}: {reason}")]
    Option {
        /// The flag name without dashes.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A document is not valid YAML.
    #[error("{source_name}document {document}: invalid YAML: {reason}")]
    Yaml {
        /// `"FILE: "` or empty.
        source_name: String,
        /// 1-based document index within the source.
        document: usize,
        /// The parser's message (with line and column).
        reason: String,
    },
    /// A document is YAML but not something inject can handle.
    #[error("{source_name}document {document}{object}: {reason}")]
    Unsupported {
        /// `"FILE: "` or empty.
        source_name: String,
        /// 1-based document index within the source.
        document: usize,
        /// `" (Deployment web)"`, `" item 2 (StatefulSet db)"` or empty.
        object: String,
        /// What is wrong.
        reason: String,
    },
}

/// The injected YAML plus the warnings a user should read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    /// The rewritten YAML stream.
    pub yaml: String,
    /// One line each, without trailing newline.
    pub warnings: Vec<String>,
}

/// Inject the sidecar into every workload of a YAML stream (see the module docs).
pub fn inject(yaml: &str, opts: &InjectOptions) -> Result<String, InjectError> {
    inject_sources(&[("", yaml)], opts).map(|out| out.yaml)
}

/// Inject into several named sources (files) at once, so that a Service in one file is
/// retargeted when it selects a workload from another. Documents keep their order; an empty
/// source name is omitted from error messages.
pub fn inject_sources(
    sources: &[(&str, &str)],
    opts: &InjectOptions,
) -> Result<Injected, InjectError> {
    validate_options(opts)?;
    let mut docs = Vec::new();
    for (name, text) in sources {
        let source_name = if name.is_empty() {
            String::new()
        } else {
            format!("{name}: ")
        };
        for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let value = Value::deserialize(de).map_err(|e| InjectError::Yaml {
                source_name: source_name.clone(),
                document: i + 1,
                reason: e.to_string(),
            })?;
            // An empty document (e.g. a stray `---` or only comments) carries nothing to keep.
            if value.is_null() {
                continue;
            }
            let mut value = value;
            fix_octal_modes(&mut value);
            docs.push(workload::Doc {
                source_name: source_name.clone(),
                index: i + 1,
                value,
            });
        }
    }
    let warnings = workload::inject_docs(&mut docs, opts)?;
    let mut yaml = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            yaml.push_str("---\n");
        }
        let text = emit::document(&doc.value).map_err(|e| InjectError::Unsupported {
            source_name: doc.source_name.clone(),
            document: doc.index,
            object: String::new(),
            reason: format!("cannot write the document back as YAML: {e}"),
        })?;
        yaml.push_str(&text);
    }
    Ok(Injected { yaml, warnings })
}

/// Kubernetes reads `defaultMode: 0644` with YAML 1.1 rules, as octal 420; the YAML 1.2 parser
/// used here keeps it as the string "0644", which would be written back quoted and then refused.
/// File-mode fields get the number Kubernetes would have read.
fn fix_octal_modes(value: &mut Value) {
    match value {
        Value::Mapping(map) => {
            for (key, v) in map.iter_mut() {
                if matches!(key.as_str(), Some("defaultMode" | "mode")) {
                    let octal = v
                        .as_str()
                        .filter(|s| s.len() > 1 && s.starts_with('0'))
                        .and_then(|s| u32::from_str_radix(&s[1..], 8).ok());
                    if let Some(n) = octal {
                        *v = Value::from(u64::from(n));
                        continue;
                    }
                }
                fix_octal_modes(v);
            }
        }
        Value::Sequence(seq) => seq.iter_mut().for_each(fix_octal_modes),
        Value::Tagged(t) => fix_octal_modes(&mut t.value),
        _ => {}
    }
}

fn option_error(option: &'static str, reason: impl Into<String>) -> InjectError {
    InjectError::Option {
        option,
        reason: reason.into(),
    }
}

/// RFC 1123 label: what Kubernetes requires of container names.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain: what Kubernetes requires of ConfigMap and Secret names.
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Kubernetes' rule for environment variable names.
fn is_env_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b'-' || b == b'.')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

fn validate_options(opts: &InjectOptions) -> Result<(), InjectError> {
    if opts.image.is_empty() || opts.image.chars().any(char::is_whitespace) {
        return Err(option_error(
            "image",
            format!("{:?} is not an image reference", opts.image),
        ));
    }
    if !is_dns_subdomain(&opts.config_map) {
        return Err(option_error(
            "config-map",
            format!(
                "{:?} is not a valid ConfigMap name (lowercase RFC 1123 subdomain)",
                opts.config_map
            ),
        ));
    }
    if !is_dns_subdomain(&opts.secret) {
        return Err(option_error(
            "secret",
            format!(
                "{:?} is not a valid Secret name (lowercase RFC 1123 subdomain)",
                opts.secret
            ),
        ));
    }
    if !is_dns_label(&opts.container_name) {
        return Err(option_error(
            "container-name",
            format!(
                "{:?} is not a valid container name (lowercase RFC 1123 label)",
                opts.container_name
            ),
        ));
    }
    if opts.proxy_port == 0 {
        return Err(option_error("proxy-port", "0 is not a port"));
    }
    match opts.app_port {
        Some(0) => return Err(option_error("app-port", "0 is not a port")),
        Some(p) if p == opts.proxy_port => {
            return Err(option_error(
                "app-port",
                format!("{p} is also the proxy port"),
            ));
        }
        _ => {}
    }
    match opts.metrics_port {
        Some(0) => {
            return Err(option_error(
                "metrics-port",
                "0 is not a port (no metrics listener: leave it unset)",
            ))
        }
        Some(p) if p == opts.proxy_port => {
            return Err(option_error(
                "metrics-port",
                format!("{p} is also the proxy port"),
            ));
        }
        Some(p) if opts.app_port == Some(p) => {
            return Err(option_error(
                "metrics-port",
                format!("{p} is also the app port"),
            ));
        }
        _ => {}
    }
    if let Some(upstream) = &opts.upstream {
        let parsed = url::Url::parse(upstream)
            .map_err(|e| option_error("upstream", format!("{upstream:?} is not a URL: {e}")))?;
        // `h2c://`: a gRPC app without TLS (docs/upstreams.md).
        if !matches!(parsed.scheme(), "http" | "https" | "h2c") || parsed.host_str().is_none() {
            return Err(option_error(
                "upstream",
                format!("{upstream:?} must be an http://, https:// or h2c:// URL with a host"),
            ));
        }
    }
    for name in &opts.app_bind_env {
        if !is_env_name(name) {
            return Err(option_error(
                "app-bind-env",
                format!("{name:?} is not a valid environment variable name"),
            ));
        }
    }
    Ok(())
}

/// `mapping[key]` as a mutable mapping, created empty when absent.
fn child_mapping<'a>(map: &'a mut Mapping, key: &str) -> Result<&'a mut Mapping, String> {
    let entry = map
        .entry(Value::from(key))
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if entry.is_null() {
        *entry = Value::Mapping(Mapping::new());
    }
    entry
        .as_mapping_mut()
        .ok_or_else(|| format!("`{key}` is not a mapping"))
}

fn str_field<'a>(map: &'a Mapping, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}
