#!/bin/sh
# normlab sweep --slurm and --collect without a cluster: a fake sbatch on PATH records how it
# is called; the array tasks are run here, one by one, as Slurm would run them (the script with
# SLURM_ARRAY_TASK_ID set). A 2 x 2 sweep: the script and task list, sbatch's arguments, the
# command printed without sbatch, a resubmission after two runs finished listing only the
# other two, --collect over the partly finished directory, and the collected table equal to
# the same sweep run locally. Prints PASS/FAIL/SKIP lines for tests/run.sh.
cd "$(dirname "$0")/../.." || exit 2
BIN=$(realpath "${NORMLAB_BIN:-./normlab}") || exit 2
T=$(mktemp -d /tmp/nl_slurm_sweep.XXXXXX) || exit 2
[ -n "$KEEP" ] || trap 'rm -rf "$T"' EXIT
export LC_ALL=C

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

mkdir "$T/bin" "$T/empty"
cat >"$T/bin/sbatch" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>"$T/sbatch-calls"
echo 4242
EOF
chmod +x "$T/bin/sbatch"

TINY="--set model.d_model=16 --set model.heads=2 --set model.seq_len=16 --set train.batch=4
      --set train.eval_batches=2 --set train.eval_every=0 --steps 12"
VARY="--vary model.placement=pre,post --vary model.layers=1,2"
D=$T/s
sweep() { # sweep PATH ARGS...: the Slurm sweep of $D with PATH for normlab
    p=$1
    shift
    # shellcheck disable=SC2086
    env PATH="$p" "$BIN" sweep default $VARY $TINY --out "$D" --slurm "$@"
}
task() { # task K I: array task I of submission K, as Slurm runs it
    SLURM_ARRAY_TASK_ID=$2 sh "$D/slurm/sweep-$1.sbatch" >>"$T/tasks.log" 2>&1
}

# --- submitted with sbatch ----------------------------------------------------------------
sweep "$T/bin:$PATH" --sbatch-args "--partition=debug --time=5" >"$T/out1" 2>"$T/err1"
rc=$?
S1=$(realpath "$D")/slurm/sweep-1.sbatch
nl=$(sed -n "s/^NORMLAB='\(.*\)'$/\1/p" "$S1" 2>/dev/null)
want="pre_layers1-s0 pre_layers2-s0 post_layers1-s0 post_layers2-s0"
if [ "$rc" -eq 0 ] && [ "$(cat "$T/out1")" = 4242 ] &&
    [ "$(cat "$T/sbatch-calls")" = "--parsable --partition=debug --time=5 $S1" ] &&
    grep -q '^#SBATCH --array=0-3$' "$S1" && [ "$nl" = "$BIN" ] &&
    [ "$(tr '\n' ' ' <"$D/slurm/tasks-1.txt")" = "$want " ] &&
    [ "$(ls "$D"/*-s0/config.yaml | wc -l)" -eq 4 ] && [ ! -e "$D/sweep.csv" ]; then
    pass slurm_submits_script_and_task_list
else
    fail slurm_submits_script_and_task_list "rc $rc, stdout '$(cat "$T/out1")', sbatch \
'$(cat "$T/sbatch-calls" 2>/dev/null)', normlab '$nl'; $(tail -n 2 "$T/err1")"
fi

# --- sbatch not on PATH: the command to submit ---------------------------------------------
D=$T/p sweep "$T/empty" --sbatch-args "--partition=debug" >"$T/out2" 2>"$T/err2"
rc=$?
if [ "$rc" -eq 0 ] && [ -s "$T/p/slurm/sweep-1.sbatch" ] &&
    [ "$(cat "$T/out2")" = "sbatch --partition=debug $(realpath "$T/p")/slurm/sweep-1.sbatch" ] &&
    grep -q 'sbatch is not on PATH' "$T/err2" && [ "$(wc -l <"$T/sbatch-calls")" -eq 1 ]; then
    pass slurm_without_sbatch_prints_the_command
else
    fail slurm_without_sbatch_prints_the_command "rc $rc, stdout '$(cat "$T/out2")'"
fi

# --- two tasks run; resubmitted: only the other two ----------------------------------------
task 1 0
task 1 2
rows=$(($(wc -l <"$D/sweep.csv" 2>/dev/null || echo 1) - 1))
if [ "$rows" -eq 2 ] && grep -q 'finished:' "$D/post_layers1-s0/events.log"; then
    pass slurm_task_trains_its_run_and_collects
else
    fail slurm_task_trains_its_run_and_collects "$rows rows in sweep.csv; $(tail -n 3 "$T/tasks.log")"
fi
sweep "$T/bin:$PATH" >"$T/out3" 2>"$T/err3"
rc=$?
S2=$(realpath "$D")/slurm/sweep-2.sbatch
if [ "$rc" -eq 0 ] && [ "$(tr '\n' ' ' <"$D/slurm/tasks-2.txt")" = "pre_layers2-s0 post_layers2-s0 " ] &&
    [ "$(tail -n 1 "$T/sbatch-calls")" = "--parsable $S2" ] && grep -q '^#SBATCH --array=0-1$' "$S2" &&
    grep -q '2 of 4 runs finished' "$T/err3"; then
    pass slurm_resubmit_submits_only_unfinished_runs
else
    fail slurm_resubmit_submits_only_unfinished_runs "rc $rc, tasks '$(cat "$D/slurm/tasks-2.txt" \
2>/dev/null)'; $(tail -n 2 "$T/err3")"
fi

# --- collect over a partly finished directory: one run started, one not -------------------
echo "2026-01-01T00:00:00Z step 0 created: pre_layers2-s0" >"$D/pre_layers2-s0/events.log"
"$BIN" sweep --collect "$D" >"$T/out4" 2>"$T/err4"
rc=$?
if [ "$rc" -eq 0 ] && grep -q '2 of 4 runs finished (0 collected now)' "$T/err4" &&
    grep -q '1 started, not finished (running, or killed): pre_layers2-s0$' "$T/err4" &&
    grep -q '1 not started: post_layers2-s0$' "$T/err4" &&
    grep -Eq '^pre  +[0-9.]+\* +not run$' "$T/out4" && grep -Eq '^post +[0-9.]+ +not run$' "$T/out4"; then
    pass slurm_collect_lists_unfinished_runs
else
    fail slurm_collect_lists_unfinished_runs "rc $rc; $(cat "$T/err4" "$T/out4" | tr '\n' '|')"
fi

# --- the rest run; collected, equal to the same sweep run locally --------------------------
task 2 0
task 2 1
"$BIN" sweep --collect "$D" >"$T/out5" 2>"$T/err5"
rc=$?
# shellcheck disable=SC2086
"$BIN" sweep default $VARY $TINY --out "$T/local" >"$T/local.out" 2>"$T/local.err"
fields() { tail -n +2 "$1/sweep.csv" | cut -d, -f1-9,11 | sort; }
if [ "$rc" -eq 0 ] && cmp -s "$T/out5" "$T/local.out" && [ "$(fields "$D")" = "$(fields "$T/local")" ] &&
    ! grep -q 'not run' "$T/out5"; then
    pass slurm_collected_table_equals_local_sweep
else
    fail slurm_collected_table_equals_local_sweep "rc $rc; $(diff "$T/out5" "$T/local.out" | tr '\n' '|') \
csv: $(fields "$D" | tr '\n' '|') local: $(fields "$T/local" | tr '\n' '|')"
fi

# --- nothing left: nothing submitted -------------------------------------------------------
sweep "$T/bin:$PATH" >"$T/out6" 2>"$T/err6"
rc=$?
if [ "$rc" -eq 0 ] && grep -q 'nothing to submit' "$T/err6" && [ ! -e "$D/slurm/sweep-3.sbatch" ] &&
    [ "$(wc -l <"$T/sbatch-calls")" -eq 2 ] && cmp -s "$T/out6" "$T/local.out"; then
    pass slurm_resubmit_with_nothing_left_says_so
else
    fail slurm_resubmit_with_nothing_left_says_so "rc $rc; $(tail -n 2 "$T/err6")"
fi

# --- errors: not a sweep directory ---------------------------------------------------------
"$BIN" sweep --collect "$T/empty" >/dev/null 2>"$T/err7"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "$T/empty is not a sweep directory (no sweep.yaml)" "$T/err7"; then
    pass slurm_collect_refuses_a_non_sweep_directory
else
    fail slurm_collect_refuses_a_non_sweep_directory "rc $rc; $(cat "$T/err7")"
fi

# --- a diverged run collected as the local sweep records it -------------------------------
D=$T/dv
# shellcheck disable=SC2086
env PATH="$T/empty" "$BIN" sweep default --vary train.lr=0.001,1000 $TINY --out "$D" --slurm \
    >/dev/null 2>"$T/err8"
task 1 0
task 1 1
"$BIN" sweep --collect "$D" >"$T/out8" 2>>"$T/err8"
rc=$?
# shellcheck disable=SC2086
"$BIN" sweep default --vary train.lr=0.001,1000 $TINY --out "$T/dvl" >"$T/dvl.out" 2>/dev/null
fields() { tail -n +2 "$1/sweep.csv" | cut -d, -f1-8,10 | sort; }
if [ "$rc" -eq 0 ] && grep -q '^1000,0,.*,yes,[0-9][0-9]*,' "$D/sweep.csv" &&
    cmp -s "$T/out8" "$T/dvl.out" && [ "$(fields "$D")" = "$(fields "$T/dvl")" ]; then
    pass slurm_collects_a_diverged_run_as_the_local_sweep
else
    fail slurm_collects_a_diverged_run_as_the_local_sweep "rc $rc; csv: $(fields "$D" | tr '\n' '|') \
local: $(fields "$T/dvl" | tr '\n' '|'); $(tail -n 2 "$T/err8")"
fi

# --- a finished run that cannot be read: the others still collected ----------------------
cp -r "$T/dv" "$T/bad"
rm "$T/bad/sweep.csv" "$T/bad/lr0.001-s0/metrics.csv"
"$BIN" sweep --collect "$T/bad" >"$T/out9" 2>"$T/err9"
rc=$?
rows=$(($(wc -l <"$T/bad/sweep.csv" 2>/dev/null || echo 1) - 1))
if [ "$rc" -eq 1 ] && [ "$rows" -eq 1 ] && grep -q "lr0.001-s0/metrics.csv: cannot open" "$T/err9" &&
    grep -q '1 failed (see their events.log): lr0.001-s0$' "$T/err9"; then
    pass slurm_collect_goes_on_past_an_unreadable_run
else
    fail slurm_collect_goes_on_past_an_unreadable_run "rc $rc, $rows rows; $(tr '\n' '|' <"$T/err9")"
fi
