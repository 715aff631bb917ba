#!/usr/bin/env bash
# bench/render.sh — compare `kubectl kustomize K` with `ksec render` on the same
# objects in one run.
#
# Workload (generated fresh into a temp dir):
#   P  a ksec project: NAMESPACES namespaces x CMS_PER_NS ConfigMaps (envFiles)
#      x SECRETS_PER_NS Secrets (sources: dotenv files encrypted with age, in the
#      SOPS format — by `ksec encrypt` when it works, else by the real `sops -e`)
#   K  the equivalent kustomize tree: one kustomization per namespace with
#      configMapGenerator/secretGenerator over the same env files (the secrets as
#      PLAINTEXT copies, since kustomize cannot decrypt)
# Timed: `ksec render --project P --env bench > /dev/null` against
#        `kubectl kustomize K > /dev/null`.
#
# Environment knobs (all optional):
#   KSEC_BIN        ksec binary (default: ${CARGO_TARGET_DIR:-target}/release/ksec;
#                   built with `cargo build --release` if missing or older than src/)
#   KUBECTL_BIN     kubectl with built-in kustomize (default: kubectl on PATH)
#   SOPS_BIN        sops binary, used only to encrypt when ksec cannot (default:
#                   the native binary behind `sops` on PATH; wrappers looked through)
#   BENCH_ENCRYPT   auto | ksec | sops — who encrypts the secret sources (default auto:
#                   ksec if `ksec encrypt` round-trips a probe file, else sops)
#   NAMESPACES      namespaces                      (default 200)
#   CMS_PER_NS      ConfigMaps per namespace        (default 5)
#   SECRETS_PER_NS  Secrets per namespace           (default 5)
#   CM_KEYS         keys per ConfigMap env file     (default 10)
#   SECRET_KEYS     keys per Secret env file        (default 5)
#   RUNS_RENDER     hyperfine runs                  (default 5, plus 1 warm-up)
#   TARGET_RENDER   required kustomize/ksec ratio   (default 10)
#   BENCH_JSON_DIR  if set, hyperfine's JSON export is copied there,
#                   and each side's peak memory is appended to peak-rss.tsv (one more run;
#                   used by bench/all.sh) (render.json)
#   BENCH_STRICT    if 1, exit 3 when the target is missed (default: report only)
#
# Exit codes: 0 ok (target reported), 1 setup error (ksec without `render`
# included), 2 ksec render failed or its objects differ from kustomize's,
# 3 target missed with BENCH_STRICT=1.
set -euo pipefail

INVOKE_DIR=$PWD
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_NAME=render.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh

NAMESPACES=${NAMESPACES:-200}
CMS_PER_NS=${CMS_PER_NS:-5}
SECRETS_PER_NS=${SECRETS_PER_NS:-5}
CM_KEYS=${CM_KEYS:-10}
SECRET_KEYS=${SECRET_KEYS:-5}
RUNS_RENDER=${RUNS_RENDER:-5}
TARGET_RENDER=${TARGET_RENDER:-10}
BENCH_STRICT=${BENCH_STRICT:-0}
BENCH_ENCRYPT=${BENCH_ENCRYPT:-auto}
positive_ints NAMESPACES CMS_PER_NS SECRETS_PER_NS CM_KEYS SECRET_KEYS RUNS_RENDER
[[ $TARGET_RENDER =~ ^[0-9]+([.][0-9]+)?$ ]] || die "TARGET_RENDER=$TARGET_RENDER must be a number"
case $BENCH_ENCRYPT in auto|ksec|sops) ;; *) die "BENCH_ENCRYPT=$BENCH_ENCRYPT must be auto, ksec or sops" ;; esac

# ---------------------------------------------------------------- tools
for t in hyperfine age-keygen python3; do
  command -v "$t" >/dev/null || die "'$t' not found on PATH (Debian: apt-get install -y hyperfine age)"
done
PY=$(command -v python3)

select_kubectl



select_ksec

# ---------------------------------------------------------------- workdir
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ksec-bench-render.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT
P=$WORK/project          # the ksec project
K=$WORK/kustomize        # the kustomize tree
mkdir -p "$P/namespaces" "$K" "$WORK/out"

# One fresh age identity; ksec gets it only from KSEC_AGE_KEY_FILE. Clear every
# source that would take precedence over it or be consulted instead.
age-keygen -o "$WORK/key.txt" 2>/dev/null
RECIPIENT=$(age-keygen -y "$WORK/key.txt")
export KSEC_AGE_KEY_FILE=$WORK/key.txt
unset KSEC_AGE_KEY SOPS_AGE_KEY SOPS_AGE_KEY_FILE SOPS_AGE_KEY_CMD SOPS_AGE_RECIPIENTS \
      SOPS_AGE_SSH_PRIVATE_KEY_FILE SOPS_PGP_FP SOPS_KMS_ARN SOPS_GCP_KMS_IDS \
      SOPS_AZURE_KEYVAULT_URLS SOPS_VAULT_URIS || true

N_CM=$((NAMESPACES * CMS_PER_NS))
N_SECRET=$((NAMESPACES * SECRETS_PER_NS))
N_OBJ=$((N_CM + N_SECRET))

note "ksec:      $KSEC_BIN"
note "kubectl:   $KUBECTL_BIN ($("$KUBECTL_BIN" version --client 2>/dev/null | grep -i kustomize | head -n1 || echo 'kustomize version ?'))"
note "hyperfine: $(hyperfine --version)"
note "machine:   $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || uname -m)"
note "workdir:   $WORK"

# ---------------------------------------------------------------- generate
T_GEN=$(now)
note "generating $NAMESPACES namespaces x ($CMS_PER_NS ConfigMaps + $SECRETS_PER_NS Secrets) = $N_OBJ objects (ksec project + kustomize tree)"
# ksec.yaml is written to $WORK and moved into the project only after the
# secrets are encrypted, so `ksec encrypt` never sees a project whose sources
# are still missing.
"$PY" "$ROOT/bench/gen_project.py" "$WORK" "$RECIPIENT" "$NAMESPACES" "$CMS_PER_NS" "$SECRETS_PER_NS" "$CM_KEYS" "$SECRET_KEYS"
note "  plaintext files written in $(since "$T_GEN")"

# ---------------------------------------------------------------- encrypt
# Who encrypts: ksec if it round-trips a probe file (much faster), else sops.
probe_ksec() {
  printf 'PROBE_A=one\nPROBE_B=postgres://u:p@h:1/db?x=1\n' >"$WORK/out/probe.env"
  "$KSEC_BIN" encrypt -r "$RECIPIENT" "$WORK/out/probe.env" --output "$WORK/out/probe.enc.env" \
      >/dev/null 2>"$WORK/out/probe.err" &&
    grep -q '^sops_' "$WORK/out/probe.enc.env" &&
    ! grep -q 'PROBE_A=one' "$WORK/out/probe.enc.env" &&
    "$KSEC_BIN" decrypt "$WORK/out/probe.enc.env" 2>>"$WORK/out/probe.err" |
      cmp -s - "$WORK/out/probe.env"
}
case $BENCH_ENCRYPT in
  ksec)
    probe_ksec || { cat "$WORK/out/probe.err" >&2; die "BENCH_ENCRYPT=ksec but '$KSEC_BIN encrypt' does not round-trip a dotenv file"; }
    ENCRYPTOR=ksec ;;
  sops) ENCRYPTOR=sops ;;
  auto)
    if probe_ksec; then ENCRYPTOR=ksec
    else note "  ksec encrypt unavailable or failed its probe; encrypting with sops"; ENCRYPTOR=sops; fi ;;
esac
if [[ $ENCRYPTOR == sops ]]; then
  select_sops
  note "  sops:    $SOPS_BIN ($("$SOPS_BIN" --version --disable-version-check 2>/dev/null | head -n1 || echo '?'))"
fi

T_ENC=$(now)
PAR=$(nproc)
note "encrypting $N_SECRET secret sources with $ENCRYPTOR (parallel $PAR)"
encrypt_one() {  # plaintext-in-K  ciphertext-in-P
  if [[ $ENCRYPTOR == ksec ]]; then
    "$KSEC_BIN" encrypt -r "$RECIPIENT" "$1" --output "$2" >/dev/null
  else
    "$SOPS_BIN" -e --age "$RECIPIENT" --input-type dotenv --output-type dotenv "$1" >"$2"
  fi
}
encrypt_batch() {  # ns/secret-N.env ...; prints progress after each batch
  local f
  for f; do
    encrypt_one "kustomize/$f" "project/namespaces/${f%.env}.enc.env" ||
      { printf 'render.sh: error: %s failed on kustomize/%s\n' "$ENCRYPTOR" "$f" >&2; return 1; }
  done
  printf '    %d/%d\n' "$(find project/namespaces -name '*.enc.env' -size +0 | wc -l)" "$N_SECRET" >&2
}
export -f encrypt_one encrypt_batch
export ENCRYPTOR KSEC_BIN SOPS_BIN RECIPIENT N_SECRET
BATCH=$(( (N_SECRET + 19) / 20 )); [[ $BATCH -ge 1 ]] || BATCH=1   # ~20 progress lines
# run from the workdir so no stray .sops.yaml above the repo influences sops
(cd "$WORK" && (cd kustomize && ls -d */secret-*.env) |
   xargs -P "$PAR" -n "$BATCH" bash -c 'encrypt_batch "$@"' _) || die "encryption failed"
n_enc=$(find "$P/namespaces" -name '*.enc.env' -size +0 | wc -l)
[[ $n_enc -eq $N_SECRET ]] || die "expected $N_SECRET encrypted sources, got $n_enc"
mv "$WORK/ksec.yaml" "$P/ksec.yaml"
note "  encrypted in $(since "$T_ENC") ($ENCRYPTOR); generation total $(since "$T_GEN")"

# ---------------------------------------------------------------- correctness
note "rendering once with each tool and comparing objects"
"$KUBECTL_BIN" kustomize "$K" >"$WORK/out/kustomize.yaml" 2>"$WORK/out/kustomize.err" ||
  { cat "$WORK/out/kustomize.err" >&2; die "kubectl kustomize $K failed"; }
n_kind=$(grep -c '^kind:' "$WORK/out/kustomize.yaml" || true)
[[ $n_kind -eq $N_OBJ ]] || die "kubectl kustomize printed $n_kind objects, expected $N_OBJ"
note "  kustomize: $n_kind objects"

if ! "$KSEC_BIN" render --project "$P" --env bench >"$WORK/out/ksec.yaml" 2>"$WORK/out/ksec.err"; then
  if grep -qiE "unrecognized subcommand|unknown (sub)?command|invalid subcommand" "$WORK/out/ksec.err"; then
    cat "$WORK/out/ksec.err" >&2
    die "$KSEC_BIN has no 'render' command yet; build a ksec that has it (or set KSEC_BIN)"
  fi
  cat "$WORK/out/ksec.err" >&2
  printf '\n*** FAIL: ksec render --project %s --env bench exited non-zero ***\n' "$P" >&2
  exit 2
fi

"$PY" - "$WORK/out/kustomize.yaml" "$WORK/out/ksec.yaml" "$N_CM" "$N_SECRET" <<'PY' || exit 2
import re, sys
k_path, s_path = sys.argv[1], sys.argv[2]
want = {"ConfigMap": int(sys.argv[3]), "Secret": int(sys.argv[4])}

def objects(path):
    """(kind, namespace, name) of every object; List items flattened."""
    text = open(path).read()
    try:
        import yaml
        Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        out = []
        def add(d):
            if not isinstance(d, dict):
                return
            if d.get("kind") == "List" or (str(d.get("kind", "")).endswith("List") and "items" in d):
                for it in d.get("items") or []:
                    add(it)
                return
            md = d.get("metadata") or {}
            out.append((d.get("kind"), md.get("namespace"), md.get("name")))
        for d in yaml.load_all(text, Loader=Loader):
            add(d)
        return out
    except ImportError:
        pass
    # No PyYAML: block-style documents as kustomize prints them.
    out = []
    for doc in re.split(r"(?m)^---\s*$", text):
        kind = re.search(r"(?m)^kind:\s*(\S+)", doc)
        md = re.search(r"(?ms)^metadata:\s*\n((?:[ \t]+.*\n?)*)", doc)
        if not kind:
            continue
        body = md.group(1) if md else ""
        name = re.search(r"(?m)^  name:\s*(\S+)", body)
        ns = re.search(r"(?m)^  namespace:\s*(\S+)", body)
        out.append((kind.group(1), ns and ns.group(1).strip("'\""), name and name.group(1).strip("'\"")))
    return out

try:
    kz, ks = objects(k_path), objects(s_path)
except Exception as e:  # ksec printed something that is not YAML
    print(f"\n*** FAIL: cannot parse render output: {e} ***", file=sys.stderr); sys.exit(1)

def count(objs, kind): return sum(1 for o in objs if o[0] == kind)
ok = True
for kind, n in want.items():
    a, b = count(kz, kind), count(ks, kind)
    print(f"    {kind}: kustomize {a}, ksec {b} (expected {n})", file=sys.stderr)
    if a != n:
        print(f"\n*** FAIL: kustomize printed {a} {kind} objects, expected {n} ***", file=sys.stderr); sys.exit(1)
    if b != a:
        print(f"\n*** FAIL: ksec render printed {b} {kind} objects, kustomize {a} ***", file=sys.stderr); ok = False
other = sorted({o[0] for o in ks} - set(want))
if other:
    print(f"    (ksec also printed: {', '.join(f'{k} x{count(ks, k)}' for k in other)}; not compared)", file=sys.stderr)

# A sample ConfigMap (and Secret) by base name: the hash-suffixed names must be
# identical — ksec promises kustomize's content-hash names.
ns0 = min(o[1] for o in kz if o[1])
def find(objs, kind, base):
    rx = re.compile(re.escape(base) + r"(-[a-z0-9]{10})?")
    hits = [o[2] for o in objs if o[0] == kind and o[1] == ns0 and o[2] and rx.fullmatch(o[2])]
    return hits[0] if hits else "<missing>"
for kind, base in (("ConfigMap", "cm-0"), ("Secret", "secret-0")):
    a, b = find(kz, kind, base), find(ks, kind, base)
    if a == b:
        print(f"    sample {kind} {ns0}/{base}: {a} in both", file=sys.stderr)
    else:
        print(f"\n*** FAIL: sample {kind} {ns0}/{base} is named differently ***\n"
              f"    kustomize: {a}\n    ksec:      {b}", file=sys.stderr)
        ok = False

# Every ConfigMap/Secret name (a Secret's hash covers its decrypted data).
ka = {o for o in kz if o[0] in want}
kb = {o for o in ks if o[0] in want}
if ka != kb:
    only_k, only_s = sorted(ka - kb, key=str), sorted(kb - ka, key=str)
    print(f"\n*** FAIL: {len(only_k)} kustomize objects have no same-named ksec object "
          f"({len(only_s)} the other way) ***", file=sys.stderr)
    for o in only_k[:5]: print(f"    only kustomize: {o[0]} {o[1]}/{o[2]}", file=sys.stderr)
    for o in only_s[:5]: print(f"    only ksec:      {o[0]} {o[1]}/{o[2]}", file=sys.stderr)
    ok = False
elif ok:
    print(f"    all {len(ka)} ConfigMap/Secret names identical (namespace, name with hash)", file=sys.stderr)
sys.exit(0 if ok else 1)
PY

# ---------------------------------------------------------------- benchmark
q() { printf '%q' "$1"; }
KSEC_Q=$(q "$KSEC_BIN"); KUBECTL_Q=$(q "$KUBECTL_BIN"); P_Q=$(q "$P"); K_Q=$(q "$K")

note "render: $NAMESPACES namespaces, $N_OBJ objects ($RUNS_RENDER runs)"
hyperfine --shell=bash --warmup 1 --runs "$RUNS_RENDER" --export-json "$WORK/render.json" \
  -n kustomize "$KUBECTL_Q kustomize $K_Q >/dev/null" \
  -n ksec "$KSEC_Q render --project $P_Q --env bench >/dev/null" >&2

if JSON_DIR=$(json_dir) && [[ -n $JSON_DIR ]]; then
  cp "$WORK/render.json" "$JSON_DIR/render.json"
  note "hyperfine JSON copied to $JSON_DIR; measuring peak memory"
  peak_rss render kustomize "$KUBECTL_Q kustomize $K_Q"
  peak_rss render ksec "$KSEC_Q render --project $P_Q --env bench"
fi

# ---------------------------------------------------------------- report
set +e
"$PY" - "$WORK" "$NAMESPACES" "$N_OBJ" "$TARGET_RENDER" <<'PY'
import json, sys
work, n_ns, n_obj, target = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
res = {r["command"]: r for r in json.load(open(f"{work}/render.json"))["results"]}
k, s = res["kustomize"], res["ksec"]
def ms(r):  # seconds once it is over a second: kustomize takes several here
    if r["mean"] >= 1:
        return f"{r['mean']:.2f} ± {r['stddev']:.2f} s"
    return f"{r['mean'] * 1e3:.2f} ± {r['stddev'] * 1e3:.2f} ms"
ratio = k["mean"] / s["mean"]
ok = ratio >= target
rows = [(f"render: {n_ns} ns, {n_obj} objects", ms(k), ms(s), f"{ratio:.1f}x", f">= {target:g}x",
         "PASS" if ok else "MISS")]
hdr = ("workload", "kustomize mean", "ksec mean", "kustomize/ksec", "target", "result")
w = [max(len(r[i]) for r in rows + [hdr]) for i in range(len(hdr))]
line = lambda r: "  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip()
print()
print(line(hdr)); print(line(["-" * x for x in w]))
for r in rows: print(line(r))
print()
print("(kustomize: kubectl kustomize over plaintext copies; ksec: render incl. decrypting every secret source)")
sys.exit(3 if not ok else 0)
PY
rc=$?
set -e
report_status "$rc" "target missed"
