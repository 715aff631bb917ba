#!/usr/bin/env bash
# Start a throwaway Kubernetes API server (etcd + kube-apiserver 1.20.2 with RBAC,
# and kube-controller-manager running only the clusterrole-aggregation controller,
# which fills the rules of aggregated ClusterRoles such as admin/edit/view; no
# scheduler, other controllers or kubelet) on loopback, with everything in DIR:
#   DIR/etcd/            etcd data            DIR/etcd.{pid,log}
#   DIR/pki/             apiserver self-signed serving cert (apiserver.crt/.key)
#   DIR/sa.{key,pub}     service-account signing key pair
#   DIR/tokens.csv       static bearer tokens (random per cluster)
#   DIR/kube-apiserver.{pid,log}
#   DIR/kube-controller-manager.{pid,log}  (no serving port; talks to the
#                        apiserver with the admin context of DIR/kubeconfig)
#   DIR/kubeconfig       contexts admin (system:masters), alice (team-a),
#                        bob (team-b), nobody (no groups); current context admin
# Prints `export KUBECONFIG=DIR/kubeconfig` on stdout when /readyz is ok; progress
# goes to stderr; ready means the aggregation controller has filled the rules of
# the default ClusterRole `view`. Stop with scripts/kube-down.sh DIR. Needs the
# binaries from scripts/kube-build.sh (or KSEC_KUBE_APISERVER=/path/to/kube-apiserver,
# KSEC_KUBE_CONTROLLER_MANAGER=/path/to/kube-controller-manager) and etcd.
# KSEC_KUBE_CPUS=LIST (taskset's cpu list, e.g. 1) keeps etcd and the apiserver on
# those cores, as a cluster of its own machines (bench/multi.sh).
# On failure: prints the last 40 lines of each log, stops what it started, exits 1.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"

usage() { echo "usage: $0 DIR" >&2; exit 2; }
[ $# -eq 1 ] && [ -n "$1" ] || usage
die() { echo "kube-up: ERROR: $*" >&2; exit 1; }

apiserver=${KSEC_KUBE_APISERVER:-$KSEC_KUBE_APISERVER_BIN}
controller_manager=${KSEC_KUBE_CONTROLLER_MANAGER:-$KSEC_KUBE_CONTROLLER_MANAGER_BIN}
READY_TIMEOUT=${KSEC_KUBE_READY_TIMEOUT:-60}
[ -x "$apiserver" ] || die "no kube-apiserver at $apiserver: run scripts/kube-build.sh first"
[ -x "$controller_manager" ] \
  || die "no kube-controller-manager at $controller_manager: run scripts/kube-build.sh first"
command -v etcd >/dev/null || die "etcd not found: run scripts/kube-build.sh (installs etcd-server)"
for c in openssl python3 curl; do command -v "$c" >/dev/null || die "$c not found"; done
pin=()
if [ -n "${KSEC_KUBE_CPUS:-}" ]; then
  command -v taskset >/dev/null || die "KSEC_KUBE_CPUS is set but taskset is not found"
  taskset -c "$KSEC_KUBE_CPUS" true 2>/dev/null || die "KSEC_KUBE_CPUS=$KSEC_KUBE_CPUS: not a cpu list of this machine"
  pin=(taskset -c "$KSEC_KUBE_CPUS")
fi

umask 077
mkdir -p "$1"
dir=$(cd "$1" && pwd)
for p in etcd kube-apiserver kube-controller-manager; do
  if [ -f "$dir/$p.pid" ] && kill -0 "$(cat "$dir/$p.pid")" 2>/dev/null; then
    die "$p already running in $dir (pid $(cat "$dir/$p.pid")): scripts/kube-down.sh $dir first"
  fi
done
[ ! -e "$dir/etcd" ] || die "$dir/etcd exists (a previous cluster's data): use a fresh DIR"

pids=()
ok=0
on_exit() {
  if [ "$ok" = 1 ]; then return; fi
  for log in "$dir/etcd.log" "$dir/kube-apiserver.log" "$dir/kube-controller-manager.log"; do
    if [ -s "$log" ]; then
      echo "---- last 40 lines of $log" >&2
      tail -n 40 "$log" >&2
    fi
  done
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    alive=0
    for pid in "${pids[@]}"; do if kill -0 "$pid" 2>/dev/null; then alive=1; fi; done
    [ "$alive" = 1 ] || break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -f "$dir/etcd.pid" "$dir/kube-apiserver.pid" "$dir/kube-controller-manager.pid"
  echo "kube-up: FAILED (stopped what it started)" >&2
}
trap on_exit EXIT
trap 'exit 1' INT TERM HUP

# Three distinct free loopback ports (held open together so they differ).
read -r etcd_client etcd_peer api_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])
for x in s: x.close()')

# Credentials: random static tokens, an RSA key pair for service-account tokens.
tok() { openssl rand -hex 24; }
admin_tok=$(tok) alice_tok=$(tok) bob_tok=$(tok) nobody_tok=$(tok)
cat >"$dir/tokens.csv" <<EOF
$admin_tok,admin,uid-admin,"system:masters"
$alice_tok,alice,uid-alice,"team-a"
$bob_tok,bob,uid-bob,"team-b"
$nobody_tok,nobody,uid-nobody
EOF
openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null || die "openssl genrsa failed"
openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null || die "openssl rsa -pubout failed"
mkdir -p "$dir/pki"

start=$(date +%s.%N)
"${pin[@]}" etcd --name ksec --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_client" \
  --advertise-client-urls "http://127.0.0.1:$etcd_client" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
  --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
  --initial-cluster "ksec=http://127.0.0.1:$etcd_peer" \
  --initial-cluster-state new \
  </dev/null >"$dir/etcd.log" 2>&1 &
pids+=($!)
echo $! >"$dir/etcd.pid"

# etcd first: the apiserver gives up if its storage is not reachable soon enough.
deadline=$(( $(date +%s) + READY_TIMEOUT ))
until curl -fsS "http://127.0.0.1:$etcd_client/health" 2>/dev/null | grep -q '"health":"true"'; do
  kill -0 "${pids[0]}" 2>/dev/null || die "etcd exited"
  [ "$(date +%s)" -lt "$deadline" ] || die "etcd not healthy after ${READY_TIMEOUT}s"
  sleep 0.2
done

"${pin[@]}" "$apiserver" \
  --etcd-servers "http://127.0.0.1:$etcd_client" \
  --bind-address 127.0.0.1 \
  --advertise-address 127.0.0.1 \
  --secure-port "$api_port" \
  --endpoint-reconciler-type none \
  --cert-dir "$dir/pki" \
  --authorization-mode RBAC \
  --token-auth-file "$dir/tokens.csv" \
  --service-account-key-file "$dir/sa.pub" \
  --service-account-signing-key-file "$dir/sa.key" \
  --service-account-issuer https://kubernetes.default.svc \
  --service-cluster-ip-range 10.0.0.0/24 \
  </dev/null >"$dir/kube-apiserver.log" 2>&1 &
pids+=($!)
echo $! >"$dir/kube-apiserver.pid"

url=https://127.0.0.1:$api_port
until [ "$(curl -ksS --max-time 2 "$url/readyz" 2>/dev/null)" = ok ]; do
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || die "process $pid exited"; done
  [ "$(date +%s)" -lt "$deadline" ] || die "$url/readyz not ok after ${READY_TIMEOUT}s"
  sleep 0.25
done

# The apiserver wrote its self-signed serving cert (and the CA that signed it) here.
ca=$dir/pki/apiserver.crt
[ -s "$ca" ] || die "no serving certificate at $ca"
# Trust it for real: /readyz must verify against it (no -k).
curl -fsS --cacert "$ca" "$url/readyz" >/dev/null || die "$url does not verify against $ca"

{
  cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ksec-test
  cluster:
    server: $url
    certificate-authority: $ca
users:
- name: admin
  user:
    token: $admin_tok
- name: alice
  user:
    token: $alice_tok
- name: bob
  user:
    token: $bob_tok
- name: nobody
  user:
    token: $nobody_tok
contexts:
EOF
  for u in admin alice bob nobody; do
    printf -- '- name: %s\n  context:\n    cluster: ksec-test\n    user: %s\n    namespace: default\n' "$u" "$u"
  done
  echo "current-context: admin"
} >"$dir/kubeconfig"

# Only the clusterrole-aggregation controller: without it, aggregated
# ClusterRoles (admin, edit, view and the project's own) keep empty rules.
# No serving port (secure or not), no leader election.
"${pin[@]}" "$controller_manager" \
  --kubeconfig "$dir/kubeconfig" \
  --controllers=clusterrole-aggregation \
  --leader-elect=false \
  --port=0 \
  --secure-port=0 \
  </dev/null >"$dir/kube-controller-manager.log" 2>&1 &
pids+=($!)
echo $! >"$dir/kube-controller-manager.pid"

# Ready once the controller has aggregated the default `view` role.
view=$url/apis/rbac.authorization.k8s.io/v1/clusterroles/view
until curl -fsS --cacert "$ca" -H "Authorization: Bearer $admin_tok" "$view" 2>/dev/null \
  | python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin).get("rules") else 1)' 2>/dev/null; do
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || die "process $pid exited"; done
  [ "$(date +%s)" -lt "$deadline" ] || die "ClusterRole view still has no rules after ${READY_TIMEOUT}s (kube-controller-manager)"
  sleep 0.25
done
ready=$(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" \
  "$start" "$(date +%s.%N)")

ok=1
echo "kube-up: ready in ${ready}s: $url (etcd 127.0.0.1:$etcd_client), pids $(cat "$dir/etcd.pid") $(cat "$dir/kube-apiserver.pid") $(cat "$dir/kube-controller-manager.pid"), logs in $dir" >&2
echo "export KUBECONFIG=$dir/kubeconfig"
