#!/bin/sh
# bench/compare.sh with stand-ins for normlab and PyTorch: it tries PyTorch's settings and keeps
# the fastest, then runs the programs in turns (normlab 1, torch 1, normlab 2, torch 2, each
# round), and prints medians (min-max), the medians' ratios and the rounds' own ratios; a bad
# REPEATS is refused with exit 2.
T=$(mktemp -d /tmp/normlab-cpucmp.XXXXXX)
trap 'rm -rf "$T"' EXIT
# normlab: 1 thread 9000, 6000, 9300 in its first, second and third timed runs; 2 threads 12000
cat >"$T/normlab" <<'EOF2'
#!/bin/sh
n=1 s=0; while [ $# -gt 0 ]; do case $1 in --threads) n=$2 ;; --steps) s=$2 ;; esac; shift; done
echo "bench x: cpu backend (fp32), $n threads"
echo "  backend OpenBLAS kernel SkylakeX (OpenBLAS 0.3.21 SkylakeX); 1 OpenMP thread"
[ "$s" = 1 ] && { echo "  tokens/s 1.0"; exit 0; }
echo "nl $n" >>"$LOG"
k=$(grep -c "^nl $n\$" "$LOG")
v=12000; [ "$n" = 1 ] && v=$(echo "9000 6000 9300" | cut -d' ' -f"$k")
echo "  tokens/s $v.0"
echo "  model_flops_per_token 1e+07"
f=200; [ "$n" = 1 ] && f=$(echo "110 90 100" | cut -d' ' -f"$k")
echo "  fma_peak_gflops $f.00 (measured: ...)"
EOF2
# PyTorch: passive waiting with OpenBLAS single-threaded and --ops=fused is fastest (3000 at 1
# thread, 4000 at 2); the same with --ops=reference is slower (2500, 3500)
cat >"$T/python" <<'EOF2'
#!/bin/sh
case "$*" in
    "-c import torch") exit 0 ;;
    "-c import torch; print(torch.__version__)") echo 9.9; exit 0 ;;
esac
n=1 ops=fused; while [ $# -gt 0 ]; do case $1 in --threads) n=$2 ;; --ops=*) ops=${1#--ops=} ;; esac; shift; done
echo "th $n ${OMP_WAIT_POLICY:-spin} ${OPENBLAS_NUM_THREADS:--} $ops" >>"$LOG"
v=1000
[ "${OMP_WAIT_POLICY:-}" = passive ] && [ "${OPENBLAS_NUM_THREADS:-}" = 1 ] && v=$((n * 1000 + 2000))
[ "$v" != 1000 ] && [ "$ops" = reference ] && v=$((v - 500))
echo "torch tokens/s $v.0"
EOF2
chmod +x "$T/normlab" "$T/python"
out=$(LOG="$T/log" NORMLAB="$T/normlab" PYTHON="$T/python" THREADS="1 2" SELECT=1 LLMC_DIR= \
    sh bench/compare.sh 5 3 2>"$T/err")
rc=$?
echo "$out" | sed 's/^/# /' >&2
want() { echo "$out" | grep -q -- "$1" || echo "FAIL cpu/compare: no '$1' (exit $rc; $(tail -n 2 "$T/err"))"; }
bad=$(
    want "^normlab  1 thread   tokens/s 9000 (6000-9300)"
    want "^normlab  2 threads  tokens/s 12000 (12000-12000)"
    want "^torch    1 thread   tokens/s 3000 (3000-3000) *\[torch 9.9; OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive --ops=fused\]"
    want "^torch    2 threads  tokens/s 4000 (4000-4000) *\[torch 9.9; OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive --ops=fused\]"
    want "^normlab best (2 threads) / torch best (2 threads): 3.00x"
    want "^  at 1 thread: normlab / torch 3.00x; round by round 3.00x (2.00-3.10)"
    want "^  at 2 threads: normlab / torch 3.00x; round by round 3.00x (3.00-3.00)"
    want "^llm.c    (LLMC_DIR unset or without train_gpt2.c: skipped)"
    # the ceiling: fma_peak_gflops's median (100 at 1 thread, 200 at 2) over 1e7 FLOPs a token
    want "^ceiling: .* over 1e+07 model FLOPs a token:"
    want "^  at 1 thread: 100.0 GFLOP/s, 10000 tokens/s; normlab at 0.90 of it; torch at 0.30; 3x torch would take 0.90$"
    want "^  at 2 threads: 200.0 GFLOP/s, 20000 tokens/s; normlab at 0.60 of it; torch at 0.20; 3x torch would take 0.60$"
    want "^  torch, 2 thread(s), OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 OMP_WAIT_POLICY=passive --ops=fused: 1000 (1000-1000)"
    want "^  torch, 1 thread(s), OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive --ops=reference: 2500 (2500-2500)"
)
# after PyTorch's 14 settings (3 at 1 thread, 4 at 2, each with both --ops), the rounds take turns
turns=$(tail -n 12 "$T/log" | cut -d' ' -f1,2 | tr '\n' ',')
want_turns="nl 1,th 1,nl 2,th 2,nl 1,th 1,nl 2,th 2,nl 1,th 1,nl 2,th 2,"
[ "$turns" = "$want_turns" ] || bad="$bad
FAIL cpu/compare: runs in the order $turns, not $want_turns"
[ "$(wc -l <"$T/log")" -eq 26 ] || bad="$bad
FAIL cpu/compare: $(wc -l <"$T/log") runs logged, not 26 (14 settings and 3 rounds of 4)"
# the rounds ran PyTorch with the settings chosen, --ops included
[ "$(tail -n 12 "$T/log" | grep -c '^th .* passive 1 fused$')" -eq 6 ] || bad="$bad
FAIL cpu/compare: the rounds did not run PyTorch with the chosen settings: $(tail -n 12 "$T/log" | grep '^th' | tr '\n' ',')"
if [ "$rc" -eq 0 ] && [ -z "$bad" ]; then
    echo "PASS cpu/compare"
else
    echo "$bad" | sed '/^$/d'
    [ "$rc" -eq 0 ] || echo "FAIL cpu/compare: exit $rc: $(tail -n 3 "$T/err")"
fi

out=$(NORMLAB="$T/normlab" PYTHON="$T/python" sh bench/compare.sh 5 x 2>&1)
rc=$?
case "$rc:$out" in
    "2:compare.sh: repeats x: want a whole number above 0"*) echo "PASS cpu/compare-bad-repeats" ;;
    *) echo "FAIL cpu/compare-bad-repeats: exit $rc: $out" ;;
esac
