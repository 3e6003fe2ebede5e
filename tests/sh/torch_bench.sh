#!/bin/sh
# bench/torch_bench.py's fused code (what bench/compare.sh times PyTorch with) is the same model
# as reference.py's elementwise code: --check trains both from one start and prints the largest
# difference of their losses, held here under 1e-4 for the bench shape's kind of block and for
# RMSNorm with SwiGLU and for RoPE (where the scores come from the reference's code).
# Skips with the reason where Debian's python3 has no torch.
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "SKIP torch_bench: no torch for $PY (Debian's python3-torch)"
    exit 0
fi
for c in "pre:--placement pre --norm layernorm --ffn gelu" \
    "post-rms-swiglu:--placement post --norm rmsnorm --ffn swiglu" \
    "sandwich-rope:--placement sandwich --pos rope"; do
    name=${c%%:*}
    # shellcheck disable=SC2086
    out=$(OMP_NUM_THREADS=1 "$PY" bench/torch_bench.py --d 64 --layers 2 --heads 4 --seq 64 \
        --batch 4 --vocab 64 --threads 1 --steps 4 --lr 3e-3 --check ${c#*:} 2>&1)
    d=$(echo "$out" | sed -n 's/.*largest difference \([^ ]*\)$/\1/p')
    if [ -n "$d" ] && awk -v d="$d" 'BEGIN { exit !(d < 1e-4) }'; then
        echo "PASS torch_bench/fused-matches-reference-$name ($d)"
    else
        echo "FAIL torch_bench/fused-matches-reference-$name: $(echo "$out" | tail -n 3)"
    fi
done
