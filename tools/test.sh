#!/usr/bin/env bash
# The test command of README.md and CI: installs missing Debian packages,
# builds, runs every test through ctest, then builds again with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs the unit tests there.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh

echo "== build and test (RelWithDebInfo)"
tools/build.sh build >/dev/null
(cd build && ctest --output-on-failure -j2)

echo "== unit tests under ASan+UBSan"
tools/build.sh build-asan -DSYNCSTORE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
# Leak checking stays on; RocksDB's process-lifetime singletons are not leaks
# of ours and are listed, each with its reason, in tests/lsan.supp.
export ASAN_OPTIONS=abort_on_error=0:detect_leaks=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest -L unit --output-on-failure -j2)
