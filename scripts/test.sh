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
# One real control plane (etcd + kube-apiserver with RBAC) for the cluster tests.
kube_dir=$(mktemp -d)
trap 'scripts/kube-down.sh "$kube_dir" >/dev/null 2>&1 || true; rm -rf "$kube_dir"' EXIT
scripts/kube-up.sh "$kube_dir" >/dev/null
export KSEC_TEST_KUBECONFIG=$kube_dir/kubeconfig
# the tests run under a private HOME (with-secret-service.sh): keep the cached apiserver
export KSEC_KUBE_CACHE=${KSEC_KUBE_CACHE:-$HOME/.cache/ksec}

# --include-ignored: the tests that need the Secret Service (ignored by a plain
# `cargo test`) run here, where it exists. Every ksec process the tests start
# is recorded in target/canary (tests/common/canary.rs), emptied first; the
# final canary scan reads it after the whole suite.
rm -rf target/canary
scripts/with-secret-service.sh cargo test --all-targets -- --include-ignored --skip final_canary_scan
cargo test --test canary_scan -- --ignored --exact final_canary_scan
