//! Services: retarget the ports of a Service that selects an injected pod template from the
//! app port to the proxy port.

use serde_yaml_ng::{Mapping, Value};

use super::{string_map, PodInfo};
use crate::inject::{str_field, InjectOptions, PROXY_PORT_NAME};

pub(super) fn retarget_service(
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
