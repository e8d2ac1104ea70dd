#!/usr/bin/env bash
# The mounted view at scale (issue 12): one sync of N grants (default 1,000,000,
# about 3 million files) mounted and walked: `ls grants | wc -l` on the
# N-entry directory, `find . | wc -l`, `du -s`, then `find` again warm.  For
# each: the wall time, the daemon's VmRSS peak while it ran (sampled every
# 0.2 s) and after, the inodes the mount's nodes stand for and the heap they
# take (/ctl/stats "inodes", "inode_bytes"), and the kernel's fuse inodes
# (/proc/slabinfo, all FUSE mounts).
# Usage: tools/dev/bench_walk.sh [GRANTS]      (as root: drops caches; needs jq)
set -euo pipefail
cd "$(dirname "$0")/../.."
grants=${1:-1000000}
bin=$(tools/dev/build.sh build)
work=$(mktemp -d "${TMPDIR:-/var/tmp}/syncstore-bench-walk.XXXXXX")
mnt=$work/mnt
mkdir -p "$mnt"
cleanup() {
  if mountpoint -q "$mnt"; then fusermount3 -u "$mnt" || fusermount3 -uz "$mnt"; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== gen: one sync of $grants grants"
"$bin" gen "$work/base" S --grants "$grants" --seed 1
keys=$("$bin" syncs "$work/base" --json | jq '.[0].keys')
sync
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || echo "(could not drop caches)" >&2
"$bin" mount "$work/base" "$mnt"
pid=$(pgrep -n -f "syncstore mount $work/base") || { echo "bench_walk: no daemon" >&2; exit 1; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
slab() { awk '$1 == "fuse_inode" {print $2}' /proc/slabinfo 2>/dev/null || echo '?'; }

printf '\n%s keys in the sync; daemon VmRSS at start %s KB\n\n' "$keys" "$(rss)"
printf '| operation | seconds | output | VmRSS peak | VmRSS after | inodes | inode_bytes | B/inode | kernel fuse inodes |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
run() { # LABEL CMD: one row
  local label=$1 cmd=$2 peak=0 t0 t1 out sampler
  (while :; do rss; sleep 0.2; done) >"$work/rss" 2>/dev/null &
  sampler=$!
  t0=$(date +%s.%N)
  out=$(cd "$mnt/S" && eval "$cmd")
  t1=$(date +%s.%N)
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  peak=$(sort -n "$work/rss" | tail -n 1)
  local st inodes bytes
  st=$(cat "$mnt/ctl/stats")
  inodes=$(jq .inodes <<<"$st")
  bytes=$(jq .inode_bytes <<<"$st")
  printf '| `%s` | %.2f | %s | %s KB | %s KB | %s | %s | %s | %s |\n' "$label" \
    "$(awk "BEGIN{print $t1 - $t0}")" "$out" "$peak" "$(rss)" "$inodes" "$bytes" \
    "$([ "$inodes" -gt 0 ] && echo $((bytes / inodes)) || echo -)" "$(slab)"
}
run "ls grants | wc -l" "ls grants | wc -l"
run "find . | wc -l" "find . | wc -l"
run "du -s" "du -s . | cut -f1"
run "find . | wc -l (warm)" "find . | wc -l"
