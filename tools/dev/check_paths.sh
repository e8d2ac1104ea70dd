#!/usr/bin/env bash
# Lists the repository paths that tracked files mention but that do not
# exist: every word that starts with a top folder (engine, compactor, fs,
# tools, tests, docs) and a slash and ends in .c, .h, .sh, .md, .supp, .in or
# .dict, resolved from the top of the repository.  Bare file names and
# function names are not checked: after moving code, grep for those by hand.
# Usage: tools/dev/check_paths.sh   Exits 1 when a path is missing, else 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
status=0
known=$(git ls-files)
while IFS=: read -r file line path; do
  grep -qxF "$path" <<<"$known" && continue
  echo "$file:$line: $path does not exist"
  status=1
done < <(git ls-files -z -- ':!tests/fuzz/corpus' |
  xargs -0 grep -InoE '(^|[^A-Za-z0-9_./-])(engine|compactor|fs|tools|tests|docs)/[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.(c|h|sh|md|supp|in|dict)\b' |
  sed -E 's/^([^:]*:[0-9]+:)[^a-z]?/\1/' | sort -u)
[ $status -eq 0 ] && echo "check_paths: every path named exists"
exit $status
