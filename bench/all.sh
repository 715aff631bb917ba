#!/usr/bin/env bash
# bench/all.sh — rerun every comparison in one go and regenerate the report.
#
# Runs, one after another, with the same ksec binary:
#   decrypt.sh  ksec decrypt vs sops -d (100 small files; one 5,000-key file)
#   render.sh   ksec render vs kubectl kustomize (200 namespaces)
#   gitops.sh   ksec render --gitops vs a sops -e loop over the same Secret
#               manifests (400 Secrets), and the no-op re-render, with and
#               without its stat cache, vs the first render
#   apply.sh    ksec apply vs kubectl apply --server-side, first and no-op
#               (1,000 objects, on a control plane of its own)
#   multi.sh    ksec apply to two clusters in parallel vs to one, and vs the
#               two one after the other (500 objects each, on two control
#               planes of its own, each pinned to a core with PIN=1)
#   rekey.sh    ksec recipients remove / rekey vs the sops workflow
#   scale.sh    ksec render and check at 1k, 5k and 10k objects
#   history.sh  ksec access --exposed and check --rotation over 200 and 1,000
#               commits of history, next to git reading the same versions
# Each script copies its hyperfine JSON exports and the peak memory of each
# side into one directory; bench/report.py turns that, with a record of the
# machine, into one JSON result and renders the generated blocks of
# BENCHMARKS.md and README.md from it.
#
# Environment knobs (all optional):
#   KSEC_BIN     ksec binary (default: target/release/ksec, built when missing
#                or older than src/; see lib.sh)
#   SOPS_BIN, KUBECTL_BIN   as in the scripts
#   BENCH_ONLY   the scripts to run, space-separated (default: all eight);
#                a partial run never rewrites the documents
#   BENCH_QUICK  1: small workloads and few runs (about 4 minutes), to check
#                the scripts; the figures are not for quoting, so the
#                documents are left alone
#   BENCH_RESULT where the JSON result goes (default bench/results.json for a
#                full run, $BENCH_OUT/results.json otherwise)
#   BENCH_OUT    where the raw JSON, logs and tables go (default: a new
#                directory under ${TMPDIR:-/tmp}, kept and printed)
# Any knob of a script (RUNS_SMALL, NAMESPACES, SIZES, ...) passes through to
# it; a full run with such knobs still rewrites the documents, which then say
# which workloads were measured.
#
# Exit codes: 0 every script ran; 1 a setup error or a script failed (the
# report is still written from what finished).
set -euo pipefail

INVOKE_DIR=$PWD
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_NAME=all.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh
# shellcheck source=scripts/env.sh
. scripts/env.sh

ALL_SCRIPTS="decrypt render gitops apply multi rekey scale history"
BENCH_ONLY=${BENCH_ONLY:-$ALL_SCRIPTS}
BENCH_QUICK=${BENCH_QUICK:-0}
for s in $BENCH_ONLY; do
  [[ " $ALL_SCRIPTS " == *" $s "* ]] || die "BENCH_ONLY: unknown script '$s' (one of: $ALL_SCRIPTS)"
done
[[ $BENCH_QUICK == 0 || $BENCH_QUICK == 1 ]] || die "BENCH_QUICK=$BENCH_QUICK must be 0 or 1"
FULL=0
# shellcheck disable=SC2086 # one word a script
[[ $BENCH_QUICK == 0 && $(printf '%s\n' $BENCH_ONLY | sort | tr '\n' ' ') == "apply decrypt gitops history multi rekey render scale " ]] && FULL=1

for t in hyperfine python3 /usr/bin/time; do
  command -v "$t" >/dev/null || die "'$t' not found (Debian: apt-get install -y hyperfine python3 time)"
done
PY=$(command -v python3)

select_ksec
select_sops
select_kubectl
export KSEC_BIN SOPS_BIN KUBECTL_BIN

if [[ -n ${BENCH_OUT:-} ]]; then
  [[ $BENCH_OUT == /* ]] || BENCH_OUT=$INVOKE_DIR/$BENCH_OUT
  mkdir -p "$BENCH_OUT"
  [[ -z $(ls -A "$BENCH_OUT") ]] || die "BENCH_OUT=$BENCH_OUT is not empty"
else
  BENCH_OUT=$(mktemp -d "${TMPDIR:-/tmp}/ksec-bench-all.XXXXXX")
fi
if [[ -n ${BENCH_RESULT:-} ]]; then
  [[ $BENCH_RESULT == /* ]] || BENCH_RESULT=$INVOKE_DIR/$BENCH_RESULT
elif [[ $FULL == 1 ]]; then
  BENCH_RESULT=$ROOT/bench/results.json  # moved there only when every script succeeds
else
  BENCH_RESULT=$BENCH_OUT/results.json
fi
export BENCH_JSON_DIR=$BENCH_OUT/json
mkdir -p "$BENCH_JSON_DIR"

# Quick mode: workloads small enough to check that every script still runs.
quick_env() {  # SCRIPT -> NAME=VALUE lines
  [[ $BENCH_QUICK == 1 ]] || return 0
  case $1 in
    decrypt) printf '%s\n' SMALL_FILES=20 RUNS_SMALL=3 RUNS_LARGE=3 ;;
    render) printf '%s\n' NAMESPACES=40 RUNS_RENDER=3 ;;
    gitops) printf '%s\n' NAMESPACES=10 RUNS=2 RUNS_SOPS=1 ;;
    apply) printf '%s\n' NAMESPACES=10 RUNS_FIRST=2 RUNS_NOOP=3 BENCH_BREAKDOWN=0 ;;
    multi) printf '%s\n' NAMESPACES=2 CMS_PER_NS=2 SECRETS_PER_NS=2 RUNS=2 ;;
    rekey) printf '%s\n' FILES=40 NAMESPACES=4 RUNS_REMOVE=2 RUNS_NOOP=2 ;;
    scale) printf '%s\n' 'SIZES=1000 2000' RUNS=3 MEM_RUNS=1 ;;
    history) printf '%s\n' 'COMMITS=20 50' RUNS=2 ;;
  esac
}

# The machine and the tools, as key<TAB>value lines for report.py.
META=$BENCH_OUT/meta.tsv
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
first_line() { "$@" 2>/dev/null | head -n1 || true; }
# the binary scripts/kube-up.sh starts for apply.sh, multi.sh and scale.sh
apiserver=${KSEC_KUBE_APISERVER:-$KSEC_KUBE_APISERVER_BIN}
meta started "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta quick "$BENCH_QUICK"
meta full "$FULL"
meta scripts "$BENCH_ONLY"
meta nproc "$(nproc)"
meta cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || uname -m)"
meta memory "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
meta kernel "$(uname -sr)"
meta load_before "$(cut -d' ' -f1-3 /proc/loadavg)"
meta ksec "commit $(git describe --always --dirty 2>/dev/null || echo '?'), $KSEC_BIN ($(stat -c %s "$KSEC_BIN") bytes)"
meta rustc "$(first_line rustc -V)"
meta sops "$(first_line "$SOPS_BIN" --version --disable-version-check)"
meta kubectl "$("$KUBECTL_BIN" version --client 2>/dev/null | tr '\n' ' ' | sed 's/ *$//')"
meta kube_apiserver "$(first_line "$apiserver" --version)"
meta hyperfine "$(hyperfine --version)"
meta age "$(first_line age --version)"
meta python "$("$PY" -V 2>&1)"

note "results: $BENCH_OUT (JSON and logs), $BENCH_RESULT (report)"
note "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
failed=()
T_ALL=$(now)
for s in $BENCH_ONLY; do
  note "bench/$s.sh (log: $BENCH_OUT/$s.log)"
  t=$(now)
  env_args=()
  while IFS= read -r kv; do [[ -n $kv ]] && env_args+=("$kv"); done < <(quick_env "$s")
  rc=0
  env "${env_args[@]}" "bench/$s.sh" >"$BENCH_OUT/$s.txt" 2>"$BENCH_OUT/$s.log" || rc=$?
  secs=$(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')
  meta "seconds_$s" "$secs"
  meta "exit_$s" "$rc"
  meta "load_after_$s" "$(cut -d' ' -f1-3 /proc/loadavg)"
  if [[ $rc -ne 0 ]]; then
    failed+=("$s")
    note "  bench/$s.sh FAILED (exit $rc) after $secs s; last lines of its log:"
    tail -n 15 "$BENCH_OUT/$s.log" >&2
  else
    note "  done in $secs s"
    cat "$BENCH_OUT/$s.txt" >&2
  fi
done
meta seconds_total "$(awk -v a="$T_ALL" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')"
meta load_after "$(cut -d' ' -f1-3 /proc/loadavg)"

docs=()
if [[ $FULL == 1 && ${#failed[@]} -eq 0 ]]; then
  docs=(--doc "$ROOT/BENCHMARKS.md" --doc "$ROOT/README.md")
else
  note "not a full run (BENCH_QUICK=1, BENCH_ONLY or a failed script): BENCHMARKS.md and README.md are left alone"
  # a failed full run must not replace the result the documents were made from
  [[ $FULL == 0 ]] || BENCH_RESULT=$BENCH_OUT/results.json
fi
"$PY" bench/report.py --dir "$BENCH_OUT" --out "$BENCH_RESULT" "${docs[@]}" || die "bench/report.py failed"
note "wrote $BENCH_RESULT${docs:+, BENCHMARKS.md and README.md}"
[[ ${#failed[@]} -eq 0 ]] || die "failed: ${failed[*]} (logs in $BENCH_OUT)"
