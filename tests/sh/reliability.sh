#!/bin/sh
# Faults a user can hit with bad paths, full disks, FIFOs, interruptions and sizes that do not
# fit (issue 11, D1-D7 and the rest): each is refused or reported with the file or key named,
# and nothing written before is lost. Prints PASS/FAIL lines.
BIN=${NORMLAB_BIN:-./normlab}
T=$(mktemp -d /tmp/normlab-rel.XXXXXX)
trap '[ -n "$KEEP" ] || rm -rf "$T"' EXIT
pass() { echo "PASS rel/$1"; }
fail() { echo "FAIL rel/$1: $2"; }
check() { # name, message, condition command...
    name=$1; msg=$2; shift 2
    if "$@"; then pass "$name"; else fail "$name" "$msg"; fi
}
has() { printf '%s' "$1" | grep -q -- "$2"; }
TINY="--set model.layers=2 --set model.d_model=32 --set model.seq_len=16 --set train.batch=4 --set train.eval_every=0 --set train.threads=1"

# D1: an --out path longer than the run directory can hold is refused, not cut short
seg=$(printf 'd%.0s' $(seq 1 200))
long=$T/$seg/$seg/$seg
o=$($BIN train $TINY --steps 2 --out "$long" 2>&1); rc=$?
check out-too-long "rc=$rc: $o; $(ls "$T")" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'too long' && [ -z \"\$(ls '$T')\" ]" _ "$o"

# an empty --out names nothing: refused (a race would have gone to /RUN)
o=$($BIN train race $TINY --steps 2 --out "" 2>&1); rc=$?
check out-empty "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'empty'" _ "$o"

# D2: a refused --resume leaves config.yaml as it was and says why in events.log
$BIN train $TINY --steps 4 --out "$T/r" --quiet 2>/dev/null
cp "$T/r/config.yaml" "$T/config.before"
o=$($BIN train --resume "$T/r/ckpt-4.nlck" --set model.layers=3 --steps 6 2>&1); rc=$?
check resume-refused "rc=$rc: $o" [ $rc -eq 2 ]
check resume-refused-config "config.yaml was rewritten: $(diff "$T/config.before" "$T/r/config.yaml" | head -3)" cmp -s "$T/config.before" "$T/r/config.yaml"
check resume-refused-logged "events.log: $(tail -2 "$T/r/events.log")" grep -q 'resume from .*ckpt-4.nlck refused' "$T/r/events.log"

# a ckpt-N.nlck.tmp left by a killed process is removed when the directory is used again
printf 'partial' > "$T/r/ckpt-3.nlck.tmp"
$BIN train --resume "$T/r/ckpt-4.nlck" --steps 5 --quiet 2>/dev/null; rc=$?
check stale-tmp "rc=$rc; $(ls "$T/r")" sh -c "[ $rc -eq 0 ] && [ ! -e '$T/r/ckpt-3.nlck.tmp' ] && grep -q 'removed ckpt-3.nlck.tmp' '$T/r/events.log'"

# D3: a FIFO as any input is refused at once instead of blocking in open()
mkfifo "$T/fifo"
for what in preset text tokens eval export; do
    case $what in
    preset) o=$(timeout 20 $BIN train "$T/fifo" 2>&1); rc=$? ;;
    text | tokens) o=$(timeout 20 $BIN train $TINY --set data.source=$what:$T/fifo --out "$T/f-$what" 2>&1); rc=$? ;;
    eval) o=$(timeout 20 $BIN eval "$T/fifo" 2>&1); rc=$? ;;
    export) o=$(timeout 20 $BIN export "$T/fifo" -o "$T/x.safetensors" 2>&1); rc=$? ;;
    esac
    check "fifo-$what" "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'fifo' && printf '%s' \"\$1\" | grep -q 'not a regular file'" _ "$o"
done

# a disk that is full (a file-size limit of 0: writes fail with EFBIG) while config.yaml is
# written is the run failing (1), not bad input (2)
o=$(sh -c "trap '' XFSZ; ulimit -f 0; exec $BIN train $TINY --steps 2 --out '$T/full'" 2>&1); rc=$?
check config-disk-full "rc=$rc: $o" sh -c "[ $rc -eq 1 ] && printf '%s' \"\$1\" | grep -q 'config.yaml'" _ "$o"

# a failed run says "run failed: <why>" once (it said "failed: failed:")
o=$(sh -c "trap '' XFSZ; ulimit -f 64; exec $BIN train $TINY --steps 10 --set train.ckpt_every=2 --out '$T/ckfail'" 2>&1); rc=$?
check failed-once "rc=$rc: $o" sh -c "[ $rc -eq 1 ] && printf '%s' \"\$1\" | grep -q 'run failed: .*ckpt-2.nlck' && ! printf '%s' \"\$1\" | grep -q 'failed: failed'" _ "$o"

# Ctrl-C whose checkpoint does not fit: exit 1 (nothing to resume from) and events.log says so
sh -c "trap '' XFSZ; ulimit -f 2048; exec $BIN train --set model.layers=2 --set model.d_model=128 --set train.threads=1 --steps 100000 --out '$T/intfail'" 2>"$T/intfail.err" &
pid=$!
i=0
while [ $i -lt 200 ] && ! grep -q '^step' "$T/intfail.err" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid
wait $pid; rc=$?
check sigint-ckpt-fails "rc=$rc: $(tail -2 "$T/intfail.err"); events: $(tail -1 "$T/intfail/events.log")" sh -c "[ $rc -eq 1 ] && grep -q 'checkpoint failed' '$T/intfail/events.log' && grep -q 'checkpoint failed' '$T/intfail.err'"

# train.eval_batches is bounded, and the message names the key
o=$(timeout 60 $BIN train --set train.eval_batches=1000000000 --steps 1 --out "$T/eb" 2>&1); rc=$?
check eval-batches-bound "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'train.eval_batches'" _ "$o"

# sizes that cannot fit are refused before allocation, with the figure and the keys
o=$($BIN train --set model.d_model=8192 --set model.layers=256 --set model.heads=64 --steps 1 --out "$T/huge" 2>&1); rc=$?
check too-large "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'too large' && printf '%s' \"\$1\" | grep -q 'model.layers (256)'" _ "$o"
o=$($BIN train --set train.batch=65536 --set model.seq_len=65536 --steps 1 --out "$T/huge2" 2>&1); rc=$?
check too-large-batch "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'train.batch 65536 x model.seq_len 65536'" _ "$o"

# D7: an interrupted race continues: the hint names the command, and running it again into the
# same --out resumes each run from its newest checkpoint and skips the finished ones
$BIN train race $TINY --steps 400 --set train.ckpt_every=50 --out "$T/race" 2>"$T/race.err" &
pid=$!
i=0
while [ $i -lt 300 ] && [ "$(cat "$T/race/post/metrics.csv" 2>/dev/null | wc -l)" -lt 60 ]; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid
wait $pid; rc=$?
hint=$(sed -n 's/^normlab: continue the race with: normlab //p' "$T/race.err")
check race-interrupted "rc=$rc, hint '$hint': $(tail -3 "$T/race.err")" sh -c "[ $rc -eq 130 ] && printf '%s' '$hint' | grep -q -- '--out $T/race'"
if [ -n "$hint" ]; then
    eval "$BIN $hint" 2>"$T/race2.err"; rc=$?
    rows=""
    for r in pre post hybrid; do rows="$rows $(wc -l < "$T/race/$r/metrics.csv")"; done
    check race-continued "rc=$rc rows:$rows: $(tail -3 "$T/race2.err")" sh -c "[ $rc -eq 0 ] && [ '$rows' = ' 401 401 401' ] && grep -q 'pre finished before' '$T/race2.err' && grep -q 'resumed from' '$T/race/post/events.log' && ! grep -q 'change' '$T/race2.err'"
    # the same race again with more steps: each run goes on, and says what changed
    eval "$BIN $hint --steps 404" 2>"$T/race3.err"; rc=$?
    n=$(grep -c 'with 1 change to its config: train.steps 400 -> 404' "$T/race3.err")
    check race-continued-changed "rc=$rc, $n notices: $(cat "$T/race3.err")" sh -c "[ $rc -eq 0 ] && [ $n -eq 3 ]"
else
    fail race-continued "no hint after the interrupt: $(cat "$T/race.err")"
fi
