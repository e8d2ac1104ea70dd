#!/usr/bin/env bash
# Configures and builds syncstore into build/ (or $1) with any extra CMake
# arguments after it.  Prints the path of the syncstore binary last.
# SYNCSTORE_WERROR=ON (tools/test.sh, CI) makes warnings errors.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYNCSTORE_WERROR="${SYNCSTORE_WERROR:-OFF}" "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)" >/dev/null
echo "$PWD/$dir/syncstore"
