#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) into build-fuzz/ and
# runs each for SECONDS (default 60) from its seed corpus tests/fuzz/corpus/<t>,
# copied to a temporary directory (new units are discarded with it); fuzz_c1z3's
# and fuzz_pb's seeds are made at run time from the shared samples
# (tests/fuzz/c1z3_seeds.py, tests/fuzz/pb_seeds.py).  Prints
# one line per target; exits 1 when any target crashed, leaked, hung or ran out
# of memory, naming the input it wrote to build-fuzz/artifacts/ and the log.
#
# Usage: tools/dev/fuzz.sh [SECONDS] [TARGET...]     targets: names keys ctl load c1z c1z3 pb
# Environment: FUZZ_JOBS=N runs N targets at a time (default 1).
# Needs clang-14 and libclang-rt-14-dev (Debian), plus the build's -dev packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(names keys ctl load c1z c1z3 pb)
jobs=${FUZZ_JOBS:-1}
case $secs in '' | *[!0-9]*)
  echo "fuzz.sh: SECONDS must be a number, not '$secs'" >&2
  exit 2
  ;;
esac

# Per target: the longest input and the dictionary (none: -).
declare -A max_len=([names]=1100 [keys]=1300 [ctl]=4200 [load]=4096 [c1z]=16384 [c1z3]=65536 [pb]=32768)
declare -A dict=([names]=- [keys]=- [ctl]=- [load]=tests/fuzz/load.dict [c1z]=tests/fuzz/c1z.dict [c1z3]=- [pb]=-)
c1z3_sample=../shared/data/c1z3/sync.36zGvJw3uxU1QMJKU2yPVQ1hBOC.unexpanded.pebble.c1z
v1_sample=../shared/data/c1z/sync.36zGvJw3uxU1QMJKU2yPVQ1hBOC.unexpanded
generated_seeds=" c1z3 pb " # targets whose seeds are made at run time
for t in "${targets[@]}"; do
  if [ -z "${max_len[$t]:-}" ] || { [[ $generated_seeds != *" $t "* ]] && [ ! -d "tests/fuzz/corpus/$t" ]; }; then
    echo "fuzz.sh: unknown target '$t' (names keys ctl load c1z c1z3 pb)" >&2
    exit 2
  fi
done

cc=$(command -v clang || command -v clang-14 || true)
if [ -z "$cc" ]; then
  echo "fuzz.sh: clang not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 2
fi
build=build-fuzz
mkdir -p "$build"
if ! { cmake -S . -B "$build" -DCMAKE_C_COMPILER="$cc" -DSYNCSTORE_FUZZ=ON -DSYNCSTORE_WERROR="${SYNCSTORE_WERROR:-OFF}" \
  -DCMAKE_BUILD_TYPE=Debug &&
  cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"; } >"$build/build.log" 2>&1; then
  tail -n 30 "$build/build.log" >&2
  echo "fuzz.sh: build failed (log: $build/build.log)" >&2
  exit 2
fi
mkdir -p "$build/artifacts"

# Work directories in memory when possible: fuzz_c1z writes a temporary
# SQLite file per input.
tmp_parent=${TMPDIR:-/tmp}
[ -d /dev/shm ] && [ -w /dev/shm ] && tmp_parent=/dev/shm
work_root=$(mktemp -d "$tmp_parent/syncstore-fuzz.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    pkill -P "$p" 2>/dev/null || true # the fuzzer below run_one's subshell
    kill "$p" 2>/dev/null || true
  done
  rm -rf "$work_root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs one target; its summary line goes to $work_root/<t>.summary.
run_one() {
  local t=$1 work=$work_root/$1 log=$root/$build/fuzz_$1.log
  mkdir -p "$work/corpus" "$work/tmp"
  if [ "$t" = c1z3 ]; then
    python3 tests/fuzz/c1z3_seeds.py "$c1z3_sample" "$work/corpus" "${max_len[$t]}" >/dev/null || return 1
  elif [ "$t" = pb ]; then
    python3 tests/fuzz/pb_seeds.py "$v1_sample" "$c1z3_sample" "$work/corpus" "${max_len[$t]}" >/dev/null || return 1
  else
    cp tests/fuzz/corpus/"$t"/* "$work/corpus/"
  fi
  local args=(-max_total_time="$secs" -max_len="${max_len[$t]}" -timeout=30 -rss_limit_mb=2048
    -print_final_stats=1 -artifact_prefix="$root/$build/artifacts/fuzz_$t-")
  [ "${dict[$t]}" = - ] || args+=(-dict="$root/${dict[$t]}")
  local rc=0 start=$SECONDS
  (cd "$work" && TMPDIR="$work/tmp" "$root/$build/fuzz_$t" "${args[@]}" corpus) >"$log" 2>&1 || rc=$?
  local elapsed=$((SECONDS - start)) execs new cov ft seeds corp
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  new=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n 1)
  # (|| true: a fuzzer that died before its first report printed none)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2) || true
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2) || true
  if [[ $generated_seeds == *" $t "* ]]; then
    seeds=$(find "$work/corpus" -name '[0-9]-*' -type f | wc -l)
  else
    seeds=$(find "tests/fuzz/corpus/$t" -type f | wc -l)
  fi
  corp=$(find "$work/corpus" -type f | wc -l)
  local line
  line=$(printf '%-11s %-6s %4ss %10s execs %7s/s  cov %5s  ft %6s  corpus %3s -> %-5s (+%s new units)' \
    "fuzz_$t" "$([ $rc -eq 0 ] && echo ok || echo FAIL)" "$elapsed" "${execs:-?}" \
    "$([ -n "$execs" ] && [ "$elapsed" -gt 0 ] && echo $((execs / elapsed)) || echo '?')" \
    "${cov:-?}" "${ft:-?}" "$seeds" "$corp" "${new:-?}")
  if [ $rc -ne 0 ]; then
    local why artifact
    why=$(grep -m1 -E '^SUMMARY:|ERROR: libFuzzer|ERROR: AddressSanitizer|ERROR: LeakSanitizer' "$log" || true)
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    line+=$'\n'"    ${why:-exit status $rc}"$'\n'"    input: ${artifact:-none written}  log: $build/fuzz_$t.log"
  fi
  printf '%s\n' "$line" >"$work_root/$t.summary"
  return $rc
}

echo "fuzzing ${targets[*]} for $secs s each (FUZZ_JOBS=$jobs)"
failed=0
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  running=$((running + 1))
  if [ $running -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ $running -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
pids=() # all finished: nothing left to stop
for t in "${targets[@]}"; do cat "$work_root/$t.summary" 2>/dev/null || echo "fuzz_$t: no result"; done
if [ $failed -ne 0 ]; then
  echo "fuzz.sh: a target failed; reproduce with $build/fuzz_<target> <input>" >&2
  exit 1
fi
