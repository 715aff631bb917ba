#!/usr/bin/env bash
# Run CMD [ARGS...] inside a private D-Bus session with gnome-keyring's Secret
# Service running and its default ("login") collection unlocked, so Secret Service
# clients (e.g. the keyring crate) work headless without prompts. HOME and XDG dirs
# point into a throwaway temp dir, so real keyrings are never touched.
# Usage: scripts/with-secret-service.sh CMD [ARGS...]   -- exits with CMD's status.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"

# rustup/cargo locate themselves via HOME unless told otherwise; pin them first.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ksec-secret-service.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp/home" XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config" \
  XDG_CACHE_HOME="$tmp/cache" XDG_RUNTIME_DIR="$tmp/run"
mkdir -m 700 "$HOME" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
unset DBUS_SESSION_BUS_ADDRESS GNOME_KEYRING_CONTROL SSH_AUTH_SOCK

rc=0
# shellcheck disable=SC2016 # the inner script is expanded by the inner bash
dbus-run-session -- bash -c '
  set -u
  # --unlock reads the password from stdin and creates/unlocks the "login"
  # collection, which becomes the default alias. --foreground keeps it our child.
  printf %s ksec-test | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
  gkd=$!
  call() { dbus-send --session --print-reply --dest="$1" "$2" "$3" "${@:4}" 2>/dev/null; }
  ready=
  for _ in $(seq 100); do
    if call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner \
      string:org.freedesktop.secrets | grep -q "boolean true"; then ready=1; break; fi
    kill -0 "$gkd" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ready" ] || ! call org.freedesktop.secrets /org/freedesktop/secrets/aliases/default \
    org.freedesktop.DBus.Properties.Get string:org.freedesktop.Secret.Collection string:Locked |
    grep -q "boolean false"; then
    echo "with-secret-service: gnome-keyring did not come up with an unlocked default collection" >&2
    kill "$gkd" 2>/dev/null; exit 1
  fi
  rc=0; "$@" || rc=$?
  kill "$gkd" 2>/dev/null; wait "$gkd" 2>/dev/null
  exit "$rc"
' with-secret-service "$@" || rc=$?
exit "$rc"
