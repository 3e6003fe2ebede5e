#!/bin/sh
# The teaching panel and the bar strips under tmux, checked against the run's own
# metrics.csv: `postnorm-deep` (shrunk to width 64, sequence 32, batch 4, 30 steps so it runs
# in seconds, still 24 layers so the bottom layers' gradients vanish) started from the lab,
# then `i`: the panel names the layer with the largest gradient and the vanished layers as
# metrics.csv has them, and the heatmap draws vanished cells as crosses. Then race's Post-Norm
# run (shrunk the same way), whose per-layer gradients are within a few percent of each other:
# the "Latest grad norm" bars, on a zero-based scale, are within one cell of each other, and
# the strip prints the max/min ratio metrics.csv gives.
NAME=tui_teach
if ! command -v tmux >/dev/null 2>&1 && { [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; }; then
    echo "SKIP tui_teach: tmux is not installed and cannot be installed here (not root, or no apt-get)"
    exit 0
fi
. "$(dirname "$0")/tui_common.sh.inc"
PRESETS=$(dirname "$0")/../../presets

# 1. postnorm-deep, shrunk, in the lab: g starts it; it finishes in seconds
sed -e 's/^  d_model: .*/  d_model: 64/' -e 's/^  seq_len: .*/  seq_len: 32/' \
    -e 's/^  batch: .*/  batch: 4/' -e 's/^  steps: .*/  steps: 30/' \
    "$PRESETS/postnorm-deep.yaml" > "$T/deep.yaml"
grep -q 'layers: 24' "$T/deep.yaml" || { echo "FAIL tui_teach_preset: postnorm-deep.yaml is not 24 layers"; exit 1; }

# 100 columns: the panel fills the screen, each line "│ text │"
start 100 40 "$BIN $T/deep.yaml --out $T/runs"
wait_for 'normlab setup' 15 || { fail tui_teach_deep "no setup screen"; exit 1; }
keys g
if ! wait_for 'finished' 120; then
    fail tui_teach_deep "the shrunk postnorm-deep did not finish within 120 s"
    exit 1
fi
csv=$(ls "$T"/runs/lab-*/*/metrics.csv 2>/dev/null | head -n 1)
[ -f "$csv" ] || { fail tui_teach_deep "no metrics.csv under $T/runs"; exit 1; }

# from the last row of metrics.csv: the layer with the largest attention gradient, and the
# layers under 1e-6 of it as ranges ("0-19"), the way the panel writes them
facts=$(awk -F, '
    BEGIN { L = 0 }
    NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /^gn_attn_/) col[L++] = i; next }
    { for (l = 0; l < L; l++) v[l] = $(col[l]) + 0 }
    END {
        m = 0; for (l = 0; l < L; l++) if (v[l] > v[m]) m = l
        out = ""; n = 0
        for (l = 0; l < L; l++) {
            if (!(v[l] < 1e-6 * v[m])) continue
            j = l; while (j + 1 < L && v[j + 1] < 1e-6 * v[m]) j++
            out = out (out == "" ? "" : ", ") (j > l ? l "-" j : l); n += j - l + 1; l = j
        }
        printf "%d|%d|%s|%d\n", m, n, out, L
    }' "$csv")
top=${facts%%|*}; rest=${facts#*|}; nvan=${rest%%|*}; rest=${rest#*|}; vlist=${rest%%|*}; L=${rest#*|}
if [ "$nvan" -lt 1 ] || [ "$top" != $((L - 1)) ]; then
    fail tui_teach_deep_effect "metrics.csv shows no vanished gradients (largest layer $top of $L, $nvan vanished): the shrunk preset lost the effect"
else
    pass tui_teach_deep_effect
fi

# the heatmap: vanished cells are crosses, named on its scale row
if grep -Eq '^L0 .*×' "$SCREEN" && grep -q '× vanished' "$SCREEN"; then
    pass tui_teach_heatmap_vanished
else
    fail tui_teach_heatmap_vanished "no crosses for layer 0's vanished gradients in the heatmap"
fi

keys i
wait_for 'What this run shows' 5
# the panel's text as one line: each row's text between the box edges, joined
panel=$(sed -n 's/^│ *\(.*[^ ]\) *│$/\1/p' "$SCREEN" | tr '\n' ' ')
layer=$(printf '%s' "$panel" | grep -Eo 'gradient norm is largest in layer [0-9]+' | grep -Eo '[0-9]+$')
if [ "$layer" = "$top" ] && ! printf '%s' "$panel" | grep -q 'layer 0 has the largest'; then
    pass tui_teach_origin
else
    fail tui_teach_origin "the panel names layer '$layer' as the largest; metrics.csv says $top"
fi
if printf '%s' "$panel" | grep -Fq "Vanished (0, or under 1e-6 of the largest): layers $vlist of $L"; then
    pass tui_teach_vanished_named
else
    fail tui_teach_vanished_named "the panel does not name layers $vlist of $L as vanished"
fi
if printf '%s' "$panel" | grep -q 'Step 1: last/first .* about level across depth, as this lab measured' &&
    printf '%s' "$panel" | grep -q 'Sources: .*measured in this lab'; then
    pass tui_teach_expectation
else
    fail tui_teach_expectation "no step-1 verdict against what to expect, or no sources"
fi
keys i
keys q
wait_for '^EXITED 0' 15 || { keys y; wait_for '^EXITED 0' 15; }

# 2. race's Post-Norm run, shrunk, in ASCII so columns are bytes: near-level bars
cat > "$T/race.yaml" <<'EOF'
name: race-post
model: {placement: post, d_model: 64, layers: 4, heads: 4, seq_len: 32}
train: {steps: 20, batch: 4, lr: 3e-3, warmup: 20, schedule: cosine, eval_every: 0}
data: {source: markov, vocab: 64, order: 1, alpha: 0.1}
EOF
rm -rf "$T/runs"
start 100 30 "$BIN $T/race.yaml --out $T/runs --ascii --no-color"
wait_for 'normlab setup' 15 || { fail tui_teach_bars "no setup screen"; exit 1; }
keys g
if ! wait_for 'finished' 90; then
    fail tui_teach_bars "the shrunk race did not finish within 90 s"
    exit 1
fi
csv=$(ls "$T"/runs/lab-*/*/metrics.csv 2>/dev/null | head -n 1)
ratio=$(awk -F, 'BEGIN { L = 0 } NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /^gn_attn_/) col[L++] = i; next }
    { lo = ""; hi = 0; for (l = 0; l < L; l++) { x = $(col[l]) + 0; if (lo == "" || x < lo) lo = x; if (x > hi) hi = x } }
    END { printf "%.4f\n", hi / lo }' "$csv")
# the strip: its title's column, the header below it, the bars down to the index row
col=$(awk '{ i = index($0, "Latest grad norm"); if (i) { print i - 2; exit } }' "$SCREEN")
hdr=$(awk -v c="$col" 'f { print substr($0, c + 1); exit } index($0, "Latest grad norm") { f = 1 }' "$SCREEN")
shown=$(printf '%s' "$hdr" | grep -Eo 'max/min [0-9.]+' | grep -Eo '[0-9.]+$')
# per screen column of the strip, the rows with '#' (a bar cell at least half full)
heights=$(awk -v c="$col" '
    index($0, "Latest grad norm") { f = 1; y = 0; next }
    f && y == 0 { y = 1; next }
    f && y > 0 { s = substr($0, c + 1); if (s ~ /^ *0( |$)/) exit
                 for (i = 1; i <= length(s); i++) if (substr(s, i, 1) == "#") h[i]++ }
    END { lo = 0; hi = 0; for (i in h) { if (!lo || h[i] < lo) lo = h[i]; if (h[i] > hi) hi = h[i] }
          printf "%d %d\n", lo, hi }' "$SCREEN")
lo=${heights% *}; hi=${heights#* }
near=$(awk -v r="$ratio" 'BEGIN { print (r < 1.15) ? 1 : 0 }')
same=$(awk -v a="$ratio" -v b="$shown" 'BEGIN { d = a - b; if (d < 0) d = -d; print (b != "" && d <= 0.011) ? 1 : 0 }')
if [ "$near" != 1 ]; then
    fail tui_teach_bars "race's Post-Norm run is not near level in metrics.csv (max/min $ratio)"
elif [ "$same" = 1 ] && [ "$hi" -ge 3 ] && [ $((hi - lo)) -le 1 ] && printf '%s' "$hdr" | grep -q '^ *0\.\.'; then
    pass tui_teach_bars
else
    fail tui_teach_bars "bars $lo..$hi rows high, header '$hdr'; metrics.csv max/min $ratio"
fi
keys q
wait_for '^EXITED 0' 15 || { keys y; wait_for '^EXITED 0' 15; }
exit $failed
