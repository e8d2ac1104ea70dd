#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, generates a demo
# store with two syncs, and shows what it holds.  The store is left at
# $SYNCSTORE_DEMO (default /tmp/syncstore-demo) to explore further.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
bin=$(tools/build.sh build)
store=${SYNCSTORE_DEMO:-/tmp/syncstore-demo}
rm -rf "$store"

run() { printf '\n$ %s\n' "$*"; "$@"; }
run "$bin" gen "$store" acme-2026-11-01 --grants 2000 --seed 1
run "$bin" gen "$store" acme-2026-11-24 --grants 2500 --seed 2
run "$bin" syncs "$store"
printf '\n$ %s\n' "syncstore dump $store acme-2026-11-24 grants_by_principal | head -n 3"
"$bin" dump "$store" acme-2026-11-24 grants_by_principal | head -n 3 || true
printf '\n$ %s\n' "syncstore dump $store acme-2026-11-24 resources | head -n 2"
"$bin" dump "$store" acme-2026-11-24 resources | head -n 2 || true
cat <<MSG

The demo store is $store; the binary is $bin.
Try: $bin dump $store acme-2026-11-01 | less
     $bin import /tmp/real-store ../shared/data/c1z/sync-in-progress.c1z
MSG
