#!/usr/bin/env bash
# bench/history.sh — what do the history reports cost? Times `ksec access
# --exposed` and `ksec check --rotation` on git repositories whose encrypted
# sources have a long history, next to git alone reading the same versions.
#
# Workload (generated fresh into a temp dir by ksec itself; not timed): for
# each size N in COMMITS, one git repository holding a ksec project with one
# namespace `app` (rotateAfter: 90d) and FILES Secrets, each with one YAML
# source of KEYS values, encrypted to alice (`ksec encrypt --in-place`). The
# first commit adds them; each of the N-1 commits after it is one of:
#   - at commit N/4: `ksec recipients add BOB --name bob -n app` (bob can read)
#   - at commit 3N/4: `ksec recipients remove bob` (new data keys; no value changes)
#   - else: `ksec set FILE KEY VALUE` of a "hot" key (the first HOT keys of each
#     file, round robin over files, then keys), so the other keys never change
#     and the hot ones set after the removal are rotated.
# The commit dates are fixed (2025-01-01 onwards, 360 days spread evenly over
# the N commits) and so are the values (`val-STEP-FILE-KEY`): every run
# builds the same history (only the age and AES-GCM randomness differ). The
# repository is packed (`git gc`) before timing.
# Checked before timing (exit 2): `access --exposed -o json` lists exactly the
# values last set before bob's removal, each exposed to bob; `check --rotation
# -o json` (KSEC_NOW: a day after the last commit) finds exactly the values
# last set more than 90 days before then overdue, and exits 11.
# Timed (hyperfine, in the repository, KSEC_NOW fixed):
#   ksec access --exposed -o json > /dev/null
#   ksec check --rotation -o json > /dev/null     (its exit 11 is expected)
#   git log + cat-file: the git reading ksec does: `git log --raw` over
#       ksec.yaml and the sources, every blob of it through `git cat-file --batch`
#   git log -p: git printing the diff of every version, for scale
# Peak memory (with BENCH_JSON_DIR): one `ksec access --exposed` per size.
#
# Environment knobs (all optional):
#   KSEC_BIN        ksec binary (default: ${CARGO_TARGET_DIR:-target}/release/ksec;
#                   built with `cargo build --release` if missing or older than src/)
#   COMMITS         history lengths to measure      (default "200 1000")
#   FILES           encrypted sources               (default 10)
#   KEYS            values per source               (default 10)
#   HOT             keys per source that change     (default 5)
#   RUNS            hyperfine runs per command/size (default 5, plus 1 warm-up)
#   BENCH_JSON_DIR  if set, hyperfine's JSON exports are copied there
#                   (history-N.json), and the peak memory of `ksec access
#                   --exposed` is appended to peak-rss.tsv (used by bench/all.sh)
#
# Exit codes: 0 ok, 1 setup error, 2 a report was wrong or a command failed.
set -euo pipefail

INVOKE_DIR=$PWD
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_NAME=history.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh

COMMITS=${COMMITS:-"200 1000"}
FILES=${FILES:-10}
KEYS=${KEYS:-10}
HOT=${HOT:-5}
RUNS=${RUNS:-5}
positive_ints FILES KEYS HOT RUNS
[[ $HOT -le $KEYS ]] || die "HOT=$HOT must be at most KEYS=$KEYS"
for n in $COMMITS; do
  [[ $n =~ ^[0-9]+$ && $n -ge 8 ]] || die "COMMITS: '$n' must be a whole number of at least 8"
done
for t in hyperfine python3 git; do
  command -v "$t" >/dev/null || die "'$t' not found on PATH (Debian: apt-get install -y hyperfine python3 git)"
done
PY=$(command -v python3)
select_ksec "access --exposed" "recipients add"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ksec-bench-history.XXXXXX")
remove_work_on_exit
mkdir -p "$WORK/keys" "$WORK/out"
JSON_DIR=$(json_dir)

# Keys come only from the files named below; git only from this script's settings.
unset KSEC_AGE_KEY SOPS_AGE_KEY SOPS_AGE_KEY_FILE || true
export XDG_CONFIG_HOME=$WORK/xdg GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid

note "ksec:      $KSEC_BIN"
note "git:       $(git --version)"
note "hyperfine: $(hyperfine --version)"
note "machine:   $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
note "workdir:   $WORK"

for who in alice bob; do
  "$KSEC_BIN" keygen --out "$WORK/keys/$who.txt" >"$WORK/keys/$who.pub" 2>/dev/null ||
    die "ksec keygen --out $WORK/keys/$who.txt failed"
done
ALICE=$(<"$WORK/keys/alice.pub"); BOB=$(<"$WORK/keys/bob.pub")
[[ $ALICE == age1* && $BOB == age1* ]] || die "ksec keygen did not print age1… recipients"
export KSEC_AGE_KEY_FILE=$WORK/keys/alice.txt

START=1735689600            # 2025-01-01T00:00:00Z
SPAN=$((360 * 86400))       # the history's length, whatever N
DAY=86400

# Build the repository of N commits in DIR; print "EXPOSED OVERDUE NOW" (the
# expected counts and the KSEC_NOW to check them at).
generate() {  # DIR N
  local dir=$1 n=$2 f k step date add=$(($2 / 4)) remove=$(($2 * 3 / 4)) set_i=0
  local -A last  # "f k" -> the date its current value was set
  mkdir -p "$dir"
  "$KSEC_BIN" init "$dir" --name bench --recipient "alice=$ALICE" >/dev/null 2>"$WORK/out/init.err" ||
    { cat "$WORK/out/init.err" >&2; die "ksec init failed"; }
  "$PY" - "$dir" "$ALICE" "$FILES" "$KEYS" <<'PY'
import os, sys
d, alice, files, keys = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
y = ["version: 1", "project: bench", "recipients:", f"  alice: {alice}", "namespaces:",
     "  app:", "    recipients: [alice]", "    rotateAfter: 90d", "    secrets:"]
os.makedirs(os.path.join(d, "namespaces", "app"), exist_ok=True)
for f in range(files):
    y += [f"      - name: s-{f:02d}", f"        sources: [secret-{f:02d}.enc.yaml]"]
    with open(os.path.join(d, "namespaces", "app", f"secret-{f:02d}.enc.yaml"), "w") as out:
        out.write("".join(f"key_{k:02d}: val-0-{f}-{k}\n" for k in range(keys)))
open(os.path.join(d, "ksec.yaml"), "w").write("\n".join(y) + "\n")
PY
  (
    cd "$dir"
    "$KSEC_BIN" init --refresh >/dev/null 2>"$WORK/out/refresh.err" ||
      { cat "$WORK/out/refresh.err" >&2; exit 1; }
    find namespaces -name '*.enc.yaml' -print0 | sort -z |
      xargs -0 -P "$(nproc)" -n 1 "$KSEC_BIN" encrypt --in-place >/dev/null || exit 1
    git init -q -b main . && git add -A &&
      GIT_AUTHOR_DATE="@$START +0000" GIT_COMMITTER_DATE="@$START +0000" git commit -q -m "step 0"
  ) || die "could not create the project in $dir"
  for ((f = 0; f < FILES; f++)); do
    for ((k = 0; k < KEYS; k++)); do last["$f $k"]=$START; done
  done
  for ((step = 1; step < n; step++)); do
    date=$((START + step * SPAN / (n - 1)))
    if ((step == add)); then
      (cd "$dir" && "$KSEC_BIN" recipients add "$BOB" --name bob -n app) >/dev/null 2>"$WORK/out/step.err"
    elif ((step == remove)); then
      (cd "$dir" && "$KSEC_BIN" recipients remove bob) >/dev/null 2>"$WORK/out/step.err"
    else
      f=$((set_i % FILES)); k=$((set_i / FILES % HOT)); set_i=$((set_i + 1))
      last["$f $k"]=$date
      (cd "$dir" && "$KSEC_BIN" set "namespaces/app/secret-$(printf %02d "$f").enc.yaml" \
        "key_$(printf %02d "$k")" "val-$step-$f-$k") >/dev/null 2>"$WORK/out/step.err"
    fi || { cat "$WORK/out/step.err" >&2; die "step $step of $dir failed"; }
    (cd "$dir" && GIT_AUTHOR_DATE="@$date +0000" GIT_COMMITTER_DATE="@$date +0000" \
      git commit -q -a -m "step $step") || die "git commit of step $step in $dir failed"
  done
  # packed, as a repository that has lived a while is (loose objects cost git
  # about twice as long to read)
  git -C "$dir" gc -q || die "git gc in $dir failed"
  local now=$((START + SPAN + DAY)) exposed=0 overdue=0 rdate=$((START + remove * SPAN / (n - 1)))
  for f in "${!last[@]}"; do
    ((last[$f] < rdate)) && exposed=$((exposed + 1))
    ((last[$f] < now - 90 * DAY)) && overdue=$((overdue + 1))
  done
  echo "$exposed $overdue $(date -u -d "@$now" +%Y-%m-%dT%H:%M:%SZ)"
}

q() { printf '%q' "$1"; }
KSEC_Q=$(q "$KSEC_BIN")
SUMMARY=()
for n in $COMMITS; do
  dir=$WORK/repo-$n
  t=$(now)
  note "generating $n commits over $FILES files x $KEYS values (bob added at $((n / 4)), removed at $((n * 3 / 4)))"
  read -r want_exposed want_overdue KSEC_NOW < <(generate "$dir" "$n")
  [[ -n ${KSEC_NOW:-} ]] || die "generating $dir failed"
  export KSEC_NOW
  got=$(git -C "$dir" rev-list --count HEAD)
  [[ $got -eq $n ]] || die "$dir has $got commits, expected $n"
  note "  generated in $(since "$t") ($(du -sh "$dir/.git" | cut -f1) of git objects)"

  # ---- correctness, before timing
  (cd "$dir" && "$KSEC_BIN" access --exposed -o json >"$WORK/out/access.json" 2>"$WORK/out/access.err") ||
    { cat "$WORK/out/access.err" >&2; fail "ksec access --exposed failed in $dir"; }
  rc=0
  (cd "$dir" && "$KSEC_BIN" check --rotation -o json >"$WORK/out/rotation.json" 2>"$WORK/out/rotation.err") || rc=$?
  [[ $rc -eq 11 ]] || { cat "$WORK/out/rotation.err" >&2; fail "ksec check --rotation exited $rc in $dir, expected 11"; }
  "$PY" - "$WORK/out/access.json" "$WORK/out/rotation.json" "$want_exposed" "$want_overdue" "$BOB" <<'PY' ||
import json, sys
access, rotation = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
want_exposed, want_overdue, bob = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def values(doc):
    if isinstance(doc, dict):
        for v in doc.values():
            if isinstance(v, list):
                return v
    return doc
exposed = values(access)
bad = [e for e in exposed if [(r.get("name"), r.get("key")) for r in e["recipients"]] != [("bob", bob)]]
overdue = [v for v in values(rotation) if v.get("state") == "overdue"]
ok = len(exposed) == want_exposed and not bad and len(overdue) == want_overdue
print(f"  access --exposed: {len(exposed)} values exposed (expected {want_exposed}), each to bob only: "
      f"{'yes' if not bad else 'no'}; check --rotation: {len(overdue)} overdue (expected {want_overdue})",
      file=sys.stderr)
sys.exit(0 if ok else 1)
PY
    fail "the reports in $dir are not the expected ones"

  # ---- timing
  dq=$(q "$dir")
  files="ksec.yaml $(cd "$dir" && echo namespaces/app/*.enc.yaml)"
  # the new blob id of each --raw line (field 4), as ksec reads them
  git_read="cd $dq && git log --format= --raw --no-abbrev --no-renames --diff-merges=first-parent -- $files | awk '{print \$4}' | grep -v '^0*\$' | git cat-file --batch > /dev/null"
  bash -c "$git_read" || fail "git log + cat-file failed in $dir"
  hf=$WORK/out/history-$n.json
  hyperfine --warmup 1 --runs "$RUNS" --export-json "$hf" \
    -n "ksec access --exposed" "cd $dq && $KSEC_Q access --exposed -o json > /dev/null" \
    -n "ksec check --rotation" "cd $dq && { $KSEC_Q check --rotation -o json > /dev/null; [ \$? -eq 11 ]; }" \
    -n "git log + cat-file" "$git_read" \
    -n "git log -p" "cd $dq && git log -p --no-renames -- $files > /dev/null" >&2 ||
    fail "hyperfine failed for $n commits"
  [[ -z $JSON_DIR ]] || cp "$hf" "$JSON_DIR/history-$n.json"
  peak_rss "history-$n" ksec "cd $dq && $KSEC_Q access --exposed -o json"
  SUMMARY+=("$(
    "$PY" - "$hf" "$n" "$((FILES * KEYS))" <<'PY'
import json, statistics, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
n, values = int(sys.argv[2]), int(sys.argv[3])
def t(s): return f"{s:.2f} s" if s >= 1 else f"{s * 1e3:.0f} ms" if s >= 0.01 else f"{s * 1e3:.1f} ms"
m = {k: statistics.median(r["times"]) for k, r in res.items()}
print(f"{n:>7}  {values:>6}  {t(m['ksec access --exposed']):>12}  {t(m['ksec check --rotation']):>12}  "
      f"{t(m['git log + cat-file']):>12}  {t(m['git log -p']):>12}")
PY
  )")
done

printf '%7s  %6s  %12s  %12s  %12s  %12s\n' commits values "access -e" "check --rot" "git read" "git log -p"
printf '%s\n' "${SUMMARY[@]}"
note "medians of $RUNS runs; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
