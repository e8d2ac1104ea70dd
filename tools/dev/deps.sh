#!/usr/bin/env bash
# Installs the Debian 12 packages syncstore needs to build, test and run, if any
# is missing.  Needs root for the install (apt-get update first, then
# apt-get install -y, non-interactive); does nothing when all are present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  librocksdb-dev libfuse3-dev fuse3 libcmocka-dev
  libjansson-dev libzstd-dev libsqlite3-dev
  # C1Z3 import: xxh64 and sha256 of the envelope, Snappy blocks of Pebble tables
  libxxhash-dev nettle-dev libsnappy-dev
  # the checks of tools/test.sh: fuzzing, static analysis, memcheck, man page
  clang libclang-rt-14-dev clang-tidy clang-format cppcheck valgrind groff-base
  # the tests: useradd/userdel (a second user), sha256sum, find, xargs, jq; ldb and
  # sst_dump read STORE/db (SPEC)
  passwd coreutils findutils rocksdb-tools jq
  # fuzz_c1z3's seeds: the sample's frames unpacked (tests/fuzz/c1z3_seeds.py)
  zstd python3
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "syncstore: error: missing Debian packages: ${missing[*]}; run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
