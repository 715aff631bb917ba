#!/usr/bin/env bash
# Seed inputs for the fuzz targets, from the project's own fixtures and from
# files ksec and sops write (encrypted to the public test identity in
# src/fuzzing.rs, so that the decrypt and merge targets get past the data
# key). Writes fuzz/seeds/<target>/; `cargo fuzz run T fuzz/corpus/T
# fuzz/seeds/T` then grows the corpus and `cargo fuzz cmin` keeps it small.
# Usage: fuzz/seed.sh [KSEC_BINARY]   (default target/debug/ksec)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ksec=${1:-$root/target/debug/ksec}
. "$root/scripts/env.sh"
out=$root/fuzz/seeds
rm -rf "$out"
mkdir -p "$out"/{sops_yaml,sops_dotenv,envfile,project,merge,decrypt}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
recipient=$(sed -n 's/^pub const TEST_RECIPIENT: &str = "\(age1[0-9a-z]*\)";$/\1/p' "$root/src/fuzzing.rs")
cp "$root/tests/fixtures/fuzz-identity.txt" "$work/key.txt"
export KSEC_AGE_KEY_FILE=$work/key.txt SOPS_AGE_KEY_FILE=$work/key.txt HOME=$work
unset KSEC_AGE_KEY SOPS_AGE_KEY SOPS_AGE_RECIPIENTS

demo=$root/examples/demo
cp "$demo"/namespaces/*/*.enc.yaml "$demo"/workloads.yaml "$root"/templates/*.yaml "$out/sops_yaml/"
cp "$demo"/namespaces/*/*.enc.env "$demo"/namespaces/*/*.env "$out/sops_dotenv/" 2>/dev/null || true
cp "$demo"/namespaces/payments/api.env "$out/envfile/"
cp "$demo"/ksec.yaml "$out/project/demo.yaml"

# plaintext of the usual and the unusual shapes (values are not secrets)
cat > "$work/nested.yaml" <<'YAML'
db:
  user: app
  password: fuzz-value
  port: 5432
  ratio: 0.5
  enabled: true
  none: null
  when: 2024-01-02T03:04:05Z
hosts: [a, b, {c: d}]
tls: |
  -----BEGIN CERTIFICATE-----
  MIIB
  -----END CERTIFICATE-----
empty: ""
pin: 0123
anchors: &x {k: v}
again: *x
YAML
printf 'user: app\npassword: fuzz-value\n' > "$work/flat.yaml"
printf '# comment\nUSER=app\nPASSWORD=fuzz-value\nEMPTY=\nSPACED= a b \n' > "$work/app.env"
cp "$work/nested.yaml" "$work/flat.yaml" "$out/sops_yaml/"
cp "$work/app.env" "$out/sops_dotenv/"
printf '\xef\xbb\xbfA=1\r\nB=two=2\n  # c\n\nC.d-e_f= x \n' > "$out/envfile/bom-crlf.env"
printf 'K=v\nK=w\n' > "$out/envfile/twice.env"
printf 'NOEQUALS\n' > "$out/envfile/no-equals.env"
printf '1K=v\n' > "$out/envfile/bad-key.env"
cp "$work/app.env" "$out/envfile/"

# ksec.yaml as `ksec init` writes it, and the README's full example
(cd "$work" && mkdir -p init && cd init && "$ksec" init --recipient "fuzz=$recipient" >/dev/null 2>&1 || true)
[ -f "$work/init/ksec.yaml" ] && cp "$work/init/ksec.yaml" "$out/project/init.yaml"
printf 'version: 1\nproject: p\n' > "$out/project/minimal.yaml"
cat > "$out/project/small.yaml" <<'YAML'
version: 1
project: p
recipients: {me: age1qqqq, ci: age1zzzz}
groups: {team: [me, ci]}
environments:
  prod: {context: prod, protected: true, recipients: [ci]}
namespaces:
  ns:
    recipients: [team]
    configMaps:
      - {name: c, envFiles: [a.env], files: [k=f.txt], literals: {A: "1"}}
    secrets:
      - {name: s, sources: [s.enc.yaml], type: Opaque}
YAML
awk '/^## `ksec.yaml`/{on=1} on&&/^```yaml/{grab=1;next} grab&&/^```/{exit} grab' "$root/README.md" > "$out/project/readme.yaml"

n=0
for src in nested.yaml flat.yaml app.env; do
  ext=${src##*.}
  "$ksec" encrypt "$work/$src" -r "$recipient" --output "$work/ksec-$src" >/dev/null
  sops --encrypt --age "$recipient" --input-type "$( [ "$ext" = env ] && echo dotenv || echo yaml)" \
    --output-type "$( [ "$ext" = env ] && echo dotenv || echo yaml)" "$work/$src" > "$work/sops-$src"
  for f in "ksec-$src" "sops-$src"; do
    cp "$work/$f" "$out/decrypt/"
    if [ "$ext" = env ]; then cp "$work/$f" "$out/sops_dotenv/"; else cp "$work/$f" "$out/sops_yaml/"; fi
  done
  # merge: one change on each side (and the same file as its own base)
  cp "$work/ksec-$src" "$work/ours-$src"
  cp "$work/ksec-$src" "$work/theirs-$src"
  key=$( [ "$ext" = env ] && echo USER || echo user)
  [ "$src" = nested.yaml ] && key='["db"]["user"]'
  "$ksec" set "$work/ours-$src" "$key" ours-value >/dev/null
  "$ksec" set "$work/theirs-$src" added theirs-value >/dev/null 2>&1 \
    || "$ksec" set "$work/theirs-$src" ADDED theirs-value >/dev/null
  for path in "" "x.$ext"; do
    n=$((n + 1))
    { cat "$work/ksec-$src"; printf '\0'; cat "$work/ours-$src"; printf '\0'; cat "$work/theirs-$src"
      [ -n "$path" ] && printf '\0%s' "$path"; } > "$out/merge/$n-$src"
  done
  n=$((n + 1))
  { printf '\0'; cat "$work/ours-$src"; printf '\0'; cat "$work/theirs-$src"; } > "$out/merge/$n-nobase-$src"
  n=$((n + 1))
  { cat "$work/$src"; printf '\0'; cat "$work/$src"; printf '\0'; cat "$work/$src"; } > "$out/merge/$n-plain-$src"
done
for d in "$out"/*; do echo "$(basename "$d"): $(ls "$d" | wc -l) seeds"; done
