//! What inject writes into a pod template: the sidecar container, the config volume, the
//! app's bind environment variables and the Prometheus scrape annotations.

use serde_yaml_ng::{Mapping, Value};

use crate::inject::{
    InjectOptions, CONFIG_DIR, CONFIG_FILE, CONFIG_VOLUME, METRICS_PATH, METRICS_PORT_ANNOTATION,
    METRICS_PORT_NAME, PROMETHEUS_PATH_ANNOTATION, PROMETHEUS_PORT_ANNOTATION,
    PROMETHEUS_SCRAPE_ANNOTATION, PROXY_PORT_NAME,
};

/// Write (or, with metrics off, withdraw) the Prometheus scrape annotations for the sidecar.
/// `ours` is the previous [`METRICS_PORT_ANNOTATION`], `scrape_port` the previous
/// `prometheus.io/port`: annotations pointing at another port that inject did not write belong
/// to the app's own metrics and are never overwritten or removed (the warning says why the
/// sidecar is then not annotated). Returns that warning, if any.
pub(super) fn set_metrics_annotations(
    annotations: &mut Mapping,
    metrics_port: Option<u16>,
    ours: Option<&str>,
    scrape_port: Option<&str>,
) -> Option<String> {
    let written_by_inject = |port: &str| ours == Some(port);
    let prometheus_keys = [
        PROMETHEUS_SCRAPE_ANNOTATION,
        PROMETHEUS_PORT_ANNOTATION,
        PROMETHEUS_PATH_ANNOTATION,
    ];
    let Some(port) = metrics_port else {
        if scrape_port.is_some_and(written_by_inject) {
            for key in prometheus_keys {
                annotations.remove(key);
            }
        }
        annotations.remove(METRICS_PORT_ANNOTATION);
        return None;
    };
    let port = port.to_string();
    annotations.insert(
        Value::from(METRICS_PORT_ANNOTATION),
        Value::from(port.as_str()),
    );
    match scrape_port {
        Some(other) if other != port && !written_by_inject(other) => Some(format!(
            "annotation {PROMETHEUS_PORT_ANNOTATION} is {other:?} (the app's own metrics, kept); a pod \
             has one annotated scrape port, so scrape the sidecar's metrics on port {port} (name \
             {METRICS_PORT_NAME}) with a PodMonitor"
        )),
        _ => {
            for (key, value) in prometheus_keys.into_iter().zip(["true", &port, METRICS_PATH]) {
                annotations.insert(Value::from(key), Value::from(value));
            }
            None
        }
    }
}

pub(super) fn set_bind_env(app: &mut Mapping, names: &[String]) -> Result<(), String> {
    let env = app
        .entry(Value::from("env"))
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if env.is_null() {
        *env = Value::Sequence(Vec::new());
    }
    let env = env
        .as_sequence_mut()
        .ok_or("the app container's `env` is not a sequence")?;
    for name in names {
        let entry = map(vec![
            ("name", Value::from(name.as_str())),
            ("value", Value::from("127.0.0.1")),
        ]);
        match env
            .iter()
            .position(|e| e.get("name").and_then(Value::as_str) == Some(name))
        {
            Some(i) => env[i] = entry,
            None => env.push(entry),
        }
    }
    Ok(())
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Mapping(
        pairs
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

fn secret_env(name: &str, secret: &str, key: &str) -> Value {
    map(vec![
        ("name", Value::from(name)),
        (
            "valueFrom",
            map(vec![(
                "secretKeyRef",
                map(vec![
                    ("name", Value::from(secret)),
                    ("key", Value::from(key)),
                ]),
            )]),
        ),
    ])
}

fn probe(path: &str, period: u64, failure_threshold: u64) -> Value {
    map(vec![
        (
            "httpGet",
            map(vec![
                ("path", Value::from(path)),
                ("port", Value::from(PROXY_PORT_NAME)),
            ]),
        ),
        ("periodSeconds", Value::from(period)),
        ("timeoutSeconds", Value::from(2u64)),
        ("failureThreshold", Value::from(failure_threshold)),
    ])
}

fn resources(cpu: &str, memory: &str) -> Value {
    map(vec![
        ("cpu", Value::from(cpu)),
        ("memory", Value::from(memory)),
    ])
}

/// The sidecar container. Flags override the config file, so the pod-specific listen address
/// and upstream live here and the shared ConfigMap stays the same for every app.
pub(super) fn sidecar_container(opts: &InjectOptions, app_port: u16) -> Value {
    let upstream = opts
        .upstream
        .clone()
        .unwrap_or_else(|| format!("http://127.0.0.1:{app_port}"));
    let mut args = vec![
        Value::from(format!("--config={CONFIG_DIR}/{CONFIG_FILE}")),
        Value::from(format!("--http-address=0.0.0.0:{}", opts.proxy_port)),
        Value::from(format!("--upstream={upstream}")),
    ];
    let mut ports = vec![map(vec![
        ("name", Value::from(PROXY_PORT_NAME)),
        ("containerPort", Value::from(u64::from(opts.proxy_port))),
        ("protocol", Value::from("TCP")),
    ])];
    // The flag, not only the shared config file, sets the listener so that it is on exactly the
    // port declared and annotated here; with metrics off an empty address turns off a listener
    // the shared file may still configure (nothing would declare or admit its port).
    match opts.metrics_port {
        Some(port) => {
            args.push(Value::from(format!("--metrics-address=0.0.0.0:{port}")));
            ports.push(map(vec![
                ("name", Value::from(METRICS_PORT_NAME)),
                ("containerPort", Value::from(u64::from(port))),
                ("protocol", Value::from("TCP")),
            ]));
        }
        None => args.push(Value::from("--metrics-address=")),
    }
    let env = vec![
        secret_env("OAUTH2_PROXY_CLIENT_ID", &opts.secret, "client-id"),
        secret_env("OAUTH2_PROXY_CLIENT_SECRET", &opts.secret, "client-secret"),
        secret_env("OAUTH2_PROXY_COOKIE_SECRET", &opts.secret, "cookie-secret"),
    ];
    map(vec![
        ("name", Value::from(opts.container_name.as_str())),
        ("image", Value::from(opts.image.as_str())),
        ("args", Value::Sequence(args)),
        ("env", Value::Sequence(env)),
        ("ports", Value::Sequence(ports)),
        ("livenessProbe", probe("/ping", 10, 3)),
        ("readinessProbe", probe("/ready", 5, 2)),
        (
            "resources",
            map(vec![
                ("requests", resources("10m", "32Mi")),
                ("limits", resources("100m", "128Mi")),
            ]),
        ),
        (
            "securityContext",
            map(vec![
                ("runAsNonRoot", Value::from(true)),
                ("runAsUser", Value::from(2000u64)),
                ("runAsGroup", Value::from(2000u64)),
                ("readOnlyRootFilesystem", Value::from(true)),
                ("allowPrivilegeEscalation", Value::from(false)),
                (
                    "capabilities",
                    map(vec![("drop", Value::Sequence(vec![Value::from("ALL")]))]),
                ),
                (
                    "seccompProfile",
                    map(vec![("type", Value::from("RuntimeDefault"))]),
                ),
            ]),
        ),
        (
            "volumeMounts",
            Value::Sequence(vec![map(vec![
                ("name", Value::from(CONFIG_VOLUME)),
                ("mountPath", Value::from(CONFIG_DIR)),
                ("readOnly", Value::from(true)),
            ])]),
        ),
    ])
}

pub(super) fn config_volume(opts: &InjectOptions) -> Value {
    map(vec![
        ("name", Value::from(CONFIG_VOLUME)),
        (
            "configMap",
            map(vec![("name", Value::from(opts.config_map.as_str()))]),
        ),
    ])
}
