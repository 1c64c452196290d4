use super::*;

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: app
        image: example/web:1.0
        ports:
        - name: http
          containerPort: 8080
";

const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: apps
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: http
  - name: other
    port: 9000
    targetPort: 9000
";

fn parse(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .collect()
}

fn pod_spec(obj: &Value) -> &Value {
    &obj["spec"]["template"]["spec"]
}

fn container<'a>(obj: &'a Value, name: &str) -> &'a Value {
    pod_spec(obj)["containers"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn workload(kind: &str) -> String {
    DEPLOYMENT.replace("kind: Deployment", &format!("kind: {kind}"))
}

#[test]
fn injects_the_sidecar_into_each_workload_kind() {
    for kind in ["Deployment", "StatefulSet", "DaemonSet"] {
        let out = parse(&inject(&workload(kind), &InjectOptions::default()).unwrap());
        let sidecar = container(&out[0], "authproxy");
        assert_eq!(sidecar["image"].as_str(), Some(DEFAULT_IMAGE), "{kind}");
        let args: Vec<&str> = sidecar["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            args,
            [
                "--config=/etc/authproxy/authproxy.cfg",
                "--http-address=0.0.0.0:4180",
                "--upstream=http://127.0.0.1:8080",
                "--metrics-address=0.0.0.0:9090"
            ]
        );
        assert_eq!(sidecar["ports"][0]["containerPort"].as_u64(), Some(4180));
        assert_eq!(sidecar["ports"][0]["name"].as_str(), Some(PROXY_PORT_NAME));
        assert_eq!(sidecar["ports"][1]["containerPort"].as_u64(), Some(9090));
        assert_eq!(
            sidecar["ports"][1]["name"].as_str(),
            Some(METRICS_PORT_NAME)
        );
        assert_eq!(
            sidecar["livenessProbe"]["httpGet"]["path"].as_str(),
            Some("/ping")
        );
        assert_eq!(
            sidecar["readinessProbe"]["httpGet"]["path"].as_str(),
            Some("/ready")
        );
        let sc = &sidecar["securityContext"];
        assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true));
        assert_eq!(sc["runAsUser"].as_u64(), Some(2000));
        assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
        assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
        assert_eq!(sc["capabilities"]["drop"][0].as_str(), Some("ALL"));
        assert_eq!(
            sidecar["resources"]["requests"]["cpu"].as_str(),
            Some("10m")
        );
        assert_eq!(
            sidecar["resources"]["requests"]["memory"].as_str(),
            Some("32Mi")
        );
        assert_eq!(sidecar["resources"]["limits"]["cpu"].as_str(), Some("100m"));
        assert_eq!(
            sidecar["resources"]["limits"]["memory"].as_str(),
            Some("128Mi")
        );
        let env: Vec<(&str, &str, &str)> = sidecar["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|e| {
                let r = &e["valueFrom"]["secretKeyRef"];
                (
                    e["name"].as_str().unwrap(),
                    r["name"].as_str().unwrap(),
                    r["key"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            env,
            [
                ("OAUTH2_PROXY_CLIENT_ID", "authproxy-secret", "client-id"),
                (
                    "OAUTH2_PROXY_CLIENT_SECRET",
                    "authproxy-secret",
                    "client-secret"
                ),
                (
                    "OAUTH2_PROXY_COOKIE_SECRET",
                    "authproxy-secret",
                    "cookie-secret"
                ),
            ]
        );
        assert_eq!(
            sidecar["volumeMounts"][0]["mountPath"].as_str(),
            Some("/etc/authproxy")
        );
        assert_eq!(sidecar["volumeMounts"][0]["readOnly"].as_bool(), Some(true));
        assert_eq!(
            pod_spec(&out[0])["volumes"][0]["configMap"]["name"].as_str(),
            Some("authproxy-config")
        );
        let meta = &out[0]["spec"]["template"]["metadata"];
        assert_eq!(meta["labels"][INJECTED_LABEL].as_str(), Some("true"));
        assert_eq!(
            meta["annotations"][APP_PORT_ANNOTATION].as_str(),
            Some("8080")
        );
        assert_eq!(
            meta["annotations"][APP_BIND_ANNOTATION].as_str(),
            Some(APP_BIND_UNVERIFIED)
        );
        // The app container is untouched and stays first (kubectl's default container).
        assert_eq!(
            pod_spec(&out[0])["containers"][0]["name"].as_str(),
            Some("app")
        );
    }
}

#[test]
fn passes_other_kinds_through_unchanged() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n";
    assert_eq!(inject(cm, &InjectOptions::default()).unwrap(), cm);
}

#[test]
fn warns_about_pod_kinds_it_does_not_inject() {
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\nspec: {}\n";
    let out = inject_sources(&[("", job)], &InjectOptions::default()).unwrap();
    assert_eq!(out.yaml, job);
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("(Job j): not injected")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn injects_every_item_of_a_list() {
    let mut list = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for doc in [
        workload("Deployment"),
        workload("StatefulSet").replace("name: web\n  namespace", "name: db\n  namespace"),
    ] {
        for (i, line) in doc.lines().enumerate() {
            list.push_str(if i == 0 { "- " } else { "  " });
            list.push_str(line);
            list.push('\n');
        }
    }
    let out = parse(&inject(&list, &InjectOptions::default()).unwrap());
    let items = out[0]["items"].as_sequence().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        assert_eq!(
            container(item, "authproxy")["ports"][0]["containerPort"].as_u64(),
            Some(4180)
        );
    }
}

#[test]
fn handles_a_multi_document_stream_and_retargets_services() {
    // The Service comes first: retargeting must not depend on document order.
    let stream = format!("---\n{SERVICE}---\n{DEPLOYMENT}---\n");
    let out = inject_sources(&[("", &stream)], &InjectOptions::default()).unwrap();
    let docs = parse(&out.yaml);
    assert_eq!(docs.len(), 2, "the empty trailing document is dropped");
    let ports = docs[0]["spec"]["ports"].as_sequence().unwrap();
    assert_eq!(
        ports[0]["targetPort"].as_u64(),
        Some(4180),
        "named app port `http` is retargeted"
    );
    assert_eq!(
        ports[1]["targetPort"].as_u64(),
        Some(9000),
        "other ports are left alone"
    );
    assert!(container(&docs[1], "authproxy").is_mapping());
    assert!(
        !out.warnings.iter().any(|w| w.contains("no Service")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn retargets_services_across_files_and_by_number_or_default_target() {
    let svc = SERVICE
        .replace("    targetPort: http\n", "")
        .replace("port: 80\n", "port: 8080\n");
    let out = inject_sources(
        &[("svc.yaml", &svc), ("deploy.yaml", DEPLOYMENT)],
        &InjectOptions::default(),
    )
    .unwrap();
    let docs = parse(&out.yaml);
    assert_eq!(docs[0]["spec"]["ports"][0]["port"].as_u64(), Some(8080));
    assert_eq!(
        docs[0]["spec"]["ports"][0]["targetPort"].as_u64(),
        Some(4180)
    );
}

#[test]
fn leaves_services_of_other_namespaces_or_selectors_alone() {
    for svc in [
        SERVICE.replace("namespace: apps", "namespace: other"),
        SERVICE.replace("app: web", "app: api"),
    ] {
        let stream = format!("{svc}---\n{DEPLOYMENT}");
        let out = inject_sources(&[("", &stream)], &InjectOptions::default()).unwrap();
        let docs = parse(&out.yaml);
        assert_eq!(
            docs[0]["spec"]["ports"][0]["targetPort"].as_str(),
            Some("http")
        );
        assert!(
            out.warnings
                .iter()
                .any(|w| w.contains("no Service in the input selects it")),
            "{:?}",
            out.warnings
        );
    }
}

#[test]
fn running_twice_gives_byte_identical_output() {
    let stream = format!("{SERVICE}---\n{DEPLOYMENT}---\n{}", workload("DaemonSet"));
    for opts in [
        InjectOptions::default(),
        InjectOptions {
            app_bind_env: vec!["HOST".into()],
            proxy_port: 4181,
            ..InjectOptions::default()
        },
        InjectOptions {
            app_port: Some(8080),
            upstream: Some("http://127.0.0.1:8080/base".into()),
            ..InjectOptions::default()
        },
        InjectOptions {
            metrics_port: None,
            ..InjectOptions::default()
        },
        InjectOptions {
            metrics_port: Some(9100),
            ..InjectOptions::default()
        },
    ] {
        let once = inject(&stream, &opts).unwrap();
        let twice = inject(&once, &opts).unwrap();
        assert_eq!(once, twice);
        let docs = parse(&once);
        assert_eq!(
            pod_spec(&docs[1])["containers"]
                .as_sequence()
                .unwrap()
                .len(),
            2,
            "one sidecar only"
        );
        assert_eq!(
            pod_spec(&docs[1])["volumes"].as_sequence().unwrap().len(),
            1,
            "one config volume only"
        );
    }
}

#[test]
fn reinjecting_with_new_options_replaces_the_sidecar_in_place() {
    let once = inject(DEPLOYMENT, &InjectOptions::default()).unwrap();
    let opts = InjectOptions {
        image: "registry.example/authproxy:2".into(),
        ..InjectOptions::default()
    };
    let docs = parse(&inject(&once, &opts).unwrap());
    let containers = pod_spec(&docs[0])["containers"].as_sequence().unwrap();
    assert_eq!(containers.len(), 2);
    assert_eq!(
        containers[1]["image"].as_str(),
        Some("registry.example/authproxy:2")
    );
}

#[test]
fn app_bind_env_sets_the_variables_and_records_them() {
    let with_env = DEPLOYMENT.replace(
        "        ports:\n",
        "        env:\n        - name: HOST\n          value: 0.0.0.0\n        ports:\n",
    );
    let opts = InjectOptions {
        app_bind_env: vec!["HOST".into(), "BIND_ADDRESS".into()],
        ..InjectOptions::default()
    };
    let out = inject_sources(&[("", &with_env)], &opts).unwrap();
    let docs = parse(&out.yaml);
    let env = container(&docs[0], "app")["env"].as_sequence().unwrap();
    assert_eq!(env.len(), 2, "HOST is replaced, not duplicated");
    assert_eq!(env[0]["value"].as_str(), Some("127.0.0.1"));
    assert_eq!(env[1]["name"].as_str(), Some("BIND_ADDRESS"));
    assert_eq!(
        docs[0]["spec"]["template"]["metadata"]["annotations"][APP_BIND_ANNOTATION].as_str(),
        Some("env:HOST,BIND_ADDRESS")
    );
    assert!(
        !out.warnings.iter().any(|w| w.contains("127.0.0.1 only")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn warns_when_the_app_binding_is_unverified_and_respects_a_user_statement() {
    let out = inject_sources(&[("", DEPLOYMENT)], &InjectOptions::default()).unwrap();
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("port 8080 is reachable from other pods")),
        "{:?}",
        out.warnings
    );
    let stated = DEPLOYMENT.replace("    metadata:\n      labels:", "    metadata:\n      annotations:\n        authproxy.io/app-bind: flag --listen=127.0.0.1:8080\n      labels:");
    let out = inject_sources(&[("", &stated)], &InjectOptions::default()).unwrap();
    assert!(
        !out.warnings.iter().any(|w| w.contains("127.0.0.1 only")),
        "{:?}",
        out.warnings
    );
    assert!(out
        .yaml
        .contains("authproxy.io/app-bind: flag --listen=127.0.0.1:8080"));
}

#[test]
fn honours_port_options_and_the_default_container_annotation() {
    let two = DEPLOYMENT.replace(
        "      containers:\n",
        "      containers:\n      - name: logger\n        image: example/logger\n        ports:\n        - containerPort: 9100\n",
    );
    let annotated = two.replace("    metadata:\n      labels:", "    metadata:\n      annotations:\n        kubectl.kubernetes.io/default-container: app\n      labels:");
    let docs = parse(&inject(&annotated, &InjectOptions::default()).unwrap());
    assert_eq!(
        docs[0]["spec"]["template"]["metadata"]["annotations"][APP_PORT_ANNOTATION].as_str(),
        Some("8080")
    );
    let opts = InjectOptions {
        proxy_port: 4000,
        app_port: Some(9100),
        container_name: "proxy".into(),
        ..InjectOptions::default()
    };
    let docs = parse(&inject(&two, &opts).unwrap());
    let sidecar = container(&docs[0], "proxy");
    assert_eq!(
        sidecar["args"][1].as_str(),
        Some("--http-address=0.0.0.0:4000")
    );
    assert_eq!(
        sidecar["args"][2].as_str(),
        Some("--upstream=http://127.0.0.1:9100")
    );
}

#[test]
fn a_grpc_app_gets_an_h2c_upstream() {
    let opts = InjectOptions {
        upstream: Some("h2c://127.0.0.1:50051".into()),
        ..InjectOptions::default()
    };
    let docs = parse(&inject(DEPLOYMENT, &opts).unwrap());
    let sidecar = container(&docs[0], "authproxy");
    let args: Vec<&str> = sidecar["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        args.contains(&"--upstream=h2c://127.0.0.1:50051"),
        "{args:?}"
    );
}

#[test]
fn keeps_yaml_1_1_sensitive_values_meaning_the_same() {
    let doc = DEPLOYMENT.replace(
        "        ports:\n",
        "        env:\n        - name: A\n          value: \"yes\"\n        - name: B\n          value: \"0755\"\n        ports:\n",
    ) + "      volumes:\n      - name: v\n        configMap:\n          name: c\n          defaultMode: 0644\n";
    let out = inject(&doc, &InjectOptions::default()).unwrap();
    assert!(out.contains("value: \"yes\""), "{out}");
    assert!(out.contains("value: \"0755\""), "{out}");
    assert!(
        out.contains("defaultMode: 420"),
        "octal file mode as Kubernetes reads it: {out}"
    );
}

fn error_of(yaml: &str, opts: &InjectOptions) -> String {
    inject(yaml, opts).unwrap_err().to_string()
}

#[test]
fn refuses_input_it_cannot_handle_naming_document_and_reason() {
    let cases: Vec<(String, &str)> = vec![
        (format!("{SERVICE}---\nkind: [unclosed\n"), "document 2: invalid YAML"),
        (format!("{SERVICE}---\n- a\n- b\n"), "document 2: expected a Kubernetes object (a mapping), found a sequence"),
        ("metadata:\n  name: x\n".into(), "document 1: the object has no `kind`"),
        ("kind: List\nitems: 3\n".into(), "`items` of the List is a number"),
        ("kind: List\nitems:\n- kind: Deployment\n  metadata:\n    name: d\n".into(), "document 1 item 1 (Deployment d): has no `spec` mapping"),
        (DEPLOYMENT.replace("      containers:\n", "      hostNetwork: true\n      containers:\n"), "(Deployment web): uses hostNetwork"),
        (DEPLOYMENT.replace("containerPort: 8080", "containerPort: 4180"), "container app already uses port 4180"),
        (DEPLOYMENT.replace("        ports:\n        - name: http\n          containerPort: 8080\n", ""), "container app declares no containerPort; pass --app-port"),
        (DEPLOYMENT.replace("          containerPort: 8080\n", "          containerPort: 8080\n        - containerPort: 9000\n"), "declares 2 ports (8080, 9000); pass --app-port"),
        (DEPLOYMENT.replace("      - name: app\n", "      - name: authproxy\n"), "has no application container besides the authproxy sidecar"),
        (DEPLOYMENT.replace("      labels:\n        app: web\n    spec:", "      annotations:\n        authproxy.io/app-port: http\n      labels:\n        app: web\n    spec:"), "annotation authproxy.io/app-port is \"http\", not a port"),
    ];
    for (yaml, want) in cases {
        let err = error_of(&yaml, &InjectOptions::default());
        assert!(err.contains(want), "want {want:?} in {err:?}");
    }
}

#[test]
fn names_the_file_in_errors() {
    let err = inject_sources(
        &[("a.yaml", DEPLOYMENT), ("b.yaml", "kind: [")],
        &InjectOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("b.yaml: document 1: invalid YAML"),
        "{err}"
    );
}

#[test]
fn refuses_bad_options() {
    let cases = [
        (
            InjectOptions {
                image: "a b".into(),
                ..InjectOptions::default()
            },
            "--image",
        ),
        (
            InjectOptions {
                config_map: "Bad_Name".into(),
                ..InjectOptions::default()
            },
            "--config-map",
        ),
        (
            InjectOptions {
                secret: String::new(),
                ..InjectOptions::default()
            },
            "--secret",
        ),
        (
            InjectOptions {
                container_name: "a.b".into(),
                ..InjectOptions::default()
            },
            "--container-name",
        ),
        (
            InjectOptions {
                proxy_port: 0,
                ..InjectOptions::default()
            },
            "--proxy-port",
        ),
        (
            InjectOptions {
                app_port: Some(4180),
                ..InjectOptions::default()
            },
            "--app-port: 4180 is also the proxy port",
        ),
        (
            InjectOptions {
                metrics_port: Some(0),
                ..InjectOptions::default()
            },
            "--metrics-port: 0 is not a port",
        ),
        (
            InjectOptions {
                metrics_port: Some(4180),
                ..InjectOptions::default()
            },
            "--metrics-port: 4180 is also the proxy port",
        ),
        (
            InjectOptions {
                app_port: Some(9090),
                ..InjectOptions::default()
            },
            "--metrics-port: 9090 is also the app port",
        ),
        (
            InjectOptions {
                upstream: Some("unix:///x".into()),
                ..InjectOptions::default()
            },
            "--upstream",
        ),
        (
            InjectOptions {
                app_bind_env: vec!["1X=".into()],
                ..InjectOptions::default()
            },
            "--app-bind-env",
        ),
    ];
    for (opts, want) in cases {
        let err = error_of(DEPLOYMENT, &opts);
        assert!(err.contains(want), "want {want:?} in {err:?}");
    }
}

fn annotations(obj: &Value) -> &Value {
    &obj["spec"]["template"]["metadata"]["annotations"]
}

fn args_of(obj: &Value) -> Vec<String> {
    container(obj, "authproxy")["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn metrics_port_sets_listener_container_port_and_scrape_annotations() {
    let opts = InjectOptions {
        metrics_port: Some(9100),
        ..InjectOptions::default()
    };
    let out = inject_sources(&[("", DEPLOYMENT)], &opts).unwrap();
    let docs = parse(&out.yaml);
    assert!(args_of(&docs[0]).contains(&"--metrics-address=0.0.0.0:9100".to_owned()));
    let ports = container(&docs[0], "authproxy")["ports"]
        .as_sequence()
        .unwrap()
        .clone();
    let metrics = ports
        .iter()
        .find(|p| p["name"].as_str() == Some(METRICS_PORT_NAME))
        .expect("metrics port declared");
    assert_eq!(metrics["containerPort"].as_u64(), Some(9100));
    assert_eq!(metrics["protocol"].as_str(), Some("TCP"));
    let a = annotations(&docs[0]);
    assert_eq!(a[PROMETHEUS_SCRAPE_ANNOTATION].as_str(), Some("true"));
    assert_eq!(a[PROMETHEUS_PORT_ANNOTATION].as_str(), Some("9100"));
    assert_eq!(a[PROMETHEUS_PATH_ANNOTATION].as_str(), Some(METRICS_PATH));
    assert_eq!(a[METRICS_PORT_ANNOTATION].as_str(), Some("9100"));
    assert!(
        !out.warnings.iter().any(|w| w.contains("prometheus")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn no_metrics_port_turns_the_listener_off_and_declares_nothing() {
    let opts = InjectOptions {
        metrics_port: None,
        ..InjectOptions::default()
    };
    let docs = parse(&inject(DEPLOYMENT, &opts).unwrap());
    // An empty address overrides a metrics_address the shared config file may set.
    assert!(args_of(&docs[0]).contains(&"--metrics-address=".to_owned()));
    let ports = container(&docs[0], "authproxy")["ports"]
        .as_sequence()
        .unwrap()
        .clone();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["name"].as_str(), Some(PROXY_PORT_NAME));
    let a = annotations(&docs[0]).as_mapping().unwrap();
    for key in [
        PROMETHEUS_SCRAPE_ANNOTATION,
        PROMETHEUS_PORT_ANNOTATION,
        PROMETHEUS_PATH_ANNOTATION,
        METRICS_PORT_ANNOTATION,
    ] {
        assert!(!a.contains_key(key), "{key}");
    }
}

#[test]
fn reinjecting_moves_or_withdraws_its_own_scrape_annotations() {
    let once = inject(DEPLOYMENT, &InjectOptions::default()).unwrap();
    let moved = inject(
        &once,
        &InjectOptions {
            metrics_port: Some(9100),
            ..InjectOptions::default()
        },
    )
    .unwrap();
    let docs = parse(&moved);
    assert_eq!(
        annotations(&docs[0])[PROMETHEUS_PORT_ANNOTATION].as_str(),
        Some("9100")
    );
    let metrics_ports: Vec<u64> = container(&docs[0], "authproxy")["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|p| p["name"].as_str() == Some(METRICS_PORT_NAME))
        .filter_map(|p| p["containerPort"].as_u64())
        .collect();
    assert_eq!(metrics_ports, [9100]);
    let off = inject(
        &moved,
        &InjectOptions {
            metrics_port: None,
            ..InjectOptions::default()
        },
    )
    .unwrap();
    let docs = parse(&off);
    let a = annotations(&docs[0]).as_mapping().unwrap();
    assert!(!a.contains_key(PROMETHEUS_SCRAPE_ANNOTATION));
    assert!(!a.contains_key(PROMETHEUS_PORT_ANNOTATION));
    assert!(!a.contains_key(PROMETHEUS_PATH_ANNOTATION));
    assert!(!a.contains_key(METRICS_PORT_ANNOTATION));
    assert_eq!(
        a.get(APP_PORT_ANNOTATION).and_then(Value::as_str),
        Some("8080")
    );
}

/// DEPLOYMENT with these pod-template annotations (each `key: value`).
fn with_pod_annotations(lines: &[&str]) -> String {
    let block: String = lines.iter().map(|l| format!("        {l}\n")).collect();
    let out = DEPLOYMENT.replace(
        "      labels:\n        app: web\n    spec:",
        &format!("      labels:\n        app: web\n      annotations:\n{block}    spec:"),
    );
    assert_ne!(out, DEPLOYMENT);
    out
}

#[test]
fn keeps_the_apps_own_scrape_annotations_and_warns() {
    let own = with_pod_annotations(&[
        "prometheus.io/scrape: \"true\"",
        "prometheus.io/port: \"8081\"",
        "prometheus.io/path: /app-metrics",
    ]);
    for metrics_port in [Some(9090), None] {
        let opts = InjectOptions {
            metrics_port,
            ..InjectOptions::default()
        };
        let out = inject_sources(&[("", &own)], &opts).unwrap();
        let docs = parse(&out.yaml);
        let a = annotations(&docs[0]);
        assert_eq!(a[PROMETHEUS_SCRAPE_ANNOTATION].as_str(), Some("true"));
        assert_eq!(a[PROMETHEUS_PORT_ANNOTATION].as_str(), Some("8081"));
        assert_eq!(a[PROMETHEUS_PATH_ANNOTATION].as_str(), Some("/app-metrics"));
        let warned = out
            .warnings
            .iter()
            .any(|w| w.contains("prometheus.io/port") && w.contains("PodMonitor"));
        assert_eq!(warned, metrics_port.is_some(), "{:?}", out.warnings);
        // Idempotent in this case too.
        let again = inject_sources(&[("", &out.yaml)], &opts).unwrap();
        assert_eq!(again.yaml, out.yaml);
    }
}

#[test]
fn refuses_a_metrics_port_the_pod_already_uses() {
    let err = error_of(
        DEPLOYMENT,
        &InjectOptions {
            metrics_port: Some(8080),
            app_port: Some(8081),
            ..InjectOptions::default()
        },
    );
    assert!(err.contains("already uses port 8080"), "{err}");
    assert!(err.contains("--metrics-port"), "{err}");
    let annotated = with_pod_annotations(&["authproxy.io/app-port: \"9090\""]).replace(
        "        ports:\n        - name: http\n          containerPort: 8080\n",
        "",
    );
    let err = error_of(&annotated, &InjectOptions::default());
    assert!(
        err.contains("the app port 9090 is the metrics port"),
        "{err}"
    );
}
