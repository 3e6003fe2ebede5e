#!/bin/sh
# `normlab watch` of more than 8 run directories, under tmux at 80x24 and 160x48, in colour
# and with NO_COLOR: 10 prepared runs (one trained 60 steps, copied 8 times, and one that
# diverged at step 2). Every run has its line and the legend counts what it leaves out
# ("+N"); the diverged run raises a standing alert in the top bar, its line says so, and the
# message pane (m) holds the divergence; the y range (} the lower half, { back) and the pan
# of a zoomed x range (, earlier, . later).
NAME=tui_monitor_more
. "$(dirname "$0")/tui_common.sh.inc"

TINY="--set model.d_model=16 --set model.heads=2 --set model.seq_len=16 --set train.batch=4 \
--set train.eval_batches=2 --set train.eval_every=0 --set train.threads=1"
mkdir -p "$T/runs"
if ! $BIN train default $TINY --steps 60 --out "$T/runs/r01" > "$T/train.log" 2>&1 ||
    ! $BIN train default $TINY --set train.lr=1e6 --set train.clip=0 --set train.warmup=0 \
        --set model.placement=post --steps 20 --out "$T/runs/div" >> "$T/train.log" 2>&1; then
    echo "FAIL tui_monitor_more: normlab train failed: $(tail -n 3 "$T/train.log" | tr '\n' ' ')"
    exit 1
fi
for i in 2 3 4 5 6 7 8 9; do cp -r "$T/runs/r01" "$T/runs/r0$i"; done
NAMES="div r01 r02 r03 r04 r05 r06 r07 r08 r09"
MARK='(━|[●○◆◇■□▲△])'
# the top label of the loss plot's y axis (the largest value it shows)
y_top() { awk '/─ Loss/ { on = 1; next } on && /┤/ { sub(/┤.*/, ""); gsub(/ /, ""); print; exit }' "$SCREEN"; }
# the value of a y label (1e12, 3.5, 20k) as a number awk can compare
y_val() { printf '%s\n' "$1" | awk '{ v = $0; m = 1; if (v ~ /k$/) m = 1e3; if (v ~ /M$/) m = 1e6; if (v ~ /G$/) m = 1e9; sub(/[kMG]$/, "", v); print v * m }'; }

for combo in "80 24 colour" "80 24 nocolor" "160 48 colour" "160 48 nocolor"; do
    set -- $combo
    W=$1 H=$2 MODE=$3 TAG="${1}x${2}_$3"
    envc=""
    [ "$MODE" = nocolor ] && envc="NO_COLOR=1"
    start "$W" "$H" "$envc $BIN watch $T/runs"
    if ! wait_for 'finished' 15 || ! wait_for 'DIVERGED at step 2' 5; then
        fail "tui_monitor_more_$TAG" "no dashboard of the 10 runs"
        continue
    fi
    sleep 0.3
    snap

    # more than 8: a line for each run, a legend that counts the ones it leaves out
    ok=1 why=""
    grep -q '· 10 runs ·' "$SCREEN" || { ok=0; why="the top bar does not say 10 runs"; }
    for r in $NAMES; do
        sed 1,3d "$SCREEN" | grep -Eq "$MARK $r " || { ok=0; why="no run line for $r"; }
    done
    legend=$(sed -n 3p "$SCREEN")
    shown=0
    for r in $NAMES; do
        printf '%s\n' "$legend" | grep -Eq "$MARK $r( |\$)" && shown=$((shown + 1))
    done
    more=$(printf '%s\n' "$legend" | grep -Eo '\+[0-9]+' | tr -d +)
    [ $((shown + ${more:-0})) -eq 10 ] || { ok=0; why="legend: $shown runs and +${more:-0}, not 10"; }
    [ "$ok" = 1 ] && pass "tui_monitor_more_runs_$TAG" || fail "tui_monitor_more_runs_$TAG" "$why"

    # the divergence: a standing alert in the top bar, the run's line, the message pane
    if sed -n 1p "$SCREEN" | grep -q '⚠ div DIVERGED at step 2' && grep -Eq "$MARK div .*DIVERGED at step 2" "$SCREEN"; then
        keys m
        # the pane opens on the newest messages; Up scrolls to the older ones
        wait_for 'Messages · [0-9]+ · m hides' 5
        n=0
        while [ $n -lt 10 ] && ! grep -Eq '[0-9]{2}:[0-9]{2}:[0-9]{2} div: diverged at step 2' "$SCREEN"; do
            keys Up
            snap
            n=$((n + 1))
        done
        if grep -Eq '[0-9]{2}:[0-9]{2}:[0-9]{2} div: diverged at step 2' "$SCREEN"; then
            pass "tui_monitor_more_diverged_$TAG"
        else
            fail "tui_monitor_more_diverged_$TAG" "the message pane has no entry for the divergence"
        fi
        keys m
        wait_for '─ Loss' 5
    else
        fail "tui_monitor_more_diverged_$TAG" "no alert in the top bar, or no DIVERGED on div's line"
    fi

    # the y range: } shows the lower half (the diverged run's 1e13 no longer sets the top),
    # { gives the whole range back
    top0=$(y_top)
    keys '}'
    if wait_for '─ Loss .* y low 1/2' 5; then
        top1=$(y_top)
        if [ -n "$top1" ] && [ "$(y_val "$top1")" != "" ] &&
            awk -v a="$(y_val "$top0")" -v b="$(y_val "$top1")" 'BEGIN { exit !(b < a / 10) }'; then
            keys '{'
            if wait_for '─ Loss · EMA [^y]*y · by step ─' 5 && [ "$(y_top)" = "$top0" ]; then
                pass "tui_monitor_more_yrange_$TAG"
            else
                fail "tui_monitor_more_yrange_$TAG" "{ did not give the whole y range back ($(y_top), was $top0)"
            fi
        else
            fail "tui_monitor_more_yrange_$TAG" "} left the top of the y axis at $top1 (was $top0)"
        fi
    else
        fail "tui_monitor_more_yrange_$TAG" "} did not take the lower half of the y range"
    fi

    # pan: ] zooms to the newest half (x 30-60), , moves it a quarter earlier, . back
    keys ']'
    if wait_for '─ Loss .* x 30-60 ' 5; then
        keys ','
        if wait_for '─ Loss .* x 22\.?5?-52\.?5? ' 5 || wait_for '─ Loss .* x 2[0-9.]*-5[0-9.]* ' 2; then
            keys '.'
            wait_for '─ Loss .* x 30-60 ' 5 && pass "tui_monitor_more_pan_$TAG" ||
                fail "tui_monitor_more_pan_$TAG" ". did not pan the x range back to 30-60"
        else
            fail "tui_monitor_more_pan_$TAG" ", did not pan the x range earlier"
        fi
    else
        fail "tui_monitor_more_pan_$TAG" "] did not zoom the x range to 30-60"
    fi
    keys q
    wait_for '^EXITED 0' 10 || fail "tui_monitor_more_quit_$TAG" "q did not exit cleanly"
done
exit $failed
