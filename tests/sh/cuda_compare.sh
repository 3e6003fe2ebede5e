#!/bin/sh
# bench/cuda/compare.sh without a GPU: it stops with "no CUDA device: ..." (exit 2) when
# nvidia-smi is missing or fails, rather than printing figures; and with stand-ins for
# nvidia-smi, normlab, PyTorch and llm.c (each with a largest batch that fits) it searches the
# batches, runs every trainer at the smallest largest batch and prints tokens/s, MFU and
# normlab's ratios computed from their outputs.
T=$(mktemp -d /tmp/normlab-cudacmp.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin" "$T/nobin" "$T/llm.c"
for tool in awk basename bash cat chmod cp dirname env head mkdir mktemp nproc rm sed tail git python3 make sh; do
    p=$(command -v "$tool") && ln -s "$p" "$T/nobin/$tool"
done
[ -x /usr/bin/python3 ] && ln -sf /usr/bin/python3 "$T/nobin/python3" # not a version shim
out=$(PATH="$T/nobin" WORK="$T/w0" sh bench/cuda/compare.sh 2 2>&1)
rc=$?
case "$rc:$out" in
    "2:compare.sh: no CUDA device: nvidia-smi is not installed") echo "PASS cuda/compare-no-nvidia-smi" ;;
    *) echo "FAIL cuda/compare-no-nvidia-smi: exit $rc: $out" ;;
esac

cp -P "$T"/nobin/* "$T/bin/"
cat >"$T/bin/nvidia-smi" <<'EOF'
#!/bin/sh
[ -n "$FAKE_NO_DRIVER" ] && { echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"; exit 9; }
echo "NVIDIA H200, 570.00, 143771 MiB"
EOF
chmod +x "$T/bin/nvidia-smi"
out=$(PATH="$T/bin" FAKE_NO_DRIVER=1 WORK="$T/w1" sh bench/cuda/compare.sh 2 2>&1)
rc=$?
case "$rc:$out" in
    "2:compare.sh: no CUDA device: nvidia-smi: NVIDIA-SMI has failed"*) echo "PASS cuda/compare-no-driver" ;;
    *) echo "FAIL cuda/compare-no-driver: exit $rc: $out" ;;
esac

# stand-ins: normlab fits batch <= 16, PyTorch <= 32, llm.c <= 8
cat >"$T/normlab" <<'EOF'
#!/bin/sh
b=0; for a in "$@"; do case $a in train.batch=*) b=${a#*=} ;; esac; done
[ "$b" -gt 16 ] && { echo "out of device memory" >&2; exit 1; }
echo "bench x: cuda backend (bf16)"
echo "  tokens/s 100000.0"
echo "  step_ms 81.92"
echo "  model_flops_per_token 1e+09"
echo "  bf16_matmul_peak_gflops 500000.00 (measured: 8192^3 bf16 products, fp32 accumulation)"
echo "  step CUDA graph"
EOF
cat >"$T/python" <<'EOF'
#!/bin/sh
[ "$1" != bench/cuda/torch_gpt.py ] && exec python3 "$@"
b=0 c=""; while [ $# -gt 0 ]; do case $1 in --batch) b=$2 ;; --compile) c=1 ;; esac; shift; done
[ "$b" -gt 32 ] && { echo "torch: out of memory at batch $b" >&2; exit 3; }
if [ -n "$c" ]; then echo "torch tokens/s 80000.0"; echo "torch ms/step 10"; else echo "torch tokens/s 50000.0"; echo "torch ms/step 20"; fi
EOF
touch "$T/llm.c/train_gpt2.cu"
printf 'train_gpt2cu:\n\tcp fake.sh train_gpt2cu && chmod +x train_gpt2cu\n' >"$T/llm.c/Makefile"
cat >"$T/llm.c/fake.sh" <<'EOF'
#!/bin/sh
b=0; while [ $# -gt 0 ]; do [ "$1" = -b ] && b=$2; shift; done
[ "$b" -gt 8 ] && { echo "cudaMalloc: out of memory"; exit 1; }
for s in 1 2 3 4 5 6 7 8 9; do echo "step    $s/9 | loss 5.0 (+0.00z)| norm 1.0 (+0.00z)| lr 6.00e-04 | 50.00 ms | 40.0% bf16 MFU | 1 tok/s"; done
EOF
chmod +x "$T/normlab" "$T/python"
out=$(PATH="$T/bin" NORMLAB="$T/normlab" PYTHON="$T/python" LLMC_DIR="$T/llm.c" BUILD=0 \
    BATCHES="64 32 16 8 4" SHAPES=bench/cuda/gpt2-small.yaml WORK="$T/w2" \
    sh bench/cuda/compare.sh 2 2>"$T/err")
rc=$?
echo "$out" | sed 's/^/# /' >&2
want() { echo "$out" | grep -q -- "$1" || echo "FAIL cuda/compare-table: no '$1' (exit $rc; $(tail -n 2 "$T/err"))"; }
bad=$(
    want "device: NVIDIA H200, 570.00, 143771 MiB"
    want "largest batch normlab 16, PyTorch 32, llm.c 8; all at batch 8 (8192 tokens per step)"
    want "bf16 matmul peak 500000.00 GFLOP/s"
    want "normlab (CUDA graph) *100000.0 *81.92 *0.200 *1.00x"
    want "llm.c train_gpt2cu *163840.0 *50.000 *0.328 *0.61x"
    want "PyTorch eager *50000.0 *20 *0.100 *2.00x"
    want "PyTorch compile *80000.0 *10 *0.160 *1.25x"
)
if [ "$rc" -eq 0 ] && [ -z "$bad" ]; then
    echo "PASS cuda/compare-table"
else
    echo "${bad:-FAIL cuda/compare-table: exit $rc: $(tail -n 3 "$T/err")}" | head -n 1
fi
