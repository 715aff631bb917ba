#!/usr/bin/env bash
# Build kube-apiserver and kube-controller-manager 1.20.2 from Debian's
# `kubernetes` source package (with its vendor/ tree; no internet needed beyond
# apt), once per machine. The binaries are cached in
# ${KSEC_KUBE_CACHE:-$HOME/.cache/ksec}/kube-{apiserver,controller-manager}-1.20.2-reflect2;
# later runs only check that they run, and build only the one that is missing.
# Also installs what scripts/kube-up.sh needs at run time (etcd-server, curl,
# openssl), cached binaries or not.
# Progress goes to stderr (one line per step; the full log on failure); the
# binaries' paths are printed last on stdout, one a line (apiserver first). Run
# as root (apt). First build of both: 12-20 minutes on 2 cores (~1.5 GB RAM,
# ~2.5 GB in TMPDIR); one of them: 7-11 minutes; cached runs: < 1 second.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"

KUBE_VERSION=$KSEC_KUBE_VERSION
# name -> cached path; the build makes those that do not run.
declare -A bins=(
  [kube-apiserver]=$KSEC_KUBE_APISERVER_BIN
  [kube-controller-manager]=$KSEC_KUBE_CONTROLLER_MANAGER_BIN
)
names=(kube-apiserver kube-controller-manager)
cache=$(dirname "$KSEC_KUBE_APISERVER_BIN")
missing=()
for name in "${names[@]}"; do
  b=${bins[$name]}
  if ! { [ -x "$b" ] && "$b" --version >/dev/null 2>&1; }; then missing+=("$name"); fi
done
print_bins() { for name in "${names[@]}"; do echo "${bins[$name]}"; done; }
export DEBIAN_FRONTEND=noninteractive

log=$(mktemp)
work=
cleanup() { rm -f "$log"; if [ -n "$work" ]; then rm -rf "$work"; fi; }
trap cleanup EXIT
step() {
  local what=$1; shift
  echo "kube-build: $what" >&2
  "$@" >>"$log" 2>&1 || { cat "$log" >&2; echo "kube-build: FAILED: $*" >&2; exit 1; }
}

# Run-time needs of scripts/kube-up.sh.
need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)

if [ ${#missing[@]} -eq 0 ]; then
  if [ ${#need[@]} -gt 0 ]; then
    step "apt-get update" apt-get update -q
    step "apt-get install ${need[*]}" apt-get install -y -q --no-install-recommends "${need[@]}"
  fi
  print_bins
  exit 0
fi

# Source packages: enable deb-src on the already configured entries, only if needed.
if ! apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes'; then
  if [ -f /etc/apt/sources.list.d/debian.sources ] \
    && ! grep -q '^Types:.*deb-src' /etc/apt/sources.list.d/debian.sources; then
    step "enable deb-src in /etc/apt/sources.list.d/debian.sources" \
      sed -i 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources
  fi
  step "apt-get update" apt-get update -q
fi

[ -x /usr/lib/go/bin/go ] || need+=(golang-go)
command -v rsync >/dev/null || need+=(rsync)
command -v make >/dev/null || need+=(make)
reflect2=/usr/share/gocode/src/github.com/modern-go/reflect2
[ -d "$reflect2" ] || need+=(golang-github-modern-go-reflect2-dev)
if [ ${#need[@]} -gt 0 ]; then
  step "apt-get install ${need[*]}" apt-get install -y -q --no-install-recommends "${need[@]}"
fi
# Use Debian's Go (1.19): kubernetes 1.20 is not meant for much newer toolchains.
export PATH=/usr/lib/go/bin:$PATH

work=$(mktemp -d "${TMPDIR:-/tmp}/ksec-kube-build.XXXXXX")
cd "$work"
step "apt-get source --download-only kubernetes" apt-get source -q --download-only kubernetes
origs=(kubernetes_*.orig.tar.*)
orig=${origs[0]}
if [ ! -f "$orig" ]; then
  ls -la >>"$log"; cat "$log" >&2; echo "kube-build: FAILED: no kubernetes_*.orig.tar.* downloaded" >&2; exit 1
fi
# Debian (bookworm) ships it as 1.20.5+really1.20.2: the 1.20.2 source.
case "$orig" in
  kubernetes_"$KUBE_VERSION".orig.* | kubernetes_*really"$KUBE_VERSION".orig.*) ;;
  *) echo "kube-build: WARNING: apt gave $orig, expected version $KUBE_VERSION" >&2 ;;
esac
mkdir src
step "unpack $orig" tar -xf "$orig" -C src --strip-components=1
cd src
# The vendored github.com/modern-go/reflect2 1.0.1 predates Go 1.18: built with
# Debian's Go 1.19, the server crashes (SIGSEGV in map iteration) the first
# time it serves a custom resource. Debian's reflect2 1.0.2 fixes it.
grep -q 'modern-go/reflect2 v1.0.1' vendor/modules.txt \
  || { echo "kube-build: FAILED: vendor/ does not hold reflect2 1.0.1 as expected" >&2; exit 1; }
step "replace vendored reflect2 1.0.1 with Debian's 1.0.2" \
  rsync -a --delete --exclude '*_test.go' "$reflect2/" vendor/github.com/modern-go/reflect2/
mkdir -p .go/src/k8s.io
ln -s ../../.. .go/src/k8s.io/kubernetes
# The orig tarball is a `git archive` with the version stamp filled in
# (hack/lib/version.sh), so the binaries report v1.20.2 without a .git.
# The Go build cache goes to _output/ (hack/lib/golang.sh): removed with $work.
what=()
for name in "${missing[@]}"; do what+=("cmd/$name"); done
step "make WHAT='${what[*]}' (7-10 minutes each on 2 cores)" \
  env GOPATH="$PWD/.go" CGO_ENABLED=0 GOFLAGS= GO111MODULE= make WHAT="${what[*]}"
mkdir -p "$cache"
for name in "${missing[@]}"; do
  built=_output/local/bin/$(/usr/lib/go/bin/go env GOOS)/$(/usr/lib/go/bin/go env GOARCH)/$name
  [ -x "$built" ] || built=$(find _output -type f -name "$name" -perm -u+x | head -n1)
  if [ -z "$built" ] || ! "$built" --version >>"$log" 2>&1; then
    cat "$log" >&2; echo "kube-build: FAILED: no working $name under _output" >&2; exit 1
  fi
  bin=${bins[$name]}
  tmp=$(mktemp "$cache/.$name.XXXXXX")
  cp "$built" "$tmp"
  chmod 0755 "$tmp"
  mv -f "$tmp" "$bin"
  echo "kube-build: cached $name $("$bin" --version) in $bin" >&2
done
cd /
echo "kube-build: remove the build tree" >&2
rm -rf "$work"
work=
print_bins
