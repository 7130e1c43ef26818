#!/usr/bin/env python3
"""Cross-file checks on deploy/ that schema validators cannot make.

Run by deploy/validate.sh; needs Python 3.11+ (tomllib) and PyYAML.

    python3 deploy/check_deploy.py [--promql-rules FILE] [--packs-dir DIR]

--promql-rules FILE  also write every dashboard query into FILE as a
                     Prometheus rule file, so `promtool check rules` can
                     parse the PromQL.
--packs-dir DIR      also write the packs ConfigMap's files into DIR, so
                     `scrim check --patterns DIR` can run them.

Prints every problem found and exits 1 if there is any.
"""

import argparse
import json
import pathlib
import re
import sys
import tomllib

import yaml

DEPLOY = pathlib.Path(__file__).resolve().parent
K8S = DEPLOY / "k8s"
errors: list[str] = []


def err(where: str, msg: str) -> None:
    errors.append(f"{where}: {msg}")


def load_yaml(path: pathlib.Path) -> list:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def toml_keys(table: dict, prefix: str = "") -> set[str]:
    """Dotted key paths; arrays of tables contribute their items' keys."""
    keys = set()
    for k, v in table.items():
        path = f"{prefix}{k}"
        keys.add(path)
        if isinstance(v, dict):
            keys |= toml_keys(v, path + ".")
        elif isinstance(v, list) and v and all(isinstance(i, dict) for i in v):
            for item in v:
                keys |= toml_keys(item, path + "[].")
    return keys


def check_example_config() -> dict:
    where = "deploy/scrim.toml"
    cfg = tomllib.loads((DEPLOY / "scrim.toml").read_text(encoding="utf-8"))
    text = (DEPLOY / "scrim.toml").read_text(encoding="utf-8").splitlines()
    # Every key line is preceded by a comment line (or is in the short
    # catch-all route that the comment above it describes).
    for i, line in enumerate(text):
        if re.match(r"^[a-z_]+\s*=", line) and i > 0:
            prev = text[i - 1].strip()
            if not prev.startswith("#") and not prev.startswith("[") and "=" not in prev:
                err(where, f"line {i + 1}: key without a comment above it")
    return cfg


def check_k8s_config(example: dict, pod: dict) -> dict:
    where = "deploy/k8s/configmap-config.yaml"
    (cm,) = load_yaml(K8S / "configmap-config.yaml")
    try:
        cfg = tomllib.loads(cm["data"]["scrim.toml"])
    except (KeyError, tomllib.TOMLDecodeError) as e:
        err(where, f"data.scrim.toml is missing or not valid TOML: {e}")
        return {}
    unknown = toml_keys(cfg) - toml_keys(example)
    for k in sorted(unknown):
        err(where, f"key {k} is not in the documented schema (deploy/scrim.toml)")
    server = cfg.get("server", {})
    if not str(server.get("admin", "")).startswith("0.0.0.0:9090"):
        err(where, "[server] admin must be 0.0.0.0:9090 so kubelet probes and Prometheus reach it")
    if not str(server.get("listen", "")).endswith(":8443"):
        err(where, "[server] listen must use port 8443 (the Service's target)")
    if server.get("upstream") != "http://127.0.0.1:8080":
        err(where, "[server] upstream must be the CRM on the pod's loopback, http://127.0.0.1:8080")
    mounts = {m["mountPath"]: m for m in pod.get("volumeMounts", [])}
    files = [server.get("tls", {}).get(k) for k in ("cert", "key", "client_ca")]
    files += [cfg.get("packs", {}).get("token_key_file"), cfg.get("packs", {}).get("dir")]
    for f in filter(None, files):
        if not any(f == m or f.startswith(m.rstrip("/") + "/") for m in mounts):
            err(where, f"{f} is not under any volumeMount of the scrim container")
    if cfg.get("packs", {}).get("dir") != "/etc/scrim/patterns":
        err(where, "[packs] dir must be /etc/scrim/patterns (the scrim-packs mount)")
    return cfg


def check_deployment() -> tuple[dict, dict]:
    where = "deploy/k8s/deployment.yaml"
    (dep,) = load_yaml(K8S / "deployment.yaml")
    spec = dep["spec"]["template"]["spec"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    scrim = [c for c in spec.get("initContainers", []) if c["name"] == "scrim"]
    if len(scrim) != 1:
        err(where, "expected one init container named scrim (native sidecar)")
        return {}, labels
    (c,) = scrim
    if c.get("restartPolicy") != "Always":
        err(where, "scrim must have restartPolicy: Always (native sidecar)")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    if ports != {"proxy": 8443, "admin": 9090}:
        err(where, f"scrim ports must be proxy 8443 and admin 9090, got {ports}")
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = c.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in ("admin", 9090):
            err(where, f"scrim {probe} must GET {path} on the admin port")
    args = c.get("args", [])
    if args[:3] != ["serve", "--config", "/etc/scrim/config/scrim.toml"]:
        err(where, f"scrim args must be serve --config /etc/scrim/config/scrim.toml, got {args}")
    for m in c.get("volumeMounts", []):
        if "subPath" in m or "subPathExpr" in m:
            err(where, f"mount {m['mountPath']} uses subPath: updates would never reach scrim")
        if not m.get("readOnly"):
            err(where, f"mount {m['mountPath']} should be readOnly")
    for name in ("resources",):
        if not c.get(name, {}).get("limits") or not c.get(name, {}).get("requests"):
            err(where, "scrim needs resource requests and limits")
    psc = spec.get("securityContext", {})
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault" or not psc.get("runAsNonRoot"):
        err(where, "pod securityContext needs runAsNonRoot and seccompProfile RuntimeDefault")
    for ctr in spec.get("initContainers", []) + spec.get("containers", []):
        sc = ctr.get("securityContext", {})
        ok = (
            sc.get("readOnlyRootFilesystem") is True
            and sc.get("allowPrivilegeEscalation") is False
            and sc.get("capabilities", {}).get("drop") == ["ALL"]
        )
        if not ok:
            err(where, f"container {ctr['name']}: needs readOnlyRootFilesystem, no privilege escalation, drop ALL")
    for ctr in spec.get("containers", []):
        if ctr.get("ports"):
            err(where, f"container {ctr['name']} declares ports; only scrim should be reachable")
    return c, labels


def check_service_and_monitor(labels: dict) -> None:
    where = "deploy/k8s/service.yaml"
    (svc,) = load_yaml(K8S / "service.yaml")
    targets = [p.get("targetPort") for p in svc["spec"]["ports"]]
    if targets not in (["proxy"], [8443]):
        err(where, f"the Service must expose only scrim's proxy port, got targetPorts {targets}")
    sel = svc["spec"]["selector"]
    if any(labels.get(k) != v for k, v in sel.items()):
        err(where, f"selector {sel} does not match the pod labels {labels}")
    where = "deploy/k8s/podmonitor.yaml"
    (pm,) = load_yaml(K8S / "podmonitor.yaml")
    if (pm.get("apiVersion"), pm.get("kind")) != ("monitoring.coreos.com/v1", "PodMonitor"):
        err(where, "must be a monitoring.coreos.com/v1 PodMonitor")
        return
    sel = pm["spec"]["selector"].get("matchLabels", {})
    if not sel or any(labels.get(k) != v for k, v in sel.items()):
        err(where, f"selector {sel} does not match the pod labels {labels}")
    eps = pm["spec"].get("podMetricsEndpoints", [])
    if [e.get("port") for e in eps] != ["admin"] or eps[0].get("path") != "/metrics":
        err(where, "must scrape /metrics on the admin port")
    relabel = eps[0].get("relabelings", []) if eps else []
    if not any(r.get("targetLabel") == "job" and r.get("replacement") == "scrim" for r in relabel):
        err(where, 'must set job="scrim" (the alerts select on it)')


def check_kustomization() -> None:
    where = "deploy/k8s/kustomization.yaml"
    (k,) = load_yaml(K8S / "kustomization.yaml")
    listed = set(k.get("resources", []))
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    for missing in sorted(listed - present):
        err(where, f"lists {missing}, which does not exist")
    for extra in sorted(present - listed):
        err(where, f"does not list {extra}")


def check_packs(packs_dir: pathlib.Path | None) -> None:
    where = "deploy/k8s/configmap-packs.yaml"
    (cm,) = load_yaml(K8S / "configmap-packs.yaml")
    data = cm.get("data", {})
    if not data or not all(name.endswith(".toml") for name in data):
        err(where, "data must hold *.toml pack files")
    for name, text in data.items():
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            err(where, f"{name}: not valid TOML: {e}")
    if packs_dir:
        packs_dir.mkdir(parents=True, exist_ok=True)
        for name, text in data.items():
            (packs_dir / name).write_text(text, encoding="utf-8")


def check_dashboard(promql_rules: pathlib.Path | None) -> None:
    where = "deploy/grafana/scrim-dashboard.json"
    dash = json.loads((DEPLOY / "grafana" / "scrim-dashboard.json").read_text(encoding="utf-8"))
    if dash.get("schemaVersion") != 39:
        err(where, "schemaVersion must be 39")
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    if variables.get("datasource", {}).get("type") != "datasource":
        err(where, "needs a template variable 'datasource' of type datasource")
    ids = [p["id"] for p in dash.get("panels", [])]
    if len(ids) != len(set(ids)):
        err(where, "panel ids are not unique")
    exprs = []
    for p in dash.get("panels", []):
        if p["type"] == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            err(where, f"panel {p['title']!r} does not use ${{datasource}}")
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("uid") != "${datasource}":
                err(where, f"panel {p['title']!r} target {t.get('refId')} does not use ${{datasource}}")
            exprs.append((p["title"], t["expr"]))
    for a in dash.get("annotations", {}).get("list", []):
        if "expr" in a:
            exprs.append((f"annotation {a['name']}", a["expr"]))
    if promql_rules:
        subst = {
            "$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h",
            "$job": "scrim", "$instance": ".*", "$route": ".*",
        }
        rules = []
        for i, (title, expr) in enumerate(exprs):
            for k, v in subst.items():
                expr = expr.replace(k, v)
            if "$" in expr:
                err(where, f"{title}: unknown variable in {expr}")
            rules.append({"record": f"dashboard:query_{i}", "expr": expr})
        promql_rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--promql-rules", type=pathlib.Path)
    ap.add_argument("--packs-dir", type=pathlib.Path)
    args = ap.parse_args()
    example = check_example_config()
    pod, labels = check_deployment()
    check_k8s_config(example, pod)
    check_service_and_monitor(labels)
    check_kustomization()
    check_packs(args.packs_dir)
    check_dashboard(args.promql_rules)
    for e in errors:
        print(f"  {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
