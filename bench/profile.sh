#!/usr/bin/env bash
# bench/profile.sh — instruction counts and page faults of ksec's start-up and
# of `ksec decrypt FILE`, numbers that stay put on a busy machine (unlike
# wall-clock times): use them to decide whether a change to start-up or to
# the decrypt path helps.
#
#   bench/profile.sh KSEC_BIN [ENCRYPTED_FILE...]
#
# For `KSEC_BIN --version` and `KSEC_BIN decrypt FILE` for each FILE (the
# identity comes from the usual variables, e.g. SOPS_AGE_KEY_FILE), prints the
# instructions callgrind counts (`valgrind --tool=callgrind`, one run) and the
# page faults `perf stat` counts (mean of 5 runs), and the same for
# `/bin/true` as the floor of any process. The callgrind files are kept in a
# directory it prints, for `callgrind_annotate` (a stripped binary shows only
# the loader and libc by name; build with CARGO_PROFILE_RELEASE_STRIP=false
# for ksec's own functions).
#
# Exit codes: 0 ok, 1 a tool is missing or a command failed.
set -euo pipefail

die() { printf 'profile.sh: error: %s\n' "$*" >&2; exit 1; }
[[ $# -ge 1 ]] || die "usage: bench/profile.sh KSEC_BIN [ENCRYPTED_FILE...]"
for t in valgrind perf; do
  command -v "$t" >/dev/null || die "'$t' not found (Debian: apt-get install -y valgrind linux-perf)"
done
ksec=$1; shift
[[ -x $ksec ]] || die "$ksec is not executable"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/ksec-profile.XXXXXX")

n=0
measure() {  # LABEL COMMAND...
  local label=$1 ir faults; shift
  n=$((n + 1))
  valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.$n" "$@" >/dev/null 2>"$OUT/valgrind.$n" ||
    die "$label failed under valgrind (see $OUT/valgrind.$n)"
  ir=$(grep -m1 -o 'Collected : [0-9]*' "$OUT/valgrind.$n" | awk '{ print $3 }')
  faults=$(perf stat -x, -e page-faults -r 5 "$@" 2>&1 >/dev/null | awk -F, '/page-faults/ { print $1 }')
  printf '%-40s %14s %12s   callgrind.%s\n' "$label" "$ir" "$faults" "$n"
}

printf '%-40s %14s %12s\n' command instructions page-faults
measure "/bin/true" /bin/true
measure "ksec --version" "$ksec" --version
for f in "$@"; do
  measure "ksec decrypt $(basename "$f")" "$ksec" decrypt "$f"
done
printf '(binary: %s bytes; callgrind files in %s)\n' "$(stat -c %s "$ksec")" "$OUT"
