#!/bin/sh
# normlab against PyTorch beyond the base shape: the depth-experiment shapes (bench/pre-d256-l24
# and bench/pre-d512-l8) and a sweep of seq_len 128, 256, 512, 1024 on the base shape
# (bench/pre-d128-l6) at a fixed 2,048 tokens per step (batch 16, 8, 4, 2), where attention's
# share of the work grows with T. Each row runs bench/compare.sh (same settings and peers'
# best settings; llm.c only where LLMC_DIR is set) and the table at the end gives each
# tool's best tokens/s over 1 and 2 threads and the ratio, and the ceiling's (compare.sh: the
# cores' multiply-add issue rate over the model's FLOPs a token, at the thread count of
# normlab's best) over PyTorch's best: where that is under 3, no program could run the shape
# 3x faster than PyTorch. Figures, not pass/fail.
# Run it as `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE bench/shapes.sh` where those force
# an older OpenBLAS kernel.
#
#   bench/shapes.sh [STEPS] [REPEATS]      (defaults 10 and 3)
cd "$(dirname "$0")/.." || exit 2
steps=${1:-10}
repeats=${2:-3}
tmp=$(mktemp -d /tmp/normlab-shapes.XXXXXX) || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
: >"$tmp/table"

row() { # label preset set
    echo "== $1"
    PRESET=$2 SET=$3 sh bench/compare.sh "$steps" "$repeats" | tee "$tmp/out" || exit $?
    # the best median of each tool, from compare.sh's lines "TOOL  N thread(s)  tokens/s MEDIAN ..."
    # and the ceiling's tokens/s at the thread count of normlab's best, from the lines
    # "  at N thread(s): F GFLOP/s, C tokens/s; ..." that follow "ceiling:"
    awk -v label="$1" '
        $1 == "normlab" || $1 == "torch" || $1 == "llm.c" {
            v = ""; for (i = 1; i < NF; i++) if ($i == "tokens/s") v = $(i + 1)
            if (v + 0 > best[$1]) { best[$1] = v + 0; n[$1] = $2 } }
        $1 == "ceiling:" { ceil = 1; next }
        ceil && $1 == "at" && $7 == "tokens/s;" { c[$2 + 0] = $6 + 0 }
        ceil && $1 != "at" { ceil = 0 }
        END {
            r = best["torch"] > 0 ? sprintf("%.2fx", best["normlab"] / best["torch"]) : "-"
            cr = best["torch"] > 0 && c[n["normlab"]] > 0 ? sprintf("%.2fx", c[n["normlab"]] / best["torch"]) : "-"
            printf "%-30s %10.0f %10.0f %8s %14s\n", label, best["normlab"], best["torch"], r, cr }' \
        "$tmp/out" >>"$tmp/table"
    echo
}

row "d256 L24 T256 B8" bench/pre-d256-l24.yaml ""
row "d512 L8 T512 B4" bench/pre-d512-l8.yaml ""
for tb in 128:16 256:8 512:4 1024:2; do
    row "d128 L6 T${tb%%:*} B${tb#*:}" bench/pre-d128-l6.yaml "model.seq_len=${tb%%:*} train.batch=${tb#*:}"
done
echo "best tokens/s over 1 and 2 threads (medians of $repeats runs of $steps steps):"
printf '%-30s %10s %10s %8s %14s\n' shape normlab torch ratio ceiling/torch
cat "$tmp/table"
