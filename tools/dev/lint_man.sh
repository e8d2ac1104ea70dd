#!/usr/bin/env bash
# Checks the man page that CMake generates from docs/syncstore.1.in:
#   - every @VARIABLE@ was substituted;
#   - groff formats it without a single warning (-ww: all warning categories);
#   - it has a COMMANDS subsection for every command that `syncstore --help`
#     lists (when BUILD_DIR holds the binary), so a new command cannot be
#     left out.
# Usage: tools/dev/lint_man.sh BUILD_DIR   (configured and built by tools/dev/build.sh)
# Exits 0 when clean, 1 on any finding, 2 when it cannot run.
set -euo pipefail
build=${1:?usage: tools/dev/lint_man.sh BUILD_DIR}
page=$build/syncstore.1
if [ ! -f "$page" ]; then
  echo "lint_man.sh: no $page (configure $build with CMake first: tools/dev/build.sh $build)" >&2
  exit 2
fi
command -v groff >/dev/null || { echo "lint_man.sh: groff is not installed (apt-get install groff-base)" >&2; exit 2; }
status=0

if grep -n '@[A-Za-z_][A-Za-z0-9_]*@' "$page" >&2; then
  echo "lint_man.sh: $page: unsubstituted @VARIABLE@ above" >&2
  status=1
fi

# groff exits 0 on warnings, so any output on stderr is the failure.
if ! warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1) || [ -n "$warnings" ]; then
  printf '%s\n' "$warnings" >&2
  echo "lint_man.sh: $page: groff warnings above (fix them in docs/syncstore.1.in)" >&2
  status=1
fi

if [ -x "$build/syncstore" ]; then
  # The command list of `syncstore --help`: the indented "  NAME  summary" lines.
  mapfile -t commands < <("$build/syncstore" --help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
  if [ ${#commands[@]} -eq 0 ]; then
    echo "lint_man.sh: found no commands in '$build/syncstore --help'" >&2
    status=1
  fi
  for c in "${commands[@]}"; do
    if ! grep -q "^\.SS \"${c}[ \"]" "$page"; then
      echo "lint_man.sh: $page: no COMMANDS subsection '.SS \"$c ...\"' for the command '$c'" >&2
      status=1
    fi
  done
fi

[ $status -eq 0 ] && echo "lint_man.sh: $page: clean"
exit $status
