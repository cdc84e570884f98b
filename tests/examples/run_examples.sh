#!/bin/sh
# tests/examples/run_examples.sh TASKS SHOP - runs the two example programs
# twice each in a fresh directory, as the README says, and checks what they
# print: the second run finds the first run's data.
set -eu
tasks=$1
shop=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/pbexamples-XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$tasks" "$dir/tasks" >"$dir/t1.out"
"$tasks" "$dir/tasks" >"$dir/t2.out"
grep -q 'found 1 task in the database' "$dir/t1.out"
grep -q 'found 2 tasks in the database' "$dir/t2.out"
grep -q 'task 1: "write the report, part 1" .* tags: report urgent' "$dir/t2.out"
grep -q 'open tasks, nearest deadline first (a query): 1$' "$dir/t1.out"
"$shop" "$dir/shop" >"$dir/s1.out"
"$shop" "$dir/shop" >"$dir/s2.out"
grep -q 'loaded 3 customers and 6 orders' "$dir/s1.out"
grep -q 'order 104 on day 20, 47.50, by Grace: debugger' "$dir/s1.out"
grep -q 'a fourth customer with ada.s email: PB_EEXIST' "$dir/s1.out"
grep -q '7 orders; tables and indexes check out' "$dir/s1.out"
grep -q '8 orders; tables and indexes check out' "$dir/s2.out"
if grep -q loaded "$dir/s2.out"; then exit 1; fi
echo "examples: ok"
