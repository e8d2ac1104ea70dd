#!/usr/bin/env bash
# The test command of README.md and CI.  Installs missing Debian packages, then
# runs every stage and reports each; fails if any failed:
#   builds    what packagers build: Release with gcc and with clang (the main
#             build is RelWithDebInfo with gcc), each with -Werror
#   lint      clang-format, clang-tidy, cppcheck, man page (tools/dev/lint.sh)
#   spec      the SPEC conformance matrix of docs/TESTING.md (tests/spec_matrix.sh)
#   tests     every ctest test: unit, mount (real FUSE mounts), cli
#   asan      the same suite built with ASan+UBSan (mount tests run the
#             sanitized daemon)
#   failalloc the N-th allocation of our code failing, N = 1, 2, ..., in load,
#             import, compact, dump, gen and a mount with a ctl compaction,
#             under ASan+UBSan (tools/dev/failalloc.sh, its short form;
#             SYNCSTORE_FAILALLOC_FULL=1 runs every N)
#   valgrind  the unit tests under valgrind memcheck (tools/dev/valgrind.sh)
#   fuzz      each libFuzzer target for SYNCSTORE_FUZZ_SECONDS (60) seconds, two at a time
#   crash     tools/campaigns/crash_campaign.sh SYNCSTORE_CRASH_TRIALS (10) trials
#   soak      tools/campaigns/soak.sh SYNCSTORE_SOAK_MINUTES (1) minute(s)
# SYNCSTORE_STAGES="tests asan" runs only the named stages.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/dev/deps.sh || exit 1

# Warnings are errors in every build this script makes (the default for users is off).
export SYNCSTORE_WERROR=ON
stages=${SYNCSTORE_STAGES:-"builds lint spec tests asan failalloc valgrind fuzz crash soak"}
failed=()
t_all=$(date +%s)

stage() { # NAME COMMAND...: runs one stage, records a failure
  local name=$1 start
  shift
  case " $stages " in *" $name "*) ;; *) return 0 ;; esac
  echo
  echo "======== $name"
  start=$(date +%s)
  if "$@"; then
    echo "======== $name: passed in $(( $(date +%s) - start )) s"
  else
    echo "======== $name: FAILED after $(( $(date +%s) - start )) s"
    failed+=("$name")
  fi
}

build_main() { tools/dev/build.sh build >/dev/null; }
run_builds() { # COMPILER:BUILD_TYPE pairs, each in its own directory
  local pair cc type
  for pair in gcc:Release clang:Release; do
    cc=${pair%%:*} type=${pair#*:}
    echo "-- $cc $type"
    tools/dev/build.sh "build-$cc-$type" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE="$type" >/dev/null || return 1
  done
}
# ctest in DIR.  Under CI=true (.ci/run) a skipped test (exit 77: it could
# not run here, tests/testutil.h) fails the stage: CI proves the whole suite.
run_ctest() { # DIR [ENV=VALUE...]
  local dir=$1 log rc=0
  shift
  log=$(mktemp)
  (cd "$dir" && env "$@" ctest --output-on-failure -j2) | tee "$log" || rc=1
  if grep -q '\*\*\*Skipped' "$log"; then
    if [ "${CI:-}" = true ]; then
      echo "tests: a test was skipped under CI=true (above): CI must run every test" >&2
      rc=1
    else
      echo "tests: some tests were skipped (above); CI=true fails on that" >&2
    fi
  fi
  rm -f "$log"
  return $rc
}
run_tests() { run_ctest build; }
run_asan() {
  tools/dev/build.sh build-asan -DSYNCSTORE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null || return 1
  # Leak checking stays on; tests/lsan.supp lists what is suppressed and why.
  run_ctest build-asan \
    ASAN_OPTIONS=abort_on_error=0:detect_leaks=1 \
    LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
}
run_failalloc() { # only the binary: the loop runs nothing else
  cmake -S . -B build-failalloc -DCMAKE_BUILD_TYPE=Debug -DSYNCSTORE_WERROR="$SYNCSTORE_WERROR" \
    -DSYNCSTORE_FAILALLOC=ON -DSYNCSTORE_SANITIZE=ON >/dev/null &&
    cmake --build build-failalloc -j"$(nproc)" --target syncstore >/dev/null &&
    tools/dev/failalloc.sh build-failalloc
}

echo "======== build"
if ! build_main; then
  echo "======== build: FAILED"
  exit 1
fi
stage builds run_builds
stage lint tools/dev/lint.sh build
stage spec bash tests/spec_matrix.sh
stage tests run_tests
stage asan run_asan
stage failalloc run_failalloc
stage valgrind tools/dev/valgrind.sh build
stage fuzz env FUZZ_JOBS="${FUZZ_JOBS:-2}" tools/dev/fuzz.sh "${SYNCSTORE_FUZZ_SECONDS:-60}"
stage crash env SYNCSTORE_BIN="$PWD/build/syncstore" tools/campaigns/crash_campaign.sh "${SYNCSTORE_CRASH_TRIALS:-10}"
stage soak env SYNCSTORE_BIN="$PWD/build/syncstore" tools/campaigns/soak.sh "${SYNCSTORE_SOAK_MINUTES:-1}"

echo
echo "======== all stages in $(( $(date +%s) - t_all )) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all passed: $stages"
