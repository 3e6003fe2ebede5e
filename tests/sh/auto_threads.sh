#!/bin/sh
# threads 0 (auto) follows the cores other programs leave free: with a busy loop on every core
# but one, a run at auto drops to one thread and logs it; a background job (nice 19) leaves it
# alone; a fixed count never changes; a step too small for a second thread runs on one. Prints PASS/FAIL/SKIP lines.
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
# a background job (nice 19) does not compete with a program at nice 9 or less: auto keeps
# every core
mine=$(nice)
if [ "$mine" -le 9 ]; then
    timeout 60 nice -n 19 sh -c 'while :; do :; done' &
    bg=$!
    sleep 0.3
    # shellcheck disable=SC2086
    $BIN train default --set model.seq_len=256 --set train.eval_every=0 \
        --device cpu --quiet --steps 40 --set train.threads=0 --out "$T/bg" 2>"$T/bg.err"
    rc=$?
    kill $bg 2>/dev/null
    wait $bg 2>/dev/null
    if [ $rc -eq 0 ] && ! grep -q "threads .* -> " "$T/bg/events.log"; then
        echo "PASS auto_threads_background_ignored"
    else
        echo "FAIL auto_threads_background_ignored: rc=$rc, events: $(grep threads "$T/bg/events.log" 2>/dev/null | head -3)"
    fi
else
    echo "SKIP auto_threads_background_ignored: this test runs at nice $mine, no room for a background job"
fi

# a step too small to pay for handing work to a second thread (the tiny preset cut to d 32,
# seq 64: about 0.05 GFLOP) runs on one thread at auto, and the events say why
# shellcheck disable=SC2086
$BIN train default --set model.layers=2 --set model.d_model=32 --set model.seq_len=64 \
    --set train.eval_every=0 --device cpu --quiet \
    --steps 20 --set train.threads=0 --out "$T/small" 2>"$T/small.err"
rc=$?
if [ $rc -eq 0 ] && grep -q "threads $cores -> 1 (auto: a step of 0\.[0-9]* GFLOP runs fastest on one thread)" "$T/small/events.log"; then
    echo "PASS auto_threads_small_step_one"
else
    echo "FAIL auto_threads_small_step_one: rc=$rc, events: $(grep threads "$T/small/events.log" 2>/dev/null | head -3)"
fi

# one burner per core but one: every core but one busy
i=1
while [ "$i" -lt "$cores" ]; do
    timeout 60 sh -c 'while :; do :; done' &
    burners="$burners $!"
    i=$((i + 1))
done
sleep 0.3
# (seq 256: a step of about 4 GFLOP, which auto runs on every free core)
ARGS="--set model.seq_len=256 --set train.eval_every=0 --device cpu --quiet"
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
