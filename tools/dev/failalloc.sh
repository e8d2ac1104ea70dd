#!/usr/bin/env bash
# Allocation failures, tested the way SQLite tests them: runs each operation of
# a failalloc build with SYNCSTORE_FAIL_ALLOC=N, so that the N-th allocation of
# the project's own code fails (tests/failalloc/failalloc.c says what counts),
# for N = 1, 2, 3, ... until N is past the operation's last allocation.
#
# Usage: tools/dev/failalloc.sh [BUILD_DIR] [OP...]
#   BUILD_DIR  default build-failalloc, configured by tools/dev/build.sh with
#              -DSYNCSTORE_FAILALLOC=ON -DSYNCSTORE_SANITIZE=ON
#   OP         load import import3 compact dump gen mount (default: all)
# SYNCSTORE_FAILALLOC_FULL=1 runs every N; without it (CI) every N up to 20,
# then 30 more spread evenly over the rest, and always on to the run past the
# last allocation.
# SYNCSTORE_FAILALLOC_VERBOSE=1 prints every run's outcome and first stderr line.
# SYNCSTORE_FAILALLOC_N=N runs only that N and prints its whole stderr (with
# SYNCSTORE_FAIL_ALLOC_TRACE=1, the stack of the allocation that fails).
#
# Each run starts from a fresh copy of a base holding two generated syncs:
#   load     syncstore load BASE FILE (typed and raw lines into s1 and a new s3)
#   import   syncstore import BASE FILE.c1z (the smallest real c1z of ../shared/data)
#   import3  syncstore import BASE FILE.c1z of the C1Z3 sample (envelope, Pebble reader)
#   compact  syncstore compact BASE SOURCE s1
#   dump     syncstore dump BASE
#   gen      syncstore gen NEW s1, creating the store NEW
#   mount    the daemon's whole life: syncstore mount BASE MNT -f -o OPTS (one
#            of ours, one for FUSE); find MNT/s2,
#            cat of every file in it, cat MNT/ctl/stats; echo SOURCE >
#            MNT/ctl/compact/s1; cat MNT/ctl/compact/s1; fusermount3 -u MNT
#            (always)
# A run in which the N-th allocation failed must end in one of
#   - exit status 1 with "Cannot allocate memory" or "out of memory" on stderr,
#     the base dumping byte for byte as before (gen: NEW an empty store or an
#     empty directory, and the next gen makes it); for mount: the daemon exiting so before it mounted, or each
#     command on the mount succeeding or failing with ENOMEM or EIO, the base
#     as before when the ctl write failed, and the daemon unmounting with 0 (or
#     1 and such a message);
#   - success, with the result of a run without failures (the failure was
#     absorbed): the base's dump, dump's output, the listing and the files read
#     through the mount;
# with the base's staging empty and nothing left in $TMPDIR, and never a
# signal, a hang (a timeout), another exit status, or a sanitizer report
# (ASan, LeakSanitizer with tests/lsan.supp, UBSan).  The run in which the N-th
# allocation never happened must succeed; it ends the loop.  Prints one line
# per operation; exits 1 when any run was wrong, each printed with its stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${1:-build-failalloc}
shift || true
ops=("$@")
[ ${#ops[@]} -gt 0 ] || ops=(load import import3 compact dump gen mount)
full=${SYNCSTORE_FAILALLOC_FULL:-0}
c1z=${SYNCSTORE_SHARED:-$root/../shared}/data/c1z/sync-in-progress.c1z
c1z3=${SYNCSTORE_SHARED:-$root/../shared}/data/c1z3/sync.36zGvJw3uxU1QMJKU2yPVQ1hBOC.unexpanded.pebble.c1z
BIN=$root/$build/syncstore
die() {
  echo "failalloc.sh: $*" >&2
  exit 2
}
[ -x "$BIN" ] || die "no $build/syncstore (tools/dev/build.sh $build -DSYNCSTORE_FAILALLOC=ON -DSYNCSTORE_SANITIZE=ON)"
[ -r "$c1z" ] || die "no $c1z (the shared test data)"
for op in "${ops[@]}"; do
  case $op in load | import | import3 | compact | dump | gen | mount) ;; *) die "unknown operation '$op' (load import import3 compact dump gen mount)" ;; esac
done

work=$(realpath "$(mktemp -d "${TMPDIR:-/tmp}/syncstore-failalloc.XXXXXX")")
mnt=$work/mnt daemon=
cleanup() {
  if [ -n "$daemon" ]; then kill -KILL "$daemon" 2>/dev/null || true; fi
  if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt"; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$mnt" "$work/tmp"
export TMPDIR=$work/tmp
# A sanitizer report exits 86 (never 1, the status of an error), and its text
# is looked for in stderr too.  One suppression, as for the mount tests: writev
# reached through fuse_reply_buf (tests/mountutil.c says why: ASan checks the
# buffers after the kernel completed the reply, when a RELEASE on another worker
# may have freed them).
echo 'interceptor_via_fun:fuse_reply_buf' >"$work/asan.supp"
export ASAN_OPTIONS=abort_on_error=0:detect_leaks=1:exitcode=86:suppressions=$work/asan.supp
export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0:exitcode=86
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=86
sanitizer='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error|SUMMARY: [A-Za-z]+Sanitizer'
oom='Cannot allocate memory|out of memory'
fs_error='Cannot allocate memory|Input/output error' # what a command on the mount may get
report=$work/report
steps=(list read stats write status) # the commands on the mount, in order

# The world, made once with no failure injected: the pristine base, a source
# for compact and mount, the load input.
"$BIN" gen "$work/pristine" s1 --grants 50 >/dev/null
"$BIN" gen "$work/pristine" s2 --grants 5 --seed 2 >/dev/null
"$BIN" gen "$work/source" s1 --grants 80 --seed 5 >/dev/null
"$BIN" dump "$work/pristine" >"$work/pristine.dump"
cat >"$work/in.jsonl" <<'EOF'
{"type":"resource_type","id":"team","sync":"s1"}
{"type":"resource","resource_type":"team","id":"t1","display_name":"Team one","sync":"s1"}
{"type":"entitlement","id":"team:t1:member","sync":"s1"}
{"type":"grant","id":"g-t1","entitlement":"team:t1:member","principal_type":"user","principal_id":"u1","sync":"s1"}
{"sync":"s3","bucket":"raw","key":"a/b","value":"text"}
{"sync":"s3","bucket":"raw","key_b64":"AP8=","value_b64":"AAEC"}

{"type":"grant","id":"g-t2","entitlement":"team:t1:member","principal_type":"group","principal_id":"g1","sync":"s3"}
EOF

fresh_base() {
  rm -rf "$work/base" "$work/new" "$report" "$work"/*.rc
  if [ "$1" = gen ]; then
    base=$work/new
  else
    base=$work/base
    cp -a "$work/pristine" "$base"
  fi
}

# One run of OP with allocation N failing (0: none); sets rc (for mount the
# daemon's exit status) and wrc (mount: the ctl write's exit status, "none"
# when the daemon never mounted), leaves stdout in $work/out, stderr in
# $work/err.
run_op() {
  local op=$1 n=$2
  rc=0 wrc=none
  case $op in
  load) args=(load "$base" "$work/in.jsonl") ;;
  import) args=(import "$base" "$c1z") ;;
  import3) args=(import "$base" "$c1z3") ;;
  compact) args=(compact "$base" "$work/source" s1) ;;
  dump) args=(dump "$base") ;;
  gen) args=(gen "$base" s1 --grants 30) ;;
  mount)
    run_mount "$n"
    return
    ;;
  esac
  SYNCSTORE_FAIL_ALLOC=$n SYNCSTORE_FAIL_ALLOC_REPORT=$report timeout -k 5 60 "$BIN" "${args[@]}" \
    >"$work/out" 2>"$work/err" || rc=$?
}

# client STEP CMD...: one command on the mount, its stdout, stderr and exit
# status in $work/STEP.out, .err, .rc.
client() {
  local step=$1 st=0
  shift
  timeout -k 5 60 "$@" >"$work/$step.out" 2>"$work/$step.err" || st=$?
  echo "$st" >"$work/$step.rc"
}

# The daemon in the foreground, the commands on the mount, the unmount
# (always; lazily when it must, which is then a problem).
run_mount() {
  local n=$1 deadline=$((SECONDS + 60))
  : >"$work/unmount.err"
  SYNCSTORE_FAIL_ALLOC=$n SYNCSTORE_FAIL_ALLOC_REPORT=$report \
    timeout -k 5 120 "$BIN" mount "$base" "$mnt" -f -o version_max_age=600,noatime 2>"$work/daemon.err" &
  daemon=$!
  while ! [ -d "$mnt/ctl" ] && kill -0 "$daemon" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
    sleep 0.05
  done
  if [ -d "$mnt/ctl" ]; then
    client list find "$mnt/s2"
    # The files of the run without failures, so that a failed listing does not hide them.
    [ "$n" != 0 ] || find "$mnt/s2" -type f -printf '%P\0' >"$work/files0"
    client read bash -c 'cd "$1" && xargs -0 cat <"$2"' _ "$mnt/s2" "$work/files0"
    client stats cat "$mnt/ctl/stats"
    client write bash -c 'echo "$1" >"$2"' _ "$work/source" "$mnt/ctl/compact/s1"
    wrc=$(cat "$work/write.rc")
    client status cat "$mnt/ctl/compact/s1"
    if ! fusermount3 -u "$mnt" 2>>"$work/unmount.err" && ! { sleep 1 && fusermount3 -u "$mnt" 2>>"$work/unmount.err"; }; then
      echo "failalloc.sh: fusermount3 -u failed" >>"$work/unmount.err"
      fusermount3 -uz "$mnt"
    fi
  fi
  wait "$daemon" || rc=$?
  daemon=
  if mountpoint -q "$mnt"; then
    echo "failalloc.sh: the mount was left behind" >>"$work/unmount.err"
    fusermount3 -uz "$mnt"
  fi
  cat "$work/daemon.err" "$work/unmount.err" >"$work/err"
  for step in "${steps[@]}"; do
    if [ -f "$work/$step.rc" ]; then cat "$work/$step.err" >>"$work/err"; fi
  done
}

# Whether the operation took effect: the command succeeded, or for mount the
# ctl write did.
took_effect() { if [ "$wrc" = none ]; then [ "$rc" = 0 ]; else [ "$wrc" = 0 ]; fi; }

# What a run got wrong, one clause each; judge() collects them.
problem() { problems+="${problems:+; }$*"; }

# The base dumps like the file WANT.
base_is() {
  if ! "$BIN" dump "$base" >"$work/base.dump" 2>"$work/base.dump.err"; then
    problem "the base no longer dumps: $(head -c 300 "$work/base.dump.err")"
  elif ! cmp -s "$work/base.dump" "$1"; then
    problem "the base's dump differs from $(basename "$1")"
  fi
}

# The commands on the mount: each succeeded with the output of the run
# without failures (stats and status: any), or failed with ENOMEM or EIO.
judge_steps() {
  local step st failed=0
  for step in "${steps[@]}"; do
    st=$(cat "$work/$step.rc")
    if [ "$st" != 0 ]; then
      failed=1
      grep -Eq "$fs_error" "$work/$step.err" || problem "$step failed (exit $st) without ENOMEM or EIO"
    elif [ "$step" = list ] || [ "$step" = read ]; then
      cmp -s "$work/$step.out" "$work/$step.expect" || problem "$step's output differs"
    fi
  done
  if [ "$wrc" = 0 ] && [ "$(cat "$work/status.rc")" = 0 ] && ! grep -q '"state":"done"' "$work/status.out"; then
    problem "the compaction succeeded but its status is $(cat "$work/status.out")"
  fi
  if [ $failed = 1 ]; then outcome=oom; fi
}

# Judges the run just made of OP with allocation N failing: sets outcome (oom:
# an error was reported; absorbed: everything succeeded all the same; past: N
# was past the last allocation) and problems (empty when the run was right).
judge() {
  local op=$1 fired left
  problems='' outcome=''
  fired=$(grep -c '^fail ' "$report" 2>/dev/null || true)
  if grep -Eq "$sanitizer" "$work/err" || [ "$rc" = 86 ]; then problem "a sanitizer report"; fi
  case $rc in 124 | 137) problem "timed out" ;; esac
  if [ "$op" != mount ]; then
    if [ "$fired" = 0 ]; then
      outcome=past
      [ "$rc" = 0 ] || problem "exit $rc although no allocation failed"
    elif [ "$rc" = 0 ]; then
      outcome=absorbed
    elif [ "$rc" = 1 ]; then
      outcome=oom
      grep -Eq "$oom" "$work/err" || problem "exit 1 without '$oom' on stderr"
    else
      problem "exit $rc (want 1)"
    fi
  elif [ "$wrc" = none ]; then
    outcome=oom
    [ "$fired" != 0 ] || problem "the daemon exited with $rc before mounting although no allocation failed"
    [ "$rc" = 1 ] || problem "the daemon exited with $rc before mounting (want 1)"
    grep -Eq "$oom" "$work/daemon.err" || problem "the daemon exited before mounting without '$oom'"
  else
    outcome=absorbed
    judge_steps
    if [ "$rc" != 0 ]; then
      outcome=oom
      if ! { [ "$rc" = 1 ] && grep -Eq "$oom" "$work/daemon.err"; }; then
        problem "the daemon exited with $rc after the unmount"
      fi
    fi
    if [ "$fired" = 0 ]; then
      [ "$outcome" = absorbed ] || problem "a command failed although no allocation failed"
      outcome=past
    fi
    if grep -q '^failalloc.sh: ' "$work/unmount.err"; then problem "the unmount failed"; fi
  fi
  left=$(ls -A "$base/staging" 2>/dev/null || true)
  [ -z "$left" ] || problem "staging not empty: $left"
  # The read-only opens' private directory may stay, empty.
  left=$(find "$TMPDIR" -mindepth 1 ! -path "$TMPDIR/syncstore-ro-$(id -u)" 2>/dev/null)
  [ -z "$left" ] || problem "left in TMPDIR: $left"
  rm -rf "${TMPDIR:?}"/*
  if took_effect; then
    base_is "$work/$op.expect"
    if [ "$op" = dump ] && ! cmp -s "$work/out" "$work/pristine.dump"; then problem "dump's output differs"; fi
  elif [ "$op" = gen ]; then
    # A failed gen leaves an empty store, or an empty directory for the next
    # creation (db/ there would make it refuse the directory).
    left=$(ls -A "$base" 2>/dev/null || true)
    if [ -n "$left" ] && ! "$BIN" dump "$base" 2>&1 | cmp -s - /dev/null; then
      problem "the failed gen left neither an empty store nor an empty directory: $(echo $left)"
    fi
    if ! "$BIN" "${args[@]}" >/dev/null 2>"$work/gen.err"; then
      problem "the next gen failed: $(head -c 300 "$work/gen.err")"
    fi
    base_is "$work/gen.expect"
  else
    base_is "$work/pristine.dump"
  fi
}

# Every N in the full form; in the short form every N up to 20, then every
# stride-th (set per operation from its allocations).
wanted() { [ "$full" = 1 ] || [ "$1" -le 20 ] || [ $((($1 - 20) % stride)) = 0 ]; }

status=0
for op in "${ops[@]}"; do
  start=$SECONDS
  # The run without failures: the expected results and the allocations made.
  fresh_base "$op"
  run_op "$op" 0
  if ! took_effect || [ "$rc" != 0 ]; then
    die "$op: the run without failures failed: $(cat "$work/err")"
  fi
  if [ "$op" = mount ]; then
    for step in "${steps[@]}"; do
      [ "$(cat "$work/$step.rc")" = 0 ] || die "mount: $step failed in the run without failures: $(cat "$work/$step.err")"
      cp "$work/$step.out" "$work/$step.expect"
    done
  fi
  "$BIN" dump "$base" >"$work/$op.expect"
  rm -rf "${TMPDIR:?}"/*
  total=$(sed -n 's/^calls //p' "$report" | tail -n 1)
  [ -n "$total" ] || die "$op: no allocation count: is $build a failalloc build (-DSYNCSTORE_FAILALLOC=ON)?"
  stride=$((total > 20 ? (total - 20 + 29) / 30 : 1))
  runs=0 wrong=0 oom_runs=0 absorbed=0 n=0
  while :; do
    n=$((n + 1))
    if [ -n "${SYNCSTORE_FAILALLOC_N:-}" ]; then
      [ "$n" = "$SYNCSTORE_FAILALLOC_N" ] || continue
    elif [ "$n" -le "$total" ] && ! wanted "$n"; then
      continue
    fi
    fresh_base "$op"
    run_op "$op" "$n"
    judge "$op"
    runs=$((runs + 1))
    if [ -n "$problems" ]; then
      wrong=$((wrong + 1))
      status=1
      what="exit $rc"
      [ "$op" != mount ] || what="daemon exit $rc, ctl write exit $wrc"
      echo "FAIL: $op with allocation $n failing ($what): $problems"
      head -n 40 "$work/err" | sed 's/^/    /'
    fi
    if [ -n "${SYNCSTORE_FAILALLOC_N:-}" ]; then
      echo "  $op N=$n: $outcome; stderr:"
      sed 's/^/    /' "$work/err"
      break
    elif [ "${SYNCSTORE_FAILALLOC_VERBOSE:-0}" = 1 ]; then
      echo "  $op N=$n: $outcome: $(grep -v '^syncstore\[[0-9]*\]: info: ' "$work/err" | head -n 1)"
    fi
    case $outcome in oom) oom_runs=$((oom_runs + 1)) ;; absorbed) absorbed=$((absorbed + 1)) ;; past) break ;; esac
    if [ "$n" -gt $((total * 2 + 100)) ]; then
      echo "FAIL: $op: allocation $n still happens, $total in the run without failures"
      status=1
      break
    fi
  done
  echo "failalloc: $op: $total allocations; $runs runs (N up to $n): $oom_runs out of memory," \
    "$absorbed absorbed, $wrong wrong; $((SECONDS - start)) s"
done
exit $status
