#!/usr/bin/env bash
# Fuzz each target for SECONDS (default 300) on one core, growing
# fuzz/corpus/<target>/ from it and from fuzz/seeds/<target>/ (fuzz/seed.sh),
# then minimize the corpus. Logs (with -print_final_stats) go to
# fuzz/logs/<target>.log. Usage: fuzz/run.sh [SECONDS] [TARGET…]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sops_yaml sops_dotenv envfile project merge decrypt)
export RUSTC_BOOTSTRAP=1
mkdir -p fuzz/logs
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  [ -d "fuzz/seeds/$t" ] && cp -n fuzz/seeds/"$t"/* "fuzz/corpus/$t/"
  cargo fuzz run -s none "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" \
    -print_final_stats=1 -max_len=16384 -timeout=10 -rss_limit_mb=1024 \
    > "fuzz/logs/$t.log" 2>&1 || { echo "$t: failed, see fuzz/logs/$t.log"; continue; }
  cargo fuzz cmin -s none "$t" "fuzz/corpus/$t" > "fuzz/logs/$t.cmin.log" 2>&1
  echo "$t: $(grep -E '^#[0-9]+.*DONE' "fuzz/logs/$t.log" | tail -1)"
done
