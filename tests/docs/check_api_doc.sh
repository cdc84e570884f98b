#!/bin/sh
# tests/docs/check_api_doc.sh SRC - test_api_doc: docs/api.md is what
# scripts/gen-api-doc makes of the public headers, and it has a section with
# an "Errors" line for every pb_* function they declare (found here by a
# separate, plainer scan than the generator's, so a declaration the
# generator misses is caught).
set -eu
src=$1
"$src/scripts/gen-api-doc" --check
api="$src/docs/api.md"
# Declarations: a line that starts with a type and names pb_...( , as the
# style guide writes them (the return type on the same line).
names=$(grep -h -E '^(static inline )?[a-z_][a-z0-9_ ]*[ *]pb_[a-z0-9_]+\(' \
          "$src"/runtime/include/protobase/*.h |
        grep -v '^typedef' | sed -E 's/\(.*//; s/.*[ *]//' | sort -u)
n=0 bad=0
for f in $names; do
  n=$((n + 1))
  # The function's section: from its heading to the next function heading
  # that is not part of the same group; it must contain "Errors".
  if ! awk -v h="#### \`$f\`" '
      $0 == h { found = 1; next }
      found && /Errors/ { ok = 1; exit }
      found && /^#### `/ && seen_text { exit }
      found && !/^#### `/ && !/^[ \t]*$/ { seen_text = 1 }
      END { exit !(found && ok) }' "$api"; then
    echo "check_api_doc: $f has no section with an Errors line in docs/api.md" >&2
    bad=1
  fi
done
[ "$n" -ge 200 ] || { echo "check_api_doc: only $n functions found in the headers" >&2; exit 1; }
[ "$bad" -eq 0 ] || exit 1
echo "check_api_doc: docs/api.md is up to date and lists $n functions, each with its errors"
