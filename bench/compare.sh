#!/bin/sh
# normlab against its peers on one shape, each at 1 and at 2 threads and each at its fastest
# settings. The shape is a preset's (default bench/pre-d128-l6.yaml: d 128, 6 layers, 4 heads,
# seq 256, batch 8, vocab 256, Pre-Norm LayerNorm, GELU, learned positions), with SET's
# overrides; the peers get the same d_model, layers, heads, seq_len, batch and vocab:
#   normlab   `normlab bench --threads N` (its threads wait passively; OpenBLAS single-threaded)
#   PyTorch   bench/torch_bench.py, the same model, with torch.set_num_threads(N) and each of
#             the thread settings below tried; the fastest is kept and named. Where OpenBLAS
#             does not recognise the CPU (normlab then sets OPENBLAS_CORETYPE to the kernel of
#             the CPU's SIMD level), PyTorch, which Debian links to OpenBLAS, runs with the same
#             OPENBLAS_CORETYPE in every setting tried
#   llm.c     its CPU trainer (train_gpt2.c), when LLMC_DIR points at a checkout: built here
#             with its own flags (-Ofast -march=native -fopenmp) around bench/llmc_bench.c,
#             GPT-2's block at the same size (LayerNorm with biases, tied embeddings), random
#             weights, OMP_NUM_THREADS=N with libgomp's default and with passive waiting
# Each figure is the median tokens/s of REPEATS runs (min-max beside it). The ratios are
# normlab's best against each peer's best, and at equal threads. Figures, not pass/fail.
# The environment is used as it is: run it as `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
# bench/compare.sh` where those force an older OpenBLAS kernel (`normlab bench` warns).
#
#   bench/compare.sh [STEPS] [REPEATS]      (defaults 20 and 3)
#   PRESET=bench/NAME.yaml   SET="model.seq_len=512 train.batch=4" (keys of model. and train.)
#   PYTHON=/usr/bin/python3 (the interpreter with torch)   LLMC_DIR=path/to/llm.c
#   THREADS="1 2" (the thread counts; default 1, and 2 where there are 2 cores or more)
#   NORMLAB=path/to/normlab (default ./normlab)
cd "$(dirname "$0")/.." || exit 2
steps=${1:-20}
repeats=${2:-3}
py=${PYTHON:-/usr/bin/python3}
preset=${PRESET:-bench/pre-d128-l6.yaml}
bin=${NORMLAB:-./normlab}
if [ ! -f "$preset" ]; then
    echo "compare.sh: no preset $preset" >&2
    exit 2
fi
# the value of KEY (model.d_model, train.batch, ...): SET's last, else the preset's
shape_get() {
    v=""
    for kv in $SET; do [ "${kv%%=*}" = "$1" ] && v=${kv#*=}; done
    if [ -z "$v" ]; then
        v=$(awk -v sec="${1%%.*}" -v key="${1#*.}" '
            /^[^ #]/ { cur = $1; sub(":.*", "", cur) }
            /^  [^ #]/ && cur == sec { k = $1; sub(":$", "", k); if (k == key) { print $2; exit } }' "$preset")
    fi
    echo "$v"
}
D=$(shape_get model.d_model) L=$(shape_get model.layers) NH=$(shape_get model.heads)
T=$(shape_get model.seq_len) B=$(shape_get train.batch) V=$(shape_get model.vocab)
for x in "$D" "$L" "$NH" "$T" "$B" "$V"; do
    case $x in '' | *[!0-9]*)
        echo "compare.sh: $preset (with SET) lacks a numeric d_model, layers, heads, seq_len, batch or vocab" >&2
        exit 2 ;;
    esac
done
shape="--d $D --layers $L --heads $NH --seq $T --batch $B --vocab $V"
sets=""
for kv in $SET; do sets="$sets --set $kv"; done
if [ ! -x "$bin" ]; then
    echo "compare.sh: $bin not built (run make)" >&2
    exit 2
fi
cores=$(getconf _NPROCESSORS_ONLN)
counts=1
[ "$cores" -ge 2 ] && counts="1 2"
[ -n "$THREADS" ] && counts=$THREADS
tmp=$(mktemp -d /tmp/normlab-compare.XXXXXX) || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# median (min-max) of the numbers in a file, and the median alone after a '|'
summary() {
    sort -g "$1" | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "-|0"; exit }
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.0f (%.0f-%.0f)|%.0f\n", m, v[1], v[NR], m }'
}

# REPEATS runs of a command; the value after the word WORD (e.g. tokens/s) of each run goes
# to FILE; the last run's output is kept in $tmp/last
measure() { # file word command...
    file=$1 word=$2
    shift 2
    : >"$file"
    r=0
    while [ "$r" -lt "$repeats" ]; do
        "$@" >"$tmp/last" 2>&1
        awk -v w="$word" '{ for (i = 1; i < NF; i++) if ($i == w) v = $(i + 1) } END { if (v != "") print v }' \
            "$tmp/last" >>"$file"
        r=$((r + 1))
    done
}

# best of several settings: prints "figure|median|settings" of the fastest
best_of() { # name threads word settings-per-line-file command...
    name=$1 n=$2 word=$3 list=$4
    shift 4
    best="-|0|-"
    while IFS= read -r settings; do
        # shellcheck disable=SC2086
        measure "$tmp/v" "$word" env $settings "$@"
        s=$(summary "$tmp/v")
        echo "  $name, $n thread(s), $settings: ${s%|*}" >>"$tmp/tried"
        if awk -v a="${s#*|}" -v b="$(echo "$best" | cut -d'|' -f2)" 'BEGIN { exit !(a > b) }'; then
            best="$s|$settings"
        fi
    done <"$list"
    echo "$best"
}

: >"$tmp/tried"
line() { # label threads result settings-note
    if [ "$2" = 1 ]; then th="1 thread "; else th="$2 threads"; fi
    printf '%-8s %s  tokens/s %-22s %s\n' "$1" "$th" "$3" "$4" | sed 's/ *$//'
}

# shellcheck disable=SC2086
probe=$("$bin" bench "$preset" $sets --threads 1 --steps 1 --warmup 0 2>/dev/null)
kernel=$(echo "$probe" | sed -n 's/^  backend OpenBLAS kernel \([^ ]*\) .*/\1/p')
# where OpenBLAS does not know this CPU, normlab names the kernel of its SIMD level through
# OPENBLAS_CORETYPE; PyTorch (Debian's links OpenBLAS) then gets the same setting
coretype=$(echo "$probe" | sed -n 's/.*; OPENBLAS_CORETYPE=\([^ ]*\) set by normlab.*/\1/p')
blas_env=${coretype:+OPENBLAS_CORETYPE=$coretype }
model=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)
echo "shape: $preset${SET:+ with $SET} (d $D, $L layers, $NH heads, seq $T, batch $B, vocab $V), $steps timed steps"
echo "machine: $model, $cores cores; normlab's OpenBLAS kernel: ${kernel:-?}${coretype:+ (OpenBLAS did not recognise the CPU: OPENBLAS_CORETYPE=$coretype set by normlab, and given to PyTorch)};" \
    "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-(unset)}"
echo "each figure: median (min-max) of $repeats runs"

for n in $counts; do
    # shellcheck disable=SC2086
    measure "$tmp/v" tokens/s "$bin" bench "$preset" $sets --threads "$n" --steps "$steps"
    s=$(summary "$tmp/v")
    eval "nl_$n=${s#*|}"
    line normlab "$n" "${s%|*}" ""
done

if "$py" -c 'import torch' 2>/dev/null; then
    tv=$("$py" -c 'import torch; print(torch.__version__)')
    for n in $counts; do
        {
            echo "${blas_env}OMP_NUM_THREADS=$n"
            echo "${blas_env}OMP_NUM_THREADS=$n OMP_WAIT_POLICY=passive"
            echo "${blas_env}OMP_NUM_THREADS=$n OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive"
            [ "$n" -gt 1 ] && echo "${blas_env}OMP_NUM_THREADS=$n OPENBLAS_NUM_THREADS=$n OMP_WAIT_POLICY=passive"
        } >"$tmp/settings"
        # shellcheck disable=SC2086
        b=$(best_of torch "$n" tokens/s "$tmp/settings" "$py" bench/torch_bench.py $shape \
            --placement pre --norm layernorm --ffn gelu --pos learned --threads "$n" \
            --device cpu --dtype fp32 --steps "$steps")
        fig=${b%%|*} rest=${b#*|}
        eval "th_$n=${rest%%|*}"
        line "torch" "$n" "$fig" "[torch $tv; ${rest#*|}]"
    done
else
    echo "torch    (no torch for $py: skipped)"
fi

if [ -n "$LLMC_DIR" ] && [ -f "$LLMC_DIR/train_gpt2.c" ]; then
    if cc -Ofast -march=native -fopenmp -I"$LLMC_DIR" -o "$tmp/llmc_bench" bench/llmc_bench.c \
        -lm 2>"$tmp/cc.err"; then
        for n in $counts; do
            {
                echo "OMP_NUM_THREADS=$n"
                echo "OMP_NUM_THREADS=$n OMP_WAIT_POLICY=passive"
            } >"$tmp/settings"
            b=$(best_of llm.c "$n" tokens/s "$tmp/settings" "$tmp/llmc_bench" "$D" "$L" "$NH" "$T" "$B" "$V" \
                "$steps" 3)
            fig=${b%%|*} rest=${b#*|}
            eval "lc_$n=${rest%%|*}"
            line "llm.c" "$n" "$fig" "[${rest#*|}]"
        done
    else
        echo "llm.c    (cannot build bench/llmc_bench.c against $LLMC_DIR: $(head -n 3 "$tmp/cc.err"))"
    fi
else
    echo "llm.c    (LLMC_DIR unset or without train_gpt2.c: skipped)"
fi

# ratios: normlab's best against each peer's best, and at equal thread counts
best() { # prefix: the largest of prefix_1, prefix_2 and the thread count it came from
    bv=0 bn=0 v=0
    for n in $counts; do
        eval "v=\${$1_$n:-0}"
        if awk -v a="$v" -v b="$bv" 'BEGIN { exit !(a > b) }'; then bv=$v bn=$n; fi
    done
    echo "$bv $bn"
}
# shellcheck disable=SC2046
set -- $(best nl)
nlb=$1 nln=$2
for peer in th:torch lc:llm.c; do
    p=${peer%%:*} label=${peer#*:}
    # shellcheck disable=SC2046
    set -- $(best "$p")
    [ "$1" = 0 ] && continue
    awk -v a="$nlb" -v an="$nln" -v b="$1" -v bn="$2" -v l="$label" \
        'BEGIN { printf "normlab best (%d thread%s) / %s best (%d thread%s): %.2fx\n", an, (an > 1 ? "s" : ""), l, bn, (bn > 1 ? "s" : ""), a / b }'
    for n in $counts; do
        a=0 b=0
        eval "a=\${nl_$n:-0} b=\${${p}_$n:-0}"
        awk -v a="$a" -v b="$b" -v n="$n" -v l="$label" \
            'BEGIN { if (b > 0) printf "  at %d thread%s: normlab / %s %.2fx\n", n, (n > 1 ? "s" : ""), l, a / b }'
    done
done
echo "settings tried (median tokens/s):"
cat "$tmp/tried"
