#!/bin/sh
# Checkpoints move between the CPU and the GPU: a run checkpointed on one device resumes on the
# other and its losses track the run that stayed (fp32: relative difference under 1e-3).
# Skips with the reason where no CUDA device or backend is present.
BIN=${NORMLAB_BIN:-./normlab}
T=$(mktemp -d /tmp/normlab-cudackpt.XXXXXX)
trap 'rm -rf "$T"' EXIT
why=$($BIN train --device cuda --steps 1 --quiet --out "$T/probe" 2>&1)
if [ $? -ne 0 ]; then
    echo "SKIP cuda/ckpt-cpu-gpu: $why"
    exit 0
fi
SET="--set model.layers=2 --set model.d_model=64 --set train.ckpt_every=5 --set train.keep_ckpts=5 --set train.eval_every=0 --quiet"
last_loss() { tail -1 "$1/metrics.csv" | cut -d, -f5; }
close() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-3 * (b < 0 ? -b : b)) }'; }
for pair in "cuda cpu" "cpu cuda"; do
    set -- $pair
    from=$1; to=$2
    $BIN train $SET --steps 10 --device $from --out "$T/$from-full" 2>"$T/err" || { echo "FAIL cuda/ckpt-$from-to-$to: train on $from: $(cat "$T/err")"; continue; }
    mkdir -p "$T/$from-$to" && cp "$T/$from-full/ckpt-5.nlck" "$T/$from-full/metrics.csv" "$T/$from-$to/"
    $BIN train --resume "$T/$from-$to/ckpt-5.nlck" --device $to --quiet 2>"$T/err" || { echo "FAIL cuda/ckpt-$from-to-$to: resume on $to: $(cat "$T/err")"; continue; }
    a=$(last_loss "$T/$from-full"); b=$(last_loss "$T/$from-$to")
    if close "$b" "$a"; then
        echo "PASS cuda/ckpt-$from-to-$to"
    else
        echo "FAIL cuda/ckpt-$from-to-$to: step-10 loss $b after moving to $to, $a on $from"
    fi
    echo "# step-10 loss: $a staying on $from, $b resumed on $to" >&2
done
