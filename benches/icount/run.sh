#!/usr/bin/env bash
# Steady-state instructions per byte of the redaction engine, per corpus:
# callgrind totals of `engine_icount KIND DENSITY 10` minus those of
# `... 3`, divided by the bytes redacted in between (7 x about 1 MiB). Deterministic, so a
# before/after comparison of the hot path needs one run of each build.
#
#   bash benches/icount/run.sh                 # the four default corpora
#   bash benches/icount/run.sh json typical    # one corpus
#   ICOUNT_BIN=/path/to/engine_icount bash benches/icount/run.sh
#                                   # another build (say, before a change)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
if [ -n "${ICOUNT_BIN:-}" ]; then
    bin=$ICOUNT_BIN
else
    cargo build --release --example engine_icount >&2
    bin=${CARGO_TARGET_DIR:-target}/release/examples/engine_icount
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Prints "instructions bytes" for one run.
total() {
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" "$bin" "$@" >"$tmp/out" 2>"$tmp/log" \
        || { cat "$tmp/log" >&2; exit 1; }
    echo "$(grep -E '^(summary|totals):' "$tmp/cg" | head -1 | awk '{print $2}') $(awk '{print $1}' "$tmp/out")"
}
if [ $# -ge 2 ]; then set -- "$1 $2"; else set -- "json typical" "json dense" "text typical" "text clean"; fi
for c in "$@"; do
    # shellcheck disable=SC2086
    read -r ia na <<<"$(total $c 3)"
    read -r ib nb <<<"$(total $c 10)"
    awk -v ia="$ia" -v ib="$ib" -v na="$na" -v nb="$nb" -v c="$c" \
        'BEGIN { printf "%-14s %6.1f instructions/byte\n", c, (ib - ia) / (nb - na) }'
done
