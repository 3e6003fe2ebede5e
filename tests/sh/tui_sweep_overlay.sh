#!/bin/sh
# `normlab watch SWEEP_DIR`, o: every row's runs on one plot, under tmux at 80x24 and 160x48,
# in colour and with NO_COLOR, on a 3x2 sweep with 2 seeds (12 runs, 20 steps each): a run
# line for each of the 12 runs, from every row (not only the selected one); a legend that
# says "+N" for what it leaves out; the dashboard's keys: zoom, pan, the cursor's read-out
# (checked against metrics.csv), the y range, hide and show; o goes back to the grid.
NAME=tui_sweep_overlay
. "$(dirname "$0")/tui_common.sh.inc"

TINY="--set model.d_model=16 --set model.heads=2 --set model.seq_len=16 --set train.batch=4 \
--set train.eval_batches=2 --set train.eval_every=0 --set train.threads=1"
if ! $BIN sweep default --vary model.placement=pre,post,sandwich --vary model.layers=1,2 \
    --seeds 2 $TINY --steps 20 --out "$T/sw" > "$T/sweep.log" 2>&1; then
    echo "FAIL tui_sweep_overlay: normlab sweep failed: $(tail -n 3 "$T/sweep.log" | tr '\n' ' ')"
    exit 1
fi
# the loss of run $1 at step $2, from its metrics.csv, with $3 decimals
csv_loss() { awk -F, -v s="$2" -v d="$3" 'NR > 1 && $1 == s { printf "%.*f", d, $5 }' "$T/sw/$1/metrics.csv"; }
MARK='(━|[●○◆◇■□▲△])'

for combo in "80 24 colour" "80 24 nocolor" "160 48 colour" "160 48 nocolor"; do
    set -- $combo
    W=$1 H=$2 MODE=$3 TAG="${1}x${2}_$3"
    envc=""
    [ "$MODE" = nocolor ] && envc="NO_COLOR=1"
    start "$W" "$H" "$envc $BIN watch $T/sw"
    if ! wait_for 'Final val loss' 15 || ! wait_for "$MARK pre_layers1 " 10; then
        fail "tui_sweep_overlay_$TAG" "no sweep grid"
        continue
    fi
    grep -q 'o all rows' "$SCREEN" || fail "tui_sweep_overlay_footer_$TAG" "the grid's footer lacks 'o all rows'"

    # o: every run of every row, one line each, under one plot; the legend counts the rest
    keys o
    ok=1 why=""
    if wait_for '─ Loss .* by step' 5 && wait_for '12/12 runs done' 5; then
        sleep 0.3
        snap
        # (the run lines, under the legend) at 80 columns two runs a row cut names to 10 cells: sandwich/1-s0 and -s1 both
        # read sandwich/1, and that line must be there twice
        for cell in pre/1 pre/2 post/1 post/2 sandwich/1 sandwich/2; do
            for s in 0 1; do
                name="$cell-s$s" want=1
                if [ "$W" -lt 100 ] && [ ${#name} -gt 10 ]; then
                    name=$(printf '%.10s' "$name") want=2
                fi
                n=$(sed 1,3d "$SCREEN" | grep -Eo "$MARK $name( |\$)" | grep -c .)
                [ "$n" -ge "$want" ] || { ok=0; why="no run line for $cell-s$s"; }
            done
        done
        grep -q 'Final val loss' "$SCREEN" && { ok=0; why="the grid is still shown"; }
        legend=$(sed -n 3p "$SCREEN")
        shown=$(printf '%s\n' "$legend" | grep -Eo "$MARK [a-z]+/[12]-s[01]" | grep -c .)
        more=$(printf '%s\n' "$legend" | grep -Eo '\+[0-9]+' | tr -d +)
        [ $((shown + ${more:-0})) -eq 12 ] || { ok=0; why="legend: $shown runs and +${more:-0}, not 12"; }
    else
        ok=0 why="o showed no overlay of every row"
    fi
    [ "$ok" = 1 ] && pass "tui_sweep_overlay_$TAG" || fail "tui_sweep_overlay_$TAG" "$why"

    # the cursor reads every run's loss at the newest step
    keys Left
    dec=4
    [ "$W" -lt 100 ] && dec=3
    if wait_for '@20 ' 5; then
        want=$(csv_loss post_layers2-s1 20 $dec)
        if grep -Eq "$MARK post/2-s1 +@20  loss $want" "$SCREEN" && [ "$(grep -o '@20 ' "$SCREEN" | grep -c .)" -ge 12 ]; then
            pass "tui_sweep_overlay_cursor_$TAG"
        else
            fail "tui_sweep_overlay_cursor_$TAG" "the read-out is not post/2-s1 $want at step 20 on every line"
        fi
    else
        fail "tui_sweep_overlay_cursor_$TAG" "Left showed no cursor read-out"
    fi
    keys Escape

    # zoom: ] the newest half; pan: , earlier and . back; 0 the whole range
    keys ']'
    if wait_for '─ Loss .* x [0-9]+-20 ' 5; then
        keys ','
        if wait_for '─ Loss .* x [0-9.]+-1[0-9.]* ' 5; then
            keys 0
            wait_for '─ Loss · EMA [^x]*─' 5 && pass "tui_sweep_overlay_zoom_pan_$TAG" ||
                fail "tui_sweep_overlay_zoom_pan_$TAG" "0 did not show the whole range again"
        else
            fail "tui_sweep_overlay_zoom_pan_$TAG" ", did not pan the x range earlier"
        fi
    else
        fail "tui_sweep_overlay_zoom_pan_$TAG" "] did not zoom the x range"
    fi

    # the y range: } the lower half, { back
    keys '}'
    if wait_for '─ Loss .* y low 1/2' 5; then
        keys '{'
        wait_for '─ Loss · EMA [^y]*y · by step ─' 5 && pass "tui_sweep_overlay_yrange_$TAG" ||
            fail "tui_sweep_overlay_yrange_$TAG" "{ did not give the whole y range back"
    else
        fail "tui_sweep_overlay_yrange_$TAG" "} did not take the lower half of the y range"
    fi

    # hide: Down selects the second run (pre/1-s1), v hides it (dotted mark, out of the
    # legend), V shows it again
    keys Down
    keys v
    name=pre/1-s1
    if wait_for '· 1 hidden' 5 && grep -Eq "^.· $name " "$SCREEN" && ! sed -n 3p "$SCREEN" | grep -q " $name "; then
        keys V
        wait_for "^.$MARK $name " 5 && ! grep -q '· 1 hidden' "$SCREEN" && pass "tui_sweep_overlay_hide_$TAG" ||
            fail "tui_sweep_overlay_hide_$TAG" "V did not show $name again"
    else
        fail "tui_sweep_overlay_hide_$TAG" "v did not hide $name"
    fi

    # the help names the overlay's keys; o goes back to the grid
    keys '?'
    wait_for 'Keys: every row of the sweep on one plot' 5 && grep -q 'back to the grid' "$SCREEN" &&
        pass "tui_sweep_overlay_help_$TAG" || fail "tui_sweep_overlay_help_$TAG" "no help for the overlay"
    keys Escape
    keys o
    wait_for 'Final val loss' 5 && wait_for "$MARK pre_layers1 " 5 && pass "tui_sweep_overlay_back_$TAG" ||
        fail "tui_sweep_overlay_back_$TAG" "o did not go back to the grid"
    [ -n "$NORMLAB_TUI_CAPTURE_OVERLAY" ] && [ "$TAG" = 80x24_colour ] &&
        { keys o; wait_for '─ Loss' 5; sleep 0.3; snap; cp "$SCREEN" "$NORMLAB_TUI_CAPTURE_OVERLAY"; }
    keys q
    wait_for '^EXITED 0' 10 || fail "tui_sweep_overlay_quit_$TAG" "q did not exit cleanly"
done
exit $failed
