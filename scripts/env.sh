# shellcheck shell=bash
# Sourced by the other scripts: make PATH sane for non-interactive/minimal shells
# (CI, `env -i`), which miss the rustup cargo dir and the pyenv shims (where
# `sops` is installed by pip).
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
export HOME
export PYENV_ROOT="${PYENV_ROOT:-$HOME/.pyenv}"
for _d in "$HOME/.cargo/bin" "$PYENV_ROOT/shims" "$PYENV_ROOT/bin"; do
  case ":$PATH:" in *":$_d:"*) ;; *) if [ -d "$_d" ]; then PATH="$_d:$PATH"; fi ;; esac
done
unset _d
export PATH
# cargo-deny: built by scripts/setup.sh into the tools cache (with the
# kube-apiserver), run by scripts/deny.sh.
KSEC_CARGO_DENY_VERSION=0.20.2
KSEC_CARGO_DENY=${KSEC_KUBE_CACHE:-$HOME/.cache/ksec}/cargo-deny-$KSEC_CARGO_DENY_VERSION/bin/cargo-deny
# The test API server: kube-apiserver 1.20.2 from Debian's source, with the
# reflect2 1.0.2 fix (serving custom resources crashes without it), built by
# scripts/kube-build.sh into the tools cache and started by scripts/kube-up.sh.
KSEC_KUBE_VERSION=1.20.2
KSEC_KUBE_APISERVER_BIN=${KSEC_KUBE_CACHE:-$HOME/.cache/ksec}/kube-apiserver-$KSEC_KUBE_VERSION-reflect2
# kube-controller-manager from the same source and build, run by kube-up.sh with
# only the clusterrole-aggregation controller (it fills the rules of aggregated
# ClusterRoles such as the default admin/edit/view).
KSEC_KUBE_CONTROLLER_MANAGER_BIN=${KSEC_KUBE_CACHE:-$HOME/.cache/ksec}/kube-controller-manager-$KSEC_KUBE_VERSION-reflect2
