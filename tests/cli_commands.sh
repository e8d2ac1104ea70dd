#!/usr/bin/env bash
# The syncstore command line through a real shell: help, version, exit codes,
# error messages, and that a failing command leaves the store unchanged.
# Usage: cli_commands.sh PATH/TO/syncstore
set -uo pipefail
bin=${1:?usage: cli_commands.sh SYNCSTORE_BINARY}
shared=${SYNCSTORE_SHARED:-$(dirname "$0")/../../shared}
# shellcheck source=tests/clilib.sh
source "$(dirname "$0")/clilib.sh"

S=$tmp/store
expect 0 'usage: syncstore COMMAND' -- "$bin" --help
expect 0 '^syncstore [0-9]+\.[0-9]+' -- "$bin" --version
expect 2 'usage' -- "$bin"
expect 2 "error: unknown command 'frobnicate'" -- "$bin" frobnicate
for c in load dump gen import syncs compact delete; do
  expect 0 "usage: syncstore $c" -- "$bin" "$c" --help
  expect 2 "unknown option '--bogus'" -- "$bin" "$c" "$S" --bogus
done
expect 2 'load needs STORE' -- "$bin" load
expect 2 'dump needs STORE' -- "$bin" dump
expect 2 'syncs needs STORE' -- "$bin" syncs
expect 2 "sync_id 'ctl' is reserved" -- "$bin" load "$S" --sync ctl
expect 2 "sync_id 'a/b' has a byte outside" -- "$bin" gen "$S" a/b
expect 2 'grants' -- "$bin" gen "$S" s1 --grants -5
expect 2 'grants' -- "$bin" gen "$S" s1 --grants lots
check "no store is created by a command-line error" test ! -e "$S"

# Good runs.
printf '%s\n' '{"bucket":"b","key":"k","value":"v"}' \
  '{"type":"grant","id":"g","entitlement":"e","principal_type":"user","principal_id":"u"}' \
  >"$tmp/good"
expect 0 'loaded 2 lines' -- "$bin" load "$S" --sync s1 "$tmp/good"
expect 0 '"key":"e/g"' -- "$bin" dump "$S" s1 grants_by_entitlement
expect 0 '"sync_id":"s1".*"keys":4' -- "$bin" syncs "$S" --json
# per bucket: keys, and bytes = key + value ("k" and "v"; "e/g" and nothing)
expect 0 '"buckets":\{"b":\{"keys":1,"bytes":2\},.*"grants_by_entitlement":\{"keys":1,"bytes":3\}' -- "$bin" syncs "$S" --json
# one sync's dump loads into a new store as that sync, exactly
"$bin" dump "$S" s1 | "$bin" load "$tmp/copy" >/dev/null 2>&1
check "dump SYNC | load reproduces the sync" cmp -s <("$bin" dump "$S" s1) <("$bin" dump "$tmp/copy")
# errors go to stderr only, as "syncstore: error: ..."
check "an error writes nothing to stdout" test -z "$("$bin" dump "$S" zz 2>/dev/null)"
check "an error is 'syncstore: error: ...' on stderr" \
  grep -q "^syncstore: error: store '$S' has no sync 'zz'" <("$bin" dump "$S" zz 2>&1 >/dev/null)
"$bin" dump "$S" >"$tmp/before"

# Failures leave the store as it was.
printf '%s\n' '{"sync":"s2","bucket":"b","key":"k","value":"v"}' '' \
  '{"sync":"s2","bucket":"b","key":"k","value":' >"$tmp/badjson"
expect 1 '<stdin>:3: bad JSON' -- sh -c "'$bin' load '$S' < '$tmp/badjson'"
printf '%s\n' '{"sync":"s2","bucket":"b","key":"x","value":"v"}' \
  '{"sync":"s2","bucket":"b","key":"k","key_b64":"aw==","value":"v"}' >"$tmp/lines"
expect 1 'lines:2: line has both "key" and "key_b64"; nothing was stored' -- "$bin" load "$S" "$tmp/lines"
expect 1 "cannot open '$tmp/nope'" -- "$bin" load "$S" "$tmp/nope"
expect 1 "store '$S' has no sync 'zz'" -- "$bin" dump "$S" zz
"$bin" dump "$S" >"$tmp/after"
check "failed loads changed nothing" cmp -s "$tmp/before" "$tmp/after"

mkdir "$tmp/plain" && touch "$tmp/plain/file"
expect 1 "'$tmp/plain' is not a syncstore store" -- "$bin" syncs "$tmp/plain"
expect 1 "'$tmp/plain' is not a syncstore store" -- "$bin" load "$tmp/plain" --sync s "$tmp/good"
expect 1 "cannot open store '$tmp/missing'" -- "$bin" dump "$tmp/missing"
expect 1 "is not a directory" -- "$bin" syncs "$tmp/plain/file"

# import: a good file, then bad ones, each leaving the store unchanged.
c1z=$shared/data/c1z/sync-in-progress.c1z
if [ -r "$c1z" ]; then
  expect 0 'imported 1 sync' -- "$bin" import "$S" "$c1z"
  expect 0 'imported 1 sync' -- "$bin" import "$tmp/made-by-import" "$c1z"
  check "import creates STORE" cmp -s <("$bin" dump "$tmp/made-by-import") <("$bin" dump "$S" 3ARefY5G8eOytquwYgm41Nq07IZ)
  expect 0 '3ARefY5G8eOytquwYgm41Nq07IZ' -- "$bin" syncs "$S"
  "$bin" dump "$S" >"$tmp/before"
  printf 'C1Z3\0rest' >"$tmp/new.c1z"
  expect 1 "'$tmp/new.c1z' is corrupt .*manifest length" -- "$bin" import "$S" "$tmp/new.c1z"
  expect 1 'not a c1z file' -- "$bin" import "$S" "$tmp/lines"
  head -c 3000 "$c1z" >"$tmp/cut.c1z"
  expect 1 'truncated' -- "$bin" import "$S" "$tmp/cut.c1z"
  expect 1 'nosuchsync' -- "$bin" import "$S" "$c1z" nosuchsync
  "$bin" dump "$S" >"$tmp/after"
  check "failed imports changed nothing" cmp -s "$tmp/before" "$tmp/after"
else
  echo "cli: the shared c1z fixture '$c1z' is missing" >&2
  failed=$((failed + 1))
fi

# progress lines: drawn on a terminal (script(1) gives the command one), never
# when stderr is not one
script -qec "$bin gen '$tmp/tty' p1 --grants 3000" /dev/null >"$tmp/tty.out" 2>&1
check "gen draws a progress line on a terminal" grep -q 'generating p1: writing, [0-9]* records' "$tmp/tty.out"
script -qec "$bin import '$tmp/tty' '$c1z'" /dev/null >"$tmp/tty.out" 2>&1
check "import draws a progress line on a terminal" grep -q "importing $c1z: [a-z]*, [0-9]* records" "$tmp/tty.out"
"$bin" gen "$tmp/notty" p1 --grants 3000 2>"$tmp/notty.err" >/dev/null
"$bin" import "$tmp/notty" "$c1z" 2>>"$tmp/notty.err" >/dev/null
check "no progress line when stderr is not a terminal" test ! -s "$tmp/notty.err"

# import of a C1Z3 file (a Pebble database behind a manifest): the same keys as
# its v1 twin
c1z3=$shared/data/c1z3/sync.36zGvJw3uxU1QMJKU2yPVQ1hBOC.unexpanded.pebble.c1z
twin=$shared/data/c1z/sync.36zGvJw3uxU1QMJKU2yPVQ1hBOC.unexpanded
if [ -r "$c1z3" ] && [ -r "$twin" ]; then
  expect 0 "imported 1 sync, 102157 rows as 235359 records from '$c1z3'" -- "$bin" import "$tmp/from-c1z3" "$c1z3"
  "$bin" import "$tmp/from-v1" "$twin" 2>/dev/null
  check "a C1Z3 file and its v1 twin give the same keys" cmp -s <("$bin" dump "$tmp/from-c1z3" | jq -r '.bucket + "/" + .key') <("$bin" dump "$tmp/from-v1" | jq -r '.bucket + "/" + .key')
  expect 1 "sync 'nosuchsync' is not in '$c1z3'" -- "$bin" import "$tmp/from-c1z3" "$c1z3" nosuchsync
  # syncs shows each sync's run as its file says: format, type, started, ended
  expect 0 'run: c1z3, full, started 2026-06-15T16:23:25Z, ended 2026-06-15T16:23:26Z' -- "$bin" syncs "$tmp/from-c1z3"
  expect 0 '"run":\{"format":"c1z v1","type":"full","started_at":"2025-12-17 13:10:15.617459","ended_at":null\}' -- "$bin" syncs "$tmp/from-v1" --json
  # records are readable through the mount: a user's email exists in the file
  # only inside a protobuf blob (base64 in "data_b64"), and grep -r finds it in
  # the decoded "data" of both formats; jq reads the trait and the display name
  pair=36zGvJw3uxU1QMJKU2yPVQ1hBOC
  if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
    mkdir -p "$tmp/mnt"
    for st in from-c1z3 from-v1; do
      check "in $st, the email is only in the blob: no field but \"data\" shows it" \
        test "$("$bin" dump "$tmp/$st" "$pair" resources | jq -c '.value | fromjson | del(.data)' | grep -c 'user-1234@example\.com')" -eq 0
      if "$bin" "$tmp/$st" "$tmp/mnt" -o ro 2>/dev/null && mountpoint -q "$tmp/mnt"; then
        expect 0 "^$tmp/mnt/$pair/resources/user/user-0001234\$" -- grep -rlF user-1234@example.com "$tmp/mnt/$pair/resources"
        expect 0 '^user-1234@example.com$' -- jq -r '.data.annotations[] | select(."@type" | endswith(".UserTrait")) | .emails[0].address' "$tmp/mnt/$pair/resources/user/user-0001234"
        expect 0 '^User 0001234$' -- jq -r .data.displayName "$tmp/mnt/$pair/resources/user/user-0001234"
        fusermount3 -u "$tmp/mnt"
      else
        echo "cli: mounting $st failed" >&2
        failed=$((failed + 1))
      fi
    done
  else
    skip "grep through the mount: no /dev/fuse or fusermount3"
  fi
  # a generated replacement is no longer that run
  "$bin" gen "$tmp/from-v1" 36zGvJw3uxU1QMJKU2yPVQ1hBOC --grants 5 >/dev/null
  expect 0 '"run":null' -- "$bin" syncs "$tmp/from-v1" --json
  expect 0 'run: none recorded' -- "$bin" syncs "$tmp/from-v1"
else
  echo "cli: the shared C1Z3 pair is missing" >&2
  failed=$((failed + 1))
fi

# compact and delete: exit 0 done, 3 empty source, 2 bad sync_id, 1 bad source.
B=$tmp/base SRC=$tmp/src
"$bin" gen "$B" keep --grants 30 >/dev/null
"$bin" gen "$B" S --grants 40 >/dev/null
"$bin" gen "$SRC" S --grants 20 --seed 9 >/dev/null
"$bin" dump "$B" keep >"$tmp/keep.before"
expect 0 'compacted sync S: done by (copy|stream), [0-9]+ keys' -- "$bin" compact "$B" "$SRC" S
check "compact made S equal the source" cmp -s <("$bin" dump "$B" S) <("$bin" dump "$SRC" S)
expect 0 '"outcome":"done".*"pieces":[0-9]+' -- "$bin" compact "$B" "$SRC" S --json --piece-size 4096 --reclaim
expect 0 '"method":"(copy|stream)","files_copied":[0-9]+,"bytes_copied":[0-9]+,"copy_seconds":[0-9.]+,"threads":[0-9]+' -- "$bin" compact "$B" "$SRC" S --json
expect 0 '"method":"stream".*"threads":1,"copy_refused":false,"stream_reason":"the copy path was turned off"' -- "$bin" compact "$B" "$SRC" S --json --stream --threads 1
check "a forced stream made S equal the source" cmp -s <("$bin" dump "$B" S) <("$bin" dump "$SRC" S)
expect 0 'done by stream, [0-9]+ keys, .* by 1 thread' -- "$bin" compact "$B" "$SRC" S --stream --threads 1
expect 2 'threads must be 1 to 16' -- "$bin" compact "$B" "$SRC" S --threads 0
# the copy path: what gen, load and import write into an empty range is SST
# files of one sync at sequence number 0, which a compaction copies as they
# are; an upsert load into the sync makes it stream
expect 0 '"method":"copy","files_copied":1,' -- "$bin" compact "$B" "$SRC" S --json
LD=$tmp/loadsrc
"$bin" dump "$SRC" S | "$bin" load "$LD" 2>/dev/null
expect 0 '"method":"copy"' -- "$bin" compact "$B" "$LD" S --json
check "the copy from a loaded source made S equal it" cmp -s <("$bin" dump "$B" S) <("$bin" dump "$LD" S)
if [ -r "$c1z" ]; then
  expect 0 '"method":"copy"' -- "$bin" compact "$B" "$S" 3ARefY5G8eOytquwYgm41Nq07IZ --json
  check "the copy from an imported source made the sync equal it" cmp -s <("$bin" dump "$B" 3ARefY5G8eOytquwYgm41Nq07IZ) <("$bin" dump "$S" 3ARefY5G8eOytquwYgm41Nq07IZ)
fi
echo '{"bucket":"notes","key":"upsert","value":"v"}' | "$bin" load "$LD" --sync S 2>/dev/null
expect 0 '"method":"stream".*"stream_reason":"(file .* has global sequence number [1-9]|files .* overlap)' -- "$bin" compact "$B" "$LD" S --json
check "the stream after an upsert made S equal the source" cmp -s <("$bin" dump "$B" S) <("$bin" dump "$LD" S)
# a store that got S by a (streaming) compaction into a range it lacked holds
# S as SST files at sequence number 0 too; a compaction from it copies them,
# leaves the same bytes as a stream, and never touches the source's files
CP=$tmp/copysrc
"$bin" gen "$CP" other --grants 5 >/dev/null
expect 0 '"method":"stream"' -- "$bin" compact "$CP" "$SRC" S --json --stream
sums() { (cd "$1/db" && { find . -type f -exec sha256sum {} +; find . -type f -printf '%p %T@\n'; } | sort); }
before=$(sums "$CP")
expect 0 '"method":"copy","files_copied":[1-9][0-9]*,"bytes_copied":[1-9][0-9]*' -- "$bin" compact "$B" "$CP" S --json
check "the copy made S equal the source" cmp -s <("$bin" dump "$B" S) <("$bin" dump "$SRC" S)
expect 0 'compacted sync S: done by copy, [0-9]+ keys, [0-9]+ SST files? \([0-9.]+ MB\) copied' -- "$bin" compact "$B" "$CP" S
check "the copies leave the base healthy" "$bin" check "$B"
check "the copy path leaves every file of the source as it was" test "$before" = "$(sums "$CP")"
expect 0 '"method":"stream"' -- "$bin" compact "$B" "$CP" S --json --stream
check "neither does a stream" test "$before" = "$(sums "$CP")"
expect 2 "sync_id 'ctl' is reserved" -- "$bin" compact "$B" "$SRC" ctl
expect 2 "sync_id 'a b' has a byte outside" -- "$bin" compact "$B" "$SRC" 'a b'
expect 2 'needs BASE, SOURCE and SYNC_ID' -- "$bin" compact "$B" "$SRC"
expect 2 'piece-size must be at least' -- "$bin" compact "$B" "$SRC" S --piece-size 10
expect 1 "source '$tmp/none': No such file" -- "$bin" compact "$B" "$tmp/none" S
expect 1 "source '$tmp/good' is not a directory" -- "$bin" compact "$B" "$tmp/good" S
expect 1 'not a syncstore store' -- "$bin" compact "$B" "$tmp/plain" S
expect 1 'is the base store itself' -- "$bin" compact "$B" "$B" S
check "failed compactions left S as the source made it" cmp -s <("$bin" dump "$B" S) <("$bin" dump "$SRC" S)
expect 3 'empty: the source holds nothing' -- "$bin" compact "$B" "$SRC" keep-not
"$bin" gen "$B" gone --grants 5 >/dev/null
mkdir -p "$tmp/emptysrc" && "$bin" load "$tmp/emptysrc" --sync x </dev/null 2>/dev/null
expect 3 '"outcome":"empty"' -- "$bin" compact "$B" "$tmp/emptysrc" gone --json
expect 1 "store '$B' has no sync 'gone'" -- "$bin" dump "$B" gone
expect 2 "sync_id 'a b' has a byte outside" -- "$bin" delete "$B" 'a b'
expect 0 'deleted sync S' -- "$bin" delete "$B" S
expect 1 "has no sync 'S'" -- "$bin" delete "$B" S
expect 2 "-o readdirplus needs 'auto' or 'always', got 'sometimes'" -- "$bin" mount "$B" "$tmp" -o readdirplus=sometimes
check "other syncs untouched by compact and delete" cmp -s "$tmp/keep.before" <("$bin" dump "$B" keep)
check "no staging file left" test -z "$(ls -A "$B/staging")"

# While a mount holds the store: reading commands work (as a RocksDB secondary),
# writing ones say the store is held, naming it, and change nothing.
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
  mkdir -p "$tmp/mnt"
  "$bin" mount "$B" "$tmp/mnt" -f 2>/dev/null &
  mpid=$!
  for _ in $(seq 100); do mountpoint -q "$tmp/mnt" && break; sleep 0.1; done
  if mountpoint -q "$tmp/mnt"; then
    expect 0 '"sync":"keep"' -- "$bin" dump "$B" keep
    expect 0 'keep' -- "$bin" syncs "$B"
    expect 1 "store '$B' is held by another process" -- "$bin" gen "$B" other --grants 5
    expect 1 "store '$B' is held by another process" -- "$bin" compact "$B" "$SRC" S
    expect 1 "store '$B' is held by another process" -- "$bin" load "$B" --sync other "$tmp/good"
    expect 1 "store '$B' is held by another process" -- "$bin" delete "$B" keep
    if [ -r "$c1z" ]; then
      expect 1 "store '$B' is held by another process" -- "$bin" import "$B" "$c1z"
    fi
    expect 0 'resource_types' -- ls "$tmp/mnt/keep"
    fusermount3 -u "$tmp/mnt"
    wait "$mpid"
    check "the daemon closed the store and exited 0" test $? -eq 0
    check "the held store is unchanged" cmp -s "$tmp/keep.before" <("$bin" dump "$B" keep)

    # The form mount.fuse3 calls, `syncstore STORE MOUNTPOINT -o OPT`, without
    # -f: the command returns once the daemon serves the mount.
    expect 0 '' -- "$bin" "$B" "$tmp/mnt" -o ro,version_max_age=60
    check "the mount.fuse3 form mounts with the daemon in the background" mountpoint -q "$tmp/mnt"
    expect 0 'resource_types' -- ls "$tmp/mnt/keep"
    fusermount3 -u "$tmp/mnt"
    # the daemon closes the store once unmounted: a write then succeeds
    for _ in $(seq 100); do "$bin" delete "$B" gone-never 2>&1 | grep -q 'held by another' || break; sleep 0.1; done
    expect 0 'deleted sync keep' -- "$bin" delete "$B" keep
  else
    echo "cli: mounting failed" >&2
    failed=$((failed + 1))
  fi
else
  skip "the while-mounted cases: no /dev/fuse or fusermount3"
fi

finish cli
