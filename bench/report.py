#!/usr/bin/env python3
"""Tables and chart of one bench/run.sh run (standard library only).

  report.py --samples S --expect E --info I --md OUT.md --svg OUT.svg

S: the samples, `case<TAB>system<TAB>round<TAB>metric<TAB>value` per line (lib.sh `record`).
E: the systems each case measured, `case<TAB>system` per line, in display order.
I: `key<TAB>value` lines: machine, command, settings, `note.<case>` lines printed under a case.

Writes the Markdown tables (every system's median and min–max over rounds, then the comparisons:
per-round ratios with min/median/max and the target met or missed on the median) and a plain SVG
chart (throughput and p99 per system, per case). Exits 1, naming what is missing, when a case or
system expected to have figures has none for some round, so a harness that broke cannot pass
for a benchmark that ran.
"""

import argparse
import html
import statistics
import sys
from collections import defaultdict

LABELS = {
    "nginx": "nginx reverse proxy (2 workers, upstream keep-alive)",
    "authproxy": "authproxy, request log on (default)",
    "authproxy_nolog": "authproxy, request log off",
    "hyper": "bare hyper proxy (examples/bare_proxy.rs)",
    "oauth2_proxy": "oauth2-proxy",
    "ap_auth": "authproxy /oauth2/auth",
    "ap_extauthz": "authproxy /oauth2/ext_authz/",
    "o2p_auth": "oauth2-proxy /oauth2/auth",
    "ap_1cpu": "authproxy, taskset -c 0",
    "ap_2cpu": "authproxy, taskset -c 0,1",
    "nginx_ws": "nginx proxying the echo app",
    "ap_ws": "authproxy proxying the echo app",
    "nginx_stream": "nginx proxying the app",
    "ap_stream": "authproxy proxying the app",
    "ap_cookie": "authproxy, cookie sessions",
    "ap_redis": "authproxy, Redis sessions",
}


def ratio(a, b, metric, label, op=None, target=None):
    return dict(kind="ratio", a=a, b=b, metric=metric, label=label, op=op, target=target)


def added(a, b, metric, label, op=None, target=None):
    return dict(kind="added", a=a, b=b, metric=metric, label=label, op=op, target=target)


def cost(a, b, metric, label, op=None, target=None):
    return dict(kind="cost", a=a, b=b, metric=metric, label=label, op=op, target=target)


def value(a, metric, label, op, target, needs=None):
    return dict(kind="value", a=a, b=None, metric=metric, label=label, op=op, target=target,
                needs=needs)


THROUGHPUT = [("rps", "req/s"), ("p50", "p50 ms"), ("p99", "p99 ms")]
# Forward auth adds the CPU time the answering process spent per answer (user + system).
FORWARD = THROUGHPUT + [("cpu_us", "CPU µs per answer")]
CASES = [
    dict(id="proxied", title="1. Proxied path, authenticated (wrk, keep-alive)",
         metrics=THROUGHPUT, chart=("rps", "p99"), comparisons=[
             ratio("authproxy", "nginx", "rps", "authproxy (log on) / nginx, req/s", ">=", 0.9),
             added("authproxy", "nginx", "p99", "p99 added over nginx (log on), ms", "<=", 1.0),
             cost("authproxy", "authproxy_nolog", "rps", "request log cost (1 − on/off)", "<=", 0.05),
             ratio("authproxy_nolog", "nginx", "rps", "authproxy (log off) / nginx, req/s"),
             ratio("authproxy", "hyper", "rps", "authproxy (log on) / bare hyper, req/s"),
             ratio("authproxy", "oauth2_proxy", "rps", "authproxy (log on) / oauth2-proxy, req/s"),
         ]),
    dict(id="fwd_many", title="2a. Forward auth, many users' cookies rotating over few keep-alive connections",
         metrics=FORWARD, chart=("rps", "p99"), comparisons=[
             ratio("ap_auth", "o2p_auth", "rps", "authproxy /oauth2/auth / oauth2-proxy", ">=", 15),
             ratio("ap_extauthz", "o2p_auth", "rps", "authproxy ext_authz / oauth2-proxy", ">=", 15),
             ratio("ap_extauthz", "ap_auth", "rps", "ext_authz / /oauth2/auth (authproxy)"),
             ratio("o2p_auth", "ap_auth", "cpu_us", "CPU per answer, oauth2-proxy / authproxy /oauth2/auth"),
         ]),
    dict(id="fwd_one", title="2b. Forward auth, one cookie over few keep-alive connections",
         metrics=FORWARD, chart=("rps", "p99"), comparisons=[
             ratio("ap_auth", "o2p_auth", "rps", "authproxy /oauth2/auth / oauth2-proxy", ">=", 15),
             ratio("ap_extauthz", "o2p_auth", "rps", "authproxy ext_authz / oauth2-proxy", ">=", 15),
             ratio("o2p_auth", "ap_auth", "cpu_us", "CPU per answer, oauth2-proxy / authproxy /oauth2/auth"),
         ]),
    dict(id="threads", title="3. Proxied path with 1 and 2 worker threads (taskset)",
         metrics=THROUGHPUT + [("workers", "tokio workers")], chart=("rps", "p99"), comparisons=[
             ratio("ap_2cpu", "ap_1cpu", "rps", "scaling factor, 2 CPUs / 1 CPU"),
         ]),
    dict(id="memory", title="4. Memory and start",
         metrics=[("ready_ms", "start → /ready 200, ms"), ("rss_idle_mib", "idle RSS, MiB"),
                  ("rss_conns_mib", "RSS with the idle connections, MiB"),
                  ("conns", "idle keep-alive connections held"),
                  ("conn_bytes", "bytes per connection")],
         chart=("rss_conns_mib", "ready_ms"), comparisons=[
             value("authproxy", "rss_idle_mib", "authproxy idle RSS, MiB", "<=", 16),
             value("authproxy", "rss_conns_mib", "authproxy RSS with 10,000 connections, MiB",
                   "<=", 64, needs=("conns", 10000)),
             value("authproxy", "ready_ms", "authproxy start → ready, ms", "<=", 50),
         ]),
    dict(id="websocket", title="5. WebSocket echo under load",
         metrics=[("msgs", "messages/s"), ("p50", "p50 round trip ms"),
                  ("p99", "p99 round trip ms")],
         chart=("msgs", "p99"), comparisons=[
             ratio("ap_ws", "nginx_ws", "msgs", "authproxy / nginx, messages/s"),
             added("ap_ws", "nginx_ws", "p99", "p99 round trip added over nginx, ms"),
         ]),
    dict(id="streaming", title="6. Streaming: large response, large upload, slow chunked stream",
         metrics=[("down_mbs", "download MB/s"), ("up_mbs", "upload MB/s"),
                  ("ttfb_ms", "slow stream: first chunk, ms"),
                  ("slow_total_ms", "slow stream: whole, ms")],
         chart=("down_mbs", "ttfb_ms"), comparisons=[
             ratio("ap_stream", "nginx_stream", "down_mbs", "authproxy / nginx, download MB/s"),
             ratio("ap_stream", "nginx_stream", "up_mbs", "authproxy / nginx, upload MB/s"),
             added("ap_stream", "nginx_stream", "ttfb_ms", "first chunk later than nginx, ms",
                   "<=", 50),
         ]),
    dict(id="redis", title="7. Redis-backed sessions vs cookie sessions",
         metrics=THROUGHPUT, chart=("rps", "p99"), comparisons=[
             ratio("ap_redis", "ap_cookie", "rps", "Redis / cookie, req/s", ">=", 0.8),
         ]),
]


def read_tsv(path, fields):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                parts = line.split("\t", fields - 1)
                if len(parts) != fields:
                    sys.exit(f"report.py: {path}: malformed line {line!r}")
                rows.append(parts)
    return rows


def fmt(v):
    if v is None:
        return "—"
    if v == int(v) and abs(v) < 1e9:
        return f"{int(v)}"
    a = abs(v)
    if a >= 1000:
        return f"{v:.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def spread(vals):
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(vals))}–{fmt(max(vals))})"


def verdict(op, target, v):
    if op is None:
        return "", ""
    ok = v >= target if op == ">=" else v <= target
    shown = f"{target:.0%}" if isinstance(target, float) and target < 0.5 and op == "<=" else target
    return f"{op} {shown}", "**met**" if ok else "**missed**"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--samples", required=True)
    p.add_argument("--expect", required=True)
    p.add_argument("--info", required=True)
    p.add_argument("--md", required=True)
    p.add_argument("--svg", required=True)
    args = p.parse_args()

    data = defaultdict(dict)  # (case, system, metric) -> {round: value}
    rounds_seen = set()
    for case, system, rnd, metric, val in read_tsv(args.samples, 5):
        data[(case, system, metric)][int(rnd)] = float(val)
        rounds_seen.add(int(rnd))
    expect = defaultdict(list)
    for case, system in read_tsv(args.expect, 2):
        expect[case].append(system)
    info = dict(read_tsv(args.info, 2))
    rounds = sorted(rounds_seen)

    missing = []
    for spec in CASES:
        for system in expect.get(spec["id"], []):
            for metric, _ in spec["metrics"]:
                got = data.get((spec["id"], system, metric), {})
                lacking = [r for r in rounds if r not in got]
                if not got or lacking:
                    missing.append(f"{spec['id']}/{system}/{metric} (rounds {lacking or 'all'})")
    unknown = set(expect) - {c["id"] for c in CASES}
    if unknown:
        missing.append(f"cases the report does not know: {sorted(unknown)}")
    if not expect:
        missing.append("no case ran")
    if missing:
        sys.exit("report.py: no figures for: " + ", ".join(missing))

    md = ["# authproxy benchmark results", "",
          f"{info.get('date', '')}. Machine: {info.get('machine', 'unknown')}.", "",
          f"Command: `{info.get('command', 'bash bench/run.sh')}`", "",
          info.get("settings", ""), "",
          "Figures: median over rounds (min–max in brackets). Comparisons are computed per round "
          "(systems alternate within each round) and summarised as min / median / max; a target "
          "is judged on the median.", ""]
    panels = []
    for spec in CASES:
        systems = expect.get(spec["id"])
        if not systems:
            continue
        md += [f"## {spec['title']}", ""]
        if info.get(f"note.{spec['id']}"):
            md += [info[f"note.{spec['id']}"], ""]
        md.append("| system | " + " | ".join(label for _, label in spec["metrics"]) + " |")
        md.append("|---|" + "---:|" * len(spec["metrics"]))
        for s in systems:
            cells = [spread(list(data[(spec["id"], s, m)].values())) for m, _ in spec["metrics"]]
            md.append(f"| {LABELS.get(s, s)} | " + " | ".join(cells) + " |")
        md.append("")
        rows = []
        for c in spec["comparisons"]:
            if c["a"] not in systems or (c["b"] and c["b"] not in systems):
                absent = c["b"] if c["a"] in systems else c["a"]
                if c["op"]:
                    rows.append(f"| {c['label']} | — | — | — | {c['op']} {c['target']} | "
                                f"not measured ({LABELS.get(absent, absent)} not in this run) |")
                continue
            a = data[(spec["id"], c["a"], c["metric"])]
            if c["kind"] == "value":
                per = [a[r] for r in rounds]
            else:
                b = data[(spec["id"], c["b"], c["metric"])]
                if c["kind"] == "ratio":
                    per = [a[r] / b[r] if b[r] else float("inf") for r in rounds]
                elif c["kind"] == "added":
                    per = [a[r] - b[r] for r in rounds]
                else:
                    per = [1 - a[r] / b[r] if b[r] else float("inf") for r in rounds]
            med = statistics.median(per)
            target, result = verdict(c["op"], c["target"], med)
            if c.get("needs"):
                metric, want = c["needs"]
                held = statistics.median(data[(spec["id"], c["a"], metric)].values())
                if held < want:
                    result = f"not judged (measured with {held:.0f}, not {want})"
            show = (lambda v: f"{v:.1%}") if c["kind"] == "cost" else fmt
            rows.append(f"| {c['label']} | {show(min(per))} | **{show(med)}** | {show(max(per))} "
                        f"| {target} | {result} |")
        if rows:
            md += ["| comparison | min | median | max | target | result |",
                   "|---|---:|---:|---:|---|---|"] + rows + [""]
        panels.append((spec, systems))

    with open(args.md, "w") as f:
        f.write("\n".join(md).rstrip() + "\n")
    with open(args.svg, "w") as f:
        f.write(svg(panels, data, info))


COLORS = ["#10b981", "#4f46e5", "#818cf8", "#0ea5e9", "#f59e0b", "#9ca3af"]


def svg(panels, data, info):
    width, label_w, bar_w, gap = 960, 300, 220, 100
    out, y = [], 40
    for spec, systems in panels:
        out.append(f'<text x="10" y="{y + 16}" font-size="14" font-weight="bold">'
                   f'{html.escape(spec["title"])}</text>')
        y += 26
        labels = dict(spec["metrics"])
        cols = [10 + label_w + c * (bar_w + gap) for c in range(len(spec["chart"]))]
        for x0, metric in zip(cols, spec["chart"]):
            out.append(f'<text x="{x0}" y="{y + 10}" fill="#374151">'
                       f'{html.escape(labels[metric])} (median)</text>')
        y += 16
        for i, s in enumerate(systems):
            out.append(f'<text x="10" y="{y + 14}">{html.escape(LABELS.get(s, s)[:52])}</text>')
            for x0, metric in zip(cols, spec["chart"]):
                vals = [statistics.median(data[(spec["id"], t, metric)].values()) for t in systems]
                top = max(max(vals), 1e-9)
                w = max(1, int(bar_w * vals[i] / top))
                out.append(f'<rect x="{x0}" y="{y + 3}" width="{w}" height="14" '
                           f'fill="{COLORS[i % len(COLORS)]}"/>')
                out.append(f'<text x="{x0 + w + 4}" y="{y + 14}">{fmt(vals[i])}</text>')
            y += 20
        y += 14
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y + 10}" '
            f'font-family="sans-serif" font-size="11">\n'
            f'<rect width="{width}" height="{y + 10}" fill="#ffffff"/>\n'
            f'<text x="10" y="22" font-size="15" font-weight="bold">'
            f'{html.escape("authproxy bench/run.sh — " + info.get("date", ""))}</text>\n'
            f'<text x="{width - 10}" y="22" text-anchor="end" fill="#6b7280">'
            f'{html.escape(info.get("machine", "").split(";")[0][:80])}</text>\n')
    return head + "\n".join(out) + "\n</svg>\n"


if __name__ == "__main__":
    main()
