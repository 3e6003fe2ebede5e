#!/bin/sh
# Runs every test binary (build/tests/test_*) and every shell test (tests/sh/*.sh), each of
# which prints PASS/FAIL/SKIP lines, and ends with "N passed, N failed[, N skipped]".
# A binary that crashes or exits nonzero without printing a FAIL counts as one failure.
cd "$(dirname "$0")/.." || exit 2
pass=0; fail=0; skip=0
B=${NORMLAB_BUILD:-build}
export NORMLAB_BIN=${NORMLAB_BIN:-./normlab}
log=$B/test-log.txt
: > "$log"
run_one() {
    name=$1; shift
    out=$("$@" 2>>"$log"); rc=$?
    printf '%s\n' "$out"
    printf '%s\n' "$out" >> "$log"
    p=$(printf '%s\n' "$out" | grep -c '^PASS ')
    f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
    s=$(printf '%s\n' "$out" | grep -c '^SKIP ')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name: exited with status $rc (see $log)"
        f=1
    fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}
for t in "$B"/tests/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.d|*.o) continue;; esac
    echo "== $t"
    run_one "$t" "$t"
done
for t in tests/sh/*.sh; do
    [ -f "$t" ] || continue
    echo "== $t"
    run_one "$t" sh "$t"
done
if [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
