#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, generates a demo
# base store with two syncs and a fresh source for one of them, mounts the base,
# browses it, compacts the source in through ctl/compact, and shows the change.
# The mount stays up for you to explore; the last lines say how to unmount.
# Paths: $SYNCSTORE_DEMO (default /tmp/syncstore-demo)/{base,source,mnt}.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/dev/deps.sh
bin=$(tools/dev/build.sh build)
demo=${SYNCSTORE_DEMO:-/tmp/syncstore-demo}
base=$demo/base src=$demo/source mnt=$demo/mnt
if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt"; fi
rm -rf "$base" "$src"
mkdir -p "$mnt"

say() { printf '\n$ %s\n' "$*"; }
run() { say "$*"; "$@"; }
run "$bin" gen "$base" acme-daily --grants 2000 --seed 1
run "$bin" gen "$base" acme-weekly --grants 500 --seed 2
run "$bin" gen "$src" acme-daily --grants 3000 --seed 3
run "$bin" mount "$base" "$mnt"
run ls "$mnt"
run ls "$mnt/acme-daily"
say "ls $mnt/acme-daily/resources/user | head -n 3"
ls "$mnt/acme-daily/resources/user" | head -n 3 || true
run cat "$mnt/acme-daily/resources/user/user-0000000"
echo
say "ls $mnt/acme-daily/grants | wc -l"
ls "$mnt/acme-daily/grants" | wc -l
say "echo $src > $mnt/ctl/compact/acme-daily      # replace the sync, atomically"
echo "$src" >"$mnt/ctl/compact/acme-daily"
run cat "$mnt/ctl/compact/acme-daily"
say "ls $mnt/acme-daily/grants | wc -l"
ls "$mnt/acme-daily/grants" | wc -l
run cat "$mnt/ctl/stats"
cat <<MSG

The base is mounted at $mnt (binary: $bin).  Try:
  find $mnt/acme-weekly -type f | head
  grep -rl '"principal_id":"user-0000001"' $mnt/acme-daily/grants | head
  diff -r $mnt/acme-daily/resource_types $mnt/acme-weekly/resource_types
Unmount with:  fusermount3 -u $mnt
MSG
