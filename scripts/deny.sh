#!/usr/bin/env bash
# `cargo deny check` against deny.toml: licenses, bans and sources always;
# advisories against the RustSec advisory database, a git repository that
# cargo-deny fetches from a code host some machines cannot reach. When the
# fetch fails, advisories are checked against the copy fetched last time, if
# there is one (its date is printed), and skipped otherwise, with a line that
# says so and why: never reported as passed when they did not run.
# Needs the cargo-deny that scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh

deny=$KSEC_CARGO_DENY
if ! "$deny" --version >/dev/null 2>&1; then
  echo "deny: ERROR: cargo-deny $KSEC_CARGO_DENY_VERSION is missing: run scripts/setup.sh" >&2
  exit 1
fi

# Where cargo-deny keeps its databases (its default: $CARGO_HOME/advisory-dbs).
dbs=${CARGO_HOME:-$HOME/.cargo}/advisory-dbs
log=$(mktemp)
trap 'rm -f "$log"' EXIT

if timeout 90 "$deny" fetch db >"$log" 2>&1; then
  "$deny" --locked check --hide-inclusion-graph
  exit 0
fi
why=$(grep -v '^\s*$' "$log" | tail -n 1 | cut -c1-200)
# The copy of an earlier fetch: a git work tree under $dbs.
copy=$(find "$dbs" -mindepth 2 -maxdepth 2 -name .git -printf '%h\n' 2>/dev/null | head -n 1)
if [ -n "$copy" ] && when=$(git -C "$copy" log -1 --format=%cs 2>/dev/null); then
  echo "deny: the advisory database could not be fetched ($why);" \
    "checking advisories against the copy of $when"
  # --offline keeps cargo-deny from fetching the database (and crates: they
  # are fetched first, for every platform deny.toml names).
  cargo fetch --locked --quiet
  "$deny" --locked --offline check --hide-inclusion-graph
else
  echo "deny: advisories SKIPPED: the advisory database could not be fetched ($why)" \
    "and there is no earlier copy; licenses, bans and sources are checked"
  "$deny" --locked check --hide-inclusion-graph licenses bans sources
fi
