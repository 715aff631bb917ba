#!/usr/bin/env bash
# bench/gitops.sh — `ksec render --gitops` against `sops -e` of the same Secret
# manifests one file at a time, and a no-op re-render against the first render.
#
# Workload (generated fresh into a temp dir, bench/gen_project.py): a ksec
# project of NAMESPACES namespaces x CMS_PER_NS ConfigMaps x SECRETS_PER_NS
# Secrets (dotenv sources encrypted by `ksec encrypt`), its environment's
# recipient a fresh age key (the "cluster").
# Timed (hyperfine):
#   first   `ksec render --gitops OUT` into an empty OUT (every Secret sealed anew)
#   sops    a loop of `sops -e --encrypted-regex '^(data|stringData)$' --age R`
#           over the plaintext Secret manifests `ksec render` prints, one file
#           per process (what a script around sops does to get the same tree)
#   noop    `ksec render --gitops OUT` again, nothing changed (the stat cache
#           remembers the files' hashes: they are not read)
#   noop-cold the same with the stat cache removed before each run, as after a
#           fresh clone, or the first no-op after a render (every file read
#           and hashed)
# Checked: the no-op re-render changes no byte and no mtime of OUT.
#
# Knobs: KSEC_BIN, SOPS_BIN (as in bench/lib.sh), NAMESPACES (200),
# CMS_PER_NS (2), SECRETS_PER_NS (2), CM_KEYS (10), SECRET_KEYS (5),
# RUNS (3), RUNS_SOPS (2), TARGET_SOPS (20), TARGET_NOOP (50).
# Exit codes: 0 ok (targets reported), 1 setup error, 2 a check failed.
set -euo pipefail

INVOKE_DIR=$PWD
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_NAME=gitops.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh

NAMESPACES=${NAMESPACES:-200}
CMS_PER_NS=${CMS_PER_NS:-2}
SECRETS_PER_NS=${SECRETS_PER_NS:-2}
CM_KEYS=${CM_KEYS:-10}
SECRET_KEYS=${SECRET_KEYS:-5}
RUNS=${RUNS:-3}
RUNS_SOPS=${RUNS_SOPS:-2}
TARGET_SOPS=${TARGET_SOPS:-20}
TARGET_NOOP=${TARGET_NOOP:-50}
positive_ints NAMESPACES CMS_PER_NS SECRETS_PER_NS CM_KEYS SECRET_KEYS RUNS RUNS_SOPS
for t in hyperfine age-keygen python3; do
  command -v "$t" >/dev/null || die "'$t' not found on PATH"
done
select_sops
select_ksec "render"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ksec-bench-gitops.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT
P=$WORK/project
mkdir -p "$P/namespaces" "$WORK/manifests" "$WORK/sops-out"

age-keygen -o "$WORK/key.txt" 2>/dev/null
RECIPIENT=$(age-keygen -y "$WORK/key.txt")
age-keygen -o "$WORK/cluster.txt" 2>/dev/null
CLUSTER=$(age-keygen -y "$WORK/cluster.txt")
export KSEC_AGE_KEY_FILE=$WORK/key.txt
# the stat cache of render --gitops, inside the bench's own dir
export XDG_CACHE_HOME=$WORK/cache
unset KSEC_AGE_KEY SOPS_AGE_KEY SOPS_AGE_KEY_FILE SOPS_AGE_KEY_CMD SOPS_AGE_RECIPIENTS || true

N_SECRET=$((NAMESPACES * SECRETS_PER_NS))
note "generating $NAMESPACES namespaces x ($CMS_PER_NS ConfigMaps + $SECRETS_PER_NS Secrets)"
python3 "$ROOT/bench/gen_project.py" "$WORK" "$RECIPIENT" "$NAMESPACES" "$CMS_PER_NS" "$SECRETS_PER_NS" "$CM_KEYS" "$SECRET_KEYS"
ksec_encrypt_sources "$WORK" kustomize "$RECIPIENT" "$N_SECRET" $(( (N_SECRET + 19) / 20 ))
# the environment's recipient: the cluster's key
python3 - "$WORK/ksec.yaml" "$CLUSTER" <<'PY'
import sys
path, key = sys.argv[1], sys.argv[2]
text = open(path).read()
text = text.replace("  bench: ", f"  cluster: {key}\n  bench: ", 1)
text = text.replace("    context: bench\n", "    context: bench\n    recipients: [cluster]\n", 1)
open(path, "w").write(text)
PY
mv "$WORK/ksec.yaml" "$P/ksec.yaml"

# the plaintext Secret manifests, one file each, for sops
"$KSEC_BIN" render --project "$P" --env bench >"$WORK/all.yaml"
python3 - "$WORK/all.yaml" "$WORK/manifests" <<'PY'
import sys
text, out = open(sys.argv[1]).read(), sys.argv[2]
n = 0
for doc in text.split("\n---\n"):
    if "\nkind: Secret\n" in "\n" + doc:
        with open(f"{out}/secret-{n}.yaml", "w") as f:
            f.write(doc if doc.endswith("\n") else doc + "\n")
        n += 1
print(n, file=sys.stderr)
PY
n_manifests=$(find "$WORK/manifests" -name '*.yaml' | wc -l)
[[ $n_manifests -eq $N_SECRET ]] || fail "expected $N_SECRET Secret manifests, got $n_manifests"

q() { printf '%q' "$1"; }
KSEC_Q=$(q "$KSEC_BIN"); SOPS_Q=$(q "$SOPS_BIN"); P_Q=$(q "$P"); W_Q=$(q "$WORK")
SOPS_LOOP="for f in $W_Q/manifests/*.yaml; do $SOPS_Q -e --encrypted-regex '^(data|stringData)\$' --age $CLUSTER \"\$f\" > $W_Q/sops-out/\${f##*/}; done"

note "first render vs sops -e, $N_SECRET Secrets"
hyperfine --shell=bash --runs "$RUNS_SOPS" --export-json "$WORK/first.json" \
  --prepare "rm -rf $W_Q/out" \
  -n first "$KSEC_Q render --project $P_Q --env bench --gitops $W_Q/out 2>/dev/null" \
  -n sops "$SOPS_LOOP" >&2

"$KSEC_BIN" render --project "$P" --env bench --gitops "$WORK/out" 2>/dev/null
snapshot() { (cd "$WORK/out" && find . -type f -printf '%p %T@ ' -exec sha256sum {} \; | sort); }
snapshot >"$WORK/before.txt"
note "no-op re-render ($RUNS runs)"
hyperfine --shell=bash --warmup 1 --runs "$RUNS" --export-json "$WORK/noop.json" \
  -n noop "$KSEC_Q render --project $P_Q --env bench --gitops $W_Q/out 2>/dev/null" >&2
hyperfine --shell=bash --runs "$RUNS" --export-json "$WORK/noop-cold.json" \
  --prepare "rm -rf $W_Q/cache" \
  -n noop-cold "$KSEC_Q render --project $P_Q --env bench --gitops $W_Q/out 2>/dev/null" >&2
snapshot >"$WORK/after.txt"
cmp -s "$WORK/before.txt" "$WORK/after.txt" || fail "the no-op re-render changed files in OUT"
note "no-op re-renders changed 0 bytes and 0 mtimes of $(wc -l <"$WORK/after.txt") files"

if JSON_DIR=$(json_dir) && [[ -n $JSON_DIR ]]; then
  cp "$WORK/first.json" "$JSON_DIR/gitops-first.json"
  cp "$WORK/noop.json" "$JSON_DIR/gitops-noop.json"
  cp "$WORK/noop-cold.json" "$JSON_DIR/gitops-noop-cold.json"
fi

python3 - "$WORK" "$N_SECRET" "$TARGET_SOPS" "$TARGET_NOOP" <<'PY'
import json, sys
work, n, t_sops, t_noop = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
first = {r["command"]: r["mean"] for r in json.load(open(f"{work}/first.json"))["results"]}
noop = json.load(open(f"{work}/noop.json"))["results"][0]["mean"]
cold = json.load(open(f"{work}/noop-cold.json"))["results"][0]["mean"]
r1, r2 = first["sops"] / first["first"], first["first"] / noop
print(f"\n{n} Secrets: sops -e loop {first['sops']:.2f} s, ksec render --gitops {first['first']*1e3:.0f} ms "
      f"({r1:.1f}x, target >= {t_sops:g}x: {'PASS' if r1 >= t_sops else 'MISS'})")
print(f"no-op re-render {noop*1e3:.0f} ms vs first {first['first']*1e3:.0f} ms "
      f"({r2:.1f}x, target >= {t_noop:g}x: {'PASS' if r2 >= t_noop else 'MISS'}), 0 bytes changed")
print(f"no-op re-render without the stat cache (every file read and hashed) {cold*1e3:.0f} ms "
      f"({first['first'] / cold:.1f}x the first)")
PY
