#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for
# SECONDS (default 60) from its seed corpus in tests/fuzz/corpus/<target>.
# New corpus entries go to a temporary directory; crashes are written to
# build-fuzz/crash-* and fail the script.
# Usage: tools/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSYNCSTORE_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_names >/dev/null
for t in names; do
  work=$(mktemp -d)
  cp tests/fuzz/corpus/$t/* "$work"/
  echo "== fuzz_$t for $secs s"
  (cd build-fuzz && ./fuzz_$t -max_total_time="$secs" -max_len=1100 -print_final_stats=1 "$work" 2>&1 | tail -n 3)
  rm -rf "$work"
done
