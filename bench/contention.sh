#!/bin/sh
# Throughput when the machine is busy: `normlab bench` at threads 0 (auto), 1 and 2 side by
# side, on an otherwise idle machine, then with CPU burners running: one per core minus one,
# then one per core. Each burner is a shell loop, ended by this script on exit or Ctrl-C; it
# also ends by itself within a fraction of a second once this script is gone (killed
# outright), and after BURN_LIMIT seconds whatever happens.
# Figures, not pass/fail: each cell is the median tokens/s of REPEATS runs, with min-max;
# the runs of a row take turns (0 1 2 0 1 2 ...) so that a drift in the machine's speed
# reaches every column alike. The last column is auto against the best fixed count.
#
#   bench/contention.sh [STEPS] [REPEATS]       (defaults 10 and 3)
#   NORMLAB=path/to/normlab  PRESET=bench/pre-d128-l6.yaml  BURN_LIMIT=600
cd "$(dirname "$0")/.." || exit 2
steps=${1:-10}
repeats=${2:-3}
bin=${NORMLAB:-./normlab}
limit=${BURN_LIMIT:-600}
if [ ! -x "$bin" ]; then
    echo "contention.sh: $bin not built (run make)" >&2
    exit 2
fi
cores=$(nproc)
tmp=$(mktemp -d /tmp/normlab-contention.XXXXXX) || exit 2
burners=""
stop_burners() {
    # shellcheck disable=SC2086
    [ -n "$burners" ] && kill $burners 2>/dev/null
    # shellcheck disable=SC2086
    [ -n "$burners" ] && wait $burners 2>/dev/null
    burners=""
}
trap 'stop_burners; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

start_burners() { # n
    i=0
    while [ "$i" -lt "$1" ]; do
        # shellcheck disable=SC2016
        timeout "$limit" sh -c 'while kill -0 "$1" 2>/dev/null; do
            j=0; while [ $j -lt 20000 ]; do j=$((j + 1)); done; done' burner $$ &
        burners="$burners $!"
        i=$((i + 1))
    done
}

# one bench run; its tokens/s are appended to $tmp/tT (nothing when it printed none). Not in
# a command substitution: a signal then waits for the run to end, and the traps run.
bench_one() { # threads
    # shellcheck disable=SC2086
    "$bin" bench $PRESET --device cpu --threads "$1" --steps "$steps" --warmup 2 \
        >"$tmp/out" 2>/dev/null
    awk '$1 == "tokens/s" { print $2; exit }' "$tmp/out" >>"$tmp/t$1"
}

# "median (min-max)" of the numbers in a file, one a line, and the median alone in $2
summary() { # file
    sort -g "$1" | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "-"; exit }
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.0f (%.0f-%.0f) %.0f\n", m, v[1], v[NR], m }'
}

threads="0 1 2"
[ "$cores" -gt 2 ] && threads="$threads $cores"
echo "normlab bench ${PRESET:-(the default preset)}, $steps steps after 2 warm-up, median (min-max)"
echo "of $repeats runs, tokens/s; $cores cores; $($bin --version 2>/dev/null)"
printf '%-8s' "burners"
for t in $threads; do
    [ "$t" = 0 ] && printf '  %-22s' "threads 0 (auto)" || printf '  %-22s' "threads $t"
done
printf '  %s\n' "auto/best"

prev=-1
for nb in 0 $((cores - 1)) "$cores"; do
    [ "$nb" != "$prev" ] || continue
    prev=$nb
    start_burners "$nb"
    sleep 1
    for t in $threads; do : >"$tmp/t$t"; done
    r=0
    while [ "$r" -lt "$repeats" ]; do
        for t in $threads; do
            bench_one "$t"
        done
        r=$((r + 1))
    done
    stop_burners
    printf '%-8s' "$nb"
    best=0
    for t in $threads; do
        s=$(summary "$tmp/t$t")
        m=${s##* }
        printf '  %-22s' "${s% *}"
        if [ "$t" = 0 ]; then
            auto=$m
        elif [ "$m" != "-" ] && awk -v a="$m" -v b="$best" 'BEGIN { exit !(a > b) }'; then
            best=$m
        fi
    done
    awk -v a="$auto" -v b="$best" 'BEGIN { if (b > 0 && a != "-") printf "  %.2f\n", a / b; else print "  -" }'
done
