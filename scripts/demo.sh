#!/usr/bin/env bash
# The README's first command: build ksec, render the shipped demo project
# (examples/demo), then in a scratch git copy run the guard (`ksec check`),
# round-trip a secret: decrypt, change one value with `ksec set`, show that git
# sees a one-value change, read it back with sops, render again (the Secret's
# hash name changes), and onboard a new team namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh

KSEC_SETUP_SKIP_KUBE=1 scripts/setup.sh
cargo build --quiet
ksec="$PWD/target/debug/ksec"
export KSEC_AGE_KEY_FILE="$PWD/examples/demo/demo-key.txt"   # a demo key: protects nothing

echo "== ksec render --project examples/demo"
"$ksec" render --project examples/demo

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/demo "$work/demo"
cd "$work/demo"
git init -q . && git add -A && git -c user.name=demo -c user.email=demo@example.invalid commit -qm demo

echo "== ksec check: no plaintext secret in git, every file keyed as ksec.yaml says (the demo key is allowed explicitly)"
"$ksec" check

secret=namespaces/payments/db.enc.yaml
echo "== ksec decrypt $secret (demo values)"
"$ksec" decrypt "$secret"

echo "== ksec set $secret DB_PASSWORD (value from stdin)"
printf 'rotated-demo-password\n' | "$ksec" set "$secret" DB_PASSWORD

echo "== git diff --stat: one value line plus lastmodified and mac"
git --no-pager diff --stat
git --no-pager diff --numstat

echo "== sops -d reads what ksec wrote"
SOPS_AGE_KEY_FILE="$KSEC_AGE_KEY_FILE" sops -d "$secret" | grep DB_PASSWORD

echo "== ksec decrypt namespaces/storefront/api-keys.enc.env (another team's recipients)"
"$ksec" decrypt namespaces/storefront/api-keys.enc.env

echo "== the db Secret's name after the change (its content hash moved)"
"$ksec" render -n payments | grep -E '^  name: db-'
echo "== ksec namespace add search: onboard a new team namespace"
"$ksec" namespace add search --owner-group search-devs --recipient payments-team \
  --quota cpu=2,memory=4Gi,pods=10
"$ksec" namespace list
echo "== what ksec apply would create for it, the Namespace first"
"$ksec" render -n search | grep -E '^kind: '
echo "demo: ok"
