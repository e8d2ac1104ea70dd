#!/usr/bin/env bash
# Runs every unit test (ctest label "unit") once under valgrind's memcheck,
# two at a time: any invalid access, use of uninitialised memory, or definite
# or possible leak fails it.  The mount tests are left to the ASan+UBSan run
# (their daemon is another process).  SYNCSTORE_TEST_QUICK=1 shortens the
# stress test's campaigns.  tests/valgrind.supp lists what is suppressed.
# For where an uninitialised value came from, add --track-origins=yes to
# VALGRIND_OPTS (it doubles the time).
# Usage: tools/dev/valgrind.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
root=$PWD
[ -x "$build/syncstore" ] || { echo "valgrind.sh: no build in '$build' (run tools/dev/build.sh $build)" >&2; exit 2; }
mapfile -t tests < <(cd "$build" && ctest -N -L unit | awk '/Test +#/ {print $3}')
[ ${#tests[@]} -gt 0 ] || { echo "valgrind.sh: no unit tests in '$build'" >&2; exit 2; }

run_one() { # TEST: prints one line; its log on failure
  local t=$1 start log rc=0
  start=$(date +%s)
  log=$root/$build/valgrind-$t.log
  (cd "$root/$build" && SYNCSTORE_SHARED="$root/../shared" SYNCSTORE_BIN="$root/$build/syncstore" \
    SYNCSTORE_TEST_QUICK=1 \
    valgrind --quiet --error-exitcode=99 --leak-check=full \
      --show-leak-kinds=definite,possible --errors-for-leak-kinds=definite,possible \
      --suppressions="$root/tests/valgrind.supp" --gen-suppressions=all ${VALGRIND_OPTS:-} \
      "./$t" >"$log" 2>&1) || rc=$?
  if [ $rc -eq 0 ]; then
    echo "valgrind: $t passed in $(( $(date +%s) - start )) s"
  elif [ $rc -eq 77 ] && [ "${CI:-}" != true ]; then
    # A test that cannot run here (tests/testutil.h); under CI=true it fails.
    echo "valgrind: $t SKIPPED part of its cases: $(grep -m1 '^SKIP' "$log")"
  else
    echo "valgrind: $t FAILED (exit $rc) in $(( $(date +%s) - start )) s; the end of $build/valgrind-$t.log:"
    tail -n 60 "$log"
    return 1
  fi
}
export -f run_one
export root build

if printf '%s\n' "${tests[@]}" | xargs -P 2 -I{} bash -c 'run_one "$1"' _ {}; then
  echo "valgrind: all ${#tests[@]} unit tests clean"
else
  echo "valgrind: some unit tests failed (above)" >&2
  exit 1
fi
