#!/usr/bin/env bash
# bench/apply.sh — compare `kubectl apply --server-side -f rendered.yaml` with
# `ksec apply` on the same objects, against a real local control plane, in one run.
#
# Setup (all inside a temp dir, removed on exit):
#   - a local etcd + kube-apiserver started with scripts/kube-up.sh (stopped with
#     scripts/kube-down.sh on every exit path: success, failure, Ctrl-C)
#   P  a ksec project: NAMESPACES namespaces x CMS_PER_NS ConfigMaps (envFiles)
#      x SECRETS_PER_NS Secrets (dotenv sources encrypted with `ksec encrypt`),
#      one environment `bench` with `context: admin`
#   the namespaces, created with `kubectl --context admin create namespace`
#   rendered.yaml = `ksec render --env bench` (what kubectl applies)
# Checked before timing (exit 2 on failure):
#   - after one `ksec apply`, the (namespace, kind, name) of every object labelled
#     app.kubernetes.io/managed-by=ksec equals the set in rendered.yaml
#   - a second `ksec apply` changes no resourceVersion in those namespaces and
#     reports `0 created, 0 updated, N unchanged` for every namespace
# Timed (hyperfine):
#   first apply  objects absent (--prepare deletes them): kubectl vs ksec
#   no-op        everything already applied: kubectl vs ksec
# `kubectl --context admin apply --server-side --field-manager=ksec -f rendered.yaml`
# against `ksec apply --env bench --yes` (which renders and decrypts every source
# and runs its RBAC pre-flight itself: that is part of the comparison).
#
# Environment knobs (all optional):
#   KSEC_BIN        ksec binary (default: ${CARGO_TARGET_DIR:-target}/release/ksec;
#                   built with `cargo build --release` if missing or older than src/; needs `apply`)
#   KUBECTL_BIN     kubectl (default: kubectl on PATH)
#   NAMESPACES      namespaces                      (default 50)
#   CMS_PER_NS      ConfigMaps per namespace        (default 10)
#   SECRETS_PER_NS  Secrets per namespace           (default 10)
#   CM_KEYS         keys per ConfigMap env file     (default 10)
#   SECRET_KEYS     keys per Secret env file        (default 5)
#   RUNS_FIRST      hyperfine runs, first apply     (default 3)
#   RUNS_NOOP       hyperfine runs, no-op re-apply  (default 5, plus 1 warm-up)
#   TARGET_FIRST    required kubectl/ksec ratio, first apply (default 5)
#   TARGET_NOOP     required kubectl/ksec ratio, no-op       (default 25)
#   BENCH_BREAKDOWN if 1 (default), also time ksec's phases (render, access
#                   review, reading live objects) for the report; 0 skips it
#   BENCH_JSON_DIR  if set, hyperfine's JSON exports are copied there,
#                   and each side's peak memory is appended to peak-rss.tsv (one more run;
#                   used by bench/all.sh)
#                   (apply-first.json, apply-noop.json, apply-phases.json)
#   BENCH_STRICT    if 1, exit 3 when a target is missed (default: report only)
#
# Exit codes: 0 ok (targets reported), 1 setup error (no control plane, a ksec
# without `apply`, ...), 2 ksec apply failed, applied the wrong objects, or wrote
# on a no-op re-apply, 3 target missed with BENCH_STRICT=1.
set -euo pipefail

INVOKE_DIR=$PWD
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_NAME=apply.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh
T_START=$(now)

NAMESPACES=${NAMESPACES:-50}
CMS_PER_NS=${CMS_PER_NS:-10}
SECRETS_PER_NS=${SECRETS_PER_NS:-10}
CM_KEYS=${CM_KEYS:-10}
SECRET_KEYS=${SECRET_KEYS:-5}
RUNS_FIRST=${RUNS_FIRST:-3}
RUNS_NOOP=${RUNS_NOOP:-5}
TARGET_FIRST=${TARGET_FIRST:-5}
TARGET_NOOP=${TARGET_NOOP:-25}
BENCH_BREAKDOWN=${BENCH_BREAKDOWN:-1}
BENCH_STRICT=${BENCH_STRICT:-0}
positive_ints NAMESPACES CMS_PER_NS SECRETS_PER_NS CM_KEYS SECRET_KEYS RUNS_FIRST RUNS_NOOP
for v in TARGET_FIRST TARGET_NOOP; do
  [[ ${!v} =~ ^[0-9]+([.][0-9]+)?$ ]] || die "$v=${!v} must be a number"
done

# ---------------------------------------------------------------- tools
for t in hyperfine age-keygen python3; do
  command -v "$t" >/dev/null || die "'$t' not found on PATH (Debian: apt-get install -y hyperfine age)"
done
PY=$(command -v python3)

select_kubectl

select_ksec "apply"
"$KSEC_BIN" apply --help >/dev/null 2>&1 ||
  die "$KSEC_BIN has no 'apply' command (an old build?): run cargo build --release, or set KSEC_BIN"

# ---------------------------------------------------------------- workdir, cluster
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ksec-bench-apply.XXXXXX")
CLUSTER=$WORK/cluster    # scripts/kube-up.sh wants a new directory
P=$WORK/project          # the ksec project
R=$WORK/rendered.yaml    # what kubectl applies
OUT=$WORK/out
remove_work_on_exit
mkdir -p "$P/namespaces" "$WORK/plain" "$OUT"

# One fresh age identity; ksec gets it only from KSEC_AGE_KEY_FILE. Clear every
# source that would take precedence over it or be consulted instead.
age-keygen -o "$WORK/key.txt" 2>/dev/null
RECIPIENT=$(age-keygen -y "$WORK/key.txt")
export KSEC_AGE_KEY_FILE=$WORK/key.txt
unset KSEC_AGE_KEY SOPS_AGE_KEY SOPS_AGE_KEY_FILE || true

N_CM=$((NAMESPACES * CMS_PER_NS))
N_SECRET=$((NAMESPACES * SECRETS_PER_NS))
N_OBJ=$((N_CM + N_SECRET))
PER_NS=$((CMS_PER_NS + SECRETS_PER_NS))
LABEL=app.kubernetes.io/managed-by=ksec

note "ksec:      $KSEC_BIN"
note "kubectl:   $KUBECTL_BIN ($("$KUBECTL_BIN" version --client 2>/dev/null | head -n1 || echo '?'))"
note "hyperfine: $(hyperfine --version)"
note "machine:   $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || uname -m)"
note "workdir:   $WORK"

T_UP=$(now)
note "starting a local control plane (scripts/kube-up.sh)"
up=$("$ROOT/scripts/kube-up.sh" "$CLUSTER") ||
  die "scripts/kube-up.sh failed (is the kube-apiserver built? run scripts/kube-build.sh)"
[[ $up == "export KUBECONFIG=$CLUSTER/kubeconfig" && -s $CLUSTER/kubeconfig ]] ||
  die "unexpected output from scripts/kube-up.sh: $up"
export KUBECONFIG=$CLUSTER/kubeconfig
note "  up in $(since "$T_UP")"

# Every kubectl call: the admin context, a discovery cache of its own (not ~/.kube).
KC_CACHE=$WORK/kube-cache
kc() { "$KUBECTL_BIN" --context admin --cache-dir "$KC_CACHE" "$@"; }
# kubectl 1.3x against the 1.20 server warns about the version skew; say it once.
server=$(kc version -o json 2>"$OUT/version.err" |
  "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("serverVersion",{}).get("gitVersion","?"))') ||
  die "kubectl cannot reach the control plane"
note "  server $server$(grep -q 'version difference' "$OUT/version.err" && echo ' (kubectl warns about the version skew; its stderr is not shown below)')"

# ---------------------------------------------------------------- generate
T_GEN=$(now)
note "generating $NAMESPACES namespaces x ($CMS_PER_NS ConfigMaps + $SECRETS_PER_NS Secrets) = $N_OBJ objects"
# ksec.yaml is written to $WORK and moved into the project after the secret
# sources are encrypted (from plaintext outside the project).
"$PY" - "$WORK" "$RECIPIENT" "$NAMESPACES" "$CMS_PER_NS" "$SECRETS_PER_NS" "$CM_KEYS" "$SECRET_KEYS" <<'PY'
import os, random, string, sys
work, recipient = sys.argv[1], sys.argv[2]
n_ns, n_cm, n_sec, cm_keys, sec_keys = map(int, sys.argv[3:8])
P, plain = os.path.join(work, "project"), os.path.join(work, "plain")
rng = random.Random(20240603)          # deterministic workloads
alnum = string.ascii_letters + string.digits
def s(lo, hi): return "".join(rng.choice(alnum) for _ in range(rng.randint(lo, hi)))
width = max(3, len(str(n_ns - 1)))
names = [f"bench-{i:0{width}d}" for i in range(n_ns)]

def write(path, text):
    with open(path, "w") as f:
        f.write(text)

y = ["version: 1", "project: bench", "recipients:", f"  bench: {recipient}",
     "environments:", "  bench:", "    context: admin", "namespaces:"]
for ns in names:
    pdir, sdir = os.path.join(P, "namespaces", ns), os.path.join(plain, ns)
    os.makedirs(pdir); os.makedirs(sdir)
    y += [f"  {ns}:", "    recipients: [bench]", "    configMaps:"]
    for c in range(n_cm):
        body = "".join(f"KEY_{i}=value-{i}-{s(8, 24)}\n" for i in range(cm_keys))
        write(os.path.join(pdir, f"cm-{c}.env"), body)
        y += [f"      - name: cm-{c}", f"        envFiles: [cm-{c}.env]"]
    y += ["    secrets:"]
    for c in range(n_sec):
        lines = [f"DB_URL=postgres://app_{s(4, 8)}:{s(20, 32)}@db.{ns}.svc:5432/app?sslmode=require"]
        lines += [f"SECRET_{i}={s(20, 40)}" for i in range(1, sec_keys)]
        write(os.path.join(sdir, f"secret-{c}.env"), "".join(l + "\n" for l in lines))
        y += [f"      - name: secret-{c}", f"        sources: [secret-{c}.enc.env]"]
write(os.path.join(work, "ksec.yaml"), "\n".join(y) + "\n")
write(os.path.join(work, "namespaces.txt"), "".join(n + "\n" for n in names))
PY
mapfile -t NS_NAMES <"$WORK/namespaces.txt"

note "encrypting $N_SECRET secret sources with ksec encrypt (parallel $(nproc))"
ksec_encrypt_sources "$WORK" plain "$RECIPIENT" "$N_SECRET" 50
rm -rf "$WORK/plain"
mv "$WORK/ksec.yaml" "$P/ksec.yaml"
note "  generated and encrypted in $(since "$T_GEN")"

note "creating $NAMESPACES namespaces (kubectl create namespace)"
printf '%s\n' "${NS_NAMES[@]}" |
  xargs -P 4 -I{} "$KUBECTL_BIN" --context admin --cache-dir "$KC_CACHE" create namespace {} \
    >/dev/null 2>"$OUT/ns.err" || { cat "$OUT/ns.err" >&2; die "kubectl create namespace failed"; }

note "rendering once: ksec render --env bench > rendered.yaml"
"$KSEC_BIN" render --project "$P" --env bench >"$R" 2>"$OUT/render.err" ||
  { cat "$OUT/render.err" >&2; fail "ksec render --project $P --env bench exited non-zero"; }

# ---------------------------------------------------------------- helpers
# (namespace, kind, name) of the rendered objects, as "ns kind name" lines.
"$PY" - "$R" >"$OUT/rendered.keys" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
try:
    import yaml
    Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = [d for d in yaml.load_all(text, Loader=Loader) if isinstance(d, dict)]
    objs = [((d.get("metadata") or {}).get("namespace") or "", d.get("kind"),
             (d.get("metadata") or {}).get("name")) for d in docs]
except ImportError:  # block-style YAML as ksec prints it
    objs = []
    for doc in re.split(r"(?m)^---\s*$", text):
        kind = re.search(r"(?m)^kind:\s*(\S+)", doc)
        if not kind:
            continue
        name = re.search(r"(?m)^  name:\s*['\"]?([^'\"\s]+)", doc)
        ns = re.search(r"(?m)^  namespace:\s*['\"]?([^'\"\s]+)", doc)
        objs.append((ns.group(1) if ns else "", kind.group(1), name.group(1) if name else ""))
for o in sorted(objs):
    print(*o)
PY
n_rendered=$(wc -l <"$OUT/rendered.keys")
n_r_cm=$(awk '$2 == "ConfigMap"' "$OUT/rendered.keys" | wc -l)
n_r_sec=$(awk '$2 == "Secret"' "$OUT/rendered.keys" | wc -l)
[[ $n_r_cm -eq $N_CM && $n_r_sec -eq $N_SECRET ]] ||
  fail "rendered.yaml holds $n_r_cm ConfigMaps and $n_r_sec Secrets, expected $N_CM and $N_SECRET"
other=$(awk '$2 != "ConfigMap" && $2 != "Secret" { print $2 }' "$OUT/rendered.keys" | sort | uniq -c |
  awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }')
note "  rendered.yaml: $n_rendered objects ($n_r_cm ConfigMaps, $n_r_sec Secrets${other:+, $other}), $(wc -c <"$R") bytes"

# "ns kind name" of every object in the cluster that carries the managed-by label.
managed_keys() {
  kc get configmaps,secrets -A -l "$LABEL" --no-headers \
    -o custom-columns=NS:.metadata.namespace,KIND:.kind,NAME:.metadata.name |
    awk '{ print $1, $2, $3 }' | LC_ALL=C sort
}
# "ns kind name resourceVersion" of every ConfigMap and Secret in the bench
# namespaces (labelled or not), plus the namespaces themselves.
snapshot() {
  {
    kc get configmaps,secrets -A --no-headers \
      -o custom-columns=NS:.metadata.namespace,KIND:.kind,NAME:.metadata.name,RV:.metadata.resourceVersion |
      awk 'NR == FNR { want[$1] = 1; next } want[$1]' "$WORK/namespaces.txt" -
    kc get namespaces "${NS_NAMES[@]}" --no-headers \
      -o custom-columns=NS:.metadata.name,KIND:.kind,NAME:.metadata.name,RV:.metadata.resourceVersion
  } | awk '{ print $1, $2, $3, $4 }' | LC_ALL=C sort
}
# The cluster-wide etcd revision (any write anywhere moves it).
revision() {
  kc get --raw "/api/v1/namespaces/${NS_NAMES[0]}/configmaps?limit=1" |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])'
}
# Check `ksec apply` text output: one line per namespace, with these counts.
check_summary() {  # file created updated unchanged what
  "$PY" - "$@" "$WORK/namespaces.txt" "$OUT/rendered.keys" <<'PY'
import collections, re, sys
path, created, updated, unchanged, what, ns_file, keys_file = sys.argv[1:8]
namespaces = open(ns_file).read().split()
per_ns = collections.Counter(l.split()[0] for l in open(keys_file) if l.strip())
want = {ns: (int(created or per_ns[ns]), int(updated), int(unchanged or per_ns[ns])) for ns in namespaces}
got = {}
for line in open(path):
    m = re.match(r"^(\S+): (\d+) created, (\d+) updated, (\d+) unchanged", line)
    if m:
        got[m.group(1)] = tuple(map(int, m.group(2, 3, 4)))
bad = [ns for ns in namespaces if got.get(ns) != want[ns]]
extra = sorted(set(got) - set(namespaces))
if bad or extra:
    print(f"\n*** FAIL: {what}: ksec apply's summary is not what it should be ***", file=sys.stderr)
    for ns in bad[:5]:
        w, g = want[ns], got.get(ns)
        print(f"    {ns}: want {w[0]} created, {w[1]} updated, {w[2]} unchanged; got "
              + (f"{g[0]} created, {g[1]} updated, {g[2]} unchanged" if g else "no line"), file=sys.stderr)
    for ns in extra[:5]:
        print(f"    unexpected namespace line: {ns}", file=sys.stderr)
    sys.exit(2)
print(f"    {what}: all {len(namespaces)} namespace lines as expected", file=sys.stderr)
PY
}

q() { printf '%q' "$1"; }
KSEC_Q=$(q "$KSEC_BIN"); KUBECTL_Q=$(q "$KUBECTL_BIN"); P_Q=$(q "$P"); R_Q=$(q "$R"); CACHE_Q=$(q "$KC_CACHE")
KUBECTL_APPLY="$KUBECTL_Q --context admin --cache-dir $CACHE_Q apply --server-side --field-manager=ksec -f $R_Q"
KSEC_APPLY="$KSEC_Q apply --project $P_Q --env bench --yes"

# Delete every managed ConfigMap and Secret and wait until they are gone. Not
# `kubectl delete --wait`: its wait GETs each object behind kubectl's client-side
# rate limit (5/s), minutes for 1,000 objects.
cat >"$WORK/prepare.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
k() { $KUBECTL_Q --context admin --cache-dir $CACHE_Q "\$@"; }
k delete configmaps,secrets -A -l $LABEL --wait=false >/dev/null
for _ in \$(seq 1 300); do
  [[ -z \$(k get configmaps,secrets -A -l $LABEL -o name) ]] && exit 0
  sleep 0.2
done
echo "prepare: managed objects still there after 60 s" >&2
exit 1
EOF
chmod +x "$WORK/prepare.sh"

# ---------------------------------------------------------------- correctness
note "correctness: one ksec apply on an empty cluster, then compare with rendered.yaml"
t=$(now)
if ! "$KSEC_BIN" apply --project "$P" --env bench --yes >"$OUT/apply-first.txt" 2>"$OUT/apply-first.err"; then
  cat "$OUT/apply-first.err" >&2
  fail "ksec apply --project $P --env bench --yes exited non-zero (first apply)"
fi
note "  ksec apply (first) took $(since "$t")"
check_summary "$OUT/apply-first.txt" "" 0 0 "first apply" || exit 2
managed_keys >"$OUT/cluster.keys"
"$PY" - "$OUT/rendered.keys" "$OUT/cluster.keys" <<'PY' || exit 2
import sys
r = {tuple(l.split()) for l in open(sys.argv[1]) if l.strip()}
c = {tuple(l.split()) for l in open(sys.argv[2]) if l.strip()}
r = {o for o in r if o[1] in ("ConfigMap", "Secret")}
if r != c:
    print(f"\n*** FAIL: the cluster's managed objects differ from rendered.yaml: "
          f"{len(r - c)} rendered but not in the cluster, {len(c - r)} in the cluster but not rendered ***",
          file=sys.stderr)
    for o in sorted(r - c)[:5]: print("    missing:    " + " ".join(o), file=sys.stderr)
    for o in sorted(c - r)[:5]: print("    unexpected: " + " ".join(o), file=sys.stderr)
    sys.exit(2)
print(f"    cluster holds exactly the {len(c)} rendered ConfigMaps and Secrets (namespace, kind, name)",
      file=sys.stderr)
PY

note "no-op check: resourceVersions before and after one more ksec apply"
snapshot >"$OUT/rv-before.txt"
rev_before=$(revision)
t=$(now)
if ! "$KSEC_BIN" apply --project "$P" --env bench --yes >"$OUT/apply-noop.txt" 2>"$OUT/apply-noop.err"; then
  cat "$OUT/apply-noop.err" >&2
  fail "ksec apply --project $P --env bench --yes exited non-zero (no-op re-apply)"
fi
note "  ksec apply (no-op) took $(since "$t")"
rev_after=$(revision)
snapshot >"$OUT/rv-after.txt"
if ! cmp -s "$OUT/rv-before.txt" "$OUT/rv-after.txt"; then
  n_changed=$(diff "$OUT/rv-before.txt" "$OUT/rv-after.txt" | grep -c '^>' || true)
  printf '    changed (ns kind name resourceVersion), first 10:\n' >&2
  diff "$OUT/rv-before.txt" "$OUT/rv-after.txt" | grep '^>' | head -n 10 | sed 's/^>/     /' >&2
  fail "a no-op ksec apply wrote: $n_changed objects have a new resourceVersion"
fi
check_summary "$OUT/apply-noop.txt" 0 0 "" "no-op re-apply" || exit 2
note "  $(wc -l <"$OUT/rv-before.txt") resourceVersions unchanged; etcd revision $rev_before -> $rev_after"

# For the report only: does kubectl's no-op server-side apply write?
note "for comparison: the same check around one kubectl apply --server-side (not a pass/fail)"
snapshot >"$OUT/rv-before.txt"
t=$(now)
eval "$KUBECTL_APPLY" >/dev/null 2>"$OUT/kubectl-noop.err" ||
  { cat "$OUT/kubectl-noop.err" >&2; die "kubectl apply --server-side -f rendered.yaml failed"; }
note "  kubectl apply (no-op) took $(since "$t")"
snapshot >"$OUT/rv-after.txt"
n_changed=$(diff "$OUT/rv-before.txt" "$OUT/rv-after.txt" | grep -c '^>' || true)
note "  kubectl changed $n_changed resourceVersions; $(wc -l <"$OUT/kubectl-noop.err") lines on its stderr (not shown)"
# and it must leave nothing for ksec to do
"$KSEC_BIN" apply --project "$P" --env bench --yes >"$OUT/apply-noop2.txt" 2>"$OUT/apply-noop2.err" ||
  { cat "$OUT/apply-noop2.err" >&2; fail "ksec apply exited non-zero after kubectl's apply"; }
check_summary "$OUT/apply-noop2.txt" 0 0 "" "ksec apply after kubectl's apply" || exit 2

# ---------------------------------------------------------------- benchmark
note "workload 1, first apply: $N_OBJ objects absent ($RUNS_FIRST runs; --prepare deletes them)"
t=$(now)
"$WORK/prepare.sh" || die "prepare.sh failed"
note "  (one prepare: $(since "$t"))"
hyperfine --shell=bash --runs "$RUNS_FIRST" --prepare "$WORK/prepare.sh" \
  --export-json "$OUT/apply-first.json" \
  -n kubectl "$KUBECTL_APPLY" \
  -n ksec "$KSEC_APPLY" >&2
# hyperfine's last ksec run must have left every object in place
managed_keys | cmp -s - <(awk '$2 == "ConfigMap" || $2 == "Secret"' "$OUT/rendered.keys" | LC_ALL=C sort) ||
  fail "after the first-apply runs the cluster does not hold the rendered objects"

note "workload 2, no-op re-apply: everything applied ($RUNS_NOOP runs + 1 warm-up)"
hyperfine --shell=bash --warmup 1 --runs "$RUNS_NOOP" --export-json "$OUT/apply-noop.json" \
  -n kubectl "$KUBECTL_APPLY" \
  -n ksec "$KSEC_APPLY" >&2

if [[ $BENCH_BREAKDOWN == 1 ]]; then
  note "ksec phases on the no-op (informational): render, + RBAC pre-flight, + reading live objects"
  hyperfine --shell=bash --warmup 1 --runs "$RUNS_NOOP" --export-json "$OUT/apply-phases.json" \
    -n "render" "$KSEC_Q render --project $P_Q --env bench" \
    -n "apply --check-access" "$KSEC_Q apply --project $P_Q --env bench --check-access" \
    -n "diff" "$KSEC_Q diff --project $P_Q --env bench" \
    -n "apply" "$KSEC_APPLY" >&2
fi

if JSON_DIR=$(json_dir) && [[ -n $JSON_DIR ]]; then
  cp "$OUT"/apply-*.json "$JSON_DIR/"
  note "hyperfine JSON copied to $JSON_DIR; measuring peak memory"
  peak_rss apply-noop kubectl "$KUBECTL_APPLY"
  peak_rss apply-noop ksec "$KSEC_APPLY"
  peak_rss apply-first kubectl "$KUBECTL_APPLY" "$WORK/prepare.sh"
  peak_rss apply-first ksec "$KSEC_APPLY" "$WORK/prepare.sh"
fi

# ---------------------------------------------------------------- report
set +e
"$PY" - "$OUT" "$NAMESPACES" "$N_OBJ" "$TARGET_FIRST" "$TARGET_NOOP" "$BENCH_BREAKDOWN" <<'PY'
import json, os, sys
out, n_ns, n_obj = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t_first, t_noop, breakdown = float(sys.argv[4]), float(sys.argv[5]), sys.argv[6] == "1"
def load(name):
    return {r["command"]: r for r in json.load(open(os.path.join(out, name)))["results"]}
def fmt(r):
    if r["mean"] >= 1:
        return f"{r['mean']:.2f} ± {r['stddev'] or 0:.2f} s"
    return f"{r['mean'] * 1e3:.0f} ± {(r['stddev'] or 0) * 1e3:.0f} ms"
def table(hdr, rows):
    w = [max(len(r[i]) for r in rows + [hdr]) for i in range(len(hdr))]
    line = lambda r: "  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip()
    print(line(hdr)); print(line(["-" * x for x in w]))
    for r in rows: print(line(r))
rows, missed = [], False
for label, name, target in ((f"first apply: {n_ns} ns, {n_obj} objects", "apply-first.json", t_first),
                            (f"no-op re-apply: {n_ns} ns, {n_obj} objects", "apply-noop.json", t_noop)):
    res = load(name)
    k, s = res["kubectl"], res["ksec"]
    ratio = k["mean"] / s["mean"]
    ok = ratio >= target
    missed |= not ok
    rows.append((label, fmt(k), fmt(s), f"{ratio:.1f}x", f">= {target:g}x", "PASS" if ok else "MISS"))
print()
table(("workload", "kubectl mean", "ksec mean", "kubectl/ksec", "target", "result"), rows)
print()
print("(kubectl: apply --server-side --field-manager=ksec -f rendered.yaml; "
      "ksec: apply --env bench --yes incl. render, decrypt and RBAC pre-flight)")
if breakdown:
    ph = load("apply-phases.json")
    r, ca, d, a = (ph[n]["mean"] for n in ("render", "apply --check-access", "diff", "apply"))
    ms = lambda x: f"{x * 1e3:.0f} ms"
    print()
    table(("ksec no-op, by phase (informational)", "mean", "from"), [
        ("render + decrypt", ms(r), "ksec render"),
        ("RBAC pre-flight", ms(ca - r), "apply --check-access - render"),
        ("reading live and managed objects", ms(d - r), "diff - render"),
        ("whole no-op ksec apply", ms(a), "apply"),
    ])
sys.exit(3 if missed else 0)
PY
rc=$?
set -e
note "total run time $(since "$T_START")"
report_status "$rc" "target missed"
