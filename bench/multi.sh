#!/usr/bin/env bash
# bench/multi.sh — one `ksec apply` across two clusters against the same apply to
# one cluster: the clusters are written in parallel, so two should cost little
# more than one (target: at most 1.3x).
#
# Setup (all inside a temp dir, removed on exit):
#   - two local control planes started with scripts/kube-up.sh (each on ports of
#     its own; both stopped with scripts/kube-down.sh on every exit path)
#   - one kubeconfig holding both, contexts renamed c1-admin and c2-admin
#   - a ksec project: NAMESPACES namespaces x (CMS_PER_NS ConfigMaps +
#     SECRETS_PER_NS Secrets), environments `one` (c1-admin) and `two` (c2-admin)
# Checked before timing (exit 2 on failure): one `ksec apply --all-envs` leaves
# every rendered object on both clusters.
# Timed (hyperfine, every managed object deleted from both clusters before each run):
#   one     ksec apply --env one --yes
#   both    ksec apply --all-envs --yes
#   serial  ksec apply --env one --yes && ksec apply --env two --yes (what
#           --all-envs saves by writing the clusters side by side)
#
# Environment knobs (all optional):
#   KSEC_BIN        ksec binary (default: ${CARGO_TARGET_DIR:-target}/release/ksec)
#   NAMESPACES      namespaces                 (default 25)
#   CMS_PER_NS      ConfigMaps per namespace   (default 10)
#   SECRETS_PER_NS  Secrets per namespace      (default 10)
#   RUNS            hyperfine runs             (default 3)
#   TARGET_RATIO    most both/one may take     (default 1.3)
#   BENCH_JSON_DIR  if set, hyperfine's JSON export is copied there (multi.json)
#   BENCH_STRICT    if 1, exit 3 when the target is missed (default: report only)
#   PIN             1 (default on 2+ cores): each control plane on a core of its
#                   own (c1 on cpu 0, c2 on cpu 1, KSEC_KUBE_CPUS of kube-up.sh),
#                   as two real clusters run on machines of their own; ksec
#                   itself may use every core. 0: both share every core, so two
#                   clusters get half the server capacity one cluster gets.
#
# Exit codes: 0 ok, 1 setup error, 2 ksec apply failed or applied the wrong
# objects, 3 target missed with BENCH_STRICT=1.
set -euo pipefail

INVOKE_DIR=$PWD
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_NAME=multi.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh

NAMESPACES=${NAMESPACES:-25}
CMS_PER_NS=${CMS_PER_NS:-10}
SECRETS_PER_NS=${SECRETS_PER_NS:-10}
RUNS=${RUNS:-3}
TARGET_RATIO=${TARGET_RATIO:-1.3}
BENCH_STRICT=${BENCH_STRICT:-0}
if [[ $(nproc) -ge 2 ]]; then PIN=${PIN:-1}; else PIN=0; fi
positive_ints NAMESPACES CMS_PER_NS SECRETS_PER_NS RUNS
for t in hyperfine age-keygen python3; do
  command -v "$t" >/dev/null || die "'$t' not found on PATH"
done
PY=$(command -v python3)
select_kubectl
select_ksec "apply"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ksec-bench-multi.XXXXXX")
P=$WORK/project
stop_all() {
  local rc=$?
  trap - EXIT INT TERM HUP
  for c in "$WORK/c1" "$WORK/c2"; do
    [[ -d $c ]] && "$ROOT/scripts/kube-down.sh" "$c" >/dev/null 2>&1 || true
  done
  rm -rf -- "$WORK"
  exit "$rc"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

age-keygen -o "$WORK/key.txt" 2>/dev/null
RECIPIENT=$(age-keygen -y "$WORK/key.txt")
export KSEC_AGE_KEY_FILE=$WORK/key.txt
unset KSEC_AGE_KEY SOPS_AGE_KEY SOPS_AGE_KEY_FILE || true
N_OBJ=$((NAMESPACES * (CMS_PER_NS + SECRETS_PER_NS)))

note "ksec: $KSEC_BIN; machine: $(nproc) cores; PIN=$PIN"
for c in c1 c2; do
  cpus=
  [[ $PIN == 1 ]] && cpus=$(( ${c#c} - 1 ))
  note "starting control plane $c (scripts/kube-up.sh${cpus:+, on cpu $cpus})"
  KSEC_KUBE_CPUS=$cpus "$ROOT/scripts/kube-up.sh" "$WORK/$c" >/dev/null || die "scripts/kube-up.sh failed"
done
# one kubeconfig, contexts c1-admin and c2-admin
for c in c1 c2; do
  "$KUBECTL_BIN" config view --raw -o json --kubeconfig "$WORK/$c/kubeconfig" >"$WORK/$c.json"
done
"$PY" - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
merged = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": [],
          "current-context": "c1-admin"}
for c in ("c1", "c2"):
    view = json.load(open(f"{work}/{c}.json"))
    for field in ("clusters", "users"):
        for item in view[field]:
            item["name"] = f"{c}-{item['name']}"
            merged[field].append(item)
    for item in view["contexts"]:
        item["name"] = f"{c}-{item['name']}"
        item["context"]["cluster"] = f"{c}-{item['context']['cluster']}"
        item["context"]["user"] = f"{c}-{item['context']['user']}"
        merged["contexts"].append(item)
json.dump(merged, open(f"{work}/kubeconfig", "w"))
PY
export KUBECONFIG=$WORK/kubeconfig

note "generating $NAMESPACES namespaces x ($CMS_PER_NS ConfigMaps + $SECRETS_PER_NS Secrets) = $N_OBJ objects per cluster"
"$PY" - "$WORK" "$RECIPIENT" "$NAMESPACES" "$CMS_PER_NS" "$SECRETS_PER_NS" <<'PY'
import os, random, string, sys
work, recipient = sys.argv[1], sys.argv[2]
n_ns, n_cm, n_sec = map(int, sys.argv[3:6])
P, plain = os.path.join(work, "project"), os.path.join(work, "plain")
rng = random.Random(20261207)
alnum = string.ascii_letters + string.digits
def s(n): return "".join(rng.choice(alnum) for _ in range(n))
names = [f"multi-{i:03d}" for i in range(n_ns)]
y = ["version: 1", "project: bench", "recipients:", f"  bench: {recipient}", "environments:",
     "  one:", "    context: c1-admin", "  two:", "    context: c2-admin", "namespaces:"]
for ns in names:
    pdir, sdir = os.path.join(P, "namespaces", ns), os.path.join(plain, ns)
    os.makedirs(pdir); os.makedirs(sdir)
    y += [f"  {ns}:", "    recipients: [bench]", "    configMaps:"]
    for c in range(n_cm):
        open(os.path.join(pdir, f"cm-{c}.env"), "w").write(
            "".join(f"KEY_{i}=value-{s(16)}\n" for i in range(10)))
        y += [f"      - name: cm-{c}", f"        envFiles: [cm-{c}.env]"]
    y += ["    secrets:"]
    for c in range(n_sec):
        open(os.path.join(sdir, f"secret-{c}.env"), "w").write(
            "".join(f"SECRET_{i}={s(32)}\n" for i in range(5)))
        y += [f"      - name: secret-{c}", f"        sources: [secret-{c}.enc.env]"]
open(os.path.join(work, "ksec.yaml"), "w").write("\n".join(y) + "\n")
open(os.path.join(work, "namespaces.txt"), "w").write("".join(n + "\n" for n in names))
PY
ksec_encrypt_sources "$WORK" plain "$RECIPIENT" "$((NAMESPACES * SECRETS_PER_NS))" 50
rm -rf "$WORK/plain"
mv "$WORK/ksec.yaml" "$P/ksec.yaml"
mapfile -t NS_NAMES <"$WORK/namespaces.txt"
for c in c1 c2; do
  printf '%s\n' "${NS_NAMES[@]}" |
    xargs -P 4 -I{} "$KUBECTL_BIN" --context "$c-admin" create namespace {} >/dev/null
done

LABEL=app.kubernetes.io/managed-by=ksec
count() { "$KUBECTL_BIN" --context "$1-admin" get configmaps,secrets -A -l $LABEL -o name | wc -l; }

note "correctness: ksec apply --all-envs on two empty clusters"
"$KSEC_BIN" apply --project "$P" --all-envs --yes >"$WORK/first.txt" 2>"$WORK/first.err" ||
  { cat "$WORK/first.err" >&2; fail "ksec apply --all-envs exited non-zero"; }
for c in c1 c2; do
  n=$(count $c)
  [[ $n -eq $N_OBJ ]] || fail "cluster $c holds $n managed objects, expected $N_OBJ"
done
note "  both clusters hold the $N_OBJ rendered objects"

cat >"$WORK/prepare.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
for c in c1 c2; do
  $(printf '%q' "$KUBECTL_BIN") --context "\$c-admin" delete configmaps,secrets -A -l $LABEL --wait=false >/dev/null
done
for _ in \$(seq 1 300); do
  left=0
  for c in c1 c2; do
    [[ -z \$($(printf '%q' "$KUBECTL_BIN") --context "\$c-admin" get configmaps,secrets -A -l $LABEL -o name) ]] || left=1
  done
  [[ \$left == 0 ]] && exit 0
  sleep 0.2
done
exit 1
EOF
chmod +x "$WORK/prepare.sh"

KSEC_Q=$(printf '%q' "$KSEC_BIN"); P_Q=$(printf '%q' "$P")
hyperfine --runs "$RUNS" --prepare "$WORK/prepare.sh" --export-json "$WORK/multi.json" \
  -n "one cluster x $N_OBJ" "$KSEC_Q apply --project $P_Q --env one --yes" \
  -n "two clusters x $N_OBJ" "$KSEC_Q apply --project $P_Q --all-envs --yes" \
  -n "two clusters x $N_OBJ, one after the other" \
  "$KSEC_Q apply --project $P_Q --env one --yes && $KSEC_Q apply --project $P_Q --env two --yes" >&2

ratio=$("$PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"]
one, both, serial = r[0]["median"], r[1]["median"], r[2]["median"]
print(f"{both / one:.2f} {one:.2f} {both:.2f} {serial:.2f}")' "$WORK/multi.json")
read -r ratio one both serial <<<"$ratio"
note "median: one cluster ${one} s, two clusters ${both} s: ${ratio}x (target <= ${TARGET_RATIO}x); the two one after the other: ${serial} s"
if [[ -n ${BENCH_JSON_DIR:-} ]]; then
  [[ $BENCH_JSON_DIR == /* ]] || BENCH_JSON_DIR=$INVOKE_DIR/$BENCH_JSON_DIR
  mkdir -p "$BENCH_JSON_DIR" && cp "$WORK/multi.json" "$BENCH_JSON_DIR/multi.json"
fi
if awk -v r="$ratio" -v t="$TARGET_RATIO" 'BEGIN { exit !(r > t) }'; then
  note "target missed"
  [[ $BENCH_STRICT == 1 ]] && exit 3
fi
exit 0
