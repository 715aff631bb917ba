#!/usr/bin/env bash
# Stop the cluster that scripts/kube-up.sh DIR started: kube-controller-manager,
# kube-apiserver, then etcd
# (SIGTERM, SIGKILL after 5 s), by the pids in DIR/*.pid. Removes only the pid
# files; the logs, etcd data and kubeconfig stay in DIR (delete DIR yourself).
# Safe to run twice, or on a DIR whose processes are already gone.
set -euo pipefail

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$1
[ -d "$dir" ] || { echo "kube-down: no such directory: $dir" >&2; exit 1; }

# Only signal a pid that still runs the program we started (pids get reused).
is_ours() { # pid name
  local exe
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  case "${exe##*/}" in "$2"*) return 0 ;; *) return 1 ;; esac
}

status=0
for name in kube-controller-manager kube-apiserver etcd; do
  f=$dir/$name.pid
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if is_ours "$pid" "$name"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do is_ours "$pid" "$name" || break; sleep 0.1; done
    if is_ours "$pid" "$name"; then
      echo "kube-down: $name (pid $pid) ignored SIGTERM for 5s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do is_ours "$pid" "$name" || break; sleep 0.1; done
      if is_ours "$pid" "$name"; then
        echo "kube-down: $name (pid $pid) still running" >&2
        status=1
        continue
      fi
    fi
  fi
  rm -f "$f"
done
exit $status
