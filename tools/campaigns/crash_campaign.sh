#!/usr/bin/env bash
# crash_campaign.sh - SIGKILL the mount daemon in the middle of ctl/compact
# writes, N times, and check after every crash that the base is intact.
#
# Usage:  tools/campaigns/crash_campaign.sh [N]          (N trials, default 10; CI runs 10)
#
#   SYNCSTORE_BIN=PATH     the syncstore binary to test; without it the script
#                          builds one with tools/dev/build.sh into
#                          ${SYNCSTORE_BUILD_DIR:-build}
#   CRASH_SEED=S           replay a campaign (the seed is printed at the start)
#   CRASH_GRANTS=N         grants per generated sync (default 3000, ~9,400 keys)
#   CRASH_KEEP=1           keep the work directory when a trial fails
#
# Needs root (or FUSE access), fusermount3 and /dev/fuse.  Everything happens in
# a fresh `mktemp -d` directory that is removed at the end; an EXIT trap kills
# the processes this script started (by pid) and unmounts its own mountpoint,
# lazily if it must, so no stale mount is ever left behind.
#
# The world: a base with syncs "alpha", "targe" (sorts right before the target's
# range), "target" and "target-x" (sorts right after it), and source stores:
# src-a holds "target" = A (the base's initial copy), src-b holds "target" = B
# (other seed, more grants); both hold a different "alpha" (which must never
# reach the base).  Each version is there twice: src-X-stream, written by gen
# twice (a replaced sync, whose files overlap: a compaction from it streams),
# and src-X, made by compacting src-X-stream into a store without the sync
# (SST files at sequence number 0 inside the range: a compaction from it takes
# the copy path).  Every fingerprint is `syncstore dump STORE SYNC | sha256sum`.
#
# One trial: mount the base with `syncstore mount -f` in the background (so the
# daemon's pid is $!), write the other version's source into
# MNT/ctl/compact/target in the background, SIGKILL the daemon, then
#   - reap the daemon and the writer (a writer hung on the dead mount is a
#     failure) and unmount the dead mount (fusermount3 -u, else -uz);
#   - note what is in BASE/staging right after the crash (reported, allowed:
#     leftovers are removed at the next read-write open);
#   - `syncstore dump` must open the store as it is (no repair) and exit 0, and
#     "target" must be exactly the old version or exactly the new one;
#     "alpha", "targe" and "target-x" must be byte-identical to the start;
#   - where the kill landed must agree with the outcome: a kill in the stream
#     pause or in the pause before the ingest call must leave OLD, one in the
#     pause after the ingest call, or after the write had returned, NEW;
#   - if the binary has a `check` command, `syncstore check BASE` must pass
#     (right after the crash only when staging is empty, since check counts
#     leftovers as a problem; always after the remount below);
#   - remount (no pause): MNT/ctl appears, BASE/staging is empty once the
#     read-write open is done, ctl/compact/target is not "running" (and a
#     "done" for this trial's source implies NEW), `find MNT/target -type f`
#     counts exactly the outcome version's keys, a file of another sync reads;
#     `fusermount3 -u` then stops the daemon with status 0 and staging is empty.
# The next trial compacts towards the other version again (A->B after an
# "old", B->A after a "new"), so both outcomes stay reachable.
#
# Where the kill lands, cycling through six modes with random delays; stream
# trials use the streaming sources, copy trials the copying ones, and the other
# modes alternate between the two paths from one round of modes to the next:
#   random     no pause hook; a delay uniform in [0, T], T the measured duration
#              of one compaction through the mount (labelled afterwards from the
#              evidence: before any staging file, while building pieces, after
#              the switch, after the write returned)
#   stream     SYNCSTORE_TEST_PAUSE_INGEST=0,0,600: inside the compactor's pause
#              after the first 4096 source keys (expect old)
#   before     600,0: inside the pause right before the ingest call (expect old)
#   ingest     200,0: at the end of that pause, -10..+3 ms, i.e. right before,
#              inside or right after the ingest call (old or new)
#   after      0,600: inside the pause right after the ingest call (expect new)
#   copy       0,0,0,600: inside the pause in the middle of copying the first
#              SST file into BASE/staging (expect old)
# A pause is seen as the daemon thread sleeping in nanosleep (/proc/PID/task/
# */wchan, else the syscall number); the daemon uses no other sleep.  The pause
# is checked again right before the kill; a trial whose pause was reached but
# had ended by the kill is labelled from the evidence, as a random one is; a
# trial whose pause was never reached fails.
#
# Errors (any one makes the script exit 1): a dump that fails or a fingerprint
# that is neither old nor new, another sync changed, an outcome contradicting
# where the kill landed, a failing check, staging not empty after the remount,
# a remount or clean unmount that fails, a status left "running", a wrong file
# count through the mount, a hung writer, a mount left behind, a source store
# changed at the end (its dump, or any SST file's bytes or mtime), a finished
# compaction whose status names the other method.  The campaign stops early when the store's state is no
# longer known (target neither old nor new).
set -euo pipefail
export LC_ALL=C
unset SYNCSTORE_TEST_PAUSE_INGEST

N=${1:-10}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [N]  (N >= 1 trials)" >&2; exit 2; }
GRANTS=${CRASH_GRANTS:-3000}
SEED=${CRASH_SEED:-$(( (RANDOM << 15 | RANDOM) ))}
RANDOM=$SEED
CAMPAIGN=crash_campaign
# shellcheck source=tools/campaigns/campaign_lib.sh
source "$(dirname "$0")/campaign_lib.sh"
campaign_setup
DPID=0 WPID=0
FAILED=0 KEEP=0

cleanup() {
  local rc=$?
  set +e
  [ "$WPID" -gt 0 ] && kill -KILL "$WPID" 2>/dev/null
  if [ "$DPID" -gt 0 ] && alive "$DPID"; then
    kill -TERM "$DPID" 2>/dev/null
    for _ in $(seq 50); do alive "$DPID" || break; sleep 0.1; done
    alive "$DPID" && kill -KILL "$DPID" 2>/dev/null
  fi
  force_unmount
  wait 2>/dev/null
  if is_mounted; then
    echo "crash_campaign: warning: $MNT is still mounted; $WORK left in place" >&2
  elif [ "$KEEP" = 1 ]; then
    echo "crash_campaign: the work directory is kept: $WORK" >&2
  else
    rm -rf --one-file-system "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
rand() { echo $(( (RANDOM << 15 | RANDOM) % $1 )); }
sleep_ms() { [ "$1" -gt 0 ] && sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))" || true; }

# syscall numbers of nanosleep/clock_nanosleep, for kernels whose wchan is blank
case $(uname -m) in
  x86_64) SLEEP_NRS=" 35 230 " ;;
  aarch64 | arm64) SLEEP_NRS=" 101 115 " ;;
  *) SLEEP_NRS=" " ;;
esac

# Whether a thread of the daemon sleeps in the test pause (builtins only: fast).
in_pause() {
  local f w
  for f in /proc/"$DPID"/task/*/wchan; do
    w=
    { read -r w <"$f"; } 2>/dev/null || true
    [[ $w == *nanosleep* ]] && return 0
  done
  for f in /proc/"$DPID"/task/*/syscall; do
    w=
    { read -r w _ <"$f"; } 2>/dev/null || true
    [[ -n $w && $SLEEP_NRS == *" $w "* ]] && return 0
  done
  return 1
}

# Waits (up to 10 s) until the daemon sleeps in the pause; 1 if the writer
# ended or the time ran out first.
wait_pause() {
  local deadline=$(( $(now_ms) + 10000 )) t
  while :; do
    in_pause && return 0
    alive "$WPID" || return 1
    t=${EPOCHREALTIME/./}
    [ $((t / 1000)) -lt "$deadline" ] || return 1
  done
}

staging_count() { local n; n=$(find "$BASE/staging" -mindepth 1 2>/dev/null | wc -l) || true; echo "$n"; }

fp() {
  local out
  out=$("$BIN" dump "$1" "$2" 2>>"$WORK/dump.err" | sha256sum) || return 1
  echo "${out%% *}"
}

# Starts the daemon (-f, in the background) with an optional pause spec and
# waits for MNT/ctl.  Returns 1 (and prints the log) when it does not mount.
start_daemon() {
  local pause=$1
  : >"$DLOG"
  if [ -n "$pause" ]; then
    SYNCSTORE_TEST_PAUSE_INGEST=$pause TMPDIR=$WORK/tmp "$BIN" mount "$BASE" "$MNT" -f \
      </dev/null >>"$DLOG" 2>&1 &
  else
    TMPDIR=$WORK/tmp "$BIN" mount "$BASE" "$MNT" -f </dev/null >>"$DLOG" 2>&1 &
  fi
  DPID=$!
  for _ in $(seq 1000); do
    [ -d "$MNT/ctl" ] && return 0
    alive "$DPID" || break
    sleep 0.01
  done
  echo "  the daemon did not mount; its log:" >&2
  sed 's/^/    daemon: /' "$DLOG" >&2
  kill -KILL "$DPID" 2>/dev/null || true
  wait "$DPID" 2>/dev/null || true
  DPID=0
  force_unmount
  return 1
}

# Unmounts cleanly and waits for the daemon; its exit status goes to STOP_ST.
# (No command substitution around it or reap_writer: `wait` needs this shell.)
stop_daemon() {
  local st=0
  for _ in $(seq 30); do
    fusermount3 -u "$MNT" 2>/dev/null && break
    sleep 0.1
  done
  for _ in $(seq 150); do alive "$DPID" || break; sleep 0.1; done
  if alive "$DPID"; then
    kill -KILL "$DPID" 2>/dev/null || true
    st=timeout
    wait "$DPID" 2>/dev/null || true
  else
    wait "$DPID" || st=$?
  fi
  DPID=0
  force_unmount
  STOP_ST=$st
}

# Waits up to 10 s for the background writer; its status (or "hung") goes to REAP_ST.
reap_writer() {
  local st=0
  for _ in $(seq 1000); do alive "$WPID" || break; sleep 0.01; done
  if alive "$WPID"; then
    kill -KILL "$WPID" 2>/dev/null || true
    wait "$WPID" 2>/dev/null || true
    st=hung
  else
    wait "$WPID" 2>/dev/null || st=$?
  fi
  WPID=0
  REAP_ST=$st
}

status_field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",]*\\).*/\\1/p"; }

# ---------------------------------------------------------------- the world
t_start=$(now_ms)
log "crash campaign: $N trials, seed $SEED (CRASH_SEED=$SEED replays), binary $BIN"
log "work directory $WORK"
gen() { "$BIN" gen "$1" "$2" --grants "$3" --seed "$4" >/dev/null; }
gen "$BASE" alpha "$GRANTS" 1
gen "$BASE" targe "$GRANTS" 2
gen "$BASE" target "$GRANTS" 3
gen "$BASE" target-x "$GRANTS" 4
# Each version twice: src-X-stream written by gen twice (a replaced sync: its
# files overlap, so a compaction from it streams) and src-X written by
# compacting that one into a store that lacks the sync (its SST files sit at
# sequence number 0, wholly inside the range: a compaction from it copies).
SRC_AS=$WORK/src-a-stream SRC_BS=$WORK/src-b-stream
gen "$SRC_AS" target "$GRANTS" 3
gen "$SRC_AS" target "$GRANTS" 3
gen "$SRC_BS" target $((GRANTS + GRANTS / 3)) 5
gen "$SRC_BS" target $((GRANTS + GRANTS / 3)) 5
gen "$SRC_A" alpha 10 7
"$BIN" compact "$SRC_A" "$SRC_AS" target >/dev/null
gen "$SRC_B" alpha "$GRANTS" 6
"$BIN" compact "$SRC_B" "$SRC_BS" target >/dev/null

OTHERS=(alpha targe target-x)
declare -A FP_OTHER
for s in "${OTHERS[@]}"; do FP_OTHER[$s]=$(fp "$BASE" "$s"); done
FP_A=$(fp "$SRC_A" target)
FP_B=$(fp "$SRC_B" target)
FP_SRC_B_ALPHA=$(fp "$SRC_B" alpha)
KEYS_A=$("$BIN" dump "$SRC_A" target | wc -l)
KEYS_B=$("$BIN" dump "$SRC_B" target | wc -l)
[ "$(fp "$BASE" target)" = "$FP_A" ] || die "the base's target does not equal src-a's"
[ "$FP_A" != "$FP_B" ] || die "versions A and B are identical"
[ "${FP_OTHER[alpha]}" != "$FP_SRC_B_ALPHA" ] || die "src-b's alpha equals the base's"
[ "$(fp "$SRC_AS" target)" = "$FP_A" ] && [ "$(fp "$SRC_BS" target)" = "$FP_B" ] ||
  die "the streaming sources differ from the copying ones"
declare -A FP_OF=([A]=$FP_A [B]=$FP_B) KEYS_OF=([A]=$KEYS_A [B]=$KEYS_B)
declare -A SRC_COPY=([A]=$SRC_A [B]=$SRC_B) SRC_STREAM=([A]=$SRC_AS [B]=$SRC_BS)
declare -A SRC_OF=([A]=$SRC_A [B]=$SRC_B)
# the method a finished compaction from each kind of source reports
method_of() { sed -n 's/.*"method":"\([a-z]*\)".*/\1/p' "$MNT/ctl/compact/target"; }
other_version() { [ "$1" = A ] && echo B || echo A; }
log "target: A = $KEYS_A keys, B = $KEYS_B keys; others: ${OTHERS[*]}"

# ---------------------------------------------------------------- calibration
# Two compactions through the mount without a kill (A->B->A) measure T and
# check that the pause is visible; the content must be B, then A.
start_daemon "" || die "cannot mount the base"
T=0
for v in B A; do
  t0=$(now_ms)
  printf '%s\n' "${SRC_OF[$v]}" >"$MNT/ctl/compact/target" || die "calibration compaction to $v failed"
  T=$((T + $(now_ms) - t0))
  [ "$(status_field state <"$MNT/ctl/compact/target")" = "done" ] || die "calibration: status is not done"
  [ "$(method_of)" = copy ] || die "calibration: the compaction from ${SRC_OF[$v]} did not copy"
  n=$(find "$MNT/target" -type f | wc -l) || die "calibration: find MNT/target failed"
  [ "$n" = "${KEYS_OF[$v]}" ] || die "calibration: $n files under MNT/target, expected ${KEYS_OF[$v]}"
done
printf '%s\n' "${SRC_STREAM[B]}" >"$MNT/ctl/compact/target" || die "calibration: stream to B failed"
[ "$(method_of)" = stream ] || die "calibration: the compaction from $SRC_BS did not stream"
printf '%s\n' "${SRC_STREAM[A]}" >"$MNT/ctl/compact/target" || die "calibration: stream to A failed"
T=$((T / 2))
[ "$T" -ge 10 ] || T=10
stop_daemon
[ "$STOP_ST" = 0 ] || die "calibration: the daemon exited with $STOP_ST"
[ "$(fp "$BASE" target)" = "$FP_A" ] || die "calibration: target is not A after A->B->A"
start_daemon "300,0" || die "cannot mount the base"
( printf '%s\n' "$SRC_B" >"$MNT/ctl/compact/target" ) 2>/dev/null &
WPID=$!
wait_pause || die "calibration: the test pause (SYNCSTORE_TEST_PAUSE_INGEST) is not visible in /proc/$DPID/task/*/wchan"
reap_writer
[ "$REAP_ST" = 0 ] || die "calibration: the paused compaction failed ($REAP_ST)"
stop_daemon
[ "$STOP_ST" = 0 ] || die "calibration: the daemon exited with $STOP_ST"
CUR=B
[ "$(fp "$BASE" target)" = "$FP_B" ] || die "calibration: target is not B"
log "one compaction through the mount takes T = $T ms; the pause hook is visible"

HAVE_CHECK=0
if "$BIN" check --help >/dev/null 2>&1; then HAVE_CHECK=1; log "syncstore check: present, run after every crash"
else log "syncstore check: not in this binary, skipped"; fi
DB_FILES_START=$(find "$BASE/db" -type f | wc -l)
# the sources' SST files (bytes and mtime): never changed by a compaction
sst_sums() { (cd "$1/db" && { find . -name '*.sst' -exec sha256sum {} +; find . -name '*.sst' -printf '%p %T@\n'; } | sort); }
declare -A SST_SUMS
for s in "$SRC_A" "$SRC_B" "$SRC_AS" "$SRC_BS"; do
  SST_SUMS[$s]=$(sst_sums "$s")
done

# ---------------------------------------------------------------- trials
MODES=(random before after stream ingest copy)
declare -A CNT
N_OLD=0 N_NEW=0 N_FAIL=0
STOP=0
fail() { FAILED=1; TRIAL_FAIL+=("$*"); }

for ((trial = 1; trial <= N && !STOP; trial++)); do
  TRIAL_FAIL=()
  mode=${MODES[$(((trial - 1) % ${#MODES[@]}))]}
  old=$CUR new=$(other_version "$CUR")
  case $mode in
    random) pause= ;;
    stream) pause=0,0,600 ;;
    before) pause=600,0 ;;
    ingest) pause=200,0 ;;
    after) pause=0,600 ;;
    copy) pause=0,0,0,600 ;;
  esac
  # the path: stream and copy have their own; the others alternate, by the
  # round of the modes (so each mode meets both paths)
  path=copy
  if [ "$mode" = stream ] || { [ "$mode" != copy ] && [ $(( (trial - 1) / ${#MODES[@]} % 2 )) = 1 ]; }; then
    path=stream
  fi
  if [ "$path" = stream ]; then SRC_OF=([A]=$SRC_AS [B]=$SRC_BS); else SRC_OF=([A]=$SRC_A [B]=$SRC_B); fi
  t_trial=$(now_ms)
  if ! start_daemon "$pause"; then
    fail "mount failed"
    N_FAIL=$((N_FAIL + 1)); STOP=1
    log "trial $trial: FAIL: mount failed"
    break
  fi
  ( printf '%s\n' "${SRC_OF[$new]}" >"$MNT/ctl/compact/target" ) 2>>"$WORK/writer.err" &
  WPID=$!
  where="" detail=""
  case $mode in
    random)
      d=$(rand $((T + 1)))
      sleep_ms "$d"
      detail="after ${d} ms"
      ;;
    stream | before | after | copy)
      if wait_pause; then
        d=$(rand 300)
        sleep_ms "$d"
        if in_pause; then where=$mode; detail="${d} ms into the pause"
        else detail="pause missed"; fi
      else
        detail="pause not seen"
        fail "the $mode pause was never reached: the trial cannot say where the kill landed"
      fi
      ;;
    ingest)
      if wait_pause; then
        t0=${EPOCHREALTIME/./}
        off=$(( $(rand 14) - 10 ))
        target_us=$((t0 + (200 + off) * 1000))
        t=${EPOCHREALTIME/./}
        if [ "$target_us" -gt "$t" ]; then
          us=$((target_us - t))
          sleep "$(printf '%d.%06d' $((us / 1000000)) $((us % 1000000)))"
        fi
        where=ingest
        t=${EPOCHREALTIME/./}
        detail="pause end $(printf '%+d' $(( (t - t0) / 1000 - 200 ))) ms"
      else
        detail="pause not seen"
        fail "the $mode pause was never reached: the trial cannot say where the kill landed"
      fi
      ;;
  esac
  writer_done_before_kill=0
  alive "$WPID" || writer_done_before_kill=1
  kill -KILL "$DPID" 2>/dev/null || true
  dst=0
  wait "$DPID" 2>/dev/null || dst=$?
  DPID=0
  reap_writer
  ws=$REAP_ST
  [ "$ws" = hung ] && fail "the ctl/compact writer hung after the daemon died"
  force_unmount
  is_mounted && { fail "the dead mount could not be removed"; STOP=1; }
  [ "$dst" = 137 ] || fail "the daemon ended with status $dst, not by SIGKILL"
  staged=$(staging_count)

  # the store as the crash left it
  outcome="?" fp_t=""
  if fp_t=$(fp "$BASE" target); then
    if [ "$fp_t" = "${FP_OF[$old]}" ]; then outcome=old
    elif [ "$fp_t" = "${FP_OF[$new]}" ]; then outcome=new
    else fail "target is neither old ($old) nor new ($new)"; STOP=1; fi
  else
    fail "dump of target failed after the crash: $(tail -n 1 "$WORK/dump.err")"; STOP=1
  fi
  for s in "${OTHERS[@]}"; do
    if ! f=$(fp "$BASE" "$s"); then fail "dump of $s failed"; STOP=1
    elif [ "$f" != "${FP_OTHER[$s]}" ]; then fail "sync $s changed"; STOP=1; fi
  done
  # check counts staging leftovers as a problem: right after the crash it runs
  # only when there are none; after the remount it always runs
  if [ "$HAVE_CHECK" = 1 ] && [ "$staged" = 0 ] && ! "$BIN" check "$BASE" >"$WORK/check.out" 2>&1; then
    fail "syncstore check failed right after the crash: $(tail -n 2 "$WORK/check.out" | tr '\n' ' ')"
  fi

  # where the kill landed, and whether the outcome agrees
  if [ "$writer_done_before_kill" = 1 ]; then
    if [ "$ws" = 0 ]; then where=returned
    else fail "the compaction failed before the kill (writer status $ws)"; where=${where:-failed-early}; fi
  fi
  if [ -z "$where" ]; then
    case $outcome in
      old) [ "$staged" -gt 0 ] && where=building || where=pre-staging ;;
      new) where=switched ;;
      *) where=unknown ;;
    esac
  fi
  case $where in
    stream | before | copy) [ "$outcome" = old ] || fail "killed in the $where pause but the outcome is $outcome" ;;
    after | returned | switched) [ "$outcome" = new ] || fail "killed $where but the outcome is $outcome" ;;
  esac

  # remount: staging cleaned, status sane, the tree counts the outcome's keys
  if [ "$STOP" = 0 ]; then
    if start_daemon ""; then
      left=$(staging_count)
      [ "$left" = 0 ] || fail "BASE/staging holds $left entries after the read-write open"
      stat_json=$(cat "$MNT/ctl/compact/target" 2>/dev/null) || fail "cannot read ctl/compact/target"
      state=$(status_field state <<<"$stat_json")
      ssrc=$(status_field source <<<"$stat_json")
      [ "$state" = running ] && fail "ctl/compact/target still says running after the remount"
      [ "$state" = "done" ] && [ "$ssrc" = "${SRC_OF[$new]}" ] && [ "$outcome" != new ] &&
        fail "status done for this trial's source but the outcome is $outcome"
      [ "$state" = "done" ] && [ "$ssrc" = "${SRC_OF[$new]}" ] && [ "$(method_of)" != "$path" ] &&
        fail "the compaction went by $(method_of), expected $path"
      want=${KEYS_OF[$new]}
      [ "$outcome" = old ] && want=${KEYS_OF[$old]}
      n=$(find "$MNT/target" -type f 2>"$WORK/find.err" | wc -l) ||
        fail "find MNT/target failed: $(head -n 2 "$WORK/find.err" | tr '\n' ' ')"
      [ "$n" = "$want" ] || fail "find MNT/target counts $n files, expected $want ($outcome)"
      head -c 64 "$MNT/alpha/resource_types/user" >/dev/null 2>&1 ||
        fail "cannot read MNT/alpha/resource_types/user after the remount"
      stop_daemon
      [ "$STOP_ST" = 0 ] || fail "the remounted daemon exited with $STOP_ST on unmount"
      left=$(staging_count)
      [ "$left" = 0 ] || fail "BASE/staging holds $left entries after the unmount"
      if [ "$HAVE_CHECK" = 1 ] && ! "$BIN" check "$BASE" >"$WORK/check.out" 2>&1; then
        fail "syncstore check failed after the remount: $(tail -n 2 "$WORK/check.out" | tr '\n' ' ')"
      fi
    else
      fail "remount failed"; STOP=1
    fi
  fi

  case $outcome in
    old) N_OLD=$((N_OLD + 1)) ;;
    new) N_NEW=$((N_NEW + 1)); CUR=$new ;;
  esac
  CNT[$where,$outcome]=$(( ${CNT[$where,$outcome]:-0} + 1 ))
  [ "$staged" -gt 0 ] && CNT[$where,staged]=$(( ${CNT[$where,staged]:-0} + 1 ))
  ms=$(( $(now_ms) - t_trial ))
  if [ ${#TRIAL_FAIL[@]} -gt 0 ]; then
    N_FAIL=$((N_FAIL + 1))
    printf 'trial %3d  %-7s %-6s %-11s %-4s (%s->%s) staging-after-crash=%d %5d ms  FAIL\n' \
      "$trial" "$mode" "$path" "$where" "$outcome" "$old" "$new" "$staged" "$ms"
    printf '           - %s\n' "${TRIAL_FAIL[@]}"
    sed 's/^/           daemon: /' "$DLOG" | tail -n 20
  else
    printf 'trial %3d  %-7s %-6s %-11s %-4s (%s->%s) staging-after-crash=%d %5d ms  %s\n' \
      "$trial" "$mode" "$path" "$where" "$outcome" "$old" "$new" "$staged" "$ms" "$detail"
  fi
done
done_trials=$((trial - 1))

# ---------------------------------------------------------------- the end
[ "$(fp "$SRC_A" target)" = "$FP_A" ] || { FAILED=1; echo "src-a changed" >&2; }
[ "$(fp "$SRC_B" target)" = "$FP_B" ] || { FAILED=1; echo "src-b's target changed" >&2; }
[ "$(fp "$SRC_B" alpha)" = "$FP_SRC_B_ALPHA" ] || { FAILED=1; echo "src-b's alpha changed" >&2; }
for s in "$SRC_A" "$SRC_B" "$SRC_AS" "$SRC_BS"; do
  [ "$(sst_sums "$s")" = "${SST_SUMS[$s]}" ] ||
    { FAILED=1; echo "an SST file of $s changed" >&2; }
done
DB_FILES_END=$(find "$BASE/db" -type f | wc -l)
TMP_LEFT=$(find "$WORK/tmp" -mindepth 1 -maxdepth 1 | wc -l)
secs=$(( ($(now_ms) - t_start) / 1000 ))

echo
echo "== summary: $done_trials trials in ${secs} s (seed $SEED, T = $T ms)"
echo "   outcomes: old $N_OLD, new $N_NEW; failures $N_FAIL"
echo "   where the kill landed (old/new; trials with staging files right after the crash):"
for w in pre-staging building stream before ingest after switched returned unknown failed-early; do
  o=${CNT[$w,old]:-0} n=${CNT[$w,new]:-0} q=${CNT[$w,?]:-0} s=${CNT[$w,staged]:-0}
  [ $((o + n + q)) -gt 0 ] || continue
  printf '     %-12s %3d  (old %d, new %d%s; staging files left %d)\n' "$w" $((o + n + q)) "$o" "$n" \
    "$([ "$q" -gt 0 ] && echo ", unknown $q")" "$s"
done
echo "   files in BASE/db: $DB_FILES_START at the start, $DB_FILES_END at the end;" \
  "entries left in the daemons' TMPDIR: $TMP_LEFT"
if [ "$FAILED" != 0 ] || [ "$N_FAIL" -gt 0 ] || [ "$done_trials" -lt "$N" ]; then
  [ "${CRASH_KEEP:-0}" = 1 ] && KEEP=1
  echo "== FAILED" >&2
  exit 1
fi
echo "== PASSED"
