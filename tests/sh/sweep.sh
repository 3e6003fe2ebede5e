#!/bin/sh
# normlab sweep end to end. A tiny 2 x 2 x 2-seed sweep stopped after 3 runs (--max-runs) and
# resumed with --jobs 2: sweep.csv's rows, the printed table, finished runs left untouched,
# a different sweep refused in the same directory; then a sweep stopped by SIGINT and resumed.
# Prints PASS/FAIL/SKIP lines for tests/run.sh.
cd "$(dirname "$0")/../.." || exit 2
BIN=${NORMLAB_BIN:-./normlab}
T=$(mktemp -d /tmp/nl_sweep_sh.XXXXXX) || exit 2
[ -n "$KEEP" ] || trap 'rm -rf "$T"' EXIT
export LC_ALL=C

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

TINY="--set model.d_model=16 --set model.heads=2 --set model.seq_len=16 --set train.batch=4
      --set train.eval_batches=2 --set train.eval_every=0"
VARY="--vary model.placement=pre,post --vary model.layers=1,2 --seeds 2"
D=$T/s
HEADER="model.placement,model.layers,seed,train_loss,val_loss,best_loss,diverged,diverged_step,steps,tok_s,run_dir"

# marks: the modification times of every file in the run directories named in sweep.csv
marks() {
    tail -n +2 "$1/sweep.csv" | cut -d, -f11 | while read -r r; do
        for f in "$1/$r"/*; do stat -c '%n %y %s' "$f"; done
    done
}

# --- interrupted after 3 runs -------------------------------------------------------------
# shellcheck disable=SC2086
"$BIN" sweep default $VARY $TINY --steps 12 --out "$D" --max-runs 3 >"$T/out1" 2>"$T/err1"
rc=$?
rows=$(($(wc -l <"$D/sweep.csv") - 1))
if [ "$rc" -eq 0 ] && [ "$rows" -eq 3 ] && grep -q 'stopped after 3 runs' "$T/err1" &&
    grep -q 'not run' "$T/out1" && grep -q '\[1/2\]' "$T/out1"; then
    pass sweep_max_runs_stops_after_3
else
    fail sweep_max_runs_stops_after_3 "rc $rc, $rows rows; stderr: $(tail -n 3 "$T/err1")"
fi
marks "$D" >"$T/marks1"
sleep 0.02 # a rewrite now would show as a new modification time

# --- resumed ------------------------------------------------------------------------------
# shellcheck disable=SC2086
"$BIN" sweep default $VARY $TINY --steps 12 --out "$D" --jobs 2 >"$T/out2" 2>"$T/err2"
rc=$?
rows=$(($(wc -l <"$D/sweep.csv") - 1))
lines=$(grep -c '^normlab: sweep [0-9]/8 ' "$T/err2")
if [ "$rc" -eq 0 ] && [ "$rows" -eq 8 ] && grep -q '3 already done' "$T/err2" && [ "$lines" -eq 5 ]; then
    pass sweep_resume_trains_the_rest
else
    fail sweep_resume_trains_the_rest "rc $rc, $rows rows, $lines progress lines; $(tail -n 3 "$T/err2")"
fi
marks "$D" | head -n "$(wc -l <"$T/marks1")" >"$T/marks2"
created=$(cat "$D"/*-s?/events.log | grep -c 'created:')
if cmp -s "$T/marks1" "$T/marks2" && [ -s "$T/marks1" ] && [ "$created" -eq 8 ]; then
    pass sweep_resume_leaves_finished_runs_alone
else
    fail sweep_resume_leaves_finished_runs_alone "$created 'created' events for 8 runs; \
changed: $(diff "$T/marks1" "$T/marks2" | head -n 2 | tr '\n' ' ')"
fi

# --- sweep.csv ----------------------------------------------------------------------------
bad=$(tail -n +2 "$D/sweep.csv" | awk -F, -v dir="$D" '
    function num(x) { return x ~ /^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$/ }
    {
        if (NF != 11) { print "line " NR+1 ": " NF " fields"; next }
        key = $1 "," $2 "," $3
        if (seen[key]++) print "run " key " twice"
        if ($1 != "pre" && $1 != "post") print "placement " $1
        if ($2 != "1" && $2 != "2") print "layers " $2
        if ($3 != "0" && $3 != "1") print "seed " $3
        if ($7 != "yes" && $7 != "no") print "diverged " $7
        if ($7 == "no" && !(num($4) && num($5) && num($6) && $8 == "" && $9 == 12))
            print "numbers of " key ": " $0
        if (!num($10) || $10 <= 0) print "tok_s " $10
        want = $1 "_layers" $2 "-s" $3
        if ($11 != want) print "run_dir " $11 " (wanted " want ")"
        if ((getline l < (dir "/" $11 "/metrics.csv")) <= 0) print "no metrics.csv in " $11
    }
    END { if (NR != 8) print NR " rows" }')
if [ "$(head -n 1 "$D/sweep.csv")" = "$HEADER" ] && [ -z "$bad" ]; then
    pass sweep_csv_rows
else
    fail sweep_csv_rows "$(head -n 1 "$D/sweep.csv" | cut -c 1-60)... $(echo "$bad" | head -n 3 | tr '\n' ';')"
fi

# --- the table ----------------------------------------------------------------------------
# columns are separated by two or more spaces; one '*' per column; pre/layers=1 agrees with
# the mean and sd of its rows
bad=$(awk -F'  +' -v csv="$D/sweep.csv" '
    BEGIN {
        while ((getline l < csv) > 0) {
            split(l, f, ",")
            if (f[1] == "pre" && f[2] == "1" && f[7] == "no") { v[++n] = f[5]; s += f[5] }
        }
        m = s / n; for (i = 1; i <= n; i++) ss += (v[i] - m)^2; sd = sqrt(ss / (n - 1))
    }
    /^placement/ { head = NR; if ($2 != "layers=1" || $3 != "layers=2") print "header " $0; next }
    head && NF > 0 {
        rows++
        if (NF != 3) print "row with " NF " fields: " $0
        for (c = 2; c <= 3; c++) if ($c ~ /\*$/) stars[c]++
        if ($1 == "pre") {
            split($2, p, /\+-/)
            if (p[1] - m > 0.0006 || m - p[1] > 0.0006 || p[2] - sd > 0.0006 || sd - p[2] > 0.0006)
                print "pre/1 shows " $2 ", rows give " m " +- " sd
        }
    }
    END {
        if (!head) print "no header"
        if (rows != 2) print rows " rows"
        if (stars[2] != 1 || stars[3] != 1) print "stars per column: " stars[2] + 0 ", " stars[3] + 0
    }' "$T/out2")
if [ -z "$bad" ] && grep -q '^final validation loss, mean +- sd over 2 seeds' "$T/out2"; then
    pass sweep_table_shape_and_marks
else
    fail sweep_table_shape_and_marks "$(echo "$bad" | head -n 3 | tr '\n' ';') table: $(tr '\n' '|' <"$T/out2")"
fi

# --- nothing left: a re-run trains nothing; another sweep in the same directory is refused -
cp "$D/sweep.csv" "$T/csv_before"
# shellcheck disable=SC2086
LC_ALL=C.UTF-8 "$BIN" sweep default $VARY $TINY --steps 12 --out "$D" >"$T/out3" 2>"$T/err3"
rc=$?
if [ "$rc" -eq 0 ] && cmp -s "$D/sweep.csv" "$T/csv_before" && grep -q '8 already done' "$T/err3" &&
    ! grep -q '^normlab: sweep [0-9]/8 ' "$T/err3" && grep -q '±' "$T/out3"; then
    pass sweep_rerun_of_finished_sweep_trains_nothing
else
    fail sweep_rerun_of_finished_sweep_trains_nothing "rc $rc; $(tail -n 2 "$T/err3")"
fi
# --jobs above the cores: one run per core at a time, and never more threads than cores
# shellcheck disable=SC2086
"$BIN" sweep default $VARY $TINY --steps 12 --out "$D" --jobs 64 >/dev/null 2>"$T/err6"
rc=$?
at=$(sed -n 's/.* \([0-9]*\) at a time, threads per run: \([0-9]*\) .*/\1 \2/p' "$T/err6")
if [ "$rc" -eq 0 ] && grep -q -- '--jobs 64: this process may use [0-9]* cores\{0,1\}; [0-9]* runs at a time' "$T/err6" &&
    [ -n "$at" ] && [ $(( ${at% *} * ${at#* } )) -le "$(getconf _NPROCESSORS_ONLN)" ]; then
    pass sweep_jobs_capped_to_cores
else
    fail sweep_jobs_capped_to_cores "rc $rc; $(head -n 2 "$T/err6" | tr '\n' '|')"
fi
# shellcheck disable=SC2086
"$BIN" sweep default --vary model.placement=pre,post --vary model.layers=1,3 --seeds 2 $TINY \
    --steps 12 --out "$D" >/dev/null 2>"$T/err4"
rc1=$?
# shellcheck disable=SC2086
"$BIN" sweep default $VARY $TINY --steps 13 --out "$D" >/dev/null 2>"$T/err5"
rc2=$?
if [ "$rc1" -eq 2 ] && grep -q 'holds a different sweep (vary model.layers: 1,2 there, 1,3 now)' "$T/err4" &&
    [ "$rc2" -eq 2 ] && grep -q "base.yaml: the base config .* differs from this sweep's: train.steps 12 -> 13 (the sweep's -> this command's)" "$T/err5" &&
    cmp -s "$D/sweep.csv" "$T/csv_before"; then
    pass sweep_refuses_a_different_sweep
else
    fail sweep_refuses_a_different_sweep "rc $rc1 $rc2: $(cat "$T/err4" "$T/err5" | tr '\n' ' ')"
fi

# --- SIGINT -------------------------------------------------------------------------------
E=$T/int
# shellcheck disable=SC2086
"$BIN" sweep default $VARY $TINY --steps 300 --out "$E" >/dev/null 2>"$T/err6" &
pid=$!
i=0
while [ $i -lt 1200 ]; do
    [ -f "$E/sweep.csv" ] && [ "$(wc -l <"$E/sweep.csv")" -ge 2 ] && break
    sleep 0.05
    i=$((i + 1))
done
kill -INT "$pid" 2>/dev/null
wait "$pid"
rc=$?
rows=$(($(wc -l <"$E/sweep.csv") - 1))
if [ "$rc" -eq 0 ] && [ "$rows" -eq 8 ]; then
    echo "SKIP sweep_sigint_keeps_finished_rows: the sweep finished before the signal landed"
elif [ "$rc" -eq 130 ] && [ "$rows" -ge 1 ] && [ "$rows" -lt 8 ] &&
    [ "$(tail -c 1 "$E/sweep.csv" | od -An -c | tr -d ' ')" = '\n' ] &&
    awk -F, 'NR > 1 && NF != 11 { exit 1 }' "$E/sweep.csv" && grep -q 'interrupted' "$T/err6"; then
    pass sweep_sigint_keeps_finished_rows
    # shellcheck disable=SC2086
    "$BIN" sweep default $VARY $TINY --steps 300 --out "$E" >/dev/null 2>"$T/err7"
    rc=$?
    n=$(tail -n +2 "$E/sweep.csv" | cut -d, -f1-3 | sort -u | wc -l)
    # the run the signal stopped (none when it landed between runs) was trained again
    stopped=$(grep -l 'stopped by signal' "$E"/*/events.log | head -n 1)
    if [ "$rc" -eq 0 ] && [ "$n" -eq 8 ] && [ "$(wc -l <"$E/sweep.csv")" -eq 9 ] &&
        grep -q "$rows already done" "$T/err7" &&
        { [ -z "$stopped" ] || [ "$(tail -n 1 "$stopped" | grep -c 'finished')" -eq 1 ]; }; then
        pass sweep_resume_after_sigint
    else
        fail sweep_resume_after_sigint "rc $rc, $n distinct runs; $(tail -n 2 "$T/err7")"
    fi
else
    fail sweep_sigint_keeps_finished_rows "rc $rc, $rows rows; $(tail -n 2 "$T/err6")"
fi
exit 0
