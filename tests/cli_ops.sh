#!/usr/bin/env bash
# The operations commands through a real shell: `check` (exit 0 healthy, 1 with
# one line per problem naming the file, 2 usage) and `backup` (a store that
# every command opens, never over existing data), also while a mount holds
# the store.
# Usage: cli_ops.sh PATH/TO/syncstore
set -uo pipefail
bin=${1:?usage: cli_ops.sh SYNCSTORE_BINARY}
# shellcheck source=tests/clilib.sh
source "$(dirname "$0")/clilib.sh"

if ! "$bin" --help | grep -q '^  check '; then
  echo "cli_ops: '$bin --help' lists no 'check' command: check and backup are not registered in tools/main.c" >&2
  exit 1
fi

S=$tmp/store B=$tmp/backup
# Usage.
for c in check backup; do
  expect 0 "usage: syncstore $c" -- "$bin" "$c" --help
  expect 2 "unknown option '--bogus'" -- "$bin" "$c" "$S" --bogus
done
expect 2 'check needs STORE' -- "$bin" check
expect 2 "unexpected argument 'x'" -- "$bin" check "$S" x
expect 2 'backup needs STORE and DEST' -- "$bin" backup "$S"
expect 1 "cannot check store '$tmp/none'" -- "$bin" check "$tmp/none"

# A healthy store, and its backup.
"$bin" gen "$S" s1 --grants 2000 >/dev/null
"$bin" gen "$S" s2 --grants 100 --seed 7 >/dev/null

# RocksDB's own tools read STORE/db while no syncstore process has it open
# (SPEC "Data model", store): every record of s2 (hex "s2" 0x00: 73 32 00),
# as dump counts them, and the store is unchanged afterwards.
if command -v ldb >/dev/null && command -v sst_dump >/dev/null; then
  n_s2=$("$bin" dump "$S" s2 | wc -l)
  "$bin" dump "$S" >"$tmp/store.before"
  check "ldb scan reads every record of s2" \
    test "$(ldb --db="$S/db" --hex scan 2>/dev/null | grep -c '^0x733200')" = "$n_s2"
  check "sst_dump reads every record of s2" \
    test "$(sst_dump --file="$S/db" --command=scan --output_hex 2>/dev/null | grep -c "^'733200")" = "$n_s2"
  check "the store is unchanged by ldb and sst_dump" cmp -s "$tmp/store.before" <("$bin" dump "$S")
  expect 0 'healthy' -- "$bin" check "$S"
else
  skip "ldb and sst_dump: install rocksdb-tools"
fi
"$bin" gen "$S" s1 --grants 1500 --seed 3 >/dev/null # s1 replaced: hidden data stays until compacted
expect 0 "store '$S' is healthy: 2 syncs, [0-9]+ keys.*SST files, [0-9]+ bytes read with checksums" -- "$bin" check "$S"
ls -l --time-style=full-iso "$S/db" | awk '{print $1, $5, $6, $7, $NF}' >"$tmp/db.before"
expect 0 "backed up store '$S' to '$B': [0-9]+ SST files" -- "$bin" backup "$S" "$B"
ls -l --time-style=full-iso "$S/db" | awk '{print $1, $5, $6, $7, $NF}' >"$tmp/db.after"
check "backup left the store's files as they were" cmp -s "$tmp/db.before" "$tmp/db.after"
check "the backup has the marker" cmp -s "$S/FORMAT" "$B/FORMAT"
check "the backup's staging is empty" test -d "$B/staging" -a -z "$(ls -A "$B/staging")"
expect 0 "store '$B' is healthy: 2 syncs" -- "$bin" check "$B"
check "the backup dumps like the store" cmp -s <("$bin" dump "$S") <("$bin" dump "$B")
check "syncs agree" cmp -s <("$bin" syncs "$S" --json) <("$bin" syncs "$B" --json)

# backup never writes over anything.
expect 1 "backup destination '$B' already exists and is not empty" -- "$bin" backup "$S" "$B"
touch "$tmp/file"
expect 1 "backup destination '$tmp/file' already exists and is not a directory" -- "$bin" backup "$S" "$tmp/file"
expect 1 "backup destination '$S/inside' is inside store '$S'" -- "$bin" backup "$S" "$S/inside"
check "no directory left inside the store" test ! -e "$S/inside"
mkdir "$S/emptydir"
expect 1 "backup destination '$S/emptydir' is inside store '$S'" -- "$bin" backup "$S" "$S/emptydir"
check "an empty directory inside the store is left as it was" test -z "$(ls -A "$S/emptydir")"
rmdir "$S/emptydir"
mkdir "$tmp/plain" && touch "$tmp/plain/x"
expect 1 "'$tmp/plain' is not a syncstore store" -- "$bin" backup "$tmp/plain" "$tmp/b2"
check "a failed backup leaves no destination" test ! -e "$tmp/b2"
expect 1 "cannot create backup destination '$tmp/no/dir'" -- "$bin" backup "$S" "$tmp/no/dir"
mkdir "$tmp/emptydir"
expect 0 "backed up store" -- "$bin" backup "$S" "$tmp/emptydir"

# The backup is a store of its own: writing it leaves the store alone.
"$bin" dump "$S" >"$tmp/store.dump"
expect 0 'generated|grants' -- "$bin" gen "$B" s3 --grants 10
expect 0 's3' -- "$bin" syncs "$B"
check "writing the backup did not change the store" cmp -s "$tmp/store.dump" <("$bin" dump "$S")
expect 0 "is healthy: 2 syncs" -- "$bin" check "$S"

# Problems: each named, exit 1.
C=$tmp/damaged
"$bin" gen "$C" s1 --grants 3000 >/dev/null
cp "$C/FORMAT" "$tmp/FORMAT.good"
printf 'syncstore-store 9\n' >"$C/FORMAT"
expect 1 "format marker '$C/FORMAT' names format 9, newer" -- "$bin" check "$C"
printf 'nonsense' >"$C/FORMAT"
expect 1 "format marker '$C/FORMAT' does not hold" -- "$bin" check "$C"
# A marker with a tail: check and open agree (one parser), so dump refuses it too.
printf 'syncstore-store 1\ngarbage\n' >"$C/FORMAT"
expect 1 "format marker '$C/FORMAT' does not hold" -- "$bin" check "$C"
expect 1 "'$C' is not a syncstore store: format marker '$C/FORMAT' does not hold" -- "$bin" dump "$C"
rm "$C/FORMAT"
expect 1 "format marker '$C/FORMAT' is missing" -- "$bin" check "$C"
expect 1 "store '$C' failed the check: 1 problem$" -- "$bin" check "$C"
cp "$tmp/FORMAT.good" "$C/FORMAT"
echo partial >"$C/staging/77-0-0.sst"
expect 1 "staging file '$C/staging/77-0-0.sst' is left over" -- "$bin" check "$C"
rm "$C/staging/77-0-0.sst"
expect 0 "is healthy" -- "$bin" check "$C"
sst=$(ls -S "$C"/db/*.sst | head -1)
size=$(stat -c %s "$sst")
printf '\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245\245' |
  dd of="$sst" bs=1 seek=$((size / 3)) conv=notrunc status=none
expect 1 "SST file '$sst' is damaged: Corruption: block checksum mismatch" -- "$bin" check "$C"
expect 1 "failed the check" -- "$bin" check "$C"

# While a mount holds the store: check and backup read it as a secondary.
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
  mkdir -p "$tmp/mnt"
  "$bin" mount "$S" "$tmp/mnt" -f 2>/dev/null &
  mpid=$!
  for _ in $(seq 100); do mountpoint -q "$tmp/mnt" && break; sleep 0.1; done
  if mountpoint -q "$tmp/mnt"; then
    expect 0 "is healthy: 2 syncs.*read as a secondary" -- "$bin" check "$S"
    expect 0 "backed up store '$S' to '$tmp/held'.*read as a secondary" -- "$bin" backup "$S" "$tmp/held"
    fusermount3 -u "$tmp/mnt"
    wait "$mpid"
    check "the daemon exited 0" test $? -eq 0
    check "the backup made while mounted dumps like the store" cmp -s <("$bin" dump "$S") <("$bin" dump "$tmp/held")
    expect 0 "is healthy: 2 syncs" -- "$bin" check "$tmp/held"
  else
    echo "cli_ops: mounting failed" >&2
    failed=$((failed + 1))
  fi
else
  skip "the while-mounted cases: no /dev/fuse or fusermount3"
fi

finish cli_ops
