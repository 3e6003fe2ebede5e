#!/bin/sh
# Monitoring a race the way TensorBoard and btop users expect, under tmux at 80x24 and
# 160x48, in colour and with NO_COLOR: a race of 8 runs keeps a readable loss plot, every run
# line, a legend that says "+N" and a filled bar strip; without colour each run has its own
# mark; the cursor reads each run's loss at a step (checked against metrics.csv); zoom, run
# hiding, the message pane and the config diff. Then the lab: a race saved with w (asking
# before replacing), changed and opened again with o; starts that cannot work refused before
# starting; small terminals; the teaching panel follows Up/Down; no ETA while paused.
NAME=tui_monitor
. "$(dirname "$0")/tui_common.sh.inc"

cat > "$T/race8.yaml" <<'YAML'
name: race8
model: {d_model: 16, layers: 2, heads: 2, seq_len: 16}
train: {steps: 60, batch: 2, lr: 3e-3, threads: 1, eval_every: 20}
data: {source: markov, vocab: 32, order: 1}
runs:
  - {name: pre, set: {model.placement: pre}}
  - {name: post, set: {model.placement: post}}
  - {name: sandwich, set: {model.placement: sandwich}}
  - {name: preqk, set: {model.placement: preqk}}
  - {name: hybrid, set: {model.placement: hybrid}}
  - {name: hybstar, set: {model.placement: hybrid_star}}
  - {name: mixln, set: {model.placement: mixln}}
  - {name: deepnorm, set: {model.placement: deepnorm, train.lr: 1e-3}}
YAML
if ! $BIN train "$T/race8.yaml" --out "$T/race" > "$T/train.log" 2>&1; then
    echo "FAIL tui_monitor_train: $(tail -n 3 "$T/train.log" | tr '\n' ' ')"
    exit 1
fi
ABS_BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
# the loss of run $1 at step $2, from its metrics.csv, with $3 decimals
csv_loss() { awk -F, -v s="$2" -v d="$3" 'NR > 1 && $1 == s { printf "%.*f", d, $5 }' "$T/race/$1/metrics.csv"; }

for combo in "80 24 colour" "80 24 nocolor" "160 48 colour" "160 48 nocolor"; do
    set -- $combo
    W=$1 H=$2 MODE=$3 TAG="${1}x${2}_$3"
    envc=""
    [ "$MODE" = nocolor ] && envc="NO_COLOR=1"
    start "$W" "$H" "$envc $BIN watch $T/race"
    if ! wait_for 'finished' 15; then
        fail "tui_monitor_race8_$TAG" "no dashboard"
        continue
    fi
    sleep 0.3
    snap
    # every run has its line; the legend counts what it leaves out; the plot keeps rows
    ok=1 why=""
    for r in pre post sandwich preqk hybrid hybstar mixln deepnorm; do
        grep -Eq "[^ ] $r +(loss|60/60)" "$SCREEN" || { ok=0; why="no status line for $r"; }
    done
    rows=$(awk '/─ (Loss|Train loss)/ { on = 1; next } on && /└/ { print n; exit } on { n++ }' "$SCREEN")
    [ "${rows:-0}" -ge 4 ] || { ok=0; why="the loss plot has ${rows:-0} rows"; }
    sed -n 3p "$SCREEN" | grep -q 'deepnorm' || sed -n 3p "$SCREEN" | grep -Eq '\+[0-9]' ||
        { ok=0; why="the legend neither shows deepnorm nor says +N"; }
    grep -Eq '0\.\.[0-9]' "$SCREEN" || { ok=0; why="the grad-norm bars are empty"; }
    [ "$ok" = 1 ] && pass "tui_monitor_race8_$TAG" || fail "tui_monitor_race8_$TAG" "$why"

    # each run's mark: distinct shapes without colour, the colour line with it
    marks=$(tail -n 9 "$SCREEN" | grep -o '[●○◆◇■□▲△]' | sort -u | grep -c .)
    if [ "$MODE" = nocolor ]; then
        [ "$marks" -ge 8 ] && sed -n 3p "$SCREEN" | grep -q '● deepnorm' && sed -n 3p "$SCREEN" | grep -q '○ hybrid' &&
            pass "tui_monitor_marks_$TAG" || fail "tui_monitor_marks_$TAG" "$marks distinct marks on the run lines, or legend marks the same"
    else
        sed -n 3p "$SCREEN" | grep -q '━ deepnorm' && pass "tui_monitor_marks_$TAG" || fail "tui_monitor_marks_$TAG" "no coloured legend line"
    fi

    # the cursor: Left shows it at the newest step; every run line reads its loss there
    keys Left
    dec=4
    [ "$W" -lt 100 ] && dec=3
    if wait_for '@60 ' 5; then
        want_pre=$(csv_loss pre 60 $dec) want_post=$(csv_loss post 60 $dec)
        if grep -Eq " pre +@60  loss $want_pre" "$SCREEN" && grep -Eq " post +@60  loss $want_post" "$SCREEN" &&
            [ "$(grep -c '@60 ' "$SCREEN")" -ge 4 ]; then
            pass "tui_monitor_cursor_$TAG"
        else
            fail "tui_monitor_cursor_$TAG" "cursor read-out is not pre $want_pre, post $want_post at step 60"
        fi
    else
        fail "tui_monitor_cursor_$TAG" "Left showed no cursor read-out"
    fi
    keys Left Left Left
    wait_for '@5[0-9] ' 5 || fail "tui_monitor_cursor_moves_$TAG" "the cursor did not move left"

    # zoom: ] halves the x range around the cursor; 0 shows everything again
    keys ']'
    if wait_for '─ Loss .* x [0-9]+-60 ' 5 &&
        ! awk '/└/ { getline; print; exit }' "$SCREEN" | grep -Eq '(^| )(10|20)( |$)'; then
        keys 0
        if wait_for '─ Loss · EMA [^x]*─' 5 && ! grep -q '@5' "$SCREEN"; then
            pass "tui_monitor_zoom_$TAG"
        else
            fail "tui_monitor_zoom_$TAG" "0 did not show the whole range again"
        fi
    else
        fail "tui_monitor_zoom_$TAG" "] did not zoom the x range to the newest half"
    fi

    # hide the selected run (deepnorm, the first by name): out of the legend, its mark
    # dotted; V shows it again
    keys v
    if wait_for '1 hidden' 5 && ! sed -n 3p "$SCREEN" | grep -q ' deepnorm ' && grep -Eq '^.· deepnorm ' "$SCREEN"; then
        keys V
        wait_for '(━|●) deepnorm ' 5 && ! grep -q '· 1 hidden' "$SCREEN" && pass "tui_monitor_hide_$TAG" ||
            fail "tui_monitor_hide_$TAG" "V did not show deepnorm again"
    else
        fail "tui_monitor_hide_$TAG" "v did not hide deepnorm"
    fi

    # the message pane keeps what flashed by in the top bar
    keys m
    if wait_for 'Messages · [0-9]+ · m hides' 5 && grep -q 'deepnorm hidden' "$SCREEN" && grep -Eq '[0-9]{2}:[0-9]{2}:[0-9]{2} x [0-9]+-60' "$SCREEN"; then
        keys m
        wait_for '─ Loss' 5 && ! grep -q 'Messages ·' "$SCREEN" && pass "tui_monitor_messages_$TAG" ||
            fail "tui_monitor_messages_$TAG" "m did not close the pane"
    else
        fail "tui_monitor_messages_$TAG" "no message pane with the earlier messages"
    fi

    # the config diff names what differs: placement for all, lr for deepnorm
    keys D
    if wait_for 'Config diff · 2 keys differ' 5 && grep -q 'model.placement' "$SCREEN" && grep -q 'train.lr' "$SCREEN" &&
        ! grep -q 'model.d_model' "$SCREEN"; then
        pass "tui_monitor_diff_$TAG"
    else
        fail "tui_monitor_diff_$TAG" "the diff does not list exactly placement and lr"
    fi
    keys Escape

    # the top plot's series, the x axis, the smoothing kinds, the per-layer curves
    if [ "$TAG" = 160x48_colour ] || [ "$TAG" = 80x24_nocolor ]; then
        ok=1 why=""
        keys y && { wait_for '─ Val loss · log y' 5 || { ok=0; why="y: no val loss"; }; }
        keys y && { wait_for '─ Learning rate · linear y' 5 || { ok=0; why="y: no learning rate"; }; }
        keys y && keys y && { wait_for '─ Tokens/s · EMA' 5 || { ok=0; why="y: no tokens/s"; }; }
        keys y && { wait_for '─ Loss · EMA' 5 || { ok=0; why="y: not back to the loss"; }; }
        keys t && { wait_for 'by tokens' 5 || { ok=0; why="t: not by tokens"; }; }
        keys t && { wait_for 'by seconds' 5 || { ok=0; why="t: not by time"; }; }
        keys t && { wait_for 'by step' 5 || { ok=0; why="t: not back to steps"; }; }
        keys W && { wait_for '─ Loss · mean of 10 steps' 5 || { ok=0; why="W: no window mean"; }; }
        keys W && keys b && { wait_for '─ Loss · EMA 0.9 debiased' 5 || { ok=0; why="b: no debiased EMA"; }; }
        keys p && { wait_for 'Grad norm per layer \(attn\)' 5 && grep -q 'L0' "$SCREEN" || { ok=0; why="p: no per-layer curves"; }; }
        [ "$ok" = 1 ] && pass "tui_monitor_series_$TAG" || fail "tui_monitor_series_$TAG" "$why"
    fi
done

# the teaching panel at 60x20: Up/Down pick the run it explains; a section that does not fit
# is said to be cut
start 60 20 "$BIN watch $T/race"
wait_for 'finished' 15
keys i
if wait_for '· deepnorm ' 5; then
    keys Down
    wait_for '· hybrid ' 5 && pass tui_monitor_teach_updown || fail tui_monitor_teach_updown "Down did not select hybrid in the teaching panel"
    grep -Eq '(What to expect|What this run shows) cut, enlarge' "$SCREEN" && pass tui_monitor_teach_cut ||
        fail tui_monitor_teach_cut "nothing says the panel's text is cut"
else
    fail tui_monitor_teach_updown "no teaching panel"
fi
keys i
keys '?'
if wait_for 'Keys: dashboard' 5 && grep -q 'more below' "$SCREEN" && keys NPage && keys NPage && keys NPage && keys NPage &&
    wait_for 'only stops watching' 5; then
    pass tui_monitor_help_scrolls
else
    fail tui_monitor_help_scrolls "the help does not scroll to its end, or watch's q is misdescribed"
fi

# the lab at 80x24 (colour) and 160x48 (NO_COLOR): save the race, ask before replacing, change
# it, open it again
for combo in "80 24 colour" "160 48 nocolor"; do
    set -- $combo
    TAG="${1}x${2}_$3"
    envc=""
    [ "$3" = nocolor ] && envc="NO_COLOR=1"
    rm -f "$T/saved.yaml"
    start "$1" "$2" "cd $T && $envc $ABS_BIN race8.yaml --out $T/labruns"
    wait_for 'Race 8/8' 15 || { fail "tui_monitor_race_save_$TAG" "no race in the setup"; continue; }
    keys w && keys C-u && type_text saved.yaml && keys Enter
    if wait_for 'saved the setup and its race of 8 to saved.yaml' 5 && [ "$(grep -c '^  - name:' "$T/saved.yaml")" = 8 ] &&
        grep -q 'train.lr: 0.001' "$T/saved.yaml"; then
        keys w && keys C-u && type_text saved.yaml && keys Enter
        if wait_for 'saved.yaml exists: y replaces it' 5; then
            keys n
            wait_for 'not saved' 5 && pass "tui_monitor_race_save_$TAG" || fail "tui_monitor_race_save_$TAG" "n did not keep the file"
        else
            fail "tui_monitor_race_save_$TAG" "no question before replacing saved.yaml"
        fi
    else
        fail "tui_monitor_race_save_$TAG" "w did not save 8 runs (deepnorm's lr with them)"
    fi
    keys Tab && keys d && keys d
    wait_for 'Race 6/8' 5
    keys o && type_text saved.yaml && keys Enter
    wait_for 'loaded saved.yaml \(with its race\)' 5 && grep -q 'Race 8/8' "$SCREEN" && pass "tui_monitor_race_reload_$TAG" ||
        fail "tui_monitor_race_reload_$TAG" "o did not bring the 8 runs back"
    # edit a race entry in place: Enter in the race list, change lr, a puts it back
    keys Tab && keys Down && keys Enter
    wait_for 'editing post' 5 && keys / && type_text train.lr && keys Enter && keys C-u && type_text 0.02 && keys Enter
    keys a
    if wait_for 'updated post in place' 5 && grep -Eq 'post +post L2 lr 0.02' "$SCREEN" && grep -q 'Race 8/8' "$SCREEN"; then
        pass "tui_monitor_race_edit_$TAG"
    else
        fail "tui_monitor_race_edit_$TAG" "the edited run was not put back in place"
    fi
    # apply a field to every run
    keys / && type_text layers && keys Enter && type_text 3 && keys Enter && keys A
    wait_for 'model.layers = 3 in every run of the race \(8\)' 5 && pass "tui_monitor_race_apply_$TAG" ||
        fail "tui_monitor_race_apply_$TAG" "A did not set layers in every run"
done

# starts that cannot work are refused on the setup screen, with the reason in full
check_refused() { # name, expected pattern, lab arguments
    cr_name=$1 want=$2; shift 2
    start 80 24 "$BIN $* --out $T/refused"
    wait_for 'normlab setup' 15
    keys F5
    if wait_for "$want" 10 && grep -q 'normlab setup' "$SCREEN"; then
        pass "$cr_name"
    else
        fail "$cr_name" "no '$want' on the setup screen"
    fi
}
check_refused tui_monitor_refuse_text 'cannot read /nope' --set data.source=text:/nope
check_refused tui_monitor_refuse_huge 'too large: 1 run need' --set model.d_model=8192 --set model.layers=96 --set model.heads=64 --set train.batch=64 --set model.seq_len=1024
start 80 24 "$BIN --out /proc/nope"
wait_for 'normlab setup' 15
keys F5
wait_for 'cannot create the run directory: /proc/nope' 10 && grep -q 'normlab setup' "$SCREEN" && [ ! -d /proc/nope ] &&
    pass tui_monitor_refuse_out || fail tui_monitor_refuse_out "--out /proc/nope was not refused before starting"

# small terminals: the below-minimum message whole; a cut value ends in an ellipsis
start 44 12 "$BIN"
wait_for 'Enlarge the window' 10 && grep -q 'needs 60x14' "$SCREEN" && pass tui_monitor_too_small ||
    fail tui_monitor_too_small "the too-small message is cut"
start 60 16 "$BIN --set name=a-rather-long-run-name-here"
wait_for 'normlab setup' 10
grep -q 'a-rather-long-r[a-z-]*…' "$SCREEN" && pass tui_monitor_setup_ellipsis || fail tui_monitor_setup_ellipsis "a cut value has no ellipsis"
# Right on d_model steps to a width the heads divide (default: 64, 4 heads -> 68)
keys / && type_text d_model && keys Enter && keys Right
wait_for 'd_model +68' 5 && ! grep -q 'divisible' "$SCREEN" && pass tui_monitor_dmodel_step ||
    fail tui_monitor_dmodel_step "Right on d_model did not step to 68"

# TERM=dumb: a message and a non-zero exit, not a blank screen
start 80 24 "TERM=dumb $BIN"
wait_for '^EXITED 2' 10 && grep -q 'cannot move the cursor' "$SCREEN" && pass tui_monitor_term_dumb ||
    fail tui_monitor_term_dumb "TERM=dumb did not exit 2 with a message"

# a live run: its ETA while running, none while paused; the 80-column footer has i
start 80 24 "$BIN --set model.layers=2 --set model.seq_len=64 --set train.batch=8 --set train.steps=1000000 --set train.threads=1 --out $T/live"
wait_for 'normlab setup' 10
keys F5
if wait_for 'eta [0-9]+:' 20 && grep -q 'i explain' "$SCREEN"; then
    keys Space
    if wait_for 'paused *$' 10 && sleep 0.5 && snap && ! sed -n 23p "$SCREEN" | grep -q 'eta'; then
        pass tui_monitor_eta_paused
    else
        fail tui_monitor_eta_paused "ETA still shown while paused"
    fi
else
    fail tui_monitor_eta_paused "no ETA while running, or no i in the footer"
fi
keys q && keys y
wait_for '^EXITED' 20

# train's progress line fits 80 columns: one row, never wrapped into many
start 80 24 "$BIN train --set model.layers=1 --set model.d_model=16 --set model.heads=2 --set model.seq_len=16 --set train.batch=1 --steps 300 --set train.threads=1 --out $T/tr"
if wait_for '^EXITED 0' 30; then
    n=$(grep -c '\] [0-9]*/300 loss' "$SCREEN")
    long=$(awk 'length($0) >= 80' "$SCREEN" | grep -c '/300')
    [ "$n" = 1 ] && [ "$long" = 0 ] && pass tui_monitor_progress_80 || fail tui_monitor_progress_80 "$n progress rows ($long full-width)"
else
    fail tui_monitor_progress_80 "train did not finish"
fi
exit $failed
