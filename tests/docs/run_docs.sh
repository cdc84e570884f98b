#!/usr/bin/env bash
# tests/docs/run_docs.sh - run the code blocks of a Markdown page, as a reader
# would type them, in a scratch folder (docs/testing.md, "Docs that run").
#
#   run_docs.sh --doc PAGE.md --work DIR --source SRC --build BUILD
#               [--sanitize LIST] [--keep]
#
# The page becomes one bash script (set -euo pipefail), so `cd` and `export`
# carry from one block to the next as in a terminal:
#   ```sh            run, unless a marker above says otherwise;
#   ```c and others  not run; a ```c block must carry a marker (file, fragment
#                    or skip): an unmarked one fails the test;
# and a marker, an HTML comment on the line right above the opening fence:
#   <!-- docs-test: file PATH -->     write the block to PATH (any language);
#   <!-- docs-test: fragment -->      a part of a program, not run;
#   <!-- docs-test: skip REASON -->   not run (installs packages, needs root,
#                                      takes too long); REASON is required;
#   <!-- docs-test: instead CMD -->   run CMD in place of the block (it does
#                                      what the block does, in the scratch
#                                      folder, from the build under test);
#   <!-- docs-test: exit N -->        run the block in a subshell: its last
#                                      command must exit with status N;
#   <!-- docs-test: output -->        a block whose text must equal the
#                                      standard output of the sh block above.
# The script runs in WORK/cwd with HOME=WORK/home; SRC, BUILD and WORK are in
# $PB_SOURCE_DIR, $PB_BUILD_DIR and $PB_DOCS_WORK, and WORK/cwd holds links
# named build, schemas, tests, scripts and examples to the repository's, so
# that a page's repository-relative paths work.  WORK/script.sh is kept.
set -euo pipefail

doc= work= src= build= sanitize= keep=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --doc) doc=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --source) src=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --sanitize) sanitize=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "run_docs.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n $doc && -n $work && -n $src && -n $build ]] || {
  echo "usage: run_docs.sh --doc PAGE --work DIR --source SRC --build BUILD" >&2
  exit 2
}

src=$(cd "$src" && pwd)
build=$(cd "$build" && pwd)
doc=$(cd "$(dirname "$doc")" && pwd)/$(basename "$doc")
rm -rf "$work"
mkdir -p "$work/home" "$work/cwd" "$work/out"
for d in schemas tests scripts examples; do ln -s "$src/$d" "$work/cwd/$d"; done
ln -s "$build" "$work/cwd/build"

# The page, turned into a script.  Each block is preceded by DT_LINE=<the
# line of its opening fence>, which the failure message names.
awk -v page="$doc" '
function fail(msg) { printf "run_docs.sh: %s:%d: %s\n", page, fence, msg > "/dev/stderr"; bad = 1 }
function emit_run(body, expect,   out) {
  out = "\"$PB_DOCS_WORK/out/" fence "\""
  printf "DT_LINE=%d; DT_OUT=%s; echo \"docs-test: --- %s:%d\"\n", fence, out, page, fence
  if (expect == "") {
    printf "{\n%s} >%s\ncat %s\n", body, out, out
  } else {
    printf "set +e\n(\nset -e\n%s) >%s\nDT_RC=$?\nset -e\ncat %s\n", body, out, out
    printf "[[ $DT_RC -eq %d ]] || { echo \"docs-test: exit status $DT_RC, the page says %d\"; exit 1; }\n", expect, expect
  }
  lastrun = out
}
BEGIN { marker = ""; inblock = 0; bad = 0; lastrun = "" }
inblock && /^```[ \t]*$/ {
  inblock = 0
  split(marker, m, " "); kind = m[1]; arg = marker; sub(/^[^ ]+[ ]*/, "", arg)
  if (kind == "file") {
    if (arg == "") fail("file needs a PATH")
    printf "DT_LINE=%d\nmkdir -p \"$(dirname %s)\"\ncat >%s <<'"'"'DOCS_TEST_EOF'"'"'\n%sDOCS_TEST_EOF\n", fence, arg, arg, body
  } else if (kind == "fragment") {
  } else if (kind == "skip") {
    if (arg == "") fail("skip needs a reason")
    printf "echo \"docs-test: --- %s:%d skipped: %s\"\n", page, fence, arg
  } else if (kind == "instead") {
    if (arg == "") fail("instead needs a command")
    emit_run(arg "\n", "")
  } else if (kind == "exit") {
    if (lang != "sh") fail("exit is for sh blocks")
    emit_run(body, arg + 0)
  } else if (kind == "output") {
    if (lastrun == "") fail("output with no sh block above")
    printf "DT_LINE=%d\ncat >\"$PB_DOCS_WORK/expected\" <<'"'"'DOCS_TEST_EOF'"'"'\n%sDOCS_TEST_EOF\n", fence, body
    printf "diff -u \"$PB_DOCS_WORK/expected\" %s || { echo \"docs-test: the output differs from the page\"; exit 1; }\n", lastrun
  } else if (kind != "") {
    fail("unknown marker: " marker)
  } else if (lang == "sh") {
    emit_run(body, "")
  } else if (lang == "c") {
    fail("a c block without a marker (file, fragment or skip)")
  }
  marker = ""
  next
}
inblock { body = body $0 "\n"; next }
/^```/ {
  inblock = 1; fence = NR; body = ""
  lang = $0; sub(/^```[ \t]*/, "", lang); sub(/[ \t].*$/, "", lang)
  if (prev ~ /^<!-- docs-test: .* -->[ \t]*$/) {
    marker = prev; sub(/^<!-- docs-test: /, "", marker); sub(/[ \t]*-->[ \t]*$/, "", marker)
  } else marker = ""
  prev = $0
  next
}
{ prev = $0 }
END {
  if (inblock) { fence = NR; fail("a block is not closed") }
  exit bad
}
' "$doc" >"$work/body.sh"

{
  echo 'set -euo pipefail'
  echo 'DT_LINE=0; DT_OUT=/dev/null'
  # fd 3: the script's stdout, for the trap (a block's own stdout goes to
  # its file, also when it fails).
  echo 'exec 3>&1'
  echo 'trap '"'"'rc=$?; if [[ $rc -ne 0 ]]; then { echo "docs-test: FAILED (exit $rc) in the block at '"$doc"':$DT_LINE; its output:"; cat "$DT_OUT" 2>/dev/null || true; } >&3; fi'"'"' EXIT'
  cat "$work/body.sh"
  echo 'echo "docs-test: every block of '"$doc"' ran"'
} >"$work/script.sh"

export HOME="$work/home"
export PB_SOURCE_DIR="$src" PB_BUILD_DIR="$build" PB_DOCS_WORK="$work"
# A sanitized build's library needs the same flags in the programs that link
# it; CMake takes CFLAGS as the first configure's CMAKE_C_FLAGS.
if [[ -n $sanitize ]]; then
  export CFLAGS="-fsanitize=$sanitize"
fi
cd "$work/cwd"
rc=0
bash "$work/script.sh" || rc=$?
if [[ $rc -eq 0 && $keep -eq 0 ]]; then rm -rf "$work/home" "$work/cwd"; fi
exit $rc
