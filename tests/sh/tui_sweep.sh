#!/bin/sh
# `normlab watch SWEEP_DIR` under tmux, on a tiny 2x2 sweep with one seed: stopped after two
# runs, the grid shows its axis labels, the values of the row that ran and '-' for the cells
# not run yet, over the curves of the selected row; the rest of the sweep, run while it is
# watched, fills the grid in; Down selects the other row and the curves' legend follows; the
# ASCII / no-colour fallback.
NAME=tui_sweep
. "$(dirname "$0")/tui_common.sh.inc"

TINY="--set model.d_model=16 --set model.heads=2 --set model.seq_len=16 --set train.batch=4 \
--set train.eval_batches=2 --set train.eval_every=0"
SWEEP="$BIN sweep default --vary model.placement=pre,post --vary model.layers=1,2 --seeds 1 \
$TINY --steps 20 --out $T/sw"
# runs go cell by cell, the first key slowest: two runs are the whole 'pre' row
if ! $SWEEP --max-runs 2 > "$T/sweep1.log" 2>&1; then
    echo "FAIL tui_sweep_grid: normlab sweep failed: $(tail -n 3 "$T/sweep1.log" | tr '\n' ' ')"
    exit 1
fi

start 80 24 "$BIN watch $T/sw"
num='[0-9]\.[0-9]{3}\*?'
if wait_for 'Final val loss' 15 && wait_for '━ pre_layers1 +━ pre_layers2' 10 &&
    grep -q 'placement × layers' "$SCREEN" && grep -Eq '^ +layers +1 +2 *$' "$SCREEN" &&
    grep -Eq "^▶ pre +$num +$num *\$" "$SCREEN" && grep -Eq '^  post +- +- *$' "$SCREEN" &&
    grep -q '2/4 runs done' "$SCREEN" && grep -q 'placement=pre · 2 of 2 runs' "$SCREEN"; then
    pass tui_sweep_grid
else
    fail tui_sweep_grid "no grid with the pre row's values and the post row not run"
fi

# the rest of the sweep while we watch: the post row fills in
if $SWEEP > "$T/sweep2.log" 2>&1 && wait_for '4/4 runs done' 15 &&
    wait_for "^  post +$num +$num *\$" 5; then
    pass tui_sweep_reload
else
    fail tui_sweep_reload "the grid did not pick up the runs that finished"
fi
[ -n "$NORMLAB_TUI_CAPTURE_SWEEP" ] && cp "$SCREEN" "$NORMLAB_TUI_CAPTURE_SWEEP"

# Down: the post row is selected, its runs' curves replace the pre row's
keys Down
if wait_for '━ post_layers1 +━ post_layers2' 10 && grep -Eq "^▶ post " "$SCREEN" &&
    grep -q 'placement=post' "$SCREEN" && ! grep -q 'pre_layers' "$SCREEN"; then
    pass tui_sweep_select
else
    fail tui_sweep_select "the legend did not follow the selection to the post row"
fi
keys '?'
wait_for 'Keys: sweep grid' 5 && pass tui_sweep_help || fail tui_sweep_help "no help for the grid"
keys Escape
keys q
wait_for '^EXITED 0' 10 && pass tui_sweep_quit || fail tui_sweep_quit "q did not exit cleanly"

# no colour, no UTF-8: the values and marks are text, nothing outside printable ASCII
start 80 24 "$BIN watch --ascii --no-color $T/sw"
if wait_for '> pre ' 15 && wait_for '[*] pre_layers1 +[+] pre_layers2' 10 &&
    ! LC_ALL=C grep -q '[^ -~]' "$SCREEN" && grep -Eq "^  post +$num +$num *\$" "$SCREEN" &&
    grep -q '\* best in column' "$SCREEN"; then
    pass tui_sweep_ascii
else
    fail tui_sweep_ascii "non-ASCII characters with --ascii, or no grid"
fi
exit $failed
