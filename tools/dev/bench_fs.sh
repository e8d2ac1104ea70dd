#!/usr/bin/env bash
# Benchmark of the mounted view (issue 4): one sync of N grants (default 100,000,
# about 300,000 files) mounted, against the same tree copied to tmpfs, in one run.
#   cold = first traversal after the caches are dropped (mount: a fresh mount too)
#   warm = the same traversal again
# Plus: cat of one 64 MiB value, and a compaction by `echo > ctl/compact` against
# the same compaction from the command line.
# Each mount operation's FUSE requests are counted too: the delta of
# /ctl/stats "requests" around it (reading ctl/stats itself adds one
# LOOKUP at most, an OPEN, a READ or two and a RELEASE).
# Usage: tools/dev/bench_fs.sh [GRANTS]      (run as root: mounts tmpfs, drops caches;
# needs python3 and jq)
set -euo pipefail
cd "$(dirname "$0")/../.."
grants=${1:-100000}
bin=$(tools/dev/build.sh build)
work=$(mktemp -d "${TMPDIR:-/var/tmp}/syncstore-bench-fs.XXXXXX")
mnt=$work/mnt tmpfs=$work/tmpfs
mkdir -p "$mnt" "$tmpfs"
cleanup() {
  mountpoint -q "$mnt" && fusermount3 -u "$mnt" || true
  mountpoint -q "$tmpfs" && umount "$tmpfs" || true
  rm -rf "$work"
}
trap cleanup EXIT

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || echo "(could not drop caches)" >&2; }
now() { date +%s.%N; }
# time_cmd DIR CMD...: seconds to run CMD inside DIR, output discarded
time_cmd() {
  local dir=$1 t0 t1
  shift
  t0=$(now)
  (cd "$dir" && eval "$*" >/dev/null)
  t1=$(now)
  awk "BEGIN{print $t1 - $t0}"
}

# The mount's request counts, {"LOOKUP":N,...}
requests() { jq -c '.requests | map_values(.count)' "$mnt/ctl/stats"; }
# What changed from $1 to $2: "LOOKUP 40, READDIRPLUS 104"
request_delta() {
  jq -rn --argjson a "$1" --argjson b "$2" \
    '[$b | to_entries[] | select(.value - $a[.key] > 0) | "\(.key) \(.value - $a[.key])"] | join(", ")'
}
declare -A R

echo "== building a base with one sync of $grants grants and a 64 MiB value"
"$bin" gen "$work/base" S --grants "$grants" --seed 1 >/dev/null
python3 -c '
import base64, json, os
v = os.urandom(64 << 20)
print(json.dumps({"sync": "S", "bucket": "blobs", "key": "big", "value_b64": base64.b64encode(v).decode()}))
' >"$work/big.jsonl"
"$bin" load "$work/base" "$work/big.jsonl" 2>/dev/null
rm "$work/big.jsonl"
"$bin" gen "$work/src" S --grants "$grants" --seed 2 >/dev/null
files=$("$bin" syncs "$work/base" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["keys"])')

mount -t tmpfs -o size=4g tmpfs "$tmpfs"
"$bin" mount "$work/base" "$mnt"
cp -a "$mnt/S" "$tmpfs/S"
fusermount3 -u "$mnt"

declare -A T
ops=("find . -type f" "ls -lR" "du -s" "tar cf - . | wc -c")
for where in mount tmpfs; do
  if [ $where = mount ]; then
    drop_caches
    "$bin" mount "$work/base" "$mnt"
    dir=$mnt/S
  else
    drop_caches
    dir=$tmpfs/S
  fi
  for op in "${ops[@]}"; do
    for temp in cold warm; do
      [ $where = mount ] && before=$(requests)
      T[$where,$temp,$op]=$(time_cmd "$dir" "$op")
      [ $where = mount ] && R[$temp,$op]=$(request_delta "$before" "$(requests)")
    done
  done
  T[$where,cat]=$(time_cmd "$dir" "cat blobs/big")
  [ $where = mount ] && fusermount3 -u "$mnt"
done

printf '\n%s files (keys) in the sync; times in seconds\n\n' "$files"
printf '| operation | mount cold | tmpfs cold | ratio | target | mount warm | tmpfs warm | ratio | target |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for op in "${ops[@]}"; do
  mc=${T[mount,cold,$op]} tc=${T[tmpfs,cold,$op]} mw=${T[mount,warm,$op]} tw=${T[tmpfs,warm,$op]}
  rc=$(awk "BEGIN{print $mc / $tc}") rw=$(awk "BEGIN{print $mw / $tw}")
  printf '| `%s` | %.3f | %.3f | %.2fx | <= 3x | %.3f | %.3f | %.2fx | <= 1.5x |\n' "$op" "$mc" "$tc" "$rc" "$mw" "$tw" "$rw"
done
printf '\nFUSE requests per operation through the mount (deltas of /ctl/stats "requests")\n\n'
printf '| operation | cold | warm |\n| --- | --- | --- |\n'
for op in "${ops[@]}"; do
  printf '| `%s` | %s | %s |\n' "$op" "${R[cold,$op]}" "${R[warm,$op]}"
done
gbs=$(awk "BEGIN{print 64 * 1048576 / ${T[mount,cat]} / 1e9}")
printf '\n`cat` of one 64 MiB value: %.3f s through the mount (%.2f GB/s, target >= 1 GB/s), %.3f s on tmpfs\n' \
  "${T[mount,cat]}" "$gbs" "${T[tmpfs,cat]}"

echo
echo "== compaction: echo > ctl/compact against the command line (3 runs each, wall clock)"
# Both start from the same base state with no reclaim pending (a fresh mount
# would otherwise reclaim the last run's space while the echo runs), and both
# are timed from outside: the CLI run includes opening and closing the store.
cp -a "$work/base" "$work/base2"
settle() { # waits until the mounted store has no reclaim hint left
  for _ in $(seq 600); do
    grep -q '"reclaim_pending":0' "$mnt/ctl/stats" && return 0
    sleep 0.1
  done
}
for i in 1 2 3; do
  "$bin" mount "$work/base" "$mnt"
  settle
  t0=$(now); echo "$work/src" >"$mnt/ctl/compact/S"; t1=$(now)
  e[$i]=$(awk "BEGIN{print $t1 - $t0}")
  fusermount3 -u "$mnt"
  t0=$(now); "$bin" compact "$work/base2" "$work/src" S >/dev/null; t1=$(now)
  c[$i]=$(awk "BEGIN{print $t1 - $t0}")
  "$bin" gen "$work/base" S --grants "$grants" --seed 1 >/dev/null
  "$bin" gen "$work/base2" S --grants "$grants" --seed 1 >/dev/null
done
em=$(printf '%s\n' "${e[@]}" | sort -n | sed -n 2p)
cm=$(printf '%s\n' "${c[@]}" | sort -n | sed -n 2p)
printf 'median of 3: echo %.3f s, CLI %.3f s, ratio %.2fx (target within 10%%)\n' "$em" "$cm" "$(awk "BEGIN{print $em / $cm}")"
