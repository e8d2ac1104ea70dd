# clilib.sh - what the command-line tests (tests/cli_*.sh) share; sourced.
# Gives: $tmp (a temporary directory, removed at exit after unmounting
# $tmp/mnt if a test mounted it), expect, check, skip and finish.
tmp=$(mktemp -d)
cleanup() {
  if mountpoint -q "$tmp/mnt" 2>/dev/null; then fusermount3 -u "$tmp/mnt" || fusermount3 -uz "$tmp/mnt"; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0 failed=0 skipped=0

# expect STATUS PATTERN -- CMD...: runs CMD, checks its exit status and that
# stdout+stderr match the extended regex PATTERN.
expect() {
  local want=$1 pattern=$2
  shift 3
  local out status
  out=$("$@" 2>&1)
  status=$?
  if [ "$status" -eq "$want" ] && grep -Eq -- "$pattern" <<<"$out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    printf 'FAIL: %s\n  want status %s and /%s/, got %s:\n%s\n' "$*" "$want" "$pattern" "$status" "$out"
  fi
}
check() { # check DESCRIPTION CMD...: CMD must succeed
  local what=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what"; fi
}
skip() { # skip WHY: cases that cannot run here; the test then exits 77 (skipped)
  echo "SKIP: $*"
  skipped=$((skipped + 1))
}
finish() { # finish NAME: the summary line; the exit status of the test (77: skipped)
  echo "$1: $passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ] || return 1
  [ "$skipped" -eq 0 ] || return 77
}
