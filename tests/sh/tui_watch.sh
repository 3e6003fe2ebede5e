#!/bin/sh
# `normlab watch` under tmux: a finished run made by `normlab train` (the dashboard's text,
# live-only keys refused with a message, the teaching panel, the ASCII fallback), an MoE run
# (the expert-load panel, e for the bars), a run being written while it is watched (the step
# counter moves), and the terminal restored after SIGTERM and after a crash signal.
NAME=tui_watch
. "$(dirname "$0")/tui_common.sh.inc"

TINY="--set model.layers=2 --set model.d_model=32 --set model.heads=2 --set model.seq_len=32 \
--set train.batch=4 --set train.eval_every=10"
if ! $BIN train $TINY --steps 30 --out "$T/run" > "$T/train.log" 2>&1; then
    echo "FAIL tui_watch_train: normlab train failed: $(tail -n 3 "$T/train.log" | tr '\n' ' ')"
    exit 1
fi

start 100 30 "$BIN watch $T/run"
if wait_for 'normlab watch' 15 && wait_for 'finished' 10; then
    ok=1
    for want in ' run ' '30/30' 'loss 3|loss 2|loss 4' '━ EMA' '• val' 'floor' '^L0 ' '^L1 ' 'Residual RMS'; do
        grep -Eq -- "$want" "$SCREEN" || { ok=0; missing="$want"; break; }
    done
    [ "$ok" = 1 ] && pass tui_watch_dashboard || fail tui_watch_dashboard "the dashboard lacks '$missing'"
else
    fail tui_watch_dashboard "no dashboard for a finished run"
fi

keys Space
wait_for 'needs a live run' 5 && pass tui_watch_live_keys_off || fail tui_watch_live_keys_off "Space gave no message"

keys i
if wait_for 'What this run shows' 5 && grep -q 'Pre-Norm' "$SCREEN" && grep -Eq 'gradient norm' "$SCREEN"; then
    pass tui_watch_teaching
else
    fail tui_watch_teaching "no teaching panel with observations"
fi
keys i
keys '?'
wait_for 'live runs only' 5 && pass tui_watch_help || fail tui_watch_help "help does not mark the live-only keys"
keys Escape
keys q
wait_for '^EXITED 0' 10 && pass tui_watch_quit || fail tui_watch_quit "q did not exit cleanly"

# the ASCII fallback: nothing outside printable ASCII on screen
start 100 30 "$BIN watch --ascii --no-color $T/run"
if wait_for 'finished' 15 && ! LC_ALL=C grep -q '[^ -~]' "$SCREEN" && grep -q '^L0 ' "$SCREEN"; then
    pass tui_watch_ascii
else
    fail tui_watch_ascii "non-ASCII characters with --ascii, or no dashboard"
fi

# an MoE run (moe-default shrunk): the expert-load panel at 80x24, with a row per MoE layer
if $BIN train moe-default $TINY --steps 20 --out "$T/moe/run" > "$T/moe.log" 2>&1; then
    start 80 24 "$BIN watch $T/moe/run"
    if wait_for 'Expert load' 15 && wait_for ' M1 +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9.]+$' 10 &&
        grep -q 'E3 *H' "$SCREEN" && grep -q 'MoE 4 experts' "$SCREEN" && grep -q 'even 25%' "$SCREEN"; then
        pass tui_watch_moe_experts
    else
        fail tui_watch_moe_experts "no expert-load panel for an MoE run"
    fi
    keys e
    if wait_for 'Residual RMS' 5 && ! grep -q 'Expert load' "$SCREEN"; then
        pass tui_watch_moe_bars_key
    else
        fail tui_watch_moe_bars_key "e did not bring back the bar strips"
    fi
    keys q
else
    echo "FAIL tui_watch_moe_experts: normlab train moe-default failed: $(tail -n 3 "$T/moe.log" | tr '\n' ' ')"
    failed=1
fi

# a run being written: the counter moves while we watch (steps enough to outlast the checks
# on any machine; the run is ended below)
$BIN train $TINY --steps 200000 --out "$T/live" > "$T/live.log" 2>&1 &
train_pid=$!
n=0
while [ ! -s "$T/live/metrics.csv" ] && [ $n -lt 100 ]; do sleep 0.2; n=$((n + 1)); done
start 100 30 "$BIN watch $T/live"
live_step() { snap; grep -Eo '━ live +[0-9]+/' "$SCREEN" | grep -Eo '[0-9]+'; }
wait_for '━ live +[0-9]+/200000' 15
a=$(live_step)
sleep 4
b=$(live_step)
if [ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ]; then
    pass tui_watch_live
else
    fail tui_watch_live "the step counter did not move ('$a' then '$b')"
fi

# a directory of runs stands for the runs in it: here $T holds run/ and live/
start 100 30 "$BIN watch $T"
if wait_for '━ live +━ run' 15 && grep -q '2 runs' "$SCREEN"; then
    pass tui_watch_dir_of_runs
else
    fail tui_watch_dir_of_runs "watch DIR did not show the two runs inside it"
fi
start 100 30 "$BIN watch $T/live"
wait_for 'normlab watch' 15

# the terminal comes back after SIGTERM, and after a crash signal (handler restores, re-raises)
pid=$(pgrep -n -f "^$BIN watch $T/live")
if [ -n "$pid" ]; then
    kill -TERM "$pid"
    if wait_for '^EXITED 143' 10 && [ "$(tmux -L "$SOCK" display -p '#{alternate_on}')" = 0 ]; then
        pass tui_watch_sigterm
    else
        fail tui_watch_sigterm "not restored after SIGTERM"
    fi
else
    fail tui_watch_sigterm "no watch process"
fi
start 100 30 "$BIN watch $T/run"
wait_for 'finished' 15
pid=$(pgrep -n -f "^$BIN watch $T/run")
if [ -n "$pid" ]; then
    kill -SEGV "$pid"
    if wait_for '^EXITED 139' 10 && [ "$(tmux -L "$SOCK" display -p '#{alternate_on}')" = 0 ]; then
        pass tui_watch_crash_restores
    else
        fail tui_watch_crash_restores "not restored after SIGSEGV"
    fi
else
    fail tui_watch_crash_restores "no watch process"
fi
kill "$train_pid" 2>/dev/null
wait "$train_pid" 2>/dev/null
exit $failed
