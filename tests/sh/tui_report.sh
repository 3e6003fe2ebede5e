#!/bin/sh
# H saves a report of the runs on the dashboard: in the lab (a two-run race started from a
# preset, report.html written next to the race's run directories, one curve per run) and in
# `normlab watch` (beside the watched runs); the help lists H.
NAME=tui_report
. "$(dirname "$0")/tui_common.sh.inc"

curves() {
    awk 'index($0, "<svg id=\"loss-plot\"") { on = 1 } on { print } on && /<\/svg>/ { exit }' "$1" |
        grep -o '<path class="curve"' | wc -l
}

cat >"$T/tiny.yaml" <<'EOF'
name: tiny
model: {layers: 2, d_model: 32, heads: 2, seq_len: 16}
train: {steps: 15, batch: 4, eval_every: 5, eval_batches: 1, threads: 1}
data: {source: markov, vocab: 64}
runs:
  - name: pre
    set: {model.placement: pre}
  - name: post
    set: {model.placement: post}
EOF

# 1. the lab: start the race, wait for the end, H
start 100 30 "$BIN $T/tiny.yaml --out $T/lab"
if ! wait_for 'normlab setup' 15; then
    fail tui_report_lab "no setup screen"
    exit 1
fi
keys F5
# both runs finished (their last eval and checkpoint done: a message of theirs arriving after H
# would take the status line's place before the test reads "report written" there)
if wait_for '━ pre +15/15 .*finished' 120 && wait_for '━ post +15/15 .*finished' 60; then
    keys H
    said=0
    wait_for 'report written: .*report.html' 20 && said=1
    f=$(ls "$T"/lab/lab-*/report.html 2>/dev/null | head -n 1)
    c=0
    [ -n "$f" ] && c=$(curves "$f")
    if [ "$said" = 1 ] && [ "$c" -eq 2 ]; then
        pass tui_report_lab
    else
        fail tui_report_lab "H: 'report written' on the status line: $said (1 yes); the file: '$f' with $c curves, not 2; the screen: $(tail -n 3 "$SCREEN" | tr '\n' '|')"
    fi
else
    fail tui_report_lab "the race did not finish"
fi
keys '?'
# the help scrolls where it is taller than the screen: page down to its end if need be
found=0
if wait_for 'Keys: dashboard' 5; then
    for _ in 1 2 3 4 5 6 7 8; do
        if wait_for '│ H +save an HTML report' 1; then
            found=1
            break
        fi
        keys NPage
    done
fi
if [ "$found" = 1 ]; then
    pass tui_report_help
else
    fail tui_report_help "the help does not list H"
fi
keys Escape
keys q

# 2. watch: the same key over run directories written by `normlab train`
if ! $BIN train "$T/tiny.yaml" --out "$T/race" --quiet >"$T/train.log" 2>&1; then
    fail tui_report_watch "normlab train failed: $(tail -n 3 "$T/train.log" | tr '\n' ' ')"
    exit 1
fi
start 100 30 "$BIN watch $T/race"
if wait_for 'finished' 15; then
    keys H
    if wait_for "report written: $T/race/report.html" 10 && [ "$(curves "$T/race/report.html")" -eq 2 ]; then
        pass tui_report_watch
    else
        fail tui_report_watch "H in watch wrote no report of 2 runs in $T/race"
    fi
else
    fail tui_report_watch "watch showed no finished run"
fi
keys q
exit $failed
