#!/usr/bin/env bash
# Writes the seed corpora of fuzz_keys, fuzz_ctl, fuzz_load and fuzz_c1z into
# tests/fuzz/corpus/<target>/ (fuzz_names' seeds are kept by hand).  The seeds
# are committed; run this only to regenerate them.  Needs python3, sqlite3 and
# zstd.  Every input starts as its target's LLVMFuzzerTestOneInput reads it
# (see the comment at the top of each tests/fuzz/fuzz_<target>.c).
set -euo pipefail
cd "$(dirname "$0")"
for tool in python3 sqlite3 zstd; do
  command -v "$tool" >/dev/null || { echo "make_corpus.sh: needs $tool" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- keys, ctl, load: written byte for byte ----
python3 - <<'EOF'
import os

def put(target, name, data):
    os.makedirs(f"corpus/{target}", exist_ok=True)
    with open(f"corpus/{target}/{name}", "wb") as f:
        f.write(data)

# fuzz_keys: the raw on-disk key.
K = lambda s, b, k: s + b"\0" + b + b"\0" + k
put("keys", "resource", K(b"s1", b"resources", b"user/alice"))
put("keys", "grant_index", K(b"sync-2024.01_a", b"grants_by_principal", b"user/u1/g1"))
put("keys", "binary_key", K(b"s", b"b", b"\0\xff\x01/\0"))
put("keys", "key_all_ff", K(b"s", b"b", b"\xff\xff\xff"))
put("keys", "longest", K(b"S" * 128, b"b" * 64, b"k" * 1024))
put("keys", "sync_too_long", K(b"S" * 129, b"b", b"k"))
put("keys", "bucket_too_long", K(b"s", b"b" * 65, b"k"))
put("keys", "key_too_long", K(b"s", b"b", b"k" * 1025))
put("keys", "metadata_ff", b"\xffsynctime/s1")
put("keys", "metadata_00", b"\0format")
put("keys", "one_separator", b"s1\0resources")
put("keys", "no_separator", b"s1")
put("keys", "bad_bucket", K(b"s1", b"Bad", b"k"))
put("keys", "empty_key", K(b"s1", b"b", b""))
put("keys", "reserved_ctl", K(b"ctl", b"b", b"k"))
put("keys", "dotdot", K(b"..", b"b", b"k"))

# fuzz_ctl: two bytes choosing the output size (high bit clear: PATH_MAX),
# then one write() to /ctl/compact/<sync_id>.
P = lambda s: b"\0\0" + s
put("ctl", "path_newline", P(b"/srv/stores/source-1\n"))
put("ctl", "path", P(b"/srv/stores/source-1"))
put("ctl", "relative", P(b"stores/source\n"))
put("ctl", "nul", P(b"/a\0b\n"))
put("ctl", "two_newlines", P(b"/a\n\n"))
put("ctl", "inner_newline", P(b"/a\nb"))
put("ctl", "newline_only", P(b"\n"))
put("ctl", "empty", P(b""))
put("ctl", "longest", P(b"/" + b"p" * 4094 + b"\n"))
put("ctl", "too_long", P(b"/" + b"p" * 4095 + b"\n"))
put("ctl", "small_buffer", b"\x10\x80" + b"/0123456789abcdef\n")

# fuzz_load: a flag byte (bit 0 replace, bit 1 --sync s1, bits 2-3 chunk
# size), then JSON Lines.
raw = b'{"sync":"s1","bucket":"b","key":"k","value":"v"}\n'
typed = (b'{"sync":"s1","type":"resource_type","id":"user","display_name":"User"}\n'
         b'{"sync":"s1","type":"resource","resource_type":"user","id":"alice","name":"Alice"}\n'
         b'{"sync":"s1","type":"entitlement","id":"group:eng:member","resource":"group/eng"}\n'
         b'{"sync":"s1","type":"grant","id":"g1","entitlement":"group:eng:member",'
         b'"principal_type":"user","principal_id":"alice"}\n')
put("load", "raw", b"\0" + raw)
put("load", "raw_b64", b"\0" + b'{"sync":"s2","bucket":"b","key_b64":"AP8B","value_b64":"AAEC"}\n')
put("load", "raw_escapes", b"\0" + b'{"sync":"s1","bucket":"b","key":"a/\\u00e9/\\u0000","value":"\\"x\\"\\n"}\n')
put("load", "typed", b"\0" + typed)
put("load", "typed_replace_small_chunks", b"\x05" + typed + raw)
put("load", "default_sync", b"\x02" + b'{"bucket":"b","key":"k","value":""}\n'
    + b'{"type":"entitlement","id":"e"}\n')
put("load", "sync_mismatch", b"\x02" + b'{"sync":"s2","bucket":"b","key":"k","value":""}\n')
put("load", "crlf_blank", b"\0" + b'\r\n  \n{"sync":"s1","bucket":"b","key":"k","value":"v"}\r\n\n')
put("load", "last_wins", b"\x04" + raw + b'{"sync":"s1","bucket":"b","key":"k","value":"w"}\n' + raw)
put("load", "bad_json", b"\0" + raw + b'{"sync":"s1","bucket":\n')
put("load", "both_key_forms", b"\0" + b'{"sync":"s1","bucket":"b","key":"k","key_b64":"aw==","value":""}\n')
put("load", "type_and_bucket", b"\0" + b'{"sync":"s1","type":"grant","bucket":"b","id":"g"}\n')
put("load", "grant_missing_id", b"\0" + b'{"sync":"s1","type":"grant","id":"g","entitlement":"e","principal_type":"user"}\n')
put("load", "bad_limits", b"\0" + b'{"sync":"ctl","bucket":"Bad","key":"","value":""}\n')
put("load", "long_key", b"\0" + b'{"sync":"s1","bucket":"b","key":"' + b"k" * 1024 + b'","value":""}\n')
put("load", "duplicate_field", b"\0" + b'{"sync":"s1","sync":"s2","bucket":"b","key":"k","value":""}\n')
EOF

# ---- c1z: tiny SQLite databases, as c1z files and as raw images ----
schema="PRAGMA page_size=512;
CREATE TABLE v1_resource_types (id integer primary key, external_id text, data blob,
  sync_id text, discovered_at datetime);
CREATE TABLE v1_resources (id integer primary key, resource_type_id text, external_id text,
  parent_resource_type_id text, parent_resource_id text, data blob, sync_id text);
CREATE TABLE v1_entitlements (id integer primary key, resource_type_id text, resource_id text,
  external_id text, data blob, sync_id text);
CREATE TABLE v1_grants (id integer primary key, resource_type_id text, resource_id text,
  entitlement_id text, principal_resource_type_id text, principal_resource_id text,
  external_id text, data blob, sync_id text);
CREATE TABLE v1_assets (id integer primary key, external_id text, content_type text, data blob,
  sync_id text);
CREATE TABLE v1_sync_runs (id integer primary key, sync_id text, started_at datetime,
  ended_at datetime, sync_token text, sync_type text);
CREATE TABLE v1_connector_sessions (id integer primary key, key text, value blob, sync_id text);"
rows="INSERT INTO v1_resource_types VALUES (1, 'user', x'0a0475736572', 's1', 1700000000);
INSERT INTO v1_resources VALUES (1, 'user', 'user:alice', NULL, NULL, x'0a05616c696365', 's1');
INSERT INTO v1_resources VALUES (2, 'group', 'group:eng', NULL, NULL, NULL, 's2');
INSERT INTO v1_entitlements VALUES (1, 'group', 'eng', 'group:eng:member', x'00', 's1');
INSERT INTO v1_grants VALUES (1, 'group', 'eng', 'group:eng:member', 'user', 'alice',
  'group:eng:member:user:alice', x'0102', 's1');
INSERT INTO v1_assets VALUES (1, 'icon', 'image/png', x'89504e47', 's1');
INSERT INTO v1_sync_runs VALUES (1, 's1', '2024-01-01', '2024-01-02', NULL, 'full');
INSERT INTO v1_sync_runs VALUES (2, 's2', '2024-01-03', NULL, 'tok', 'partial');
INSERT INTO v1_connector_sessions VALUES (1, 'cursor', x'7b7d', 's1');"
odd="PRAGMA page_size=512;
CREATE TABLE v1_resource_types (id integer primary key, external_id text, type text,
  score real, raw blob, sync_id text);
INSERT INTO v1_resource_types VALUES (1, 'user', 't', 1e999, x'00ff', 's1');
INSERT INTO v1_resource_types VALUES (2, CAST(x'ff00' AS TEXT), CAST(x'c0' AS TEXT), -0.5,
  NULL, 's1');
INSERT INTO v1_resource_types VALUES (3, 'user', 'dup', NULL, NULL, 's1');
INSERT INTO v1_resource_types VALUES (4, 'u\"\\'||char(10)||char(0)||'x', 42, 0.1, x'', 's1');"
clash="PRAGMA page_size=512;
CREATE TABLE v1_resource_types (id integer primary key, external_id text, type text,
  type_column text, sync_id text);
INSERT INTO v1_resource_types VALUES (1, 'user', 't', 'tc', 's1');"
old_sdk="PRAGMA page_size=512;
CREATE TABLE v1_resource_types (id integer primary key, external_id text, data blob,
  sync_id text);
CREATE TABLE v1_resources (id integer primary key, resource_type_id text, external_id text,
  data blob, sync_id text);
CREATE TABLE v1_sync_runs (id integer primary key, sync_id text, started_at datetime);
INSERT INTO v1_resource_types VALUES (1, 'user', NULL, 'old');
INSERT INTO v1_resources VALUES (1, 'user', 'alice', NULL, 'old');
INSERT INTO v1_sync_runs VALUES (1, 'old', '2023-01-01');"

db() { # db NAME SQL: a database file in $tmp
  rm -f "$tmp/$1.db"
  printf '%s\n' "$2" | sqlite3 "$tmp/$1.db"
}
c1z() { # c1z FLAG OUT DB [zstd options]: FLAG byte + C1ZF\0 + zstd of DB
  local flag=$1 out=$2 in=$3
  shift 3
  { printf "\\x$flag"; printf 'C1ZF\0'; zstd -q -c "$@" "$in"; } >"corpus/c1z/$out"
}
image() { # image FLAG OUT DB: FLAG byte + the raw database (the fuzzer compresses it)
  { printf "\\x$1"; cat "$3"; } >"corpus/c1z/$2"
}
mkdir -p corpus/c1z
db full "$schema
$rows"
db odd "$odd"
db clash "$clash"
db old "$old_sdk"
db empty "PRAGMA page_size=512; CREATE TABLE other (x);"
c1z 00 full "$tmp/full.db" --no-check -19
c1z 02 full_checksum_named_s1 "$tmp/full.db" --check -1
c1z 00 odd_columns "$tmp/odd.db" --no-check -19
c1z 00 name_clash "$tmp/clash.db" --no-check -19
c1z 00 old_sdk "$tmp/old.db" --no-check -19
c1z 00 no_v1_table "$tmp/empty.db" --no-check -19
image 01 full.sqlite "$tmp/full.db"
image 03 full_named_s1.sqlite "$tmp/full.db"
image 01 odd_columns.sqlite "$tmp/odd.db"
image 01 old_sdk.sqlite "$tmp/old.db"
printf '\0C1Z3\0\x28\xb5\x2f\xfd newer' >corpus/c1z/newer_format
printf '\0C1ZF\0garbage' >corpus/c1z/not_zstd
printf '\0C1ZF\0' >corpus/c1z/header_only
printf '\0hello' >corpus/c1z/no_header
head -c 60 "corpus/c1z/full" >corpus/c1z/truncated
printf 'plain text' | zstd -q -c --no-check >"$tmp/text.zst"
{ printf '\0C1ZF\0'; cat "$tmp/text.zst"; } >corpus/c1z/not_sqlite
ls -l corpus/*/ | awk '$5 > 20480 { print "make_corpus.sh: seed over 20 KB: " $0; bad = 1 } END { exit bad }'
