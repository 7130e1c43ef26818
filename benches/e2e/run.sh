#!/usr/bin/env bash
# End-to-end proxy benchmark (issue 6): scrim (pass-through and redacting)
# against the bare upstream and nginx, on loopback. The one documented
# command; see BENCHMARKS.md.
#
#   benches/e2e/run.sh [--quick] [--no-write] [--rounds N] [--duration S]
#
# Installs what is missing (nginx-light, wrk, nghttp2-client, openssl via
# apt; oha via cargo), builds scrim and the upstream in release mode, then
# runs benches/e2e/run.py with the arguments given. A full run takes about
# ten minutes on 2 cores and needs at least 2.
set -euo pipefail

cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH:/usr/sbin:/sbin"

missing=()
for tool in nginx wrk h2load openssl taskset; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "run.sh: installing packages for: ${missing[*]}" >&2
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        nginx-light wrk nghttp2-client openssl util-linux
fi
if ! command -v oha >/dev/null 2>&1; then
    echo "run.sh: installing oha (cargo install oha --locked)" >&2
    cargo install oha --locked
fi

# 1,000 idle streams need about 2,000 descriptors in the proxy and as many
# in the upstream; take as many as the hard limit allows.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release --locked --bin scrim --example e2e_upstream --example e2e_floor

E2E_COMMAND="benches/e2e/run.sh${*:+ $*}" exec python3 benches/e2e/run.py "$@"
