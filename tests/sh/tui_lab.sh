#!/bin/sh
# The lab driven under tmux: open it, change placement and depth (and see the engine's
# messages for bad values), build a two-run race (a dense run and one with 4 experts, set in
# the form) and start it, see both legends, a heatmap and the MoE run's expert load, pause and
# single-step (the step counter moves by exactly one), resize, quit (asked, then every run
# stops with a final checkpoint).
NAME=tui_lab
. "$(dirname "$0")/tui_common.sh.inc"

start 100 30 "$BIN --out $T/runs"

# 1. the setup screen
if wait_for 'normlab setup' 15 && grep -q 'placement' "$SCREEN"; then
    pass tui_lab_opens
else
    fail tui_lab_opens "no setup screen"
    exit 1
fi

# 2. placement and depth; a bad value shows the engine's message and is not kept
ok=1
keys / && type_text placement && keys Enter && keys Left       # pre -> post
wait_for 'setup .* post .* 4 layers' 5 || { ok=0; why="placement did not become post"; }
keys / && type_text layers && keys Enter && type_text 3 && keys Enter
wait_for 'post .* 3 layers' 5 || { ok=0; why="layers did not become 3"; }
keys Enter && keys C-u && type_text x
wait_for 'model.layers: expected an integer' 5 || { ok=0; why="no message for layers=x"; }
keys Escape
wait_for 'post .* 3 layers' 5 || { ok=0; why="the bad value was kept"; }
keys / && type_text heads && keys Enter && type_text 5 && keys Enter
wait_for 'divisible' 5 || { ok=0; why="no cross-field message for heads=5"; }
keys Enter && keys C-u && type_text 4 && keys Enter
[ "$ok" = 1 ] && pass tui_lab_setup_edit || fail tui_lab_setup_edit "$why"

# 3. a race of two: post-L3, and pre-L3 with 4 experts per FFN (pre-L3-moe4)
keys a
keys / && type_text placement && keys Enter && keys Right      # post -> pre
keys / && type_text experts && keys Enter && type_text 4
if wait_for 'model.moe.experts = 4 \(Enter keeps it' 5; then
    keys Enter
    if wait_for 'layers · MoE 4 experts' 5; then
        pass tui_lab_moe_field
    else
        fail tui_lab_moe_field "experts=4 was not kept"
    fi
else
    fail tui_lab_moe_field "typing 4 into model.moe.experts was not accepted"
    keys Enter
fi
keys a
if wait_for 'Race 2/8' 5 && grep -q 'post-L3 ' "$SCREEN" && grep -q 'pre-L3-moe4 pre L3 E4' "$SCREEN"; then
    pass tui_lab_race_list
else
    fail tui_lab_race_list "the race list does not show both runs"
fi

# 4. start: both legends, a heatmap with cells; the MoE run, selected, shows its expert load
keys F5
if wait_for 'normlab lab' 20 && wait_for '━ post-L3 +━ pre-L3-moe4' 60 &&
    wait_for '^L0 +[█#]{10}' 60; then
    pass tui_lab_dashboard
else
    fail tui_lab_dashboard "no legend for both runs, or an empty heatmap"
fi
keys Down
if wait_for 'Expert load · aux' 30 && wait_for ' M2 +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9.]+ *│?$' 10; then
    pass tui_lab_moe_dashboard
else
    fail tui_lab_moe_dashboard "no expert-load panel for the selected MoE run"
fi
keys Up

# 5. pause, then one step moves the counter by exactly one
step_of() { snap; grep -Eo "━ $1 +[0-9]+/" "$SCREEN" | grep -Eo '[0-9]+/' | tr -d /; }
keys Space
if wait_for 'post-L3 .*paused' 20 && wait_for 'pre-L3-moe4 .*paused' 20; then
    # wait for the counter to settle (a step may have been under way)
    a=$(step_of post-L3); sleep 2; b=$(step_of post-L3)
    n=0
    while [ "$a" != "$b" ] && [ $n -lt 10 ]; do a=$b; sleep 1; b=$(step_of post-L3); n=$((n + 1)); done
    keys s
    c=$b; n=0
    while [ "$c" = "$b" ] && [ $n -lt 60 ]; do sleep 0.5; c=$(step_of post-L3); n=$((n + 1)); done
    sleep 2
    d=$(step_of post-L3)
    if [ -n "$b" ] && [ "$d" = $((b + 1)) ]; then
        pass tui_lab_step
    else
        fail tui_lab_step "paused at step '$b', after one s the counter shows '$d'"
    fi
else
    fail tui_lab_step "Space did not pause both runs"
fi

# 6. resize: the dashboard redraws at the new size, footer included
tmux -L "$SOCK" resize-window -x 80 -y 24 2>/dev/null
sleep 1
snap
cp "$SCREEN" "$T/dash-80x24.txt"
widest=$(while IFS= read -r l; do printf '%s' "$l" | LC_ALL=C.UTF-8 wc -m; done < "$SCREEN" | sort -n | tail -n 1)
footer=$(tail -n 1 "$SCREEN")
if grep -q 'normlab lab' "$SCREEN" && [ "$widest" -le 80 ] && [ "$(wc -l < "$SCREEN")" -le 24 ] &&
    [ "${footer%q quit}" != "$footer" ] && [ "${#footer}" -ge 75 ] &&
    grep -Eq '━ post-L3 +[0-9]+/' "$SCREEN" && grep -Eq '━ pre-L3-moe4 +[0-9]+/' "$SCREEN"; then
    pass tui_lab_resize
else
    fail tui_lab_resize "no full redraw at 80x24 (widest line $widest, footer '$footer')"
fi
[ -n "$NORMLAB_TUI_CAPTURE" ] && cp "$T/dash-80x24.txt" "$NORMLAB_TUI_CAPTURE"

# 7. quit: asked while runs are going; yes stops them with a final checkpoint
keys q
if wait_for 'Stop the runs' 5; then
    keys y
    if wait_for '^EXITED 0' 60 && ls "$T"/runs/lab-*/post-L3/ckpt-*.nlck >/dev/null 2>&1 &&
        ls "$T"/runs/lab-*/pre-L3-moe4/ckpt-*.nlck >/dev/null 2>&1; then
        pass tui_lab_quit
    else
        fail tui_lab_quit "no clean exit, or no final checkpoints"
    fi
else
    fail tui_lab_quit "q did not ask while runs were going"
fi
exit $failed
