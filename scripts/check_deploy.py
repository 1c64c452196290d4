#!/usr/bin/env python3
"""Offline checks of deploy/: Kustomize base + overlays, the Helm chart, Istio objects.

* Renders each Kustomize directory with a small built-in renderer (resources, namespace, images,
  configMapGenerator, generatorOptions, strategic-merge patches; anything else is an error).
* Validates every Kubernetes object with kubernetes-validate (strict) and every Istio object and
  Prometheus Operator object (PodMonitor, ServiceMonitor, PrometheusRule) with the JSON Schemas in
  deploy/schemas/ (kubernetes-validate skips unknown kinds).
* Cross-checks: VirtualService destinations and gateways exist, Services of injected pods target
  the sidecar port, no Secret values are committed; the sidecar's metrics listener (flag or
  mounted authproxy.cfg), its `metrics` container port, the prometheus.io annotations, the
  NetworkPolicy rules and PodMonitors all agree on one port.
* Helm: every value in values.yaml is used by a template, every .Values reference exists; the
  templates are rendered with a small Go-template subset (default values, then every optional
  feature on) and the output is parsed and validated like the Kustomize output.
* deploy/monitoring/: its Kustomize directory and servicemonitor.yaml together with the base
  (the monitors must select the base's sidecars and their `metrics` port); every alert has a
  severity and summary/description/runbook annotations; the Grafana dashboard has a datasource
  variable that every panel uses; every metric the alerts and panels use is documented in
  docs/operations.md. (PromQL itself is checked by promtool and a live Prometheus in
  tests/e2e_monitoring.rs.)
* Writes the authproxy.cfg files found in rendered ConfigMaps to --cfg-dir for `authproxy --check`.

Usage: check_deploy.py [--cfg-dir DIR]   (exit 0 when everything passes)
"""

import argparse
import copy
import hashlib
import json
import os
import re
import sys

import jsonschema
import kubernetes_validate
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(ROOT, "deploy")
K8S_VERSION = "1.31.0"
PROXY_PORT = 4180
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
CRD_SCHEMAS = {
    "Gateway": "gateway.json",
    "VirtualService": "virtualservice.json",
    "AuthorizationPolicy": "authorizationpolicy.json",
    "PodMonitor": "podmonitor.json",
    "ServiceMonitor": "servicemonitor.json",
    "PrometheusRule": "prometheusrule.json",
}
CRD_GROUPS = (".istio.io/", "monitoring.coreos.com/")

errors = []
checked = {"objects": 0}


def fail(msg):
    errors.append(msg)


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# ---------------------------------------------------------------- Kustomize

KUSTOMIZATION_KEYS = {"apiVersion", "kind", "namespace", "resources", "configMapGenerator",
                      "generatorOptions", "images", "patches"}


def merge(base, patch):
    """Strategic merge, enough for Kubernetes objects: maps merge, lists of named maps merge by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(patch, list) and all(isinstance(x, dict) and "name" in x for x in base + patch):
        out = [copy.deepcopy(x) for x in base]
        for item in patch:
            idx = next((i for i, b in enumerate(out) if b["name"] == item["name"]), None)
            if idx is None:
                out.append(copy.deepcopy(item))
            else:
                out[idx] = merge(out[idx], item)
        return out
    return copy.deepcopy(patch)


def pod_specs(obj):
    spec = obj.get("spec") or {}
    if obj.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return [((spec.get("template") or {}).get("spec") or {})]
    return []


def render_kustomize(directory):
    kpath = os.path.join(directory, "kustomization.yaml")
    k = load_docs(kpath)[0]
    unknown = set(k) - KUSTOMIZATION_KEYS
    if unknown:
        fail(f"{kpath}: fields not supported by the checker's renderer: {sorted(unknown)}")
    objs = []
    for res in k.get("resources", []):
        p = os.path.normpath(os.path.join(directory, res))
        if os.path.isdir(p):
            objs.extend(render_kustomize(p))
        elif os.path.isfile(p):
            objs.extend((p, d) for d in load_docs(p))
        else:
            fail(f"{kpath}: resource {res} does not exist")
    gen_opts = k.get("generatorOptions") or {}
    for gen in k.get("configMapGenerator", []):
        if not gen_opts.get("disableNameSuffixHash"):
            fail(f"{kpath}: configMapGenerator without disableNameSuffixHash is not emulated")
        data = {}
        for f in gen.get("files", []):
            key, _, fname = f.rpartition("=") if "=" in f else (os.path.basename(f), "", f)
            with open(os.path.join(directory, fname), encoding="utf-8") as fh:
                data[key] = fh.read()
        for lit in gen.get("literals", []):
            key, _, val = lit.partition("=")
            data[key] = val
        objs.append((kpath, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data}))
    for patch in k.get("patches", []):
        ppath = os.path.join(directory, patch["path"])
        for p in load_docs(ppath):
            targets = [i for i, (_, o) in enumerate(objs)
                       if o.get("kind") == p.get("kind") and o["metadata"]["name"] == p["metadata"]["name"]]
            if len(targets) != 1:
                fail(f"{ppath}: patch matches {len(targets)} objects")
            for i in targets:
                objs[i] = (objs[i][0], merge(objs[i][1], p))
    for img in k.get("images", []):
        hits = 0
        for _, o in objs:
            for ps in pod_specs(o):
                for c in ps.get("containers", []) + ps.get("initContainers", []):
                    name = re.split(r"[:@]", c.get("image", ""), maxsplit=1)[0]
                    if name == img["name"]:
                        hits += 1
                        c["image"] = f"{img.get('newName', name)}:{img['newTag']}" if "newTag" in img else img.get("newName", name)
        if hits == 0:
            fail(f"{kpath}: image {img['name']} matches no container")
    if "namespace" in k:
        for _, o in objs:
            if o.get("kind") not in CLUSTER_SCOPED:
                o.setdefault("metadata", {})["namespace"] = k["namespace"]
    return objs


# ---------------------------------------------------------------- validation

_schemas = {}


def crd_schema(kind):
    if kind not in _schemas:
        with open(os.path.join(DEPLOY, "schemas", CRD_SCHEMAS[kind]), encoding="utf-8") as f:
            _schemas[kind] = json.load(f)
    return _schemas[kind]


def validate_objects(label, objs):
    for origin, o in objs:
        kind = o.get("kind")
        name = (o.get("metadata") or {}).get("name")
        where = f"{label}: {os.path.relpath(origin, ROOT)}: {kind} {name}"
        checked["objects"] += 1
        api = o.get("apiVersion", "")
        if any(g in api for g in CRD_GROUPS):
            if kind not in CRD_SCHEMAS:
                fail(f"{where}: no schema for custom resource kind {kind}")
                continue
            for e in jsonschema.Draft202012Validator(crd_schema(kind)).iter_errors(o):
                fail(f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
            continue
        try:
            kubernetes_validate.validate(o, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            fail(f"{where}: {'/'.join(map(str, e.path))}: {e.message}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as e:
            fail(f"{where}: {e}")
        if kind == "Secret" and (o.get("data") or o.get("stringData")) and not label.startswith("helm"):
            fail(f"{where}: Secret values must not be committed; create the Secret with kubectl (docs/kubernetes.md)")
    cross_check(label, [o for _, o in objs])


def cross_check(label, objs):
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    services = {(s["metadata"].get("namespace"), s["metadata"]["name"]): s for s in by_kind.get("Service", [])}
    gateways = {(g["metadata"].get("namespace"), g["metadata"]["name"]) for g in by_kind.get("Gateway", [])}
    for vs in by_kind.get("VirtualService", []):
        ns = vs["metadata"].get("namespace")
        for gw in vs["spec"].get("gateways", []):
            key = tuple(gw.split("/", 1)) if "/" in gw else (ns, gw)
            if gateways and key not in gateways:
                fail(f"{label}: VirtualService {vs['metadata']['name']}: gateway {gw} is not defined")
        for route in vs["spec"].get("http", []):
            for r in route.get("route", []):
                host = r["destination"]["host"]
                m = re.fullmatch(r"([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local", host)
                if not m or (m.group(2), m.group(1)) not in services:
                    fail(f"{label}: VirtualService {vs['metadata']['name']}: destination {host} is not a Service here")
                    continue
                svc = services[(m.group(2), m.group(1))]
                port = (r["destination"].get("port") or {}).get("number")
                if port is not None and port not in [p["port"] for p in svc["spec"]["ports"]]:
                    fail(f"{label}: VirtualService {vs['metadata']['name']}: Service {host} has no port {port}")
    injected = []
    for kind in ("Deployment", "StatefulSet", "DaemonSet"):
        for w in by_kind.get(kind, []):
            tmpl = w["spec"]["template"]
            names = [c["name"] for c in tmpl["spec"]["containers"]]
            if "authproxy" in names:
                labels = tmpl["metadata"].get("labels") or {}
                if labels.get("authproxy.io/injected") != "true":
                    fail(f"{label}: {kind} {w['metadata']['name']}: sidecar without the authproxy.io/injected label")
                injected.append((w["metadata"].get("namespace"), labels))
                check_sidecar(label, kind, w)
                check_metrics(label, kind, w, by_kind)
    for pm in by_kind.get("PodMonitor", []):
        sel = (pm["spec"].get("selector") or {}).get("matchLabels") or {}
        ns = pm["metadata"].get("namespace")
        hits = [w for kind in ("Deployment", "StatefulSet", "DaemonSet") for w in by_kind.get(kind, [])
                if w["metadata"].get("namespace") == ns
                and sel.items() <= (w["spec"]["template"]["metadata"].get("labels") or {}).items()]
        if not hits:
            fail(f"{label}: PodMonitor {pm['metadata']['name']} selects no workload")
        for ep in pm["spec"].get("podMetricsEndpoints", []):
            for w in hits:
                names = [p.get("name") for c in w["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
                if ep.get("port") not in names:
                    fail(f"{label}: PodMonitor {pm['metadata']['name']}: {w['metadata']['name']} has no container port named {ep.get('port')}")
    for s in by_kind.get("Service", []):
        sel = s["spec"].get("selector") or {}
        if sel and any(ns == s["metadata"].get("namespace") and sel.items() <= lab.items() for ns, lab in injected):
            targets = [p.get("targetPort") for p in s["spec"]["ports"]]
            # A metrics-only Service (for a ServiceMonitor) exposes nothing but the sidecars'
            # named `metrics` port; any other Service must send everything to the proxy port.
            if targets and all(t == "metrics" for t in targets):
                continue
            for p in s["spec"]["ports"]:
                if p.get("targetPort") not in (PROXY_PORT, "http-authproxy"):
                    fail(f"{label}: Service {s['metadata']['name']} port {p.get('name')} targets {p.get('targetPort')}, not the sidecar")
    for sm in by_kind.get("ServiceMonitor", []):
        check_service_monitor(label, sm, by_kind)


def check_service_monitor(label, sm, by_kind):
    """A ServiceMonitor selects Services whose named port it scrapes, and those Services send it to
    the sidecars' `metrics` container port."""
    where = f"{label}: ServiceMonitor {sm['metadata']['name']}"
    spec = sm["spec"]
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    nss = (spec.get("namespaceSelector") or {}).get("matchNames") or [sm["metadata"].get("namespace")]
    services = [s for s in by_kind.get("Service", [])
                if s["metadata"].get("namespace") in nss and sel.items() <= (s["metadata"].get("labels") or {}).items()]
    if not services:
        fail(f"{where} selects no Service")
    workloads = [w for kind in ("Deployment", "StatefulSet", "DaemonSet") for w in by_kind.get(kind, [])]
    for ep in spec.get("endpoints", []):
        for svc in services:
            ports = {p.get("name"): p for p in svc["spec"]["ports"]}
            if ep.get("port") not in ports:
                fail(f"{where}: Service {svc['metadata']['name']} has no port named {ep.get('port')}")
                continue
            target = ports[ep["port"]].get("targetPort")
            svc_sel = svc["spec"].get("selector") or {}
            pods = [w for w in workloads if w["metadata"].get("namespace") == svc["metadata"].get("namespace")
                    and svc_sel.items() <= (w["spec"]["template"]["metadata"].get("labels") or {}).items()]
            if not pods:
                fail(f"{where}: Service {svc['metadata']['name']} selects no workload")
            for w in pods:
                names = [p.get("name") for c in w["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
                if target not in names:
                    fail(f"{where}: Service {svc['metadata']['name']} targets {target}, which {w['metadata']['name']} does not declare")


def check_sidecar(label, kind, w):
    c = next(c for c in w["spec"]["template"]["spec"]["containers"] if c["name"] == "authproxy")
    where = f"{label}: {kind} {w['metadata']['name']}: sidecar"
    sc = c.get("securityContext") or {}
    want = {"runAsNonRoot": True, "runAsUser": 2000, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
    for k, v in want.items():
        if sc.get(k) != v:
            fail(f"{where}: securityContext.{k} must be {v}")
    if (sc.get("capabilities") or {}).get("drop") != ["ALL"]:
        fail(f"{where}: capabilities must drop ALL")
    if (c.get("livenessProbe") or {}).get("httpGet", {}).get("path") != "/ping":
        fail(f"{where}: liveness probe must be /ping")
    if (c.get("readinessProbe") or {}).get("httpGet", {}).get("path") != "/ready":
        fail(f"{where}: readiness probe must be /ready")
    if not (c.get("resources") or {}).get("limits"):
        fail(f"{where}: resource limits missing")
    if not any(a.startswith("--config=") for a in c.get("args", [])):
        fail(f"{where}: no --config argument")


def metrics_address_of(sidecar, pod_spec, by_kind, namespace):
    """The sidecar's effective metrics_address: the flag wins over the mounted authproxy.cfg."""
    for a in sidecar.get("args", []):
        if a.startswith("--metrics-address="):
            return a.split("=", 1)[1]
    mounts = [m["name"] for m in sidecar.get("volumeMounts", [])]
    for v in pod_spec.get("volumes", []):
        cm_name = (v.get("configMap") or {}).get("name")
        if v["name"] not in mounts or not cm_name:
            continue
        for cm in by_kind.get("ConfigMap", []):
            if cm["metadata"]["name"] == cm_name and cm["metadata"].get("namespace") == namespace:
                m = re.search(r'^metrics_address\s*=\s*"([^"]*)"', (cm.get("data") or {}).get("authproxy.cfg", ""), re.M)
                if m:
                    return m.group(1)
    return ""


def check_metrics(label, kind, w, by_kind):
    tmpl = w["spec"]["template"]
    spec = tmpl["spec"]
    c = next(c for c in spec["containers"] if c["name"] == "authproxy")
    where = f"{label}: {kind} {w['metadata']['name']}: metrics"
    namespace = w["metadata"].get("namespace")
    address = metrics_address_of(c, spec, by_kind, namespace)
    declared = [p["containerPort"] for p in c.get("ports", []) if p.get("name") == "metrics"]
    annotations = tmpl["metadata"].get("annotations") or {}
    if not address:
        if declared:
            fail(f"{where}: port {declared[0]} declared but no metrics listener (metrics_address) is configured")
        if annotations.get("authproxy.io/metrics-port"):
            fail(f"{where}: authproxy.io/metrics-port annotation without a metrics listener")
        return
    m = re.fullmatch(r"(?:https?://)?[^:]*:(\d+)", address)
    if not m:
        fail(f"{where}: metrics address {address!r} has no port")
        return
    port = int(m.group(1))
    if declared != [port]:
        fail(f"{where}: the listener is on {port} but the sidecar declares metrics port(s) {declared}")
    if annotations.get("authproxy.io/metrics-port") == str(port) and (
            annotations.get("prometheus.io/port") != str(port)
            or annotations.get("prometheus.io/scrape") != "true"
            or annotations.get("prometheus.io/path") != "/metrics"):
        fail(f"{where}: prometheus.io annotations do not point at port {port} /metrics")
    labels = tmpl["metadata"].get("labels") or {}
    for np in by_kind.get("NetworkPolicy", []):
        if np["metadata"].get("namespace") != namespace:
            continue
        if not ((np["spec"].get("podSelector") or {}).get("matchLabels") or {}).items() <= labels.items():
            continue
        rules = np["spec"].get("ingress") or []
        scrape = [r for r in rules if any(p.get("port") in (port, "metrics") for p in r.get("ports", []))]
        if not scrape:
            fail(f"{where}: NetworkPolicy {np['metadata']['name']} does not admit the metrics port {port}")
        for r in scrape:
            if any(p.get("port") == PROXY_PORT for p in r.get("ports", [])):
                fail(f"{where}: NetworkPolicy {np['metadata']['name']}: the scraper rule also admits the proxy port")


# ---------------------------------------------------------------- Helm (Go template subset)

class TemplateError(Exception):
    pass


TOKEN = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


def parse_template(text):
    """Split into a tree of ('text', s) / ('action', expr) / ('if', ...) / ('range', ...) / ('define', ...)."""
    pieces, pos, pending_trim = [], 0, False
    for m in TOKEN.finditer(text):
        chunk = text[pos:m.start()]
        if pending_trim:
            chunk = chunk.lstrip()
        if m.group(1):
            chunk = chunk.rstrip()
        pieces.append(("text", chunk))
        expr = m.group(2)
        if not expr.startswith("/*"):
            pieces.append(("tag", expr))
        pending_trim = bool(m.group(3))
        pos = m.end()
    tail = text[pos:]
    pieces.append(("text", tail.lstrip() if pending_trim else tail))

    def block(i, stop):
        nodes = []
        while i < len(pieces):
            kind, val = pieces[i]
            if kind == "text":
                nodes.append(("text", val))
                i += 1
                continue
            word = val.split(None, 1)[0]
            if word in stop:
                return nodes, i
            if word == "if":
                then, i = block(i + 1, {"else", "end"})
                other = []
                tag = pieces[i][1]
                if tag.startswith("else "):
                    raise TemplateError(f"unsupported `{tag}` (nest an if inside else instead)")
                if tag == "else":
                    other, i = block(i + 1, {"end"})
                nodes.append(("if", val[3:], then, other))
                i += 1
            elif word == "range":
                body, i = block(i + 1, {"end"})
                nodes.append(("range", val[6:], body))
                i += 1
            elif word == "define":
                body, i = block(i + 1, {"end"})
                nodes.append(("define", json.loads(val[7:].strip()), body))
                i += 1
            elif word in ("with", "block", "template", "else", "end"):
                raise TemplateError(f"unsupported or unbalanced `{val}` (keep templates to if/range/define/include)")
            else:
                nodes.append(("action", val))
                i += 1
        if stop:
            raise TemplateError(f"missing {{{{ end }}}} (expected one of {sorted(stop)})")
        return nodes, i

    nodes, _ = block(0, set())
    return nodes


def split_top(s, sep):
    parts, depth, cur, quote = [], 0, "", False
    i = 0
    while i < len(s):
        ch = s[i]
        if quote:
            cur += ch
            if ch == "\\":
                cur += s[i + 1]
                i += 1
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote, cur = True, cur + ch
        elif ch == "(":
            depth, cur = depth + 1, cur + ch
        elif ch == ")":
            depth, cur = depth - 1, cur + ch
        elif depth == 0 and ((sep == "|" and ch == "|") or (sep == " " and ch.isspace())):
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()] if sep == " " else [p.strip() for p in parts]


def truthy(v):
    return not (v is None or v is False or v == 0 or v == "" or v == [] or v == {})


def go_str(v):
    if v is None:
        return ""
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        raise TemplateError(f"a map or list is printed directly (use toYaml/toJson): {v!r}")
    return str(v)


def go_printf(fmt, *args):
    out, it = "", iter(args)
    for part in re.split(r"(%[svdq])", fmt):
        if part in ("%s", "%v", "%d"):
            out += go_str(next(it))
        elif part == "%q":
            out += json.dumps(go_str(next(it)))
        else:
            out += part
    return out


class Renderer:
    def __init__(self, ctx, defines):
        self.ctx, self.defines = ctx, defines

    def funcs(self):
        return {
            "include": lambda name, dot: self.render(self.defines[name], dot, {}),
            "toYaml": lambda v: yaml.safe_dump(v, default_flow_style=False, sort_keys=False).rstrip("\n") if v not in (None, "") else "",
            "toJson": lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":")),
            "nindent": lambda n, s: "\n" + "\n".join((" " * n + line) if line else line for line in go_str(s).split("\n")),
            "indent": lambda n, s: "\n".join((" " * n + line) if line else line for line in go_str(s).split("\n")),
            "quote": lambda v: json.dumps(go_str(v)),
            "printf": go_printf,
            "print": lambda *a: "".join(go_str(x) for x in a),
            "sha256sum": lambda s: hashlib.sha256(go_str(s).encode()).hexdigest(),
            "default": lambda d, v: v if truthy(v) else d,
            "required": self.required,
            "not": lambda v: not truthy(v),
            "and": lambda *a: all(truthy(x) for x in a),
            "or": lambda *a: any(truthy(x) for x in a),
            "eq": lambda a, b: a == b,
        }

    @staticmethod
    def required(msg, v):
        if not truthy(v):
            raise TemplateError(f"required: {msg}")
        return v

    def value(self, tok, dot, scope):
        if tok.startswith('"'):
            return json.loads(tok)
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        if tok in ("true", "false"):
            return tok == "true"
        if tok.startswith("("):
            return self.pipeline(tok[1:-1], dot, scope)
        if tok == ".":
            return dot
        if tok.startswith("$"):
            name, _, rest = tok.partition(".")
            base = self.ctx if name == "$" else scope[name]
            return self.walk(base, rest)
        if tok.startswith("."):
            return self.walk(dot, tok[1:])
        raise TemplateError(f"unsupported token {tok!r}")

    @staticmethod
    def walk(base, path):
        v = base
        for part in [p for p in path.split(".") if p]:
            v = v.get(part) if isinstance(v, dict) else None
        return v

    def command(self, cmd, dot, scope, piped):
        toks = split_top(cmd, " ")
        fns = self.funcs()
        if toks[0] in fns:
            args = [self.value(t, dot, scope) for t in toks[1:]] + piped
            return fns[toks[0]](*args)
        if len(toks) != 1 or piped:
            raise TemplateError(f"unsupported command {cmd!r}")
        return self.value(toks[0], dot, scope)

    def pipeline(self, expr, dot, scope):
        result, first = None, True
        for cmd in split_top(expr, "|"):
            result = self.command(cmd, dot, scope, [] if first else [result])
            first = False
        return result

    def render(self, nodes, dot, scope):
        out = []
        for node in nodes:
            if node[0] == "text":
                out.append(node[1])
            elif node[0] == "action":
                out.append(go_str(self.pipeline(node[1], dot, scope)))
            elif node[0] == "if":
                branch = node[2] if truthy(self.pipeline(node[1], dot, scope)) else node[3]
                out.append(self.render(branch, dot, scope))
            elif node[0] == "range":
                m = re.fullmatch(r"(?:(\$\w+)\s*(?:,\s*(\$\w+))?\s*:=\s*)?(.+)", node[1].strip())
                seq = self.pipeline(m.group(3), dot, scope) or []
                items = sorted(seq.items()) if isinstance(seq, dict) else list(enumerate(seq))
                for k, v in items:
                    inner = dict(scope)
                    if m.group(2):
                        inner[m.group(1)], inner[m.group(2)] = k, v
                    elif m.group(1):
                        inner[m.group(1)] = v
                    out.append(self.render(node[2], v, inner))
        return "".join(out)


def leaves(d, prefix=()):
    if isinstance(d, dict) and d:
        for k, v in d.items():
            yield from leaves(v, prefix + (k,))
    else:
        yield prefix


def check_helm(chart):
    label = "helm " + os.path.relpath(chart, ROOT)
    values = load_docs(os.path.join(chart, "values.yaml"))[0]
    meta = load_docs(os.path.join(chart, "Chart.yaml"))[0]
    tdir = os.path.join(chart, "templates")
    texts = {f: open(os.path.join(tdir, f), encoding="utf-8").read() for f in sorted(os.listdir(tdir))}
    refs, whole = set(), set()
    for f, text in texts.items():
        for m in TOKEN.finditer(text):
            expr = m.group(2)
            found = {tuple(r.split(".")[1:]) for r in re.findall(r"\.Values((?:\.[A-Za-z_]\w*)+)", expr)}
            refs |= found
            if re.search(r"\b(toYaml|toJson|range)\b", expr) and "sha256sum" not in expr:
                whole |= found
            if re.search(r"\bwith\s+\.Values", expr):
                fail(f"{label}: {f}: `with .Values...` hides references from the checker")
    for r in sorted(refs):
        v = values
        for part in r:
            if not isinstance(v, dict) or part not in v:
                fail(f"{label}: .Values.{'.'.join(r)} is referenced but not defined in values.yaml")
                break
            v = v[part]
    for leaf in leaves(values):
        if leaf not in refs and not any(leaf[:len(w)] == w for w in whole):
            fail(f"{label}: value {'.'.join(leaf)} in values.yaml is not used by any template")

    defines, pages = {}, {}
    try:
        for f, text in texts.items():
            nodes = parse_template(text)
            for n in nodes:
                if n[0] == "define":
                    defines[n[1]] = n[2]
            if not f.startswith("_"):
                pages[f] = nodes
    except TemplateError as e:
        fail(f"{label}: {f}: {e}")
        return []

    everything_on = copy.deepcopy(values)
    everything_on["istio"]["gateway"]["enabled"] = True
    everything_on["istio"]["authHost"]["enabled"] = True
    everything_on["secret"].update(create=True, clientId="client", clientSecret="secret", cookieSecret="c" * 32)
    everything_on["config"]["allowedGroups"] = ["admins"]
    everything_on["authproxy"]["extraArgs"] = ["--skip-provider-button"]
    everything_on["app"]["env"] = [{"name": "HOST", "value": "127.0.0.1"}]
    everything_on["metrics"]["podMonitor"].update(enabled=True, labels={"release": "kube-prometheus-stack"})
    metrics_off = copy.deepcopy(everything_on)
    metrics_off["metrics"]["enabled"] = False
    cfgs = []
    for variant, vals in (("defaults", values), ("all features on", everything_on), ("metrics off", metrics_off)):
        ctx = {"Values": vals, "Release": {"Name": "demo", "Namespace": "apps", "Service": "Helm"},
               "Chart": {"Name": meta["name"], "Version": meta["version"], "AppVersion": meta.get("appVersion")}}
        r = Renderer(ctx, defines)
        objs = []
        for f, nodes in pages.items():
            try:
                text = r.render(nodes, ctx, {})
                docs = [d for d in yaml.safe_load_all(text) if d is not None]
            except (TemplateError, yaml.YAMLError, KeyError, StopIteration) as e:
                fail(f"{label} ({variant}): {f}: {e}")
                continue
            for d in docs:
                # As `helm install --namespace apps` would place them (the cross-checks need it).
                d.setdefault("metadata", {}).setdefault("namespace", ctx["Release"]["Namespace"])
                objs.append((os.path.join(tdir, f), d))
        kinds = sorted(o["kind"] for _, o in objs)
        if variant != "defaults":
            for need in ("AuthorizationPolicy", "ConfigMap", "Deployment", "Gateway", "NetworkPolicy", "Secret", "Service", "VirtualService"):
                if need not in kinds:
                    fail(f"{label} ({variant}): renders no {need}")
        if ("PodMonitor" in kinds) != (variant == "all features on"):
            fail(f"{label} ({variant}): PodMonitor rendered: {'PodMonitor' in kinds}")
        if variant == "metrics off":
            rendered = yaml.safe_dump([o for _, o in objs])
            if "metrics_address" in rendered or "prometheus.io/" in rendered:
                fail(f"{label} ({variant}): metrics disabled but still configured or annotated")
        validate_objects(f"{label} ({variant})", objs)
        cfgs.extend((f"helm-{variant.replace(' ', '-')}", o) for _, o in objs if o["kind"] == "ConfigMap")
    return cfgs


METRIC_RE = re.compile(r"\b((?:oauth2_proxy|authproxy)_[a-z0-9_]+)")


def metric_families(expr):
    out = set()
    for m in METRIC_RE.findall(expr):
        for suffix in ("_bucket", "_count", "_sum"):
            if m.endswith(suffix) and m[: -len(suffix)].endswith("_seconds"):
                m = m[: -len(suffix)]
        out.add(m)
    return out


def check_monitoring():
    """deploy/monitoring/: the Prometheus Operator objects with the base, the alerts' annotations,
    the Grafana dashboard's structure, and that every metric they use is documented."""
    mdir = os.path.join(DEPLOY, "monitoring")
    label = os.path.relpath(mdir, ROOT)
    k = load_docs(os.path.join(mdir, "kustomization.yaml"))[0]
    alternative = os.path.join(mdir, "servicemonitor.yaml")
    listed = {os.path.normpath(os.path.join(mdir, r)) for r in k.get("resources", [])} | {alternative}
    for f in sorted(os.listdir(mdir)):
        if f.endswith(".yaml") and f != "kustomization.yaml" and os.path.join(mdir, f) not in listed:
            fail(f"{label}: {f} is neither a resource of kustomization.yaml nor servicemonitor.yaml (not validated)")
    base = render_kustomize(os.path.join(DEPLOY, "kubernetes", "base"))
    objs = render_kustomize(mdir) + [(alternative, d) for d in load_docs(alternative)]
    kinds = sorted(o["kind"] for _, o in objs)
    for need in ("PodMonitor", "PrometheusRule", "Service", "ServiceMonitor"):
        if need not in kinds:
            fail(f"{label}: no {need}")
    validate_objects(f"{label} + deploy/kubernetes/base", base + objs)

    used = {}
    names = set()
    for _, o in objs:
        if o["kind"] != "PrometheusRule":
            continue
        for g in o["spec"].get("groups", []):
            for r in g.get("rules", []):
                name = r.get("alert") or r.get("record")
                where = f"{label}: PrometheusRule {o['metadata']['name']}: {name}"
                if name in names:
                    fail(f"{where}: defined twice")
                names.add(name)
                for m in metric_families(str(r.get("expr", ""))):
                    used.setdefault(m, where)
                if "alert" not in r:
                    continue
                if (r.get("labels") or {}).get("severity") not in ("critical", "warning", "info"):
                    fail(f"{where}: labels.severity must be critical, warning or info")
                if not r.get("for"):
                    fail(f"{where}: no `for` (an alert that fires on one bad evaluation)")
                for a in ("summary", "description", "runbook"):
                    if len(str((r.get("annotations") or {}).get(a, ""))) < 20:
                        fail(f"{where}: annotation {a} missing or too short")

    dpath = os.path.join(mdir, "authproxy-dashboard.json")
    try:
        with open(dpath, encoding="utf-8") as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{label}: authproxy-dashboard.json: {e}")
        return
    where = f"{label}: authproxy-dashboard.json"
    variables = (dash.get("templating") or {}).get("list") or []
    ds = [v for v in variables if v.get("type") == "datasource" and v.get("query") == "prometheus"]
    if len(ds) != 1:
        fail(f"{where}: needs exactly one datasource variable of type prometheus")
        return
    ds_ref = "${" + ds[0]["name"] + "}"
    for v in variables:
        if v.get("type") == "query" and (v.get("datasource") or {}).get("uid") != ds_ref:
            fail(f"{where}: variable {v.get('name')} does not use {ds_ref}")
    ids = set()

    def walk(panels):
        for p in panels:
            pid, title = p.get("id"), p.get("title")
            if pid in ids:
                fail(f"{where}: panel id {pid} used twice")
            ids.add(pid)
            gp = p.get("gridPos") or {}
            if not all(isinstance(gp.get(key), int) for key in ("h", "w", "x", "y")) or gp["x"] + gp["w"] > 24:
                fail(f"{where}: panel {title!r}: gridPos {gp} is not within the 24-column grid")
            if p.get("type") == "row":
                walk(p.get("panels") or [])
                continue
            if (p.get("datasource") or {}).get("uid") != ds_ref:
                fail(f"{where}: panel {title!r} does not use the {ds_ref} datasource variable")
            targets = p.get("targets") or []
            if not targets:
                fail(f"{where}: panel {title!r} has no query")
            refs = [t.get("refId") for t in targets]
            if len(set(refs)) != len(refs):
                fail(f"{where}: panel {title!r}: refIds {refs} are not unique")
            for t in targets:
                if (t.get("datasource") or {}).get("uid") != ds_ref:
                    fail(f"{where}: panel {title!r} query {t.get('refId')} does not use {ds_ref}")
                if not str(t.get("expr", "")).strip():
                    fail(f"{where}: panel {title!r} query {t.get('refId')} has no expr")
                for m in metric_families(str(t.get("expr", ""))):
                    used.setdefault(m, f"{where}: panel {title!r}")

    walk(dash.get("panels") or [])
    with open(os.path.join(ROOT, "docs", "operations.md"), encoding="utf-8") as f:
        documented = set(re.findall(r"`((?:oauth2_proxy|authproxy)_[a-z0-9_]+)`", f.read()))
    for m, where in sorted(used.items()):
        if m not in documented:
            fail(f"{where}: metric {m} is not documented in docs/operations.md")
    checked["objects"] += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cfg-dir", help="write each rendered authproxy.cfg here")
    args = ap.parse_args()
    configmaps = []
    kdirs = [os.path.join(DEPLOY, "kubernetes", "base")]
    odir = os.path.join(DEPLOY, "kubernetes", "overlays")
    kdirs += [os.path.join(odir, d) for d in sorted(os.listdir(odir))]
    for d in kdirs:
        label = os.path.relpath(d, ROOT)
        objs = render_kustomize(d)
        validate_objects(label, objs)
        configmaps.extend((label.replace("/", "-"), o) for _, o in objs if o["kind"] == "ConfigMap")
    configmaps.extend(check_helm(os.path.join(DEPLOY, "helm", "authproxy")))
    check_monitoring()
    if args.cfg_dir:
        os.makedirs(args.cfg_dir, exist_ok=True)
        for label, cm in configmaps:
            if "authproxy.cfg" in cm.get("data", {}):
                with open(os.path.join(args.cfg_dir, f"{label}.cfg"), "w", encoding="utf-8") as f:
                    f.write(cm["data"]["authproxy.cfg"])
    for e in errors:
        print(f"FAIL {e}", file=sys.stderr)
    print(f"check_deploy: {checked['objects']} objects validated, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
