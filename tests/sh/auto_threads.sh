#!/bin/sh
# threads 0 (auto) follows the cores other programs leave free: with a busy loop on one core of
# a machine with two or more, a run at auto drops to one thread fewer and logs it, and a fixed
# count never changes. Prints PASS/FAIL/SKIP lines.
BIN=${NORMLAB_BIN:-./normlab}
cores=$(getconf _NPROCESSORS_ONLN)
if [ "$cores" -lt 2 ]; then
    echo "SKIP auto_threads: one core, nothing to choose"
    exit 0
fi
T=$(mktemp -d /tmp/normlab-auto.XXXXXX)
burners=""
cleanup() {
    # shellcheck disable=SC2086
    [ -n "$burners" ] && kill $burners 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
# one burner per core but one: every core but one busy
i=1
while [ "$i" -lt "$cores" ]; do
    timeout 60 sh -c 'while :; do :; done' &
    burners="$burners $!"
    i=$((i + 1))
done
sleep 0.3
ARGS="--set model.layers=2 --set model.d_model=64 --set train.eval_every=0 --device cpu --quiet"
# shellcheck disable=SC2086
$BIN train default $ARGS --steps 40 --set train.threads=0 --out "$T/auto" 2>"$T/auto.err"
rc=$?
if [ $rc -eq 0 ] && grep -q "threads $cores -> 1 (auto: [0-9]* other programs\{0,1\} running on $cores cores)" "$T/auto/events.log"; then
    echo "PASS auto_threads_drop"
else
    echo "FAIL auto_threads_drop: rc=$rc, events: $(grep threads "$T/auto/events.log" 2>/dev/null | head -3) $(tail -2 "$T/auto.err")"
fi
# shellcheck disable=SC2086
$BIN train default $ARGS --steps 40 --set train.threads=$cores --out "$T/fixed" 2>"$T/fixed.err"
rc=$?
if [ $rc -eq 0 ] && ! grep -q "threads .* -> " "$T/fixed/events.log"; then
    echo "PASS auto_threads_fixed_stays"
else
    echo "FAIL auto_threads_fixed_stays: rc=$rc, events: $(grep threads "$T/fixed/events.log" 2>/dev/null | head -3)"
fi
