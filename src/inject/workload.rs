//! The document walk: find workloads and Services, rewrite their pod templates and ports.

mod service;
mod sidecar;

use serde_yaml_ng::{Mapping, Value};

use super::{
    child_mapping, str_field, InjectError, InjectOptions, APP_BIND_ANNOTATION, APP_BIND_UNVERIFIED,
    APP_PORT_ANNOTATION, CONFIG_VOLUME, INJECTED_LABEL, METRICS_PORT_ANNOTATION,
    PROMETHEUS_PORT_ANNOTATION,
};

use self::service::retarget_service;
use self::sidecar::{config_volume, set_bind_env, set_metrics_annotations, sidecar_container};

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
