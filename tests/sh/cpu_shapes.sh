#!/bin/sh
# bench/shapes.sh with stand-ins for normlab and PyTorch: one row a shape, each tool's best
# tokens/s over 1 and 2 threads, their ratio, and the ceiling's (compare.sh's line: the
# multiply-add issue rate over the FLOPs a token) at the thread count of normlab's best over
# PyTorch's best.
T=$(mktemp -d /tmp/normlab-cpushapes.XXXXXX)
trap 'rm -rf "$T"' EXIT
# normlab: 12000 tokens/s at 1 thread (its best), 9000 at 2; 1e7 FLOPs a token; an issue rate
# of 100 GFLOP/s at 1 thread and 200 at 2, so a ceiling of 10000 and 20000 tokens/s: the row's
# ceiling is the 1 thread's, 10000 / 4000
cat >"$T/normlab" <<'EOF2'
#!/bin/sh
n=1; while [ $# -gt 0 ]; do case $1 in --threads) n=$2 ;; esac; shift; done
echo "bench x: cpu backend (fp32), $n threads"
echo "  tokens/s $((15000 - n * 3000)).0"
echo "  model_flops_per_token 1e+07"
echo "  fma_peak_gflops $((n * 100)).00 (measured: ...)"
EOF2
# PyTorch: 3000 tokens/s at 1 thread, 4000 at 2 (its best), whatever the settings
cat >"$T/python" <<'EOF2'
#!/bin/sh
case "$*" in
    "-c import torch") exit 0 ;;
    "-c import torch; print(torch.__version__)") echo 9.9; exit 0 ;;
esac
n=1; while [ $# -gt 0 ]; do case $1 in --threads) n=$2 ;; esac; shift; done
echo "torch tokens/s $((n * 1000 + 2000)).0"
EOF2
chmod +x "$T/normlab" "$T/python"
out=$(NORMLAB="$T/normlab" PYTHON="$T/python" THREADS="1 2" LLMC_DIR= sh bench/shapes.sh 1 1 2>"$T/err")
rc=$?
echo "$out" | tail -n 9 | sed 's/^/# /' >&2
bad=""
for label in "d256 L24 T256 B8" "d512 L8 T512 B4" "d128 L6 T128 B16" "d128 L6 T1024 B2"; do
    echo "$out" | grep -q "^$label  *12000  *4000  *3.00x  *2.50x\$" ||
        bad="$bad
FAIL cpu/shapes: no row '$label 12000 4000 3.00x 2.50x'"
done
echo "$out" | grep -q "^shape  *normlab  *torch  *ratio  *ceiling/torch\$" || bad="$bad
FAIL cpu/shapes: no table head"
if [ "$rc" -eq 0 ] && [ -z "$bad" ]; then
    echo "PASS cpu/shapes"
else
    echo "$bad" | sed '/^$/d'
    [ "$rc" -eq 0 ] || echo "FAIL cpu/shapes: exit $rc: $(tail -n 3 "$T/err")"
fi
