#!/usr/bin/env bash
# The project's one test command: install test dependencies, then check formatting,
# run clippy, build the docs with warnings denied, check the dependency tree
# (scripts/deny.sh), and run all tests against a real (private) Secret Service.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh

scripts/setup.sh
cargo fmt --check
cargo clippy --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
scripts/deny.sh
# Two real control planes (etcd + kube-apiserver with RBAC, each on ports of its
# own) for the cluster tests: the second for one apply across several clusters.
kube_dir=$(mktemp -d)
kube_dir_2=$(mktemp -d)
trap 'for d in "$kube_dir" "$kube_dir_2"; do scripts/kube-down.sh "$d" >/dev/null 2>&1 || true; rm -rf "$d"; done' EXIT
scripts/kube-up.sh "$kube_dir" >/dev/null
scripts/kube-up.sh "$kube_dir_2" >/dev/null
export KSEC_TEST_KUBECONFIG=$kube_dir/kubeconfig
export KSEC_TEST_KUBECONFIG_2=$kube_dir_2/kubeconfig
# the tests run under a private HOME (with-secret-service.sh): keep the cached apiserver
export KSEC_KUBE_CACHE=${KSEC_KUBE_CACHE:-$HOME/.cache/ksec}

# --include-ignored: the tests that need the Secret Service (ignored by a plain
# `cargo test`) run here, where it exists. Every ksec process the tests start
# is recorded in target/canary (tests/common/canary.rs), emptied first; the
# final canary scan reads it after the whole suite.
rm -rf target/canary
scripts/with-secret-service.sh cargo test --all-targets -- --include-ignored --skip final_canary_scan
cargo test --test canary_scan -- --ignored --exact final_canary_scan
