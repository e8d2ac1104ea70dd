#!/usr/bin/env bash
# soak.sh - readers walk and read a mounted base for MINUTES while its syncs
# are compacted back to back through ctl/compact; checks that no reader ever
# fails, that the daemon does not grow, and reports read latency idle vs busy.
#
# Usage:  tools/campaigns/soak.sh [MINUTES]        (default 5; CI runs 1; decimals allowed)
#
#   SYNCSTORE_BIN=PATH     the syncstore binary; without it the script builds one
#                          with tools/dev/build.sh into ${SYNCSTORE_BUILD_DIR:-build}
#   SOAK_GRANTS=N          grants per sync (default 60000: ~184,000 keys, 30 MB of
#                          records; one compaction takes 1-4 s under the load)
#   SOAK_READERS="..."     reader modes, one process each (default
#                          "cat cat cat cat find ls path mixed"; see below)
#   SOAK_SAMPLE_SECS=S     how often the daemon is sampled (default 10)
#   SOAK_PARALLEL=1        one compaction loop per sync at the same time, instead
#                          of one loop going through the syncs in turn
#   SOAK_ALLOW_PINNED=1    report old versions still pinned at the end (see
#                          below) as a note instead of an error
#   CC=cc                  the compiler for tests/soak/soak_reader.c
#
# Needs root (or FUSE access), fusermount3, /dev/fuse and a C compiler.  All of
# it happens in a `mktemp -d` directory removed at the end; an EXIT trap kills
# every process this script started (by pid) and unmounts its mountpoint.
#
# The world: three syncs (acme, globex, initech) in two versions each: source
# src-a holds every sync's version A, src-b version B (other seeds, 10% more
# grants, so every big bucket has a different number of keys in A and B).  The
# base starts as a copy of src-a and is mounted with `syncstore mount -f`
# (default options: version_max_age stays 3600 s, longer than any walk).
#
# Phases: readers start; for the first 20% of the time (at least 15 s) nothing
# else happens ("idle"); then the readers are told (SIGUSR1) and compactions
# run back to back, each sync going A->B->A... ("busy"), until the time is up.
# The compactions finish, the readers stop, the daemon is sampled a last time,
# the base is unmounted, and every sync must equal the source of its last
# compaction (`syncstore dump | sha256sum`), with BASE/staging empty.
#
# Readers (tests/soak/soak_reader.c, built here with $CC; its header has the
# details): each walk takes one bucket of one sync, opening MNT/<sync> once and
# everything below it relative to that descriptor, streaming (readdir, no
# listing kept in memory).  Modes: cat (reads ~1000 files per walk, each to EOF,
# checking st_size), find (readdir only), ls (fstatat every entry), path (like
# cat but every file and directory opened by full path from the root), mixed
# (lists the root, reads ctl/stats and every ctl/compact/<sync>, walks a small
# bucket).  Every read is followed by POSIX_FADV_DONTNEED so it reaches the
# daemon each time.  Latency: per file, openat..close; per directory, the time
# in opendir + readdir.
#
# What counts as an error (MOUNT.md "Consistency"): MNT/<sync> is one version
# of the sync and everything reached through it reads that version, even after
# a compaction replaced it, while it is in use (up to version_max_age, never
# reached here).  So a walk that goes through its directory descriptors must
# never fail: ENOENT, ESTALE, EIO, a short read (bytes != st_size) are all
# errors, and a complete walk must count exactly version A's or version B's
# files for that bucket (a mix would be an error).  Only mode "path" may see
# ENOENT legitimately: re-resolving a path from the root after the switch lands
# in the new version, where a key of the old one may be gone; those are counted
# as "vanished", not errors.  Also errors: a failed compaction write or a status
# that is not "done" after it, a reader or the daemon dying, a reader that does
# not stop, a sync's final content not equal to its last source, staging not
# empty, an unclean unmount.
#
# Growth rule: the plateau is the largest sample (VmRSS of /proc/PID/status,
# entries of /proc/PID/fd) taken in the first third of the busy phase, when every
# cache has been filled once; the last sample, taken after the readers stopped
# and the compactions ended, fails the run if VmRSS > 2 x plateau + 64 MiB or
# fds > 2 x plateau + 32.  The growth per minute of VmRSS, live SST bytes and fds
# over the second half of the busy phase is reported too.
#
# Idle mount: once every reader has stopped, no replaced version may stay
# pinned (MOUNT.md: "an idle mount pins no replaced data"): ctl/stats
# versions.old_pinned must reach 0 within 10 s, or the run fails (a note only
# with SOAK_ALLOW_PINNED=1).  A pinned version keeps its snapshot, so the old
# copy's SST files stay on disk and open, and its inodes stay in the daemon.
#
# Exit status: 0 when all is well, 1 on any error or growth, 2 on bad usage.
set -euo pipefail
export LC_ALL=C
unset SYNCSTORE_TEST_PAUSE_INGEST

MINUTES=${1:-5}
[[ $MINUTES =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "usage: $0 [MINUTES]" >&2; exit 2; }
SECS=$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 }')
[ "$SECS" -ge 20 ] || { echo "soak: at least 20 seconds (MINUTES >= 0.34)" >&2; exit 2; }
IDLE=$((SECS / 5))
[ "$IDLE" -ge 15 ] || IDLE=15
BUSY=$((SECS - IDLE))
GRANTS=${SOAK_GRANTS:-60000}
read -r -a MODES <<<"${SOAK_READERS:-cat cat cat cat find ls path mixed}"
SAMPLE_SECS=${SOAK_SAMPLE_SECS:-10}
SYNCS=(acme globex initech)
CAMPAIGN=soak
# shellcheck source=tools/campaigns/campaign_lib.sh
source "$(dirname "$0")/campaign_lib.sh"
campaign_setup
cd "$WORK" # nothing of ours inside the mount
DPID=0 CPIDS=() RPIDS=()

cleanup() {
  local rc=$? p
  set +e
  for p in "${CPIDS[@]}" "${RPIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.2
  for p in "${CPIDS[@]}" "${RPIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  if [ "$DPID" -gt 0 ] && alive "$DPID"; then
    fusermount3 -u "$MNT" 2>/dev/null || kill -TERM "$DPID" 2>/dev/null
    for _ in $(seq 100); do alive "$DPID" || break; sleep 0.1; done
    alive "$DPID" && kill -KILL "$DPID" 2>/dev/null
  fi
  force_unmount
  wait 2>/dev/null
  cd /
  if is_mounted; then
    echo "soak: warning: $MNT is still mounted; $WORK left in place" >&2
  else
    rm -rf --one-file-system "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
T0=$(now_ms)
elapsed() { echo $(( ($(now_ms) - T0) / 1000 )); }

# ---------------------------------------------------------------- setup
log "soak: ${MINUTES} min (${IDLE} s idle, ${BUSY} s of compactions), ${#MODES[@]} readers" \
  "(${MODES[*]}), syncs ${SYNCS[*]} with ${GRANTS} grants; binary $BIN"
log "work directory $WORK"
READER=$WORK/soak_reader
"${CC:-cc}" -O2 -std=gnu11 -Wall -Wextra -o "$READER" "$root/tests/soak/soak_reader.c" ||
  die "cannot build tests/soak/soak_reader.c"

gen_all() { # STORE SEED0 GRANTS: every sync, one after the other (one store, one writer)
  local i=0 s
  for s in "${SYNCS[@]}"; do
    i=$((i + 1))
    "$BIN" gen "$1" "$s" --grants "$3" --seed $(($2 + i)) >/dev/null
  done
}
gen_all "$SRC_A" 10 "$GRANTS" &
ga=$!
gen_all "$SRC_B" 20 $((GRANTS + GRANTS / 10)) &
gb=$!
wait "$ga" || die "gen into src-a failed"
wait "$gb" || die "gen into src-b failed"
cp -a "$SRC_A" "$BASE"
declare -A SRC_OF=([A]=$SRC_A [B]=$SRC_B)

# EXPECT: "SYNC BUCKET KEYS_A KEYS_B" from syncs --json of both sources
bucket_keys() {
  "$BIN" syncs "$1" --json | grep -o '"sync_id":"[^"]*"\|"[a-z0-9_-]*":{"keys":[0-9]*' |
    awk -F'"' '/sync_id/ { s = $4; next } { split($0, a, ":"); print s, $2, a[3] }'
}
bucket_keys "$SRC_A" | sort >"$WORK/keys-a"
bucket_keys "$SRC_B" | sort >"$WORK/keys-b"
join <(awk '{ print $1 "/" $2, $3 }' "$WORK/keys-a") <(awk '{ print $1 "/" $2, $3 }' "$WORK/keys-b") |
  awk '{ split($1, p, "/"); print p[1], p[2], $2, $3 }' >"$WORK/expect"
[ "$(wc -l <"$WORK/expect")" -ge $((3 * ${#SYNCS[@]})) ] || die "cannot read the buckets of the sources"
log "setup done in $(elapsed) s: $(awk '{ a += $3; b += $4 } END { print a " keys in version A, " b " in B" }' "$WORK/expect")"

# ---------------------------------------------------------------- mount
TMPDIR=$WORK/tmp "$BIN" mount "$BASE" "$MNT" -f </dev/null >"$DLOG" 2>&1 &
DPID=$!
for _ in $(seq 1000); do
  [ -d "$MNT/ctl" ] && break
  alive "$DPID" || break
  sleep 0.01
done
[ -d "$MNT/ctl" ] || { cat "$DLOG" >&2; die "the base did not mount"; }

ERRORS=()
err() { ERRORS+=("$*"); printf 'soak: ERROR: %s\n' "$*" >&2; }

# One sample of the daemon: time, VmRSS (kB), fds, versions and inodes.
SAMPLES=$WORK/samples
sample() {
  local label=$1 rss fds stats live pinned inodes sst
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DPID/status" 2>/dev/null || echo 0)
  fds=$(find "/proc/$DPID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) || true
  stats=$(cat "$MNT/ctl/stats" 2>/dev/null || true)
  live=$(sed -n 's/.*"versions":{"current":\([0-9]*\).*/\1/p' <<<"$stats")
  pinned=$(sed -n 's/.*"old_pinned":\([0-9]*\).*/\1/p' <<<"$stats")
  inodes=$(sed -n 's/.*"inodes":\([0-9]*\).*/\1/p' <<<"$stats")
  sst=$(sed -n 's/.*"live_sst_bytes":\([0-9]*\).*/\1/p' <<<"$stats")
  printf '%s %d %d %d %s %s %s %s\n' "$label" "$(elapsed)" "${rss:-0}" "$fds" "${live:-?}" "${pinned:-?}" \
    "${inodes:-?}" "${sst:-?}" >>"$SAMPLES"
  printf '  sample %-5s t=%4d s  VmRSS %6.1f MB  fds %3d  versions %s (old pinned %s)  inodes %s  live SST %s MB\n' \
    "$label" "$(elapsed)" "$(awk -v k="${rss:-0}" 'BEGIN { print k / 1024 }')" "$fds" "${live:-?}" \
    "${pinned:-?}" "${inodes:-?}" "$(awk -v b="${sst:-0}" 'BEGIN { printf "%.1f", b / 1e6 }')"
}
sample start

# ---------------------------------------------------------------- readers
for i in "${!MODES[@]}"; do
  "$READER" run "$MNT" "${MODES[$i]}" "$i" "$WORK/r$i.stats" "$WORK/expect" "${SYNCS[@]}" \
    </dev/null >>"$WORK/readers.out" 2>&1 &
  RPIDS+=($!)
done
log "readers started: ${RPIDS[*]}"

check_alive() {
  local p
  alive "$DPID" || { err "the daemon died (see its log)"; return 1; }
  for p in "${RPIDS[@]}"; do alive "$p" || { err "reader $p ended early"; return 1; }; done
}

# Sleeps until an absolute time (ms since the epoch), sampling on the way.
NEXT_SAMPLE=$(( $(now_ms) + SAMPLE_SECS * 1000 ))
run_until() {
  local end=$1 label=$2
  while [ "$(now_ms)" -lt "$end" ]; do
    sleep 0.5
    check_alive || return 1
    if [ "$(now_ms)" -ge "$NEXT_SAMPLE" ]; then
      sample "$label"
      NEXT_SAMPLE=$((NEXT_SAMPLE + SAMPLE_SECS * 1000))
    fi
    # the compaction loops end on their own at the deadline
  done
}

IDLE_END=$(( $(now_ms) + IDLE * 1000 ))
BUSY_END=$((IDLE_END + BUSY * 1000))
run_until "$IDLE_END" idle || true

# ---------------------------------------------------------------- compactions
# One loop: compacts its syncs in turn, back to back, until BUSY_END; logs
# "SYNC VERSION ok|fail MS STATE" per compaction.
compaction_loop() {
  local -A cur
  local s v rc t0 ms state
  for s in "$@"; do cur[$s]=A; done
  while [ "$(now_ms)" -lt "$BUSY_END" ]; do
    for s in "$@"; do
      [ "$(now_ms)" -lt "$BUSY_END" ] || break
      [ "${cur[$s]}" = A ] && v=B || v=A
      t0=$(now_ms)
      rc=0
      { printf '%s\n' "${SRC_OF[$v]}" >"$MNT/ctl/compact/$s"; } 2>>"$WORK/compact.err" || rc=$?
      ms=$(( $(now_ms) - t0 ))
      state=$(sed -n 's/.*"state":"\([a-z]*\)".*/\1/p' "$MNT/ctl/compact/$s" 2>>"$WORK/compact.err" || true)
      if [ "$rc" = 0 ]; then
        cur[$s]=$v
        echo "$s $v ok $ms ${state:-?}"
      else
        echo "$s $v fail $ms ${state:-?}"
      fi
    done
  done >>"$WORK/compactions.log"
}

: >"$WORK/compactions.log"
for p in "${RPIDS[@]}"; do kill -USR1 "$p"; done
sample busy
BUSY_START_S=$(elapsed)
if [ "${SOAK_PARALLEL:-0}" = 1 ]; then
  for s in "${SYNCS[@]}"; do compaction_loop "$s" & CPIDS+=($!); done
else
  compaction_loop "${SYNCS[@]}" &
  CPIDS+=($!)
fi
run_until "$BUSY_END" busy || true

# the last compactions finish (at most 120 s), then the readers stop
for p in "${CPIDS[@]}"; do
  for _ in $(seq 1200); do alive "$p" || break; sleep 0.1; done
  if alive "$p"; then err "a compaction did not finish 120 s after the deadline"; kill -TERM "$p"; fi
  wait "$p" 2>/dev/null || true
done
CPIDS=()
COMPACT_END_S=$(elapsed)
for p in "${RPIDS[@]}"; do kill -TERM "$p" 2>/dev/null || err "reader $p was gone at the end"; done
for p in "${RPIDS[@]}"; do
  for _ in $(seq 300); do alive "$p" || break; sleep 0.1; done
  if alive "$p"; then err "reader $p did not stop within 30 s"; kill -KILL "$p"; fi
  rc=0
  wait "$p" 2>/dev/null || rc=$?
  [ "$rc" = 0 ] || err "reader $p exited with $rc"
done
RPIDS=()
sleep 3
sample end
# an idle mount: the replaced versions must be released (at most 10 s more)
PINNED_AFTER="?" PINNED_WAIT=0
for PINNED_WAIT in $(seq 3 13); do
  END_STATS=$(cat "$MNT/ctl/stats" 2>/dev/null || true)
  PINNED_AFTER=$(sed -n 's/.*"old_pinned":\([0-9]*\).*/\1/p' <<<"$END_STATS")
  [ "${PINNED_AFTER:-?}" = 0 ] && break
  [ "$PINNED_WAIT" = 13 ] || sleep 1
done
PINNED_OLDEST=$(sed -n 's/.*"oldest_old_seconds":\([0-9.]*\).*/\1/p' <<<"$END_STATS")
SST_END=$(sed -n 's/.*"live_sst_bytes":\([0-9]*\).*/\1/p' <<<"$END_STATS")
SST_START=$(awk '$1 == "start" { print $8 }' "$SAMPLES")

# ---------------------------------------------------------------- unmount
for _ in $(seq 50); do fusermount3 -u "$MNT" 2>/dev/null && break; sleep 0.1; done
for _ in $(seq 300); do alive "$DPID" || break; sleep 0.1; done
if alive "$DPID"; then err "the daemon did not exit 30 s after fusermount3 -u"; kill -KILL "$DPID"; fi
rc=0
wait "$DPID" 2>/dev/null || rc=$?
DPID=0
[ "$rc" = 0 ] || err "the daemon exited with status $rc"
is_mounted && { err "still mounted after the daemon ended"; fusermount3 -uz "$MNT" || true; }
left=$(find "$BASE/staging" -mindepth 1 | wc -l)
[ "$left" = 0 ] || err "BASE/staging holds $left entries after the unmount"

# ---------------------------------------------------------------- checks
grep -q . "$WORK/compact.err" 2>/dev/null && err "compaction writes reported: $(sort "$WORK/compact.err" | uniq -c | head -n 5 | tr '\n' ';')"
n_ok=$(awk '$3 == "ok"' "$WORK/compactions.log" | wc -l)
n_fail=$(awk '$3 != "ok"' "$WORK/compactions.log" | wc -l)
n_notdone=$(awk '$3 == "ok" && $5 != "done"' "$WORK/compactions.log" | wc -l)
[ "$n_fail" = 0 ] || err "$n_fail compactions failed"
[ "$n_notdone" = 0 ] || err "$n_notdone compactions returned but their status was not done"
[ "$n_ok" -gt 0 ] || err "no compaction completed"
fp() {
  local out
  out=$("$BIN" dump "$1" "$2" 2>>"$WORK/dump.err" | sha256sum) || { echo "dump-failed"; return 0; }
  echo "${out%% *}"
}
for s in "${SYNCS[@]}"; do
  last=$(awk -v s="$s" '$1 == s && $3 == "ok" { v = $2 } END { print v ? v : "A" }' "$WORK/compactions.log")
  fp "$BASE" "$s" >"$WORK/fp-base-$s" &
  fp "${SRC_OF[$last]}" "$s" >"$WORK/fp-src-$s"
  wait $!
  [ "$(cat "$WORK/fp-base-$s")" = "$(cat "$WORK/fp-src-$s")" ] && [ "$(cat "$WORK/fp-base-$s")" != dump-failed ] ||
    err "sync $s does not equal version $last, its last compaction's source"
done

echo
echo "== compactions: $n_ok done, $n_fail failed, between t=${BUSY_START_S} s and t=${COMPACT_END_S} s"
awk '{ n[$1]++; if ($3 == "ok") { ok[$1]++; sum[$1] += $4; if ($4 > max[$1]) max[$1] = $4 } }
  END { for (s in n) printf "   %-8s %3d done, %.2f s on average, %.2f s at most\n", s, ok[s], ok[s] ? sum[s] / ok[s] / 1000 : 0, max[s] / 1000 }' \
  "$WORK/compactions.log" | sort
echo "== readers (${MODES[*]}):"
shopt -s nullglob
stats_files=()
for i in "${!MODES[@]}"; do stats_files+=("$WORK/r$i.stats"); done
"$READER" merge "${stats_files[@]}" | tee "$WORK/merged" | grep -v '^TOTAL'
total=$(grep '^TOTAL' "$WORK/merged")
r_errors=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$total")
r_missing=$(sed -n 's/.* missing=\([0-9]*\).*/\1/p' <<<"$total")
[ "${r_missing:-1}" = 0 ] || err "$r_missing readers left no figures"
if [ "${r_errors:-1}" != 0 ]; then
  err "readers saw $r_errors errors"
  for f in "$WORK"/r*.stats.err; do
    [ -s "$f" ] && { echo "   $(basename "$f" .stats.err):"; head -n 10 "$f" | sed 's/^/     /'; }
  done
fi
[ -s "$WORK/readers.out" ] && { echo "   reader output:"; head -n 10 "$WORK/readers.out" | sed 's/^/     /'; }

echo "== daemon (samples: label, t s, VmRSS kB, fds, versions, old pinned, inodes, live SST bytes):"
sed 's/^/   /' "$SAMPLES"
third=$((BUSY_START_S + (COMPACT_END_S - BUSY_START_S) / 3))
read -r p_rss p_fds < <(awk -v a="$BUSY_START_S" -v b="$third" \
  '$1 == "busy" && $2 >= a && $2 <= b { if ($3 > r) r = $3; if ($4 > f) f = $4 } END { print r + 0, f + 0 }' "$SAMPLES")
read -r s_rss s_fds < <(awk '$1 == "start" { print $3, $4 }' "$SAMPLES")
read -r e_rss e_fds < <(awk '$1 == "end" { print $3, $4 }' "$SAMPLES")
read -r m_rss m_fds < <(awk '{ if ($3 > r) r = $3; if ($4 > f) f = $4 } END { print r + 0, f + 0 }' "$SAMPLES")
awk -v s="$s_rss" -v p="$p_rss" -v e="$e_rss" -v m="$m_rss" 'BEGIN {
  printf "   VmRSS: start %.1f MB, plateau %.1f MB, end %.1f MB, max %.1f MB\n",
    s / 1024, p / 1024, e / 1024, m / 1024 }'
echo "   fds: start $s_fds, plateau $p_fds, end $e_fds, max $m_fds"
[ "$e_rss" -le $((2 * p_rss + 65536)) ] || err "VmRSS grew: end ${e_rss} kB > 2 x plateau ${p_rss} kB + 64 MiB"
[ "$e_fds" -le $((2 * p_fds + 32)) ] || err "fds grew: end $e_fds > 2 x plateau $p_fds + 32"
slope() { # COLUMN: growth per minute over the second half of the busy phase
  awk -v c="$1" -v a=$(( (BUSY_START_S + COMPACT_END_S) / 2 )) \
    '$1 == "busy" && $2 >= a { if (!n++) { t0 = $2; v0 = $c } t1 = $2; v1 = $c }
    END { if (t1 > t0) printf "%+.1f", (v1 - v0) / (t1 - t0) * 60; else printf "nan" }' "$SAMPLES"
}
echo "   second half of the busy phase, growth per minute: VmRSS $(slope 3 | awk '{ printf "%+.1f", $1 / 1024 }') MB/min," \
  "live SST $(slope 8 | awk '{ printf "%+.1f", $1 / 1e6 }') MB/min, fds $(slope 4)/min"
if [ "${PINNED_AFTER:-0}" != 0 ]; then
  msg="$PINNED_AFTER old versions (of $n_ok replaced) still pinned ${PINNED_WAIT} s after every reader stopped"
  msg+=" (oldest ${PINNED_OLDEST} s; live SST $(awk -v b="$SST_END" 'BEGIN { printf "%.1f", b / 1e6 }') MB,"
  msg+=" $(awk -v b="$SST_START" 'BEGIN { printf "%.1f", b / 1e6 }') MB at the start); MOUNT.md: an idle mount pins no replaced data"
  if [ "${SOAK_ALLOW_PINNED:-0}" = 1 ]; then echo "   note: $msg"; else err "$msg"; fi
fi

echo
if [ ${#ERRORS[@]} -gt 0 ]; then
  echo "== FAILED after $(elapsed) s: ${#ERRORS[@]} problems"
  printf '   - %s\n' "${ERRORS[@]}"
  [ -s "$DLOG" ] && { echo "   daemon log (tail):"; tail -n 20 "$DLOG" | sed 's/^/     /'; }
  exit 1
fi
echo "== PASSED in $(elapsed) s: $(sed 's/^TOTAL //' <<<"$total"), $n_ok compactions"
