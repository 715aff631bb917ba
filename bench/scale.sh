#!/usr/bin/env bash
# bench/scale.sh — does `ksec render` and `ksec check` stay linear in the size
# of the project? Times both at several sizes (default 1,000, 5,000 and
# 10,000 objects) and measures the peak memory of each.
#
# Workload: bench/gen_project.py (the render benchmark's generator) writes one
# project of MAX/OBJ_PER_NS namespaces (2,000 by default), each with
# CMS_PER_NS ConfigMaps (plain env files) and SECRETS_PER_NS Secrets (dotenv
# sources encrypted with `ksec encrypt` for a fresh age key). Each size is the
# first SIZE/OBJ_PER_NS namespaces of it: its own project folder (files hard-
# linked, so every size reads the same bytes), its own ksec.yaml, committed in
# its own git repository (`check` reads the files git tracks).
# Timed: `ksec render --project P --env bench > /dev/null` and
#        `ksec check --project P > /dev/null` (hyperfine, medians).
# Peak memory: maximum resident set size from `/usr/bin/time -f %M`, the
#        median of MEM_RUNS runs.
# Apply (APPLY=1, the default): for each size, a private control plane of its
#        own (scripts/kube-up.sh; stopped with scripts/kube-down.sh on every
#        exit path), its namespaces created with one `kubectl create -f`, then
#        `ksec apply --context admin --yes` once on the empty namespaces (first
#        apply) and APPLY_RUNS times more (no-op re-applies), each under
#        `/usr/bin/time -f "%e %M"` (wall time, peak RSS). Checked (exit 2):
#        the first apply creates every object; a no-op re-apply reports
#        everything unchanged, changes no resourceVersion of any ConfigMap or
#        Secret, and makes no write request at all (the API server's own
#        apiserver_request_total for configmaps and secrets, every verb but
#        GET, LIST and WATCH, dry runs included, is the same before and after).
#
# Environment knobs (all optional):
#   KSEC_BIN        ksec binary (default: ${CARGO_TARGET_DIR:-target}/release/ksec;
#                   built with `cargo build --release` if missing or older than src/)
#   SIZES           object counts to measure         (default "1000 5000 10000")
#   CMS_PER_NS      ConfigMaps per namespace          (default 3)
#   SECRETS_PER_NS  Secrets per namespace             (default 2)
#   CM_KEYS         keys per ConfigMap env file       (default 10)
#   SECRET_KEYS     keys per Secret env file          (default 5)
#   RUNS            hyperfine runs per command/size   (default 5, plus 1 warm-up)
#   MEM_RUNS        /usr/bin/time runs per size       (default 3)
#   MAX_GROWTH      largest allowed (ms per 1,000 at the largest size) /
#                   (ms per 1,000 at the middle size) (default 1.25)
#   MAX_RSS_MIB     largest allowed peak memory       (default 256)
#   APPLY           1: also the apply step above; 0 skips it (default 1)
#   APPLY_RUNS      no-op re-applies per size          (default 3)
#   KUBECTL_BIN     kubectl for the apply step         (default: kubectl on PATH)
#   BENCH_JSON_DIR  if set, hyperfine's JSON exports are copied there,
#                   and each side's peak memory is appended to peak-rss.tsv (one more run;
#                   used by bench/all.sh)
#                   (scale-render-N.json, scale-check-N.json)
#   BENCH_STRICT    if 1, exit 3 when a limit is exceeded (default: report only)
#
# Exit codes: 0 ok (limits reported), 1 setup error, 2 ksec render, check or
# apply failed, applied the wrong objects, or wrote on a no-op re-apply, 3 a
# limit exceeded with BENCH_STRICT=1.
set -euo pipefail

INVOKE_DIR=$PWD
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_NAME=scale.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh

SIZES=${SIZES:-"1000 5000 10000"}
CMS_PER_NS=${CMS_PER_NS:-3}
SECRETS_PER_NS=${SECRETS_PER_NS:-2}
CM_KEYS=${CM_KEYS:-10}
SECRET_KEYS=${SECRET_KEYS:-5}
RUNS=${RUNS:-5}
MEM_RUNS=${MEM_RUNS:-3}
MAX_GROWTH=${MAX_GROWTH:-1.25}
MAX_RSS_MIB=${MAX_RSS_MIB:-256}
BENCH_STRICT=${BENCH_STRICT:-0}
APPLY=${APPLY:-1}
APPLY_RUNS=${APPLY_RUNS:-3}
[[ $APPLY == 0 || $APPLY == 1 ]] || die "APPLY=$APPLY must be 0 or 1"
positive_ints CMS_PER_NS SECRETS_PER_NS CM_KEYS SECRET_KEYS RUNS MEM_RUNS APPLY_RUNS
for v in MAX_GROWTH MAX_RSS_MIB; do
  [[ ${!v} =~ ^[0-9]+([.][0-9]+)?$ ]] || die "$v=${!v} must be a number"
done
OBJ_PER_NS=$((CMS_PER_NS + SECRETS_PER_NS))
read -r -a SIZE_LIST <<<"$SIZES"
[[ ${#SIZE_LIST[@]} -ge 1 ]] || die "SIZES is empty"
MAX=0
for n in "${SIZE_LIST[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "SIZES: $n must be a positive integer"
  ((n % OBJ_PER_NS == 0)) || die "SIZES: $n is not a multiple of $OBJ_PER_NS objects per namespace"
  ((n > MAX)) && MAX=$n
done
NAMESPACES=$((MAX / OBJ_PER_NS))

for t in hyperfine age-keygen python3 git; do
  command -v "$t" >/dev/null || die "'$t' not found on PATH (Debian: apt-get install -y hyperfine age git)"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (Debian: apt-get install -y time; scripts/setup.sh installs it)"
PY=$(command -v python3)
select_ksec check render encrypt
if [[ $APPLY == 1 ]]; then
  select_kubectl
  "$KSEC_BIN" apply --help >/dev/null 2>&1 ||
    die "$KSEC_BIN has no 'apply' command (an old build?): run cargo build --release, set KSEC_BIN, or APPLY=0"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ksec-bench-scale.XXXXXX")
CLUSTER=""   # the private control plane of the apply step, while it runs
remove_work_on_exit
mkdir -p "$WORK/out"

age-keygen -o "$WORK/key.txt" 2>/dev/null
RECIPIENT=$(age-keygen -y "$WORK/key.txt")
export KSEC_AGE_KEY_FILE=$WORK/key.txt
unset KSEC_AGE_KEY SOPS_AGE_KEY SOPS_AGE_KEY_FILE SOPS_AGE_KEY_CMD SOPS_AGE_RECIPIENTS \
      SOPS_AGE_SSH_PRIVATE_KEY_FILE SOPS_PGP_FP SOPS_KMS_ARN SOPS_GCP_KMS_IDS \
      SOPS_AZURE_KEYVAULT_URLS SOPS_VAULT_URIS || true

note "ksec:      $KSEC_BIN"
note "hyperfine: $(hyperfine --version)"
note "machine:   $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"
note "workdir:   $WORK"

# ---------------------------------------------------------------- generate
T_GEN=$(now)
note "generating $NAMESPACES namespaces x ($CMS_PER_NS ConfigMaps + $SECRETS_PER_NS Secrets) = $MAX objects"
"$PY" "$ROOT/bench/gen_project.py" "$WORK" "$RECIPIENT" "$NAMESPACES" "$CMS_PER_NS" "$SECRETS_PER_NS" "$CM_KEYS" "$SECRET_KEYS"
N_SECRET=$((NAMESPACES * SECRETS_PER_NS))
note "  plaintext files written in $(since "$T_GEN"); encrypting $N_SECRET secret sources with ksec (parallel $(nproc))"
ksec_encrypt_sources "$WORK" kustomize "$RECIPIENT" "$N_SECRET" 100
rm -rf -- "$WORK/kustomize"   # the plaintext copies are not needed any more
note "  generation total $(since "$T_GEN")"

# ---------------------------------------------------------------- one project per size
# The first K namespaces of the generated ksec.yaml: its header, then whole
# namespace entries (two-space indented keys under `namespaces:`).
# (an array, not `ls | head`: head closing the pipe early fails under pipefail)
mapfile -t ALL_NS < <(cd "$WORK/project/namespaces" && ls -d ns-*)
for n in "${SIZE_LIST[@]}"; do
  k=$((n / OBJ_PER_NS))
  P=$WORK/p$n
  mkdir -p "$P/namespaces"
  "$PY" - "$WORK/ksec.yaml" "$P/ksec.yaml" "$k" <<'PY'
import sys
src, dst, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
out, seen, inside = [], 0, False
for line in open(src):
    if line.startswith("namespaces:"):
        inside = True
    elif inside and line.startswith("  ") and not line.startswith("   "):
        seen += 1
    if inside and seen > k:
        break
    out.append(line)
open(dst, "w").write("".join(out))
PY
  for ns in "${ALL_NS[@]:0:k}"; do
    cp -al "$WORK/project/namespaces/$ns" "$P/namespaces/$ns"
  done
  (cd "$P" && git init -q && git add -A && git -c user.name=bench -c user.email=bench@localhost \
     commit -q -m "scale $n") || die "git commit of the $n-object project failed"
  # correctness: both commands succeed and render prints every object
  "$KSEC_BIN" render --project "$P" --env bench >"$WORK/out/render-$n.yaml" 2>"$WORK/out/render-$n.err" ||
    { cat "$WORK/out/render-$n.err" >&2; printf '\n*** FAIL: ksec render of %s objects exited non-zero ***\n' "$n" >&2; exit 2; }
  got=$(grep -c '^kind: \(ConfigMap\|Secret\)$' "$WORK/out/render-$n.yaml" || true)
  [[ $got -eq $n ]] || fail "ksec render printed $got ConfigMaps/Secrets for the $n-object project"
  "$KSEC_BIN" check --project "$P" >"$WORK/out/check-$n.txt" 2>&1 ||
    { cat "$WORK/out/check-$n.txt" >&2; printf '\n*** FAIL: ksec check of %s objects exited non-zero ***\n' "$n" >&2; exit 2; }
  rm -f "$WORK/out/render-$n.yaml"
  note "  $n objects: $k namespaces, render and check ok"
done

# ---------------------------------------------------------------- time and memory
q() { printf '%q' "$1"; }
KSEC_Q=$(q "$KSEC_BIN")
for n in "${SIZE_LIST[@]}"; do
  P_Q=$(q "$WORK/p$n")
  note "timing $n objects ($RUNS runs each)"
  hyperfine --shell=bash --warmup 1 --runs "$RUNS" --export-json "$WORK/render-$n.json" \
    -n "render $n" "$KSEC_Q render --project $P_Q --env bench >/dev/null" >&2
  hyperfine --shell=bash --warmup 1 --runs "$RUNS" --export-json "$WORK/check-$n.json" \
    -n "check $n" "$KSEC_Q check --project $P_Q >/dev/null" >&2
  for cmd in render check; do
    for ((i = 0; i < MEM_RUNS; i++)); do
      if [[ $cmd == render ]]; then
        /usr/bin/time -f %M -o "$WORK/out/rss" "$KSEC_BIN" render --project "$WORK/p$n" --env bench >/dev/null
      else
        /usr/bin/time -f %M -o "$WORK/out/rss" "$KSEC_BIN" check --project "$WORK/p$n" >/dev/null
      fi
      tail -n1 "$WORK/out/rss" >>"$WORK/$cmd-$n.rss"
    done
  done
done

# ---------------------------------------------------------------- apply
# The write requests the API server counted for ConfigMaps and Secrets (every
# verb but GET, LIST and WATCH; dry runs included), summed.
# Then all requests the API server counted (any verb and resource).
counts() {
  "$KUBECTL_BIN" --context admin get --raw /metrics |
    awk '/^apiserver_request_total\{/ { all += $NF }
         /^apiserver_request_total\{/ && /resource="(configmaps|secrets)"/ &&
         !/verb="(GET|LIST|WATCH)"/ { w += $NF } END { printf "%d %d\n", w, all }'
}
# "ns kind name resourceVersion" of every ConfigMap and Secret.
versions() {
  "$KUBECTL_BIN" --context admin get configmaps,secrets -A --no-headers \
    -o custom-columns=NS:.metadata.namespace,KIND:.kind,NAME:.metadata.name,RV:.metadata.resourceVersion |
    LC_ALL=C sort
}
# Check ksec apply's summary: one line per namespace, all with these counts.
summary_ok() {  # file namespaces created unchanged
  local lines
  lines=$(grep -c "^ns-[0-9]*: $3 created, 0 updated, $4 unchanged, 0 pruned$" "$1" || true)
  [[ $lines -eq $2 && $(wc -l <"$1") -eq $2 ]]
}
# ksec apply under /usr/bin/time: appends "seconds peak-KiB" to $WORK/apply-KIND-N.
timed_apply() {  # n kind
  local out=$WORK/out/apply-$2-$1
  if ! /usr/bin/time -f "%e %M" -o "$out.time" "$KSEC_BIN" apply --project "$WORK/p$1" --env bench \
      --context admin --yes >"$out.txt" 2>"$out.err"; then
    cat "$out.err" >&2
    fail "ksec apply ($2) of the $1-object project exited non-zero"
  fi
  tail -n1 "$out.time" >>"$WORK/apply-$2-$1"
}
if [[ $APPLY == 1 ]]; then
  for n in "${SIZE_LIST[@]}"; do
    k=$((n / OBJ_PER_NS))
    CLUSTER=$WORK/cluster-$n
    t=$(now)
    up=$("$ROOT/scripts/kube-up.sh" "$CLUSTER") ||
      die "scripts/kube-up.sh failed (is the kube-apiserver built? run scripts/kube-build.sh)"
    [[ $up == "export KUBECONFIG=$CLUSTER/kubeconfig" && -s $CLUSTER/kubeconfig ]] ||
      die "unexpected output from scripts/kube-up.sh: $up"
    export KUBECONFIG=$CLUSTER/kubeconfig
    for ns in "${ALL_NS[@]:0:k}"; do
      printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns"
    done >"$WORK/namespaces-$n.yaml"
    "$KUBECTL_BIN" --context admin create -f "$WORK/namespaces-$n.yaml" >/dev/null 2>"$WORK/out/ns.err" ||
      { cat "$WORK/out/ns.err" >&2; die "kubectl create of $k namespaces failed"; }
    note "apply $n objects: control plane and $k namespaces ready in $(since "$t")"
    timed_apply "$n" first
    summary_ok "$WORK/out/apply-first-$n.txt" "$k" "$OBJ_PER_NS" 0 ||
      fail "the first ksec apply of $n objects did not create $OBJ_PER_NS objects in each of $k namespaces (see $WORK/out/apply-first-$n.txt)"
    got=$(versions | awk '$4 != "" && $3 != "kube-root-ca.crt" && $3 !~ /^default-token-/' | wc -l)
    [[ $got -eq $n ]] || fail "after the first apply the cluster holds $got ConfigMaps and Secrets, expected $n"
    note "  first apply $(tail -n1 "$WORK/apply-first-$n" | awk '{ printf "%.1f s, %.0f MiB", $1, $2 / 1024 }')"
    for ((i = 0; i < APPLY_RUNS; i++)); do
      versions >"$WORK/out/rv-before"
      read -r w0 r0 < <(counts)
      timed_apply "$n" noop
      read -r w1 r1 < <(counts)
      versions >"$WORK/out/rv-after"
      summary_ok "$WORK/out/apply-noop-$n.txt" "$k" 0 "$OBJ_PER_NS" ||
        fail "a no-op ksec apply of $n objects did not report every object unchanged (see $WORK/out/apply-noop-$n.txt)"
      cmp -s "$WORK/out/rv-before" "$WORK/out/rv-after" ||
        fail "a no-op ksec apply of $n objects changed $(diff "$WORK/out/rv-before" "$WORK/out/rv-after" | grep -c '^>') resourceVersions"
      [[ $w0 -eq $w1 ]] ||
        fail "a no-op ksec apply of $n objects made $((w1 - w0)) write requests to ConfigMaps and Secrets"
    done
    # (less the one GET of /metrics that `counts` itself makes)
    note "  no-op re-apply x$APPLY_RUNS: no write, no resourceVersion changed; $((r1 - r0 - 1)) requests (the last run); $(awk '{ printf "%.1f s ", $1 }' "$WORK/apply-noop-$n")"
    "$ROOT/scripts/kube-down.sh" "$CLUSTER" >&2 || die "scripts/kube-down.sh $CLUSTER failed"
    rm -rf -- "$CLUSTER"
    CLUSTER=""
  done
fi

if JSON_DIR=$(json_dir) && [[ -n $JSON_DIR ]]; then
  for n in "${SIZE_LIST[@]}"; do
    cp "$WORK/render-$n.json" "$JSON_DIR/scale-render-$n.json"
    cp "$WORK/check-$n.json" "$JSON_DIR/scale-check-$n.json"
    for cmd in render check; do  # the median of MEM_RUNS, as the table shows
      sort -n "$WORK/$cmd-$n.rss" | awk -v w="scale-$cmd-$n" '{ v[NR] = $1 } END { printf "%s\tksec\t%s\n", w, v[int((NR + 1) / 2)] }' \
        >>"$JSON_DIR/peak-rss.tsv"
    done
  done
  note "hyperfine JSON and peak memory copied to $JSON_DIR"
fi

# ---------------------------------------------------------------- report
set +e
"$PY" - "$WORK" "$OBJ_PER_NS" "$MAX_GROWTH" "$MAX_RSS_MIB" "${SIZE_LIST[@]}" <<'PY'
import json, statistics, sys
work, per_ns, max_growth, max_rss = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
sizes = sorted(int(n) for n in sys.argv[5:])
def median_s(cmd, n):
    r = json.load(open(f"{work}/{cmd}-{n}.json"))["results"][0]
    return statistics.median(r["times"]), min(r["times"]), max(r["times"])
def rss_mib(cmd, n):
    return statistics.median(int(l) for l in open(f"{work}/{cmd}-{n}.rss") if l.strip()) / 1024
rows, ok, rss_ok = [], True, True
per_k = {}
for n in sizes:
    row = [f"{n}", f"{n // per_ns}"]
    for cmd in ("render", "check"):
        med, lo, hi = median_s(cmd, n)
        per_k[(cmd, n)] = med * 1e3 / (n / 1000)
        row += [f"{med * 1e3:.0f} ms ({lo * 1e3:.0f}-{hi * 1e3:.0f})", f"{per_k[(cmd, n)]:.1f} ms"]
    for cmd in ("render", "check"):
        mib = rss_mib(cmd, n)
        row.append(f"{mib:.1f} MiB")
        if mib > max_rss:
            ok = rss_ok = False
    rows.append(row)
def table(hdr, rows):
    w = [max(len(r[i]) for r in rows + [hdr]) for i in range(len(hdr))]
    line = lambda r: "  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip()
    print()
    print(line(hdr)); print(line(["-" * x for x in w]))
    for r in rows: print(line(r))
    print()
def growth(cmds):
    """Prints ms per 1,000 at the largest size / at the one before; whether all are within the limit."""
    within = True
    if len(sizes) >= 2:
        a, b = sizes[-2], sizes[-1]
        for cmd in cmds:
            g = per_k[(cmd, b)] / per_k[(cmd, a)]
            within &= g <= max_growth
            print(f"{cmd}: ms per 1,000 objects at {b} / at {a} = {g:.2f} (limit {max_growth:g})"
                  f" {'PASS' if g <= max_growth else 'MISS'}")
    return within
table(["objects", "namespaces", "render median (min-max)", "render /1k", "check median (min-max)",
       "check /1k", "render peak RSS", "check peak RSS"], rows)
ok &= growth(("render", "check"))
print(f"peak RSS of render and check <= {max_rss:g} MiB at every size: {'PASS' if rss_ok else 'MISS'}")
def runs(kind, n):
    try:
        return [tuple(map(float, l.split())) for l in open(f"{work}/apply-{kind}-{n}") if l.strip()]
    except FileNotFoundError:
        return None
if runs("first", sizes[0]):
    rows, apply_rss_ok = [], True
    for n in sizes:
        first, noop = runs("first", n)[0], runs("noop", n)
        med = statistics.median(t for t, _ in noop)
        per_k[("apply", n)] = first[0] * 1e3 / (n / 1000)
        per_k[("no-op", n)] = med * 1e3 / (n / 1000)
        rss = max([first[1]] + [r for _, r in noop]) / 1024
        if rss > max_rss:
            ok = apply_rss_ok = False
        rows.append([f"{n}", f"{first[0]:.2f} s", f"{per_k[('apply', n)]:.0f} ms",
                     f"{med:.2f} s ({min(t for t, _ in noop):.2f}-{max(t for t, _ in noop):.2f})",
                     f"{per_k[('no-op', n)]:.0f} ms", f"{first[1] / 1024:.1f} MiB", f"{rss:.1f} MiB"])
    table(["objects", "first apply", "first /1k", "no-op median (min-max)", "no-op /1k",
           "first peak RSS", "peak RSS (all runs)"], rows)
    ok &= growth(("apply", "no-op"))
    print(f"peak RSS of apply <= {max_rss:g} MiB at every size: {'PASS' if apply_rss_ok else 'MISS'}")
    print("(apply: ksec apply --context admin --yes against a private control plane per size, one first"
          " apply on empty namespaces, then no-op re-applies; wall time and peak RSS from /usr/bin/time)")
print("(medians of hyperfine runs; /1k = median / (objects / 1000), start-up included;"
      " peak RSS = median of /usr/bin/time %M)")
sys.exit(0 if ok else 3)
PY
rc=$?
set -e
report_status "$rc" "a limit was exceeded"
