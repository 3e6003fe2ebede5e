#!/bin/sh
# normlab report end to end: a tiny race trained here, its report's structure (one curve per
# run in the loss plot, validation markers, a heatmap per run, the config diff naming the key
# that differs, nothing external, no script), bad input (a missing directory, a run with no
# metrics yet, a run still in progress, garbage and cut-short lines, an unwritable output),
# the atomic write, a sweep's report. Prints PASS/FAIL lines for tests/run.sh.
cd "$(dirname "$0")/../.." || exit 2
BIN=${NORMLAB_BIN:-./normlab}
T=$(mktemp -d /tmp/nl_report_sh.XXXXXX) || exit 2
[ -n "$KEEP" ] || trap 'rm -rf "$T"' EXIT
export LC_ALL=C

pass() { echo "PASS report/$1"; }
fail() { echo "FAIL report/$1: $2"; }
check() { # name, message, condition command...
    name=$1; msg=$2; shift 2
    if "$@"; then pass "$name"; else fail "$name" "$msg"; fi
}
# svg_of FILE ID: the text of <svg id="ID" ...> up to its </svg>
svg_of() { awk -v id="id=\"$2\"" 'index($0, "<svg " id) { on = 1 } on { print } on && /<\/svg>/ { exit }' "$1"; }
count() { grep -o -- "$1" | wc -l | tr -d ' '; }

TINY="--set model.layers=3 --set model.d_model=32 --set model.heads=2 --set model.seq_len=16
      --set train.batch=4 --set train.eval_every=4 --set train.eval_batches=1 --set train.threads=1"

# shellcheck disable=SC2086
if ! "$BIN" train race --steps 12 $TINY --out "$T/race" --quiet >"$T/train.log" 2>&1; then
    fail train "normlab train race failed: $(tail -n 3 "$T/train.log")"
    exit 1
fi

# --- the report of a finished race ----------------------------------------------------------
o=$("$BIN" report "$T/race" -o "$T/r.html" 2>"$T/err"); rc=$?
check writes "rc=$rc: $o $(cat "$T/err")" sh -c "[ $rc -eq 0 ] && [ -s '$T/r.html' ]"
check quiet-when-clean "stderr: $(cat "$T/err")" [ ! -s "$T/err" ]
svg_of "$T/r.html" loss-plot >"$T/loss.svg"
curves=$(count '<path class="curve"' <"$T/loss.svg")
check one-curve-per-run "$curves curves in the loss plot, 3 runs" [ "$curves" -eq 3 ]
markers=$(grep -o '<g class="points">' "$T/loss.svg" | wc -l)
check val-markers "$markers validation point groups" [ "$markers" -eq 3 ]
# every run in its own colour and its own dash pattern
colours=$(grep -o '<path class="curve"[^>]*stroke="#[0-9A-Fa-f]*"' "$T/loss.svg" | grep -o '#[0-9A-Fa-f]*' | sort -u | wc -l)
dashes=$(grep -o '<path class="curve"[^>]*>' "$T/loss.svg" | sed -n 's/.*stroke-dasharray="\([^"]*\)".*/\1/p; /stroke-dasharray/!s/.*/solid/p' | sort -u | wc -l)
check distinct-styles "$colours colours, $dashes dash patterns for 3 runs" sh -c "[ $colours -eq 3 ] && [ $dashes -eq 3 ]"
for w in '<text[^>]*>step</text>' 'loss (nats per token)' '<g class="ticks">' '<g class="legend">'; do
    grep -q -- "$w" "$T/loss.svg" || { fail axes "the loss plot lacks $w"; w=; break; }
done
[ -n "$w" ] && pass axes
# the reference line the dashboard draws: the data's entropy floor, labelled, inside the plot
# area, at the value `normlab train` prints for the same preset; none on the RMS plot
# shellcheck disable=SC2086
want=$("$BIN" train race --steps 1 $TINY --out "$T/floor" 2>&1 | sed -n 's/.*loss floor (markov entropy rate) \([0-9.]*\) nats.*/\1/p' | head -n 1)
ref=$(grep -o '<g class="ref"><line x1="[0-9.]*" y1="[0-9.]*"[^>]*/><text[^>]*>[^<]*</text></g>' "$T/loss.svg")
got=$(printf '%s' "$ref" | sed -n 's/.*>entropy floor \([0-9.]*\)<.*/\1/p')
y=$(printf '%s' "$ref" | sed -n 's/.* y1="\([0-9.]*\)".*/\1/p')
check reference-line "want the entropy floor ${want:-?} drawn in the plot; got '$ref'" \
    sh -c "[ -n '$want' ] && [ -n '$got' ] && [ -n '$y' ] &&
           awk 'BEGIN { d = $got - $want; exit !(d < 0.001 && d > -0.001 && $y > 34 && $y < 392) }' &&
           grep -q 'the dashed grey line: the entropy floor' '$T/r.html'"
svg_of "$T/r.html" rms-plot | grep -q 'class="ref"' && fail reference-line-rms "the RMS plot has a reference line"
heat=$(grep -c '<svg id="heat-[0-9]*" class="heatmap"' "$T/r.html")
# the cells: a path per colour level, each a list of "Mcol rowhNv1h-Nz" rectangles
levels=$(svg_of "$T/r.html" heat-0 | grep -o '<path fill="#[0-9a-f]*" d="M[0-9]' | wc -l)
cells=$(svg_of "$T/r.html" heat-0 | grep -o 'M[0-9]* [0-9]*h[0-9]*v1h-[0-9]*z' | wc -l)
check heatmaps "$heat heatmaps; $levels colour levels, $cells cell runs in the first" \
    sh -c "[ $heat -eq 3 ] && [ $levels -ge 2 ] && [ $cells -ge 6 ]"
grep -q '<text[^>]*>L2</text>' "$T/r.html"
check heatmap-layers "no L2 row label" [ $? -eq 0 ]
rms=$(svg_of "$T/r.html" rms-plot | count '<path class="curve"')
check rms-per-run "$rms RMS curves" [ "$rms" -eq 3 ]
diff_rows=$(sed -n '/<table id="config-diff">/,/<\/table>/p' "$T/r.html")
check config-diff "the diff: $diff_rows" sh -c "printf '%s' \"\$1\" | grep -q '<code>model.placement</code>' && ! printf '%s' \"\$1\" | grep -q '<code>model.layers</code>'" _ "$diff_rows"
check title "title: $(grep -o '<h1>.*</h1>' "$T/r.html")" grep -q '<h1>hybrid vs post vs pre</h1>' "$T/r.html"
ext=$(grep -Eio 'https?://|<script|<link|<img|<iframe|@import|src=|url\([^#]' "$T/r.html" | sort -u | tr '\n' ' ')
check self-contained "external or scripted content: $ext" [ -z "$ext" ]
check no-temp-left "$(ls "$T")" sh -c "! ls '$T' | grep -q 'tmp'"
for s in '<section id="runs">' '<section id="loss">' '<section id="grad">' '<section id="rms">' '<section id="config">'; do
    grep -q "$s" "$T/r.html" || { fail sections "missing $s"; s=; break; }
done
[ -n "$s" ] && pass sections

# --- bad input ------------------------------------------------------------------------------
o=$("$BIN" report "$T/nope" -o "$T/missing.html" 2>&1); rc=$?
check missing-dir "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q '$T/nope' && [ ! -e '$T/missing.html' ]" _ "$o"
o=$("$BIN" report "$T/race" 2>&1); rc=$?
check needs-out "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q -- '-o FILE.html'" _ "$o"
o=$("$BIN" report "$T/race" -o "$T/no/such/dir/r.html" 2>&1); rc=$?
check unwritable "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'no/such/dir/r.html'" _ "$o"
o=$("$BIN" report --help); rc=$?
check help "rc=$rc" sh -c "[ $rc -eq 0 ] && printf '%s' \"\$1\" | grep -q 'usage: normlab report RUN_DIR... -o FILE.html'" _ "$o"

# a copy of the race, damaged: garbage and a cut-short last line in pre, post still going
# (its events.log has no final line), a fourth run with a config but no metrics yet
mkdir "$T/bad"
cp -r "$T/race/pre" "$T/race/post" "$T/race/hybrid" "$T/bad/"
awk 'NR == 5 { print "this,is,not,a,row" } { print }' "$T/race/pre/metrics.csv" >"$T/bad/pre/metrics.csv"
printf '13,6,0.1' >>"$T/bad/pre/metrics.csv"
grep -v finished "$T/race/post/events.log" >"$T/bad/post/events.log"
mkdir "$T/bad/fresh"
cp "$T/race/pre/config.yaml" "$T/bad/fresh/config.yaml"
sed -i 's/^name: .*/name: fresh/' "$T/bad/fresh/config.yaml"
o=$("$BIN" report "$T/bad" -o "$T/bad.html" 2>"$T/bad.err"); rc=$?
check bad-still-written "rc=$rc: $(cat "$T/bad.err")" sh -c "[ $rc -eq 0 ] && [ -s '$T/bad.html' ]"
check bad-garbage-stderr "stderr: $(cat "$T/bad.err")" grep -q 'pre/metrics.csv line 5 skipped' "$T/bad.err"
check bad-cut-stderr "stderr: $(cat "$T/bad.err")" grep -q 'pre/metrics.csv line 15: incomplete last line' "$T/bad.err"
check bad-progress-stderr "stderr: $(cat "$T/bad.err")" grep -q 'post: still in progress at step 12' "$T/bad.err"
check bad-nometrics-stderr "stderr: $(cat "$T/bad.err")" grep -q 'fresh: no metrics.csv yet' "$T/bad.err"
notes=$(sed -n '/<section class="notes"/,/<\/section>/p' "$T/bad.html")
for w in 'line 5 skipped' 'incomplete last line' 'still in progress' 'no metrics.csv yet'; do
    printf '%s' "$notes" | grep -q "$w" || { fail bad-notes-in-page "the notes lack '$w'"; w=; break; }
done
[ -n "$w" ] && pass bad-notes-in-page
curves=$(svg_of "$T/bad.html" loss-plot | count '<path class="curve"')
check bad-curves "$curves curves: 3 runs with data, 1 without" [ "$curves" -eq 3 ]
check bad-legend "the legend does not say fresh has no data" grep -q 'fresh (no data yet)' "$T/bad.html"
check bad-states "states: $(grep -o 'state-in">[^<]*' "$T/bad.html")" grep -q 'state-in">in progress' "$T/bad.html"

# an empty metrics.csv, and one with only its header
mkdir "$T/empty" "$T/empty/a" "$T/empty/b"
: >"$T/empty/a/metrics.csv"
head -n 1 "$T/race/pre/metrics.csv" >"$T/empty/b/metrics.csv"
o=$("$BIN" report "$T/empty" -o "$T/empty.html" 2>&1); rc=$?
check empty-metrics "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && printf '%s' \"\$1\" | grep -q 'a/metrics.csv: empty' && printf '%s' \"\$1\" | grep -q 'b/metrics.csv: no step recorded yet'" _ "$o"

# a run given by its metrics.csv is that run
o=$("$BIN" report "$T/race/pre/metrics.csv" -o "$T/one.html" 2>&1); rc=$?
curves=$(svg_of "$T/one.html" loss-plot | count '<path class="curve"')
check csv-arg "rc=$rc, $curves curves: $o" sh -c "[ $rc -eq 0 ] && [ $curves -eq 1 ]"

# --- a sweep --------------------------------------------------------------------------------
# shellcheck disable=SC2086
"$BIN" sweep default --vary model.placement=pre,post --seeds 2 --max-runs 3 $TINY --steps 6 \
    --out "$T/sw" >"$T/sw.log" 2>&1
o=$("$BIN" report "$T/sw" -o "$T/sw.html" 2>"$T/sw.err"); rc=$?
curves=$(svg_of "$T/sw.html" loss-plot | count '<path class="curve"')
rows=$(sed -n '/<table id="sweep-rows">/,/<\/table>/p' "$T/sw.html" | grep -c '<td')
check sweep "rc=$rc, $curves curves, $rows rows: $o $(cat "$T/sw.err")" sh -c "[ $rc -eq 0 ] && [ $curves -eq 3 ] && [ $rows -eq 3 ]"
check sweep-cells "no per-cell table" grep -q '<table id="sweep-cells">' "$T/sw.html"
check sweep-not-started "stderr: $(cat "$T/sw.err")" grep -q '1 of the sweep.s 4 runs have no directory yet' "$T/sw.err"
check sweep-title "title: $(grep -o '<h1>.*</h1>' "$T/sw.html")" grep -q '<h1>Sweep sw: model.placement, 2 seeds</h1>' "$T/sw.html"
