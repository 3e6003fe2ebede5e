#!/bin/sh
# Lessons as a class meets them, under tmux at 80x24: `normlab lesson` lists them; `normlab
# lesson warmup-depth` opens on its race paused at step 0 with the lesson pane (the question,
# the runs), which scrolls and which L hides and shows; Space runs the race, whose runs'
# config.yaml record the lesson; ? lists L; a lesson trained headless shows the same pane in
# `normlab watch`. Tiny models (2 layers, width 32, markov data) keep it to seconds.
NAME=tui_lesson
if ! command -v tmux >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tmux >/dev/null 2>&1
    fi
    if ! command -v tmux >/dev/null 2>&1; then
        echo "SKIP $NAME: tmux is not installed (and cannot be installed here)"
        exit 0
    fi
fi
. "$(dirname "$0")/tui_common.sh.inc"

TINY="--set model.layers=2 --set model.d_model=32 --set model.heads=2 --set model.seq_len=16 --set data.source=markov"

# 1. the list: five lessons, each with its title
out=$($BIN lesson 2>&1); rc=$?
n=0
for l in gradients-at-init warmup-depth residual-stream hybridnorm deep-postnorm; do
    printf '%s\n' "$out" | grep -Eq "^  $l +[A-Z]" && n=$((n + 1))
done
if [ $rc -eq 0 ] && [ $n -eq 5 ]; then
    pass tui_lesson_list
else
    fail tui_lesson_list "rc $rc, $n of 5 lessons listed: $out"
fi
out=$($BIN lesson no-such-lesson 2>&1); rc=$?
if [ $rc -eq 2 ] && printf '%s' "$out" | grep -q "no lesson called 'no-such-lesson' (the lessons: deep-postnorm"; then
    pass tui_lesson_unknown
else
    fail tui_lesson_unknown "rc $rc: $out"
fi

# 2. the lab on a lesson: the pane with the question and the race, every run paused at step 0
start 80 24 "$BIN lesson warmup-depth --out $T/runs $TINY --steps 30"
if wait_for 'Lesson · warmup-depth' 20 && grep -q 'Question' "$SCREEN" &&
    grep -q 'Three 12-layer models train on the same' "$SCREEN" &&
    grep -Eq '^│   post-warmup post, 2 layers, lr 0.003, warmup 100' "$SCREEN" &&
    grep -q 'normlab lesson warmup-depth' "$SCREEN" && grep -q 'L lesson' "$SCREEN" &&
    wait_for '━ post-warmup +0/30 .*paused' 20 && grep -Eq '━ post +0/30 .*paused' "$SCREEN" &&
    grep -Eq '━ pre +0/30 .*paused' "$SCREEN" && grep -q 'Space starts · L hides' "$SCREEN"; then
    pass tui_lesson_pane
else
    fail tui_lesson_pane "no lesson pane with the question and the paused race"
fi

# 3. PgDn scrolls to the rest of the text, PgUp back
keys PgDn
if wait_for 'What you should see' 5 && ! grep -q 'Question' "$SCREEN"; then
    keys PgUp
    if wait_for 'Question' 5; then
        pass tui_lesson_scroll
    else
        fail tui_lesson_scroll "PgUp did not come back to the question"
    fi
else
    fail tui_lesson_scroll "PgDn did not scroll the pane"
fi

# 4. L hides the pane (the dashboard's panels show) and shows it again
keys L
if wait_for '─ Loss ·' 5 && ! grep -q 'Lesson · warmup-depth' "$SCREEN"; then
    keys L
    if wait_for 'Lesson · warmup-depth' 5; then
        pass tui_lesson_toggle
    else
        fail tui_lesson_toggle "a second L did not bring the pane back"
    fi
else
    fail tui_lesson_toggle "L did not hide the pane"
fi

# 5. ? lists L; at 80x24 the help scrolls, and its end has PgUp PgDn and q
keys '?'
if wait_for 'Keys: dashboard' 5 && grep -Eq '│ L +lesson pane' "$SCREEN" && grep -q 'more below' "$SCREEN" &&
    keys NPage && keys NPage && keys NPage && keys NPage && wait_for '│ q F10 ' 5 &&
    grep -Eq '│ PgUp PgDn +scroll the lesson pane' "$SCREEN"; then
    pass tui_lesson_help
else
    fail tui_lesson_help "the help does not list L, PgUp PgDn and (last) q"
fi
keys Escape

# 6. Space runs the race to the end; each run's config.yaml records the lesson
keys Space
if wait_for '━ post-warmup +30/30 .*finished' 120 && grep -Eq '━ post +30/30 .*finished' "$SCREEN" &&
    grep -q 'name: "warmup-depth"' "$T"/runs/lab-*/post-warmup/config.yaml &&
    grep -q 'question: >-' "$T"/runs/lab-*/pre/config.yaml; then
    pass tui_lesson_race
else
    fail tui_lesson_race "the race did not finish, or its config.yaml has no lesson"
fi
keys q
wait_for '^EXITED 0' 30 || fail tui_lesson_quit "no clean exit"

# 7. headless, then watch: the same pane over the runs' files
out=$($BIN lesson residual-stream --headless --out "$T/h" $TINY --steps 5 --quiet 2>&1); rc=$?
if [ $rc -eq 0 ] && [ -f "$T/h/pre/metrics.csv" ] && [ -f "$T/h/sandwich/metrics.csv" ] &&
    [ -f "$T/h/post/metrics.csv" ] && grep -q 'name: "residual-stream"' "$T/h/sandwich/config.yaml"; then
    pass tui_lesson_headless
else
    fail tui_lesson_headless "rc $rc: $out"
fi
start 80 24 "$BIN watch $T/h"
if wait_for 'Lesson · residual-stream' 20 && grep -q 'normlab watch' "$SCREEN" &&
    grep -q 'Every block adds its output to the residual' "$SCREEN" &&
    grep -Eq '^│   sandwich sandwich, 2 layers' "$SCREEN" && ! grep -q 'Space starts' "$SCREEN"; then
    keys L
    if wait_for 'Residual RMS per layer' 5 && ! grep -q 'Lesson · residual-stream' "$SCREEN"; then
        pass tui_lesson_watch
    else
        fail tui_lesson_watch "L did not hide the pane in watch"
    fi
else
    fail tui_lesson_watch "normlab watch on a lesson's runs shows no lesson pane"
fi
keys q
exit $failed
