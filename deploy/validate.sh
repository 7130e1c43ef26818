#!/usr/bin/env bash
# Validates everything in deploy/ without a cluster, a Prometheus or a
# Grafana. Run from anywhere: bash deploy/validate.sh
#
# Needs (CI installs them):
#   promtool             apt-get install -y --no-install-recommends prometheus
#   yamllint             apt-get install -y --no-install-recommends yamllint
#   kubernetes-validate  pip install kubernetes-validate==1.37.0   (brings PyYAML)
#   python3 >= 3.11      (tomllib)
# Optional: a built scrim binary (SCRIM_BIN, or target/release/scrim, or
# target/debug/scrim) to run `scrim check` on the packs ConfigMap.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Kubernetes versions the manifests are validated against: the oldest with
# native sidecars on by default (1.29) and the newest whose schemas
# kubernetes-validate ships (1.37.0 ships 1.25-1.37, offline).
K8S_VERSIONS=(1.29.0 1.37.0)

missing=()
need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    missing+=("$1 ($2)")
  fi
}
need promtool "apt-get install -y --no-install-recommends prometheus"
need yamllint "apt-get install -y --no-install-recommends yamllint"
need kubernetes-validate "pip install kubernetes-validate"
need python3 "python3 >= 3.11"
if ((${#missing[@]})); then
  echo "deploy/validate.sh: missing tools:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi
if ! python3 -c 'import sys, tomllib, yaml; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "deploy/validate.sh: python3 needs version 3.11+ and PyYAML (pip install pyyaml)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failed=0
step() {
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    echo "   ok"
  else
    echo "   FAILED: $name" >&2
    failed=$((failed + 1))
  fi
}

k8s_manifests=()
for f in deploy/k8s/*.yaml; do
  case "$(basename "$f")" in
    # Not a Kubernetes object.
    kustomization.yaml) ;;
    # A CRD (Prometheus Operator): kubernetes-validate has no schema for it;
    # check_deploy.py checks it instead.
    podmonitor.yaml) ;;
    *) k8s_manifests+=("$f") ;;
  esac
done

k8s_validate() {
  local v
  for v in "${K8S_VERSIONS[@]}"; do
    kubernetes-validate --strict --quiet -k "$v" "${k8s_manifests[@]}" || return 1
  done
}

scrim_check() {
  local bin=${SCRIM_BIN:-}
  if [[ -z $bin ]]; then
    for b in target/release/scrim target/debug/scrim; do
      if [[ -x $b ]]; then
        bin=$b
        break
      fi
    done
  fi
  if [[ -z $bin ]]; then
    echo "   skipped: no scrim binary (set SCRIM_BIN or build target/release/scrim)"
    return 0
  fi
  echo "   using $bin"
  "$bin" check --patterns "$tmp/packs"
}

step "promtool check rules (alerts)" promtool check rules deploy/prometheus/alerts.yaml
step "promtool test rules (alert unit tests)" promtool test rules deploy/prometheus/alerts_test.yaml
step "yamllint (deploy/.yamllint, warnings are errors)" yamllint --strict -c deploy/.yamllint deploy/
step "kubernetes-validate --strict (k8s ${K8S_VERSIONS[*]})" k8s_validate
step "dashboard is valid JSON" python3 -m json.tool deploy/grafana/scrim-dashboard.json /dev/null
step "example config is valid TOML" python3 -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], "rb"))' deploy/scrim.toml
step "packs ConfigMap matches patterns/ and deploy/k8s/packs/" python3 deploy/k8s/gen-configmap-packs.py --check
step "cross-file checks (deploy/check_deploy.py)" \
  python3 deploy/check_deploy.py --promql-rules "$tmp/dashboard-rules.yaml" --packs-dir "$tmp/packs"
step "dashboard PromQL parses (promtool)" promtool check rules "$tmp/dashboard-rules.yaml"
step "scrim check on the packs ConfigMap" scrim_check

if ((failed)); then
  echo "deploy/validate.sh: $failed check(s) failed" >&2
  exit 1
fi
echo "deploy/validate.sh: all checks passed"
