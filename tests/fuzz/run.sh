#!/bin/sh
# Runs each libFuzzer harness named on the command line (build/fuzz/fuzz_NAME) for FUZZ_S
# seconds on a working copy of its seed corpus and regression inputs, and prints one line per
# harness: executions, coverage, corpus size and crashes. Exit 1 when any harness crashed;
# the crashing inputs are in build/fuzz/crashes/NAME/.
cd "$(dirname "$0")/../.." || exit 2
S=${FUZZ_S:-60}
B=build/fuzz
status=0
for name in "$@"; do
    bin=$B/fuzz_$name
    work=$B/corpus/$name
    crashes=$B/crashes/$name
    mkdir -p "$work" "$crashes"
    for d in tests/fuzz/corpus/$name tests/fuzz/regress/$name; do
        [ -d "$d" ] && cp "$d"/* "$work"/ 2>/dev/null
    done
    log=$B/fuzz_$name.log
    stamp=$B/.stamp_$name
    : > "$stamp"
    "$bin" -max_total_time="$S" -print_final_stats=1 -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$crashes/" "$work" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    corp=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    n_crash=$(find "$crashes" -type f -newer "$stamp" | wc -l)
    printf 'fuzz %-12s %ss: %s executions, coverage %s edges (%s features), corpus %s, crashes %s\n' \
        "$name" "$S" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$n_crash"
    if [ "$rc" -ne 0 ] || [ "$n_crash" -gt 0 ]; then
        echo "fuzz $name: exit status $rc; see $log and $crashes/"
        status=1
    fi
done
exit $status
