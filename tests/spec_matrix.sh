#!/usr/bin/env bash
# spec_matrix.sh - checks the SPEC conformance matrix of docs/TESTING.md.
#
# The matrix (between the spec-matrix markers) has one row per promise:
#   | <a phrase copied from SPEC.md> | <tests> |
# where <tests> is a comma-separated list of FILE:NAME (a test function in a
# tests/*.c file, found as "NAME(", or a phrase of a tests/*.sh file), or
# "untested" followed by why.  This script fails when
#   - a row's phrase is not in SPEC.md (the SPEC changed: update the row),
#   - a named test does not exist,
#   - a bullet or table row of SPEC.md has no row whose phrase lies in it.
# It prints how many promises are proven and how many are untested.
# Usage: tests/spec_matrix.sh [SPEC.md [TESTING.md]]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
spec=${1:-$root/../shared/SPEC.md}
doc=${2:-$root/docs/TESTING.md}
[ -r "$spec" ] || { echo "spec_matrix: cannot read '$spec'" >&2; exit 2; }
[ -r "$doc" ] || { echo "spec_matrix: cannot read '$doc'" >&2; exit 2; }

# The SPEC's promises: each bullet (with its continuation lines) and each
# table row but the header and separator rows, one per line, spaces squeezed.
blocks=$(awk '
  function flush() { if (cur != "") print cur; cur = "" }
  { line = $0; sub(/^[ \t]+/, "", line) }
  /^\| *-+/ { if (prev_row != "") prev_row = ""; next }  # a separator: the row above was a header
  /^\|/ { if (prev_row != "") { flush(); print prev_row }; prev_row = line; next }
  { if (prev_row != "") { flush(); print prev_row; prev_row = "" } }
  /^- / { flush(); cur = line; next }
  /^  +[^ ]/ { if (cur != "") { cur = cur " " line; next } }
  { flush() }
  END { flush(); if (prev_row != "") print prev_row }
' "$spec" | tr -s ' ')
# The whole SPEC on one line, for phrases that span a line break.
spec_text=$(tr '\n' ' ' <"$spec" | tr -s ' ')

rows=$(awk '/<!-- spec-matrix:begin -->/ {on = 1; next} /<!-- spec-matrix:end -->/ {on = 0} on && /^\| / && !/^\| *-+/ && !/^\| promise/' "$doc")
[ -n "$rows" ] || { echo "spec_matrix: no matrix rows in '$doc'" >&2; exit 1; }

fail=0 proven=0 untested=0
phrases=()
while IFS= read -r row; do
  phrase=$(awk -F' \\| ' '{print $1}' <<<"$row" | sed 's/^| //')
  tests=$(awk -F' \\| ' '{print $2}' <<<"$row" | sed 's/ |$//')
  phrases+=("$phrase")
  if [[ "$spec_text" != *"$phrase"* ]]; then
    echo "spec_matrix: not in SPEC.md: '$phrase'"
    fail=1
  fi
  if [[ "$tests" == untested* ]]; then
    untested=$((untested + 1))
    continue
  fi
  proven=$((proven + 1))
  IFS=',' read -ra refs <<<"$tests"
  for ref in "${refs[@]}"; do
    ref=$(sed 's/^ *//; s/ *$//' <<<"$ref")
    file=${ref%%:*} name=${ref#*:}
    if [ ! -f "$root/tests/$file" ]; then
      echo "spec_matrix: no test file tests/$file (row '$phrase')"
      fail=1
    elif [[ "$file" == *.c ]] && ! grep -qF "$name(" "$root/tests/$file"; then
      echo "spec_matrix: no test $name in tests/$file (row '$phrase')"
      fail=1
    elif [[ "$file" == *.sh ]] && ! grep -qF -- "$name" "$root/tests/$file"; then
      echo "spec_matrix: no '$name' in tests/$file (row '$phrase')"
      fail=1
    fi
  done
done <<<"$rows"

n_blocks=0
while IFS= read -r block; do
  [ -n "$block" ] || continue
  n_blocks=$((n_blocks + 1))
  found=0
  for p in "${phrases[@]}"; do
    if [[ "$block" == *"$p"* ]]; then found=1; break; fi
  done
  if [ $found = 0 ]; then
    echo "spec_matrix: a SPEC promise has no row: '${block:0:110}...'"
    fail=1
  fi
done <<<"$blocks"

echo "spec_matrix: $n_blocks SPEC bullets and table rows; $proven promises with tests, $untested untested"
exit $fail
