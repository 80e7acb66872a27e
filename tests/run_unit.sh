#!/bin/sh
# Runs each cmocka unit-test binary given as an argument; fails if any fails.
fail=0; pass=0
for t in "$@"; do
    if "$t"; then pass=$((pass + 1)); else echo "FAILED: $t" >&2; fail=$((fail + 1)); fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" = 0 ]
