//! The document walk: find workloads and Services, rewrite their pod templates and ports.

use serde_yaml_ng::{Mapping, Value};

use super::{
    child_mapping, str_field, InjectError, InjectOptions, APP_BIND_ANNOTATION, APP_BIND_UNVERIFIED,
    APP_PORT_ANNOTATION, CONFIG_DIR, CONFIG_FILE, CONFIG_VOLUME, INJECTED_LABEL, METRICS_PATH,
    METRICS_PORT_ANNOTATION, METRICS_PORT_NAME, PROMETHEUS_PATH_ANNOTATION,
    PROMETHEUS_PORT_ANNOTATION, PROMETHEUS_SCRAPE_ANNOTATION, PROXY_PORT_NAME,
};

/// Kubernetes' own annotation naming a pod's main container (`kubectl logs/exec` default).
const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// Kinds with a pod template that inject rewrites.
const WORKLOAD_KINDS: [&str; 3] = ["Deployment", "StatefulSet", "DaemonSet"];

/// Kinds that run pods but are not injected: a warning says so instead of passing them silently.
const NOT_INJECTED_POD_KINDS: [&str; 5] = [
    "Pod",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
];

/// One YAML document of the input.
pub(super) struct Doc {
    pub source_name: String,
    pub index: usize,
    pub value: Value,
}

/// What Services need to know about an injected pod template.
struct PodInfo {
    namespace: Option<String>,
    labels: Vec<(String, String)>,
    app_port: u16,
    app_port_names: Vec<String>,
    describe: String,
    selected: bool,
}

/// Where an object sits in the input, for messages.
struct Place<'a> {
    source_name: &'a str,
    document: usize,
    item: Option<usize>,
}

impl Place<'_> {
    fn object(&self, obj: Option<&Mapping>) -> String {
        let item = self.item.map(|i| format!(" item {i}")).unwrap_or_default();
        let who = obj
            .map(|o| {
                let kind = str_field(o, "kind").unwrap_or("object");
                let name = o
                    .get("metadata")
                    .and_then(Value::as_mapping)
                    .and_then(|m| str_field(m, "name"));
                match name {
                    Some(n) => format!(" ({kind} {n})"),
                    None => format!(" ({kind} without metadata.name)"),
                }
            })
            .unwrap_or_default();
        format!("{item}{who}")
    }

    fn error(&self, obj: Option<&Mapping>, reason: impl Into<String>) -> InjectError {
        InjectError::Unsupported {
            source_name: self.source_name.to_owned(),
            document: self.document,
            object: self.object(obj),
            reason: reason.into(),
        }
    }

    fn describe(&self, obj: &Mapping) -> String {
        format!(
            "{}document {}{}",
            self.source_name,
            self.document,
            self.object(Some(obj))
        )
    }
}

/// Rewrite workloads first (Services may come before their Deployment), then Services.
pub(super) fn inject_docs(
    docs: &mut [Doc],
    opts: &InjectOptions,
) -> Result<Vec<String>, InjectError> {
    let mut warnings = Vec::new();
    let mut pods = Vec::new();
    for doc in docs.iter_mut() {
        for_each_object(doc, &mut |obj, place| {
            let kind = str_field(obj, "kind").unwrap_or_default().to_owned();
            if WORKLOAD_KINDS.contains(&kind.as_str()) {
                let describe = place.describe(obj);
                let info = inject_workload(obj, opts, describe, &mut warnings)
                    .map_err(|reason| place.error(Some(obj), reason))?;
                pods.push(info);
            } else if NOT_INJECTED_POD_KINDS.contains(&kind.as_str()) {
                warnings.push(format!(
                    "{}: not injected: inject rewrites Deployment, StatefulSet and DaemonSet only",
                    place.describe(obj)
                ));
            }
            Ok(())
        })?;
    }
    for doc in docs.iter_mut() {
        for_each_object(doc, &mut |obj, place| {
            if str_field(obj, "kind") == Some("Service") {
                let describe = place.describe(obj);
                retarget_service(obj, &mut pods, opts, &describe, &mut warnings)
                    .map_err(|reason| place.error(Some(obj), reason))?;
            }
            Ok(())
        })?;
    }
    for pod in pods.iter().filter(|p| !p.selected) {
        warnings.push(format!(
            "{}: no Service in the input selects it; point its Service's targetPort at {} \
             (or pass the Service in the same run)",
            pod.describe, opts.proxy_port
        ));
    }
    Ok(warnings)
}

/// Call `f` on the document's object, or on each item of a List.
fn for_each_object(
    doc: &mut Doc,
    f: &mut dyn FnMut(&mut Mapping, &Place<'_>) -> Result<(), InjectError>,
) -> Result<(), InjectError> {
    let top = Place {
        source_name: &doc.source_name,
        document: doc.index,
        item: None,
    };
    let Some(obj) = doc.value.as_mapping_mut() else {
        return Err(top.error(
            None,
            format!(
                "expected a Kubernetes object (a mapping), found {}",
                kind_of(&doc.value)
            ),
        ));
    };
    let Some(kind) = str_field(obj, "kind").map(str::to_owned) else {
        return Err(top.error(None, "the object has no `kind`"));
    };
    // `kind: List` (kubectl get -o yaml) and typed lists (DeploymentList) hold objects in `items`.
    if kind.ends_with("List") && obj.contains_key("items") {
        let Some(items) = obj.get_mut("items") else {
            return Ok(());
        };
        if items.is_null() {
            return Ok(());
        }
        let Some(items) = items.as_sequence_mut() else {
            return Err(top.error(
                None,
                format!(
                    "`items` of the {kind} is {}, not a sequence",
                    kind_of(items)
                ),
            ));
        };
        for (i, item) in items.iter_mut().enumerate() {
            let place = Place {
                source_name: &doc.source_name,
                document: doc.index,
                item: Some(i + 1),
            };
            let found = kind_of(item);
            let Some(item) = item.as_mapping_mut() else {
                return Err(place.error(
                    None,
                    format!("expected a Kubernetes object (a mapping), found {found}"),
                ));
            };
            match str_field(item, "kind") {
                None => return Err(place.error(None, "the object has no `kind`")),
                Some(k) if k.ends_with("List") && item.contains_key("items") => {
                    return Err(place.error(Some(item), "a List inside a List is not supported"));
                }
                Some(_) => f(item, &place)?,
            }
        }
        return Ok(());
    }
    f(obj, &top)
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a sequence",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn string_map(map: Option<&Value>) -> Vec<(String, String)> {
    map.and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn inject_workload(
    obj: &mut Mapping,
    opts: &InjectOptions,
    describe: String,
    warnings: &mut Vec<String>,
) -> Result<PodInfo, String> {
    let namespace = obj
        .get("metadata")
        .and_then(Value::as_mapping)
        .and_then(|m| str_field(m, "namespace"))
        .map(str::to_owned);
    let template = obj
        .get_mut("spec")
        .and_then(Value::as_mapping_mut)
        .ok_or("has no `spec` mapping")?
        .get_mut("template")
        .and_then(Value::as_mapping_mut)
        .ok_or("has no `spec.template` mapping")?;
    let annotations = string_map(template.get("metadata").and_then(|m| m.get("annotations")));
    let annotation = |key: &str| {
        annotations
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };

    let spec = template
        .get_mut("spec")
        .and_then(Value::as_mapping_mut)
        .ok_or("has no `spec.template.spec` mapping")?;
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        // With the host network, 127.0.0.1 is the node's loopback and the proxy port opens on
        // the node itself: the isolation the sidecar relies on does not exist.
        return Err(
            "uses hostNetwork: true; the sidecar cannot isolate an app on the node's network"
                .to_owned(),
        );
    }
    let containers = spec
        .get_mut("containers")
        .and_then(Value::as_sequence_mut)
        .ok_or("has no `spec.template.spec.containers` sequence")?;
    let mut names = Vec::with_capacity(containers.len());
    for (i, c) in containers.iter().enumerate() {
        let name = c.as_mapping().and_then(|m| str_field(m, "name"));
        names.push(
            name.ok_or_else(|| format!("container {} has no name", i + 1))?
                .to_owned(),
        );
    }
    let sidecar_index = names.iter().position(|n| *n == opts.container_name);
    let app_index = annotation(DEFAULT_CONTAINER_ANNOTATION)
        .and_then(|wanted| names.iter().position(|n| *n == wanted))
        .filter(|i| Some(*i) != sidecar_index)
        .or_else(|| (0..names.len()).find(|i| Some(*i) != sidecar_index))
        .ok_or_else(|| {
            format!(
                "has no application container besides the {} sidecar",
                opts.container_name
            )
        })?;
    let app_name = names[app_index].clone();

    // Ports every non-sidecar container declares: the proxy port must be free in the pod's
    // network namespace, and the app's own ports tell which one the sidecar forwards to.
    let mut app_ports: Vec<(u16, Option<String>)> = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        if Some(i) == sidecar_index {
            continue;
        }
        let ports = c
            .get("ports")
            .and_then(Value::as_sequence)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for p in ports {
            let number = p
                .get("containerPort")
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| {
                    format!(
                        "container {} has a port without a valid containerPort",
                        names[i]
                    )
                })?;
            if number == opts.proxy_port {
                return Err(format!(
                    "container {} already uses port {number}; choose another --proxy-port",
                    names[i]
                ));
            }
            if opts.metrics_port == Some(number) {
                return Err(format!(
                    "container {} already uses port {number}; choose another --metrics-port \
                     (or --metrics-port 0 for no metrics listener)",
                    names[i]
                ));
            }
            if i == app_index {
                app_ports.push((
                    number,
                    p.get("name").and_then(Value::as_str).map(str::to_owned),
                ));
            }
        }
    }
    let app_port = match (opts.app_port, annotation(APP_PORT_ANNOTATION)) {
        (Some(p), _) => p,
        (None, Some(v)) => v
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("annotation {APP_PORT_ANNOTATION} is {v:?}, not a port"))?,
        (None, None) => match app_ports.as_slice() {
            [(p, _)] => *p,
            [] => {
                return Err(format!(
                    "cannot tell the app's port: container {app_name} declares no containerPort; pass --app-port"
                ))
            }
            many => {
                let list: Vec<String> = many.iter().map(|(p, _)| p.to_string()).collect();
                return Err(format!(
                    "cannot tell the app's port: container {app_name} declares {} ports ({}); pass --app-port",
                    many.len(),
                    list.join(", ")
                ));
            }
        },
    };
    if app_port == opts.proxy_port {
        return Err(format!(
            "the app port {app_port} is the proxy port; choose another --proxy-port"
        ));
    }
    if opts.metrics_port == Some(app_port) {
        return Err(format!(
            "the app port {app_port} is the metrics port; choose another --metrics-port"
        ));
    }
    let app_port_names: Vec<String> = app_ports
        .iter()
        .filter(|(p, _)| *p == app_port)
        .filter_map(|(_, n)| n.clone())
        .collect();

    if !opts.app_bind_env.is_empty() {
        let app = containers[app_index]
            .as_mapping_mut()
            .ok_or("the app container is not a mapping")?;
        set_bind_env(app, &opts.app_bind_env)?;
    }
    let sidecar = sidecar_container(opts, app_port);
    match sidecar_index {
        Some(i) => containers[i] = sidecar,
        None => containers.push(sidecar),
    }
    let volumes = spec
        .entry(Value::from("volumes"))
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if volumes.is_null() {
        *volumes = Value::Sequence(Vec::new());
    }
    let volumes = volumes
        .as_sequence_mut()
        .ok_or("`spec.template.spec.volumes` is not a sequence")?;
    let volume = config_volume(opts);
    match volumes
        .iter()
        .position(|v| v.get("name").and_then(Value::as_str) == Some(CONFIG_VOLUME))
    {
        Some(i) => volumes[i] = volume,
        None => volumes.push(volume),
    }

    let bind = if !opts.app_bind_env.is_empty() {
        format!("env:{}", opts.app_bind_env.join(","))
    } else {
        match annotation(APP_BIND_ANNOTATION) {
            Some(v) if v != APP_BIND_UNVERIFIED && !v.is_empty() => v,
            _ => {
                warnings.push(format!(
                    "{describe}: nothing shows that container {app_name} listens on 127.0.0.1 only; if it \
                     listens on all addresses, port {app_port} is reachable from other pods without \
                     authentication. Bind it to 127.0.0.1 (its own setting, or --app-bind-env NAME), then set \
                     annotation {APP_BIND_ANNOTATION} to say how; keep the NetworkPolicy/AuthorizationPolicy \
                     that admits only port {} in any case",
                    opts.proxy_port
                ));
                APP_BIND_UNVERIFIED.to_owned()
            }
        }
    };
    let metadata =
        child_mapping(template, "metadata").map_err(|e| format!("spec.template: {e}"))?;
    let labels =
        child_mapping(metadata, "labels").map_err(|e| format!("spec.template.metadata: {e}"))?;
    labels.insert(Value::from(INJECTED_LABEL), Value::from("true"));
    let labels = string_map(metadata.get("labels"));
    let annotations = child_mapping(metadata, "annotations")
        .map_err(|e| format!("spec.template.metadata: {e}"))?;
    annotations.insert(
        Value::from(APP_PORT_ANNOTATION),
        Value::from(app_port.to_string()),
    );
    annotations.insert(Value::from(APP_BIND_ANNOTATION), Value::from(bind));
    if let Some(warning) = set_metrics_annotations(
        annotations,
        opts.metrics_port,
        annotation(METRICS_PORT_ANNOTATION).as_deref(),
        annotation(PROMETHEUS_PORT_ANNOTATION).as_deref(),
    ) {
        warnings.push(format!("{describe}: {warning}"));
    }

    Ok(PodInfo {
        namespace,
        labels,
        app_port,
        app_port_names,
        describe,
        selected: false,
    })
}

/// Write (or, with metrics off, withdraw) the Prometheus scrape annotations for the sidecar.
/// `ours` is the previous [`METRICS_PORT_ANNOTATION`], `scrape_port` the previous
/// `prometheus.io/port`: annotations pointing at another port that inject did not write belong
/// to the app's own metrics and are never overwritten or removed (the warning says why the
/// sidecar is then not annotated). Returns that warning, if any.
fn set_metrics_annotations(
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

fn set_bind_env(app: &mut Mapping, names: &[String]) -> Result<(), String> {
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

fn retarget_service(
    svc: &mut Mapping,
    pods: &mut [PodInfo],
    opts: &InjectOptions,
    describe: &str,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let namespace = svc
        .get("metadata")
        .and_then(Value::as_mapping)
        .and_then(|m| str_field(m, "namespace"))
        .map(str::to_owned);
    let Some(spec) = svc.get_mut("spec").and_then(Value::as_mapping_mut) else {
        return Ok(());
    };
    let selector = string_map(spec.get("selector"));
    // A Service without a selector has hand-made Endpoints: inject cannot know what it reaches.
    if selector.is_empty() {
        return Ok(());
    }
    let mut app_ports = Vec::new();
    let mut app_port_names = Vec::new();
    for pod in pods.iter_mut() {
        let selects = pod.namespace == namespace && selector.iter().all(|s| pod.labels.contains(s));
        if selects {
            pod.selected = true;
            app_ports.push(pod.app_port);
            app_port_names.extend(pod.app_port_names.iter().cloned());
        }
    }
    if app_ports.is_empty() {
        return Ok(());
    }
    let Some(ports) = spec.get_mut("ports") else {
        return Ok(());
    };
    let ports = ports
        .as_sequence_mut()
        .ok_or("`spec.ports` is not a sequence")?;
    let mut retargeted = false;
    for port in ports.iter_mut() {
        let port = port
            .as_mapping_mut()
            .ok_or("a `spec.ports` entry is not a mapping")?;
        // targetPort defaults to port: both are read the same way.
        let target = port.get("targetPort").or_else(|| port.get("port")).cloned();
        let to_app = match &target {
            Some(Value::Number(n)) => n
                .as_u64()
                .is_some_and(|n| app_ports.iter().any(|p| u64::from(*p) == n)),
            Some(Value::String(s)) => app_port_names.contains(s),
            _ => false,
        };
        let to_proxy = match &target {
            Some(Value::Number(n)) => n.as_u64() == Some(u64::from(opts.proxy_port)),
            Some(Value::String(s)) => s == PROXY_PORT_NAME,
            _ => false,
        };
        if to_app {
            port.insert(
                Value::from("targetPort"),
                Value::from(u64::from(opts.proxy_port)),
            );
        }
        retargeted |= to_app || to_proxy;
    }
    if !retargeted {
        let list: Vec<String> = app_ports.iter().map(u16::to_string).collect();
        warnings.push(format!(
            "{describe}: selects injected pods but none of its ports targets the app port ({}); left unchanged",
            list.join(", ")
        ));
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
fn sidecar_container(opts: &InjectOptions, app_port: u16) -> Value {
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

fn config_volume(opts: &InjectOptions) -> Value {
    map(vec![
        ("name", Value::from(CONFIG_VOLUME)),
        (
            "configMap",
            map(vec![("name", Value::from(opts.config_map.as_str()))]),
        ),
    ])
}
