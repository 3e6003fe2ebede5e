#!/bin/sh
# kill -9 at random moments of a checkpointed run: every time, the newest checkpoint left
# behind loads, and resuming from it ends with exactly the metrics of a run never killed
# (time_s and tok_s aside). A few trials on a small model, a few seconds in all.
BIN=${NORMLAB_BIN:-./normlab}
TRIALS=${NORMLAB_KILL9_TRIALS:-4}
T=$(mktemp -d /tmp/normlab-kill9.XXXXXX)
trap 'rm -rf "$T"' EXIT
ARGS="--set model.layers=2 --set model.d_model=32 --set model.seq_len=16 --set train.batch=4 --set train.eval_every=10 --set train.threads=1 --set train.ckpt_every=3 --set train.keep_ckpts=2 --steps 80 --quiet"
# metrics without the wall-clock columns (time_s, tok_s)
strip() { cut -d, -f1,2,4-7,9- "$1"; }
now_ms() { date +%s%3N; }

t0=$(now_ms)
$BIN train $ARGS --out "$T/ref" 2>"$T/ref.err" || { echo "FAIL kill9/reference: $(cat "$T/ref.err")"; exit 0; }
span=$(( $(now_ms) - t0 ))
[ "$span" -lt 50 ] && span=50
strip "$T/ref/metrics.csv" > "$T/ref.csv"

n=1
while [ $n -le "$TRIALS" ]; do
    d=$T/t$n
    at=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % span ))
    $BIN train $ARGS --out "$d" 2>/dev/null &
    pid=$!
    sleep "$(printf '0.%03d' "$at")"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    newest=$(ls "$d"/ckpt-*.nlck 2>/dev/null | sed 's/.*ckpt-\([0-9]*\)\.nlck$/\1/' | sort -n | tail -1)
    if [ -z "$newest" ]; then
        # killed before the first checkpoint: nothing to resume, a fresh start is allowed
        rm -rf "$d"
        $BIN train $ARGS --out "$d" 2>"$T/err" || { echo "FAIL kill9/trial-$n: fresh start after a kill at ${at} ms: $(cat "$T/err")"; n=$((n + 1)); continue; }
        what="killed at ${at} ms before any checkpoint; started again"
    else
        ck=$d/ckpt-$newest.nlck
        if ! o=$($BIN eval "$ck" --batches 1 2>&1); then
            echo "FAIL kill9/trial-$n: killed at ${at} ms, newest checkpoint $ck does not load: $o"
            n=$((n + 1)); continue
        fi
        $BIN train --resume "$ck" --quiet 2>"$T/err" || { echo "FAIL kill9/trial-$n: resume from $ck: $(cat "$T/err")"; n=$((n + 1)); continue; }
        what="killed at ${at} ms, resumed from step $newest"
    fi
    strip "$d/metrics.csv" > "$T/got.csv"
    if ! cmp -s "$T/ref.csv" "$T/got.csv"; then
        echo "FAIL kill9/trial-$n: $what: metrics differ from the uninterrupted run: $(diff "$T/ref.csv" "$T/got.csv" | head -3 | tr '\n' ' ')"
    elif ls "$d"/*.tmp >/dev/null 2>&1; then
        echo "FAIL kill9/trial-$n: $what: temporary files left: $(ls "$d"/*.tmp)"
    else
        echo "PASS kill9/trial-$n ($what)"
    fi
    n=$((n + 1))
done
