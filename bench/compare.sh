#!/bin/sh
# normlab against its peers on one shape, each at 1 and at 2 threads and each at its fastest
# settings. The shape is a preset's (default bench/pre-d128-l6.yaml: d 128, 6 layers, 4 heads,
# seq 256, batch 8, vocab 256, Pre-Norm LayerNorm, GELU, learned positions), with SET's
# overrides; the peers get the same d_model, layers, heads, seq_len, batch and vocab:
#   normlab   `normlab bench --threads N` (its threads wait passively; OpenBLAS single-threaded)
#   PyTorch   bench/torch_bench.py, the same model, with torch.set_num_threads(N) and each of
#             the thread settings below tried, each with the model's code through PyTorch's
#             fused kernels (--ops=fused: F.layer_norm, F.gelu, the masked scores in one
#             baddbmm) and as reference.py spells it out (--ops=reference); the fastest is
#             kept and named. Where OpenBLAS does not recognise the CPU (normlab then sets
#             OPENBLAS_CORETYPE to the kernel of the CPU's SIMD level), PyTorch, which Debian
#             links to OpenBLAS, runs with the same OPENBLAS_CORETYPE in every setting tried
#   llm.c     its CPU trainer (train_gpt2.c), when LLMC_DIR points at a checkout: built here
#             with its own flags (-Ofast -march=native -fopenmp) around bench/llmc_bench.c,
#             GPT-2's block at the same size (LayerNorm with biases, tied embeddings), random
#             weights, OMP_NUM_THREADS=N with libgomp's default and with passive waiting
# First each peer's settings are tried, SELECT runs each (default 1), and the fastest is kept;
# then come REPEATS rounds, each running every program once at every thread count in turn
# (normlab, PyTorch, llm.c at 1 thread, then at 2), so that a drift in the machine's speed
# reaches all of them alike. Each figure is the median tokens/s of the rounds (min-max beside
# it). The ratios are normlab's best against each peer's best, and at equal threads both the
# medians' ratio and the median (min-max) of the rounds' own ratios. Last, the ceiling: the
# cores' multiply-add issue rate that `normlab bench` measures (fma_peak_gflops) over the
# model's FLOPs a token, the tokens/s that no program of this model could pass, with the share
# of it normlab runs at, PyTorch's, and what 3x PyTorch would take. Figures, not pass/fail.
# The environment is used as it is: run it as `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
# bench/compare.sh` where those force an older OpenBLAS kernel (`normlab bench` warns).
#
#   bench/compare.sh [STEPS] [REPEATS]      (defaults 20 and 3)   SELECT=1
#   PRESET=bench/NAME.yaml   SET="model.seq_len=512 train.batch=4" (keys of model. and train.)
#   PYTHON=/usr/bin/python3 (the interpreter with torch)   LLMC_DIR=path/to/llm.c
#   THREADS="1 2" (the thread counts; default 1, and 2 where there are 2 cores or more)
#   NORMLAB=path/to/normlab (default ./normlab)
cd "$(dirname "$0")/.." || exit 2
steps=${1:-20}
repeats=${2:-3}
picks=${SELECT:-1}
py=${PYTHON:-/usr/bin/python3}
preset=${PRESET:-bench/pre-d128-l6.yaml}
bin=${NORMLAB:-./normlab}
for x in "steps $steps" "repeats $repeats" "SELECT $picks"; do
    case ${x#* } in '' | *[!0-9]* | 0)
        echo "compare.sh: $x: want a whole number above 0 (bench/compare.sh [STEPS] [REPEATS])" >&2
        exit 2 ;;
    esac
done
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

# median (min-max) of the numbers in a file, and the median alone after a '|'; FMT (default
# whole numbers) formats the three, EMPTY is printed for an empty or missing file
summary() { # file [fmt empty]
    sort -g "$1" 2>/dev/null | awk -v f="${2:-%.0f (%.0f-%.0f)}" -v e="${3:--}" '{ v[NR] = $1 } END {
        if (NR == 0) { print e "|0"; exit }
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf f "|%.0f\n", m, v[1], v[NR], m }'
}

# one run of TOOL (nl, th, lc) at N threads with SETTINGS (env assignments; none for nl);
# prints its tokens/s, or nothing when the run printed none (its output stays in $tmp/last)
run_once() { # tool n settings
    case $1 in
    nl) # shellcheck disable=SC2086
        "$bin" bench "$preset" $sets --threads "$2" --steps "$steps" >"$tmp/last" 2>&1 ;;
    th) # SETTINGS: environment assignments and torch_bench.py's own --options
        envs="" args=""
        for w in $3; do case $w in --*) args="$args $w" ;; *) envs="$envs $w" ;; esac; done
        # shellcheck disable=SC2086
        env $envs "$py" bench/torch_bench.py $shape --placement pre --norm layernorm --ffn gelu \
            --pos learned --threads "$2" --device cpu --dtype fp32 --steps "$steps" $args \
            >"$tmp/last" 2>&1 ;;
    lc) # shellcheck disable=SC2086
        env $3 "$tmp/llmc_bench" "$D" "$L" "$NH" "$T" "$B" "$V" "$steps" 3 >"$tmp/last" 2>&1 ;;
    esac
    awk '{ for (i = 1; i < NF; i++) if ($i == "tokens/s") v = $(i + 1) } END { if (v != "") print v }' \
        "$tmp/last"
}

# A peer's settings at N threads (one per line in $tmp/settings), each run SELECT times; the
# fastest by median is kept in set_TOOL_N, and every one goes to the list of settings tried.
choose() { # tool n name
    best=0
    while IFS= read -r settings; do
        : >"$tmp/v"
        r=0
        while [ "$r" -lt "$picks" ]; do
            run_once "$1" "$2" "$settings" >>"$tmp/v"
            r=$((r + 1))
        done
        s=$(summary "$tmp/v")
        echo "  $3, $2 thread(s), $settings: ${s%|*}" >>"$tmp/tried"
        if awk -v a="${s#*|}" -v b="$best" 'BEGIN { exit !(a > b) }'; then
            best=${s#*|}
            eval "set_$1_$2=\$settings"
        fi
    done <"$tmp/settings"
}

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

# the programs compared: normlab always, PyTorch where the interpreter has torch, llm.c where
# LLMC_DIR points at a checkout that builds
tools="nl"
: >"$tmp/tried"
: >"$tmp/notes"
if "$py" -c 'import torch' 2>/dev/null; then
    tv=$("$py" -c 'import torch; print(torch.__version__)')
    tools="$tools th"
    echo "choosing PyTorch's settings ($picks run(s) each)..." >&2
    for n in $counts; do
        for ops in fused reference; do
            echo "${blas_env}OMP_NUM_THREADS=$n --ops=$ops"
            echo "${blas_env}OMP_NUM_THREADS=$n OMP_WAIT_POLICY=passive --ops=$ops"
            echo "${blas_env}OMP_NUM_THREADS=$n OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive --ops=$ops"
            [ "$n" -gt 1 ] && echo "${blas_env}OMP_NUM_THREADS=$n OPENBLAS_NUM_THREADS=$n OMP_WAIT_POLICY=passive --ops=$ops"
        done >"$tmp/settings"
        choose th "$n" torch
    done
else
    echo "torch    (no torch for $py: skipped)" >>"$tmp/notes"
fi
if [ -n "$LLMC_DIR" ] && [ -f "$LLMC_DIR/train_gpt2.c" ]; then
    if cc -Ofast -march=native -fopenmp -I"$LLMC_DIR" -o "$tmp/llmc_bench" bench/llmc_bench.c \
        -lm 2>"$tmp/cc.err"; then
        tools="$tools lc"
        echo "choosing llm.c's settings ($picks run(s) each)..." >&2
        for n in $counts; do
            {
                echo "OMP_NUM_THREADS=$n"
                echo "OMP_NUM_THREADS=$n OMP_WAIT_POLICY=passive"
            } >"$tmp/settings"
            choose lc "$n" llm.c
        done
    else
        echo "llm.c    (cannot build bench/llmc_bench.c against $LLMC_DIR: $(head -n 3 "$tmp/cc.err"))" >>"$tmp/notes"
    fi
else
    echo "llm.c    (LLMC_DIR unset or without train_gpt2.c: skipped)" >>"$tmp/notes"
fi

# The figures: REPEATS rounds, each running every program at every thread count in turn
# (normlab, PyTorch, llm.c at 1 thread, then at 2), so that the machine's drifts reach all of
# them alike; after each round, normlab's figure over each peer's at the same thread count.
for tool in $tools; do for n in $counts; do : >"$tmp/v_${tool}_$n"; done; done
r=0
while [ "$r" -lt "$repeats" ]; do
    r=$((r + 1))
    echo "round $r of $repeats..." >&2
    for n in $counts; do
        for tool in $tools; do
            eval "settings=\${set_${tool}_$n:-}"
            v=$(run_once "$tool" "$n" "$settings")
            [ -n "$v" ] && echo "$v" >>"$tmp/v_${tool}_$n"
            [ "$tool" = nl ] && [ -n "$v" ] && awk -v f="$tmp/fma_$n" -v p="$tmp/fpt" '
                $1 == "fma_peak_gflops" { print $2 >>f }
                $1 == "model_flops_per_token" { print $2 >p }' "$tmp/last"
            eval "last_${tool}=\$v"
        done
        for p in th lc; do
            case " $tools " in *" $p "*) ;; *) continue ;; esac
            eval "b=\$last_$p"
            [ -n "$last_nl" ] && [ -n "$b" ] &&
                awk -v a="$last_nl" -v b="$b" 'BEGIN { if (b > 0) printf "%.4f\n", a / b }' >>"$tmp/r_${p}_$n"
        done
    done
done

echo "each figure: median (min-max) of $repeats runs, the programs taking turns"
for tool in $tools; do
    for n in $counts; do
        s=$(summary "$tmp/v_${tool}_$n")
        eval "med_${tool}_$n=${s#*|}"
        eval "settings=\${set_${tool}_$n:-}"
        case $tool in
        nl) line normlab "$n" "${s%|*}" "" ;;
        th) line torch "$n" "${s%|*}" "[torch $tv; $settings]" ;;
        lc) line llm.c "$n" "${s%|*}" "[$settings]" ;;
        esac
    done
done
cat "$tmp/notes"

# ratios: normlab's best against each peer's best; and at equal thread counts, the medians'
# ratio with the median (min-max) of the rounds' own ratios beside it
best() { # prefix: the largest of med_prefix_1, med_prefix_2 and the thread count it came from
    bv=0 bn=0 v=0
    for n in $counts; do
        eval "v=\${med_$1_$n:-0}"
        if awk -v a="$v" -v b="$bv" 'BEGIN { exit !(a > b) }'; then bv=$v bn=$n; fi
    done
    echo "$bv $bn"
}
# shellcheck disable=SC2046
set -- $(best nl)
nlb=$1 nln=$2
for peer in th:torch lc:llm.c; do
    p=${peer%%:*} label=${peer#*:}
    case " $tools " in *" $p "*) ;; *) continue ;; esac
    # shellcheck disable=SC2046
    set -- $(best "$p")
    [ "$1" = 0 ] && continue
    awk -v a="$nlb" -v an="$nln" -v b="$1" -v bn="$2" -v l="$label" \
        'BEGIN { printf "normlab best (%d thread%s) / %s best (%d thread%s): %.2fx\n", an, (an > 1 ? "s" : ""), l, bn, (bn > 1 ? "s" : ""), a / b }'
    for n in $counts; do
        a=0 b=0
        eval "a=\${med_nl_$n:-0} b=\${med_${p}_$n:-0}"
        paired=$(summary "$tmp/r_${p}_$n" "%.2fx (%.2f-%.2f)")
        paired=${paired%|*}
        awk -v a="$a" -v b="$b" -v n="$n" -v l="$label" -v pr="$paired" \
            'BEGIN { if (b > 0) printf "  at %d thread%s: normlab / %s %.2fx; round by round %s\n", n, (n > 1 ? "s" : ""), l, a / b, pr }'
    done
done
# the ceiling: the cores' multiply-add issue rate (normlab bench's fma_peak_gflops, measured
# in each of its runs) over the model's FLOPs a token, the tokens/s no program of the same
# model could pass; normlab's share of it, and the share that 3x PyTorch would take
if [ -s "$tmp/fpt" ]; then
    fpt=$(cat "$tmp/fpt")
    echo "ceiling: the cores' multiply-add issue rate (normlab bench's fma_peak_gflops, median of the rounds) over $fpt model FLOPs a token:"
    for n in $counts; do
        [ -s "$tmp/fma_$n" ] || continue
        f=$(summary "$tmp/fma_$n" "%.1f")
        a=0 b=0
        eval "a=\${med_nl_$n:-0} b=\${med_th_$n:-0}"
        awk -v f="${f%|*}" -v fpt="$fpt" -v a="$a" -v b="$b" -v n="$n" 'BEGIN {
            c = f * 1e9 / fpt
            printf "  at %d thread%s: %.1f GFLOP/s, %.0f tokens/s; normlab at %.2f of it", n, (n > 1 ? "s" : ""), f, c, a / c
            if (b > 0) printf "; torch at %.2f; 3x torch would take %.2f", b / c, 3 * b / c
            printf "\n" }'
    done
fi
if [ -s "$tmp/tried" ]; then
    echo "settings tried ($picks run(s) each, median tokens/s):"
    cat "$tmp/tried"
fi
