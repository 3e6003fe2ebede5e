#!/bin/sh
# normlab's CUDA engine against the GPU trainers users would pick instead, on one GPU in one
# session: normlab (`normlab bench`), llm.c's train_gpt2cu (GPT-2 small only: its model sizes
# are GPT-2's), PyTorch eager and PyTorch with torch.compile (bench/cuda/torch_gpt.py: the same
# Pre-Norm model, bf16 autocast, scaled_dot_product_attention, fused AdamW).
#
# For each shape (default bench/cuda/gpt2-small.yaml, d 768, 12 layers, T 1024, V 50304, and
# bench/cuda/deep-narrow.yaml, d 256, 48 layers, T 512), all bf16:
#   1. the largest batch that fits, searched downward through BATCHES with one-step runs, for
#      each trainer; then every trainer runs at the smallest of those (same tokens per step);
#   2. STEPS timed steps after 3 untimed ones (llm.c: its per-step times after 5 steps);
#   3. a table of tokens/s, ms/step, MFU against the bf16 tensor-core peak that `normlab bench`
#      measures on this GPU (bf16 inputs, fp32 accumulation; the same model FLOPs per token for
#      every trainer, normlab's count), and normlab's tokens/s over each trainer's.
# Figures, not pass/fail. It stops with "no CUDA device: ..." where there is no GPU.
#
#   bench/cuda/compare.sh [STEPS]        (default 10)
#   LLMC_DIR=path/to/llm.c   (default ../shared/anchors/llm.c from the repository root; copied
#                             to WORK and built there with `make train_gpt2cu USE_CUDNN=0`;
#                             skipped with a line when absent)
#   SHARD=llm.c token shard  (default: WORK/tokens.bin, 2M random GPT-2 token ids, written here)
#   PYTHON=python3 (with torch)   NORMLAB=./normlab   BATCHES="64 48 32 24 16 8 4 2 1"
#   SHAPES="bench/cuda/gpt2-small.yaml bench/cuda/deep-narrow.yaml"
#   WORK=folder for the logs and builds (default: a new temporary folder, kept)
#   BUILD=0: use normlab as built (no make)
cd "$(dirname "$0")/../.." || exit 2
steps=${1:-10}
bin=${NORMLAB:-./normlab}
py=${PYTHON:-python3}
llmc_src=${LLMC_DIR:-../shared/anchors/llm.c}
batches=${BATCHES:-64 48 32 24 16 8 4 2 1}
shapes=${SHAPES:-bench/cuda/gpt2-small.yaml bench/cuda/deep-narrow.yaml}
work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/normlab-compare.XXXXXX")}
mkdir -p "$work" || exit 2

die() {
    printf 'compare.sh: %s\n' "$*" >&2
    exit 2
}
case $steps in '' | *[!0-9]* | 0) die "STEPS must be a positive integer, got '$steps'" ;; esac

# ---- a GPU, or stop -------------------------------------------------------------------------
command -v nvidia-smi >/dev/null 2>&1 || die "no CUDA device: nvidia-smi is not installed"
if ! gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1) ||
    [ -z "$gpu" ]; then
    die "no CUDA device: nvidia-smi: ${gpu:-no output}"
fi
gpu=$(printf '%s\n' "$gpu" | head -n 1)

# ---- builds -----------------------------------------------------------------------------------
if [ "${BUILD:-1}" != 0 ]; then
    echo "compare.sh: building normlab (logs in $work)" >&2
    make -j"$(nproc)" >"$work/make.log" 2>&1 || die "make failed: see $work/make.log"
    [ -f build/libnormlab_cuda.so ] || die "no build/libnormlab_cuda.so (nvcc not found?): see $work/make.log"
fi
"$bin" bench bench/cuda/default.yaml --device cuda --steps 1 --warmup 0 >"$work/probe.log" 2>&1 ||
    die "no CUDA device: normlab: $(tail -n 1 "$work/probe.log")"

llmc=""
if [ -f "$llmc_src/train_gpt2.cu" ]; then
    echo "compare.sh: building llm.c's train_gpt2cu" >&2
    rm -rf "$work/llm.c" && cp -r "$llmc_src" "$work/llm.c" &&
        make -C "$work/llm.c" train_gpt2cu USE_CUDNN=0 NO_MULTI_GPU=1 NO_USE_MPI=1 \
            >"$work/llmc-make.log" 2>&1 && llmc="$work/llm.c/train_gpt2cu"
    [ -n "$llmc" ] || echo "llm.c: build failed (see $work/llmc-make.log); left out"
else
    echo "llm.c: no checkout at $llmc_src (set LLMC_DIR); left out"
fi
shard=${SHARD:-$work/tokens.bin}
if [ -n "$llmc" ] && [ ! -f "$shard" ]; then
    # llm.c's shard format: 256 int32 header (magic 20240520, version 1, count), uint16 tokens
    "$py" -c 'import random, struct, sys
n = 1 << 21
random.seed(1)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<256i", 20240520, 1, n, *([0] * 253)))
    f.write(struct.pack("<%dH" % n, *(random.randrange(50257) for _ in range(n))))' "$shard" ||
        die "cannot write the token shard $shard"
fi

echo "device: $gpu"
echo "nvcc: $(nvcc --version 2>/dev/null | tail -n 1)"
echo "torch: $("$py" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>&1 | tail -n 1)"
echo "normlab: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "steps: $steps timed after 3 untimed; batches tried: $batches"

# the value of a preset's key (model.d_model, train.batch, ...)
yaml_get() {
    awk -v sec="${2%%.*}" -v key="${2#*.}" '
        /^[^ #]/ { cur = $1; sub(":.*", "", cur) }
        /^  [^ #]/ && cur == sec { k = $1; sub(":$", "", k); if (k == key) { print $2; exit } }' "$1"
}
# the value after "KEY " on a line of a log ("tokens/s 1234.5" -> 1234.5)
log_get() {
    awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) v = $(i + 1) } END { print v }' "$1"
}

# ---- one trainer at one batch: 0 when it ran; the log in $work/$1-$B.log ----------------------
run_normlab() { # NAME PRESET B STEPS WARMUP
    "$bin" bench "$2" --device cuda --steps "$4" --warmup "$5" --set train.batch="$3" \
        >"$work/$1-$3.log" 2>&1
}
run_torch() { # NAME PRESET B STEPS WARMUP [--compile]
    n=$1 b=$3 s=$4 w=$5 # the shape is D, L, NH, T, V of the preset being run
    shift 5
    "$py" bench/cuda/torch_gpt.py --d "$D" --layers "$L" --heads "$NH" --seq "$T" --vocab "$V" \
        --batch "$b" --steps "$s" --warmup "$w" "$@" >"$work/$n-$b.log" 2>&1
}
run_llmc() { # NAME PRESET B STEPS WARMUP: llm.c runs STEPS + WARMUP + 2 steps
    (cd "$work" && "$llmc" -i "$shard" -j "$shard" -e d12 -b "$3" -t "$T" \
        -x $(($4 + $5 + 2)) -v 1000000 -s 1000000 -h 0 >"$work/$1-$3.log" 2>&1)
}
# the largest batch in $batches that RUNNER takes (one step after one): 0 when none
largest() { # RUNNER NAME PRESET
    for b in $batches; do
        if "$1" "$2-probe" "$3" "$b" 1 1; then
            echo "$b"
            return
        fi
    done
    echo 0
}
# llm.c's mean ms of the steps after the first WARMUP + 2 (it prints "| 12.34 ms |")
llmc_ms() {
    awk -v skip="$2" '/^step / { n++; for (i = 1; i < NF; i++) if ($(i + 1) == "ms") ms = $i
        if (n > skip) { t += ms; c++ } } END { if (c) printf "%.3f\n", t / c }' "$1"
}

row() { # LABEL TOK_S MS
    mfu=$(awk -v f="$fpt" -v t="$2" -v p="$peak" 'BEGIN { if (t > 0 && p > 0) printf "%.3f", f * t / 1e9 / p; else print "-" }')
    ratio=$(awk -v a="$nl_tok" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2fx", a / b; else print "-" }')
    printf '  %-30s %12s %10s %8s %10s\n' "$1" "${2:--}" "${3:--}" "$mfu" "$ratio"
}

for preset in $shapes; do
    [ -f "$preset" ] || die "no preset $preset"
    D=$(yaml_get "$preset" model.d_model) L=$(yaml_get "$preset" model.layers)
    NH=$(yaml_get "$preset" model.heads) T=$(yaml_get "$preset" model.seq_len)
    V=$(yaml_get "$preset" model.vocab) name=$(basename "$preset" .yaml)
    use_llmc=""
    [ -n "$llmc" ] && [ "$D" = 768 ] && [ "$L" = 12 ] && [ "$NH" = 12 ] && use_llmc=1
    echo "compare.sh: $name: searching the largest batches" >&2
    b_nl=$(largest run_normlab "$name-normlab" "$preset")
    b_pt=$(largest run_torch "$name-torch" "$preset")
    b_lc=-
    [ -n "$use_llmc" ] && b_lc=$(largest run_llmc "$name-llmc" "$preset")
    B=$(printf '%s\n' "$b_nl" "$b_pt" "$b_lc" | awk '$1 > 0 && (m == "" || $1 < m) { m = $1 } END { print m + 0 }')
    echo ""
    echo "$name: d $D, $L layers, $NH heads, T $T, V $V, bf16; largest batch normlab $b_nl," \
        "PyTorch $b_pt, llm.c $b_lc; all at batch $B ($((B * T)) tokens per step)"
    if [ "$B" -eq 0 ]; then
        echo "  no trainer ran (see $work/$name-*-probe-*.log)"
        continue
    fi
    echo "compare.sh: $name: timing at batch $B" >&2
    nl_tok="" fpt="" peak="" nl_ms="" graph=""
    if run_normlab "$name-normlab" "$preset" "$B" "$steps" 3; then
        f=$work/$name-normlab-$B.log
        nl_tok=$(log_get "$f" tokens/s) nl_ms=$(log_get "$f" step_ms)
        fpt=$(log_get "$f" model_flops_per_token) peak=$(log_get "$f" bf16_matmul_peak_gflops)
        graph=$(sed -n 's/^  step //p' "$f")
    fi
    echo "  bf16 matmul peak ${peak:-?} GFLOP/s (normlab bench); model FLOPs per token ${fpt:-?}"
    printf '  %-30s %12s %10s %8s %10s\n' trainer tokens/s ms/step MFU "normlab/it"
    row "normlab (${graph:-failed})" "$nl_tok" "$nl_ms"
    if [ -n "$use_llmc" ] && run_llmc "$name-llmc" "$preset" "$B" "$steps" 3; then
        ms=$(llmc_ms "$work/$name-llmc-$B.log" 5)
        row "llm.c train_gpt2cu" "$(awk -v b="$B" -v t="$T" -v ms="$ms" 'BEGIN { if (ms > 0) printf "%.1f", b * t * 1000 / ms }')" "$ms"
    elif [ -n "$use_llmc" ]; then
        row "llm.c train_gpt2cu (failed)" "" ""
    fi
    for mode in eager compile; do
        flag=""
        [ "$mode" = compile ] && flag=--compile
        # shellcheck disable=SC2086 # flag is empty or one word
        if run_torch "$name-torch-$mode" "$preset" "$B" "$steps" 3 $flag; then
            f=$work/$name-torch-$mode-$B.log
            row "PyTorch $mode" "$(log_get "$f" tokens/s)" "$(log_get "$f" ms/step)"
        else
            row "PyTorch $mode (failed)" "" ""
        fi
    done
done
echo ""
echo "logs: $work"
