#!/bin/sh
# Everything a session with a lent GPU checks, in one command, writing under $OUT:
#
#   build    make for sm_90 (`-gencode arch=compute_90,code=sm_90`, checked in the object with
#            cuobjdump) and the CUDA test binaries                          -> build.log
#   tests    the CUDA tests: test_cuda_graph (graphs, queued and plain steps bit for bit, a
#            race recapturing), test_cuda_parity (every placement against the CPU; each config
#            also trained with its step captured, compared bit for bit), test_cuda and test_cuda_attn (ops),
#            test_step, tests/sh/cuda_ckpt.sh                              -> tests.log
#   steps    per-step time with train.cuda_graphs off and on: the default preset on a GPU
#            (bench/cuda/default.yaml) and a lab race of 8 such runs in lockstep on one
#            backend (bench/cuda/race8.yaml, `normlab bench --race`)        -> steps.log
#   compare  bench/cuda/compare.sh (normlab, llm.c, PyTorch eager and compiled)  -> compare.log
#
# summary.txt collects the lines that matter (PASS/FAIL counts, step times and their ratio,
# the comparison table). Run from the repository root:
#
#   sh bench/cuda/device_check.sh [PHASE...]      (default: build tests steps compare)
#
# OUT (default ./device-check) is where the logs go. DEPS: where the machine lacks the Debian
# -dev packages, a folder (or DEPS.tar.xz) for kernels/cuda/device_env.sh (default .cuda/deps,
# used when present). Each phase runs under a time limit (LIMIT_build 300, LIMIT_tests 300,
# LIMIT_steps 120, LIMIT_compare 540 seconds), so a phase that hangs still leaves the others'
# results; run the phases as separate commands when one command may take at most 10 minutes
# (a usual order: `build tests steps`, then `compare`).
cd "$(dirname "$0")/../.." || exit 2
out=${OUT:-./device-check}
mkdir -p "$out" || exit 2
summary=$out/summary.txt
phases=${*:-build tests steps compare}
note() { printf '%s\n' "$*" | tee -a "$summary"; }

deps=${DEPS:-.cuda/deps}
if [ -d "$deps" ] || [ -f "$deps.tar.xz" ]; then
    export NL_DEPS="$deps"
    # shellcheck source=/dev/null # (it reads NL_DEPS: sh's dot takes no arguments)
    . kernels/cuda/device_env.sh
fi

limited() { # PHASE LOG COMMAND...: the command under the phase's limit, its output in LOG
    phase=$1 log=$2
    shift 2
    eval "limit=\${LIMIT_$phase:-}"
    case $phase in build | tests) limit=${limit:-300} ;; steps) limit=${limit:-120} ;; *) limit=${limit:-540} ;; esac
    t0=$(date +%s)
    timeout "$limit" "$@" >>"$log" 2>&1
    rc=$?
    note "$phase: $* -> exit $rc in $(($(date +%s) - t0)) s$([ $rc -eq 124 ] && echo " (time limit $limit s)")"
    return $rc
}

phase_build() {
    log=$out/build.log
    : >"$log"
    note "device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 1)"
    note "nvcc: $(nvcc --version 2>/dev/null | tail -n 1)"
    limited build "$log" make -j"$(nproc)" all build/tests/test_cuda build/tests/test_cuda_attn build/tests/test_cuda_parity \
        build/tests/test_cuda_graph build/tests/test_step
    if command -v cuobjdump >/dev/null 2>&1; then
        elves=$(cuobjdump --list-elf build/libnormlab_cuda.so 2>/dev/null | grep -c 'sm_90')
    else # no cuobjdump: the fatbin's architecture names
        elves=$(grep -a -o 'sm_90' build/libnormlab_cuda.so | grep -c .)
    fi
    note "build: sm_90 in build/libnormlab_cuda.so: $elves$([ "${elves:-0}" -gt 0 ] || echo ' (NONE)')"
}

phase_tests() {
    log=$out/tests.log
    : >"$log"
    for t in test_cuda_graph test_cuda_parity test_cuda test_cuda_attn test_step; do
        echo "== $t" >>"$log"
        limited tests "$log" "build/tests/$t"
    done
    echo "== cuda_ckpt.sh" >>"$log"
    limited tests "$log" sh tests/sh/cuda_ckpt.sh
    note "tests: $(grep -c '^PASS' "$log") passed, $(grep -c '^FAIL' "$log") failed, $(grep -c '^SKIP' "$log") skipped"
    grep -E '^(FAIL|SKIP)' "$log" | tee -a "$summary"
    grep -E '^# (race|.*same bits|bf16 matmul peak)' "$log" | tee -a "$summary"
}

# step_ms of `normlab bench ... --set train.cuda_graphs=MODE` (race: the round's time)
bench_ms() { # LABEL KEY ARGS...
    label=$1 key=$2
    shift 2
    ms_off="" ms_on=""
    for mode in off on; do
        f=$out/steps-$key-$mode.log
        : >"$f"
        limited steps "$f" ./normlab bench "$@" --device cuda --set train.cuda_graphs="$mode"
        { echo "== $label, train.cuda_graphs=$mode"; cat "$f"; } >>"$out/steps.log"
        v=$(awk -v k="$key" '$1 == k { v = $2 } END { print v }' "$f")
        if [ "$mode" = off ]; then ms_off=$v; else ms_on=$v; fi
    done
    note "steps: $label: $key off ${ms_off:-?} ms, on ${ms_on:-?} ms: $(awk -v a="$ms_off" -v b="$ms_on" 'BEGIN { if (a > 0 && b > 0) printf "%.2fx faster with graphs", a / b; else print "no figure" }')"
}

phase_steps() {
    : >"$out/steps.log"
    bench_ms "default preset (d 64, 4 layers, T 64, B 8)" step_ms bench/cuda/default.yaml \
        --steps 300 --warmup 20
    bench_ms "race of 8 default runs" round_ms bench/cuda/race8.yaml --race --steps 100 \
        --warmup 10
    grep -E '^  (step|run) ' "$out/steps.log" | sort | uniq -c | tee -a "$summary"
}

phase_compare() {
    : >"$out/compare.log"
    WORK=$out/compare BUILD=0 limited compare "$out/compare.log" sh bench/cuda/compare.sh
    sed -n '/^device:/,$p' "$out/compare.log" | tee -a "$summary"
}

note "device_check $(date -u '+%Y-%m-%d %H:%M UTC'): $phases"
for p in $phases; do
    case $p in
        build | tests | steps | compare) "phase_$p" ;;
        *)
            note "unknown phase '$p' (build, tests, steps, compare)"
            exit 2
            ;;
    esac
done
