#!/usr/bin/env bash
# Benchmark of the mounted view (issues 4 and 12): one sync of N grants (default
# 100,000, about 300,000 files) mounted, against the same tree copied to files on
# the store's own filesystem (ext4 here) and to tmpfs, in one run.  The mount
# three ways: rw (the default: ctl/ takes writes, every file read an OPEN and a
# RELEASE, and the kernel asks again for the attributes of each directory
# listed and each file read, whose access time it marks stale), ro (-o ro:
# files opened by the kernel alone, no access-time GETATTRs), and ro+plus
# (-o ro,readdirplus=always: every listing page with attributes).
#   cold = the operation right after the caches are dropped (mount: a fresh mount too)
#   warm = the same traversal again
# Plus: cat of one 64 MiB value, and a compaction by `echo > ctl/compact` against
# the same compaction from the command line.
# Each mount operation's FUSE requests are counted too: the delta of
# /ctl/stats "requests" around it (reading ctl/stats itself adds one
# LOOKUP or two and a READ).
# Usage: tools/dev/bench_fs.sh [GRANTS]      (run as root: mounts tmpfs, drops caches;
# needs python3 and jq)
set -euo pipefail
cd "$(dirname "$0")/../.."
grants=${1:-100000}
bin=$(tools/dev/build.sh build)
work=$(mktemp -d "${TMPDIR:-/var/tmp}/syncstore-bench-fs.XXXXXX")
mnt=$work/mnt tmpfs=$work/tmpfs ext4=$work/files
mkdir -p "$mnt" "$tmpfs" "$ext4"
cleanup() {
  mountpoint -q "$mnt" && fusermount3 -u "$mnt" || true
  mountpoint -q "$work/pt" && fusermount3 -u "$work/pt" || true
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
cp -a "$mnt/S" "$ext4/S"
fusermount3 -u "$mnt"

declare -A T
ops=("find . -type f" "ls -lR" "du -s" "tar cf - . | wc -c" "grep -rl user-0000001 .")
wheres=(ro roplus rw ext4 tmpfs)
# Each operation starts cold: caches dropped and, for the mount, a fresh mount.
start() { # WHERE: drops the caches, (re)mounts, sets dir
  mountpoint -q "$mnt" && fusermount3 -u "$mnt"
  drop_caches
  case $1 in
  rw) "$bin" mount "$work/base" "$mnt" && dir=$mnt/S ;;
  ro) "$bin" mount "$work/base" "$mnt" -o ro && dir=$mnt/S ;;
  roplus) "$bin" mount "$work/base" "$mnt" -o ro,readdirplus=always && dir=$mnt/S ;;
  ext4) dir=$ext4/S ;;
  tmpfs) dir=$tmpfs/S ;;
  esac
}
for where in "${wheres[@]}"; do
  for op in "${ops[@]}"; do
    start "$where"
    for temp in cold warm; do
      [ -d "$mnt/ctl" ] && before=$(requests)
      T[$where,$temp,$op]=$(time_cmd "$dir" "$op")
      [ -d "$mnt/ctl" ] && R[$where,$temp,$op]=$(request_delta "$before" "$(requests)")
    done
  done
  start "$where"
  T[$where,cat]=$(time_cmd "$dir" "cat blobs/big")
  # again, with the kernel's pages of the file dropped: the mount reads through
  # the daemon once more (its block cache and value cache warm)
  python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$dir/blobs/big"
  T[$where,cat2]=$(time_cmd "$dir" "cat blobs/big")
  mountpoint -q "$mnt" && fusermount3 -u "$mnt"
done

printf '\n%s files (keys) in the sync; times in seconds; ro = -o ro, ro+plus = -o ro,readdirplus=always,\n' "$files"
printf 'rw = the default; ratios over ext4\n\n'
for temp in cold warm; do
  target=$([ $temp = cold ] && echo '<= 1x' || echo '<= 1.5x')
  printf '| %s | ro | ro+plus | rw | ext4 | tmpfs | ro / ext4 | ro+plus / ext4 | rw / ext4 | target | ro / tmpfs |\n' "$temp"
  printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
  for op in "${ops[@]}"; do
    m=${T[ro,$temp,$op]} o=${T[rw,$temp,$op]} e=${T[ext4,$temp,$op]} t=${T[tmpfs,$temp,$op]}
    p=${T[roplus,$temp,$op]}
    printf '| `%s` | %.3f | %.3f | %.3f | %.3f | %.3f | %.2fx | %.2fx | %.2fx | %s | %.2fx |\n' "$op" "$m" "$p" \
      "$o" "$e" "$t" "$(awk "BEGIN{print $m / $e}")" "$(awk "BEGIN{print $p / $e}")" \
      "$(awk "BEGIN{print $o / $e}")" "$target" "$(awk "BEGIN{print $m / $t}")"
  done
  echo
done
printf 'FUSE requests per operation (deltas of /ctl/stats "requests")\n\n'
printf '| operation | ro cold | ro warm | ro+plus cold | ro+plus warm | rw cold | rw warm |\n| --- | --- | --- | --- | --- | --- | --- |\n'
for op in "${ops[@]}"; do
  printf '| `%s` | %s | %s | %s | %s | %s | %s |\n' "$op" "${R[ro,cold,$op]}" "${R[ro,warm,$op]}" \
    "${R[roplus,cold,$op]}" "${R[roplus,warm,$op]}" \
    "${R[rw,cold,$op]}" "${R[rw,warm,$op]}"
done
gbs() { awk "BEGIN{print 64 * 1048576 / $1 / 1e9}"; }
printf '\n`cat` of one 64 MiB value, cold: %.3f s through the mount (%.2f GB/s, target >= 1 GB/s), %.3f s on ext4, %.3f s on tmpfs\n' \
  "${T[ro,cat]}" "$(gbs "${T[ro,cat]}")" "${T[ext4,cat]}" "${T[tmpfs,cat]}"
printf '`cat` again, the file'"'"'s pages dropped: %.3f s through the -o ro mount (%.2f GB/s; rw %.3f s), %.3f s on ext4, %.3f s on tmpfs\n' \
  "${T[ro,cat2]}" "$(gbs "${T[ro,cat2]}")" "${T[rw,cat2]}" "${T[ext4,cat2]}" "${T[tmpfs,cat2]}"

echo
echo "== a 5,000-grant sync: the mount against libfuse's passthrough_ll over a tmpfs copy"
# passthrough_ll (Debian's libfuse3-dev examples, built here) holds an fd per
# inode, so it cannot take the big tree; both run cold (caches dropped, fresh
# mounts) and then warm, like the table above.
ex=/usr/share/doc/libfuse3-dev/examples
if [ -f "$ex/passthrough_ll.c" ] && cc -O2 -o "$work/passthrough_ll" "$ex/passthrough_ll.c" -I"$ex" \
  $(pkg-config --cflags --libs fuse3) 2>"$work/pt.err"; then
  "$bin" gen "$work/small" P --grants 5000 --seed 3 >/dev/null
  mkdir -p "$work/pt"
  "$bin" mount "$work/small" "$mnt"
  cp -a "$mnt/P" "$tmpfs/P"
  fusermount3 -u "$mnt"
  small_files=$(find "$tmpfs/P" -type f | wc -l)
  for where in mount passthrough; do
    for op in "${ops[@]}"; do
      mountpoint -q "$mnt" && fusermount3 -u "$mnt"
      mountpoint -q "$work/pt" && fusermount3 -u "$work/pt"
      drop_caches
      if [ $where = mount ]; then
        "$bin" mount "$work/small" "$mnt" && dir=$mnt/P
      else
        "$work/passthrough_ll" -o source="$tmpfs" "$work/pt" && dir=$work/pt/P
      fi
      for temp in cold warm; do
        T[small,$where,$temp,$op]=$(time_cmd "$dir" "$op")
      done
    done
  done
  mountpoint -q "$mnt" && fusermount3 -u "$mnt"
  mountpoint -q "$work/pt" && fusermount3 -u "$work/pt"
  printf '\n%s files; times in seconds\n\n| operation | mount cold | passthrough_ll cold | ratio | mount warm | passthrough_ll warm | ratio |\n| --- | --- | --- | --- | --- | --- | --- |\n' "$small_files"
  for op in "${ops[@]}"; do
    mc=${T[small,mount,cold,$op]} pc=${T[small,passthrough,cold,$op]}
    mw=${T[small,mount,warm,$op]} pw=${T[small,passthrough,warm,$op]}
    printf '| `%s` | %.3f | %.3f | %.2fx | %.3f | %.3f | %.2fx |\n' "$op" "$mc" "$pc" \
      "$(awk "BEGIN{print $mc / $pc}")" "$mw" "$pw" "$(awk "BEGIN{print $mw / $pw}")"
  done
else
  echo "(passthrough_ll not built: $ex/passthrough_ll.c missing or $(head -1 "$work/pt.err" 2>/dev/null))"
fi
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
