#!/bin/sh
# normlab against PyTorch on one shape: `normlab bench bench/pre-d128-l6.yaml` and
# bench/torch_bench.py with the same model, batch and 2 CPU threads; prints both training
# throughputs and their ratio. Figures, not pass/fail.
#
#   bench/compare.sh [STEPS]        (default 20; PYTHON=... picks the interpreter with torch)
cd "$(dirname "$0")/.." || exit 2
steps=${1:-20}
py=${PYTHON:-/usr/bin/python3}
preset=bench/pre-d128-l6.yaml

if [ ! -x ./normlab ]; then
    echo "compare.sh: ./normlab not built (run make)" >&2
    exit 2
fi
nl_out=$(./normlab bench "$preset" --steps "$steps" 2>&1)
rc=$?
# the value after the first "tokens/s" word
nl=$(printf '%s\n' "$nl_out" | awk '{ for (i = 1; i < NF; i++) if ($i == "tokens/s") { print $(i + 1); exit } }')
if [ "$rc" -ne 0 ] || [ -z "$nl" ]; then
    printf '%s\n' "$nl_out" >&2
    echo "compare.sh: no 'tokens/s <value>' from normlab bench (exit $rc)" >&2
    exit 1
fi

th_out=$(OMP_NUM_THREADS=2 "$py" bench/torch_bench.py --d 128 --layers 6 --heads 4 --seq 256 \
    --batch 8 --vocab 256 --placement pre --norm layernorm --ffn gelu --pos learned \
    --threads 2 --device cpu --dtype fp32 --steps "$steps" 2>&1)
rc=$?
th=$(printf '%s\n' "$th_out" | awk '$1 == "torch" && $2 == "tokens/s" { print $3; exit }')
if [ "$rc" -ne 0 ] || [ -z "$th" ]; then
    printf '%s\n' "$th_out" >&2
    echo "compare.sh: no 'torch tokens/s <value>' from bench/torch_bench.py (exit $rc)" >&2
    exit 1
fi

echo "shape: $preset (d 128, 6 layers, 4 heads, seq 256, batch 8, vocab 256), 2 threads, $steps steps"
echo "normlab tokens/s $nl"
echo "torch   tokens/s $th"
awk -v a="$nl" -v b="$th" 'BEGIN { printf "ratio normlab/torch %.2f\n", a / b }'
