#!/usr/bin/env bash
# Static checks, all on checked-in configurations, each failing on any
# finding: clang-format (.clang-format), clang-tidy (.clang-tidy, using the
# compile commands of BUILD_DIR), cppcheck (the options below, with the
# reasons for what is suppressed) and the man page (groff warnings).
# Usage: tools/dev/lint.sh [BUILD_DIR]   (default: build; configured by tools/dev/build.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
[ -f "$build/compile_commands.json" ] || { echo "lint.sh: no $build/compile_commands.json (run tools/dev/build.sh $build)" >&2; exit 2; }
mapfile -t sources < <(git ls-files '*.c' '*.h' 2>/dev/null || find engine compactor fs tools tests -name '*.[ch]')
mapfile -t units < <(printf '%s\n' "${sources[@]}" | grep '\.c$' | grep -v '^tests/fuzz/')
status=0

echo "== clang-format (${#sources[@]} files)"
if ! clang-format --dry-run -Werror "${sources[@]}"; then
  echo "lint: clang-format: run clang-format -i on the files above" >&2
  status=1
fi

echo "== clang-tidy (${#units[@]} files)"
if ! printf '%s\n' "${units[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet 2>/dev/null; then
  echo "lint: clang-tidy found problems (above)" >&2
  status=1
fi

# The fuzz targets build only with clang: their compile commands come from a
# configured (not built) build-fuzz.
mapfile -t fuzz_units < <(printf '%s\n' "${sources[@]}" | grep '^tests/fuzz/.*\.c$' || true)
if [ ${#fuzz_units[@]} -gt 0 ] && command -v clang >/dev/null; then
  echo "== clang-tidy, fuzz targets (${#fuzz_units[@]} files)"
  if ! cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSYNCSTORE_FUZZ=ON \
      -DCMAKE_BUILD_TYPE=Debug >/dev/null ||
    ! printf '%s\n' "${fuzz_units[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p build-fuzz --quiet 2>/dev/null; then
    echo "lint: clang-tidy found problems in the fuzz targets (above)" >&2
    status=1
  fi
fi

echo "== cppcheck"
# varFuncNullUB: our variadic argument lists end in NULL, which glibc defines
#   as ((void *)0), the same as execl(3)'s sentinel.
if ! cppcheck --quiet --error-exitcode=1 --inline-suppr --std=c11 \
    --enable=warning,performance,portability --suppress=varFuncNullUB \
    -D_GNU_SOURCE -DFUSE_USE_VERSION=312 -I engine -I compactor -I fs -I tools -I tests \
    engine compactor fs tools tests; then
  echo "lint: cppcheck found problems (above)" >&2
  status=1
fi

if [ -x tools/dev/lint_man.sh ]; then
  echo "== man page"
  tools/dev/lint_man.sh "$build" || status=1
fi
[ $status -eq 0 ] && echo "lint: clean"
exit $status
