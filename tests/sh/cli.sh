#!/bin/sh
# The command line as a user meets it: help, exit codes, messages, the files a run writes,
# eval, export, Ctrl-C with a final checkpoint, and resume. Prints PASS/FAIL lines.
BIN=${NORMLAB_BIN:-./normlab}
T=$(mktemp -d /tmp/normlab-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass() { echo "PASS cli/$1"; }
fail() { echo "FAIL cli/$1: $2"; }
check() { # name, condition command..., message
    name=$1; msg=$2; shift 2
    if "$@"; then pass "$name"; else fail "$name" "$msg"; fi
}
TINY="--set model.layers=2 --set model.d_model=32 --set model.seq_len=16 --set train.batch=4 --set train.eval_every=5 --set train.threads=1"

# --help for the binary and each command, exit 0, and it names the command's options
out=$($BIN --help); rc=$?
check help "normlab --help rc=$rc" [ $rc -eq 0 ]
for w in 'mpirun -np N normlab train' '--slurm' 'sweep --collect DIR' '--race'; do
    check "help-names-$(printf '%s' "$w" | tr -cs 'a-z' '_')" "normlab --help lacks '$w'" sh -c 'printf "%s" "$1" | grep -qF -- "$2"' _ "$out" "$w"
done
for c in train eval export bench presets sweep lesson; do
    o=$($BIN $c --help 2>&1); rc=$?
    check "help-$c" "normlab $c --help rc=$rc: $o" sh -c "[ $rc -eq 0 ] && printf '%s' \"\$1\" | grep -q 'usage: normlab $c'" _ "$o"
done

# bad usage: exit 2, the message names the key / file / option
o=$($BIN train --set model.layers=abc 2>&1); rc=$?
check bad-set "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'model.layers'" _ "$o"
o=$($BIN train --set model.layerz=3 2>&1); rc=$?
check unknown-key "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q \"did you mean 'model.layers'\"" _ "$o"
o=$($BIN train "$T/missing.yaml" 2>&1); rc=$?
check missing-preset "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'missing.yaml'" _ "$o"
printf 'model:\n  layers: [1, 2\n' > "$T/broken.yaml"
o=$($BIN train "$T/broken.yaml" 2>&1); rc=$?
check broken-yaml "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'broken.yaml:[0-9]*:[0-9]*:'" _ "$o"
o=$($BIN train --frobnicate 2>&1); rc=$?
check unknown-option "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'frobnicate'" _ "$o"
o=$($BIN nosuchcommand 2>&1); rc=$?
check unknown-command "rc=$rc: $o" [ $rc -eq 2 ]

# --run trains only the named runs of a race; an unknown name is refused with the race's runs
$BIN train race --run post --steps 2 $TINY --out "$T/only" --quiet; rc=$?
check race-run-only "rc=$rc; $(ls "$T/only" 2>&1)" sh -c "[ $rc -eq 0 ] && [ -f '$T/only/post/metrics.csv' ] && [ ! -e '$T/only/pre' ] && [ ! -e '$T/only/hybrid' ]"
o=$($BIN train race --run nosuch --steps 2 $TINY --out "$T/only2" 2>&1); rc=$?
check race-run-unknown "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'its runs: pre, post, hybrid'" _ "$o"

# presets lists the shipped ones
o=$($BIN presets 2>&1); rc=$?
check presets "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && printf '%s' \"\$1\" | grep -q 'postnorm-deep' && printf '%s' \"\$1\" | grep -q 'hybrid_star'" _ "$o"

# a tiny run writes its files; stderr is not a terminal, so plain progress lines
$BIN train $TINY --steps 10 --out "$T/run" 2>"$T/train.err"; rc=$?
check train-rc "rc=$rc: $(tail -3 "$T/train.err")" [ $rc -eq 0 ]
check train-files "missing files in $(ls "$T/run")" sh -c "[ -s '$T/run/config.yaml' ] && [ -s '$T/run/metrics.csv' ] && [ -s '$T/run/events.log' ] && [ -s '$T/run/ckpt-10.nlck' ]"
check train-progress "no progress lines: $(cat "$T/train.err")" grep -q '^step 10/10 loss' "$T/train.err"
check train-csv-rows "metrics.csv rows: $(wc -l < "$T/run/metrics.csv")" [ "$(wc -l < "$T/run/metrics.csv")" -eq 11 ]
check train-csv-header "header: $(head -1 "$T/run/metrics.csv")" sh -c "head -1 '$T/run/metrics.csv' | grep -q '^step,tokens,time_s,lr,loss,val_loss,grad_norm,tok_s,gn_attn_0,gn_ffn_0,rms_0'"
check events "events.log: $(cat "$T/run/events.log")" grep -q 'finished' "$T/run/events.log"

# config.yaml reloads as a preset and gives the same config back
$BIN train "$T/run/config.yaml" --steps 2 --out "$T/run2" --quiet 2>"$T/e2"; rc=$?
check config-reload "rc=$rc: $(cat "$T/e2")" sh -c "[ $rc -eq 0 ] && sed '/^  steps:/d' '$T/run/config.yaml' > '$T/a' && sed '/^  steps:/d' '$T/run2/config.yaml' > '$T/b' && cmp -s '$T/a' '$T/b'"

# eval prints "loss <value>" with 6 significant digits
o=$($BIN eval "$T/run/ckpt-10.nlck" --batches 2 2>&1); rc=$?
check eval "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && printf '%s' \"\$1\" | grep -Eq '^loss [0-9]+\.[0-9]+$'" _ "$o"
head -c 10000 /dev/urandom > "$T/bytes.bin"
o=$($BIN eval "$T/run/ckpt-10.nlck" --batches 2 --data "text:$T/bytes.bin" 2>&1); rc=$?
check eval-vocab "a 64-symbol model on bytes must be refused: rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'vocabulary'" _ "$o"

# export writes a safetensors file whose header names the tensors as DESIGN.md does
o=$($BIN export "$T/run/ckpt-10.nlck" -o "$T/model.safetensors" 2>&1); rc=$?
check export "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && head -c 4000 '$T/model.safetensors' | grep -q 'blocks.1.attn.qkv.weight' && head -c 4000 '$T/model.safetensors' | grep -q '__metadata__'"

# a truncated and a bit-flipped checkpoint are refused with the file named
size=$(wc -c < "$T/run/ckpt-10.nlck")
head -c $((size / 2)) "$T/run/ckpt-10.nlck" > "$T/trunc.nlck"
o=$($BIN eval "$T/trunc.nlck" 2>&1); rc=$?
check ckpt-truncated "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'trunc.nlck'" _ "$o"
cp "$T/run/ckpt-10.nlck" "$T/flip.nlck"
printf '\377' | dd of="$T/flip.nlck" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
o=$($BIN eval "$T/flip.nlck" 2>&1); rc=$?
check ckpt-bitflip "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'flip.nlck'" _ "$o"

# Ctrl-C: the step finishes, a checkpoint is written, exit 130; --resume finishes the run
$BIN train $TINY --steps 100000 --out "$T/int" 2>"$T/int.err" &
pid=$!
i=0
while [ $i -lt 100 ] && ! grep -q '^step' "$T/int.err" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid
wait $pid; rc=$?
ck=$(ls "$T/int"/ckpt-*.nlck 2>/dev/null | head -1)
check sigint "rc=$rc, checkpoint '$ck': $(tail -2 "$T/int.err")" sh -c "[ $rc -eq 130 ] && [ -n '$ck' ] && grep -q 'resume' '$T/int.err'"
if [ -n "$ck" ]; then
    step=$(basename "$ck" .nlck | sed 's/ckpt-//')
    $BIN train --resume "$ck" --steps $((step + 5)) --quiet 2>"$T/res.err"; rc=$?
    rows=$(wc -l < "$T/int/metrics.csv")
    check resume "rc=$rc rows=$rows (want $((step + 6))): $(cat "$T/res.err")" sh -c "[ $rc -eq 0 ] && [ $rows -eq $((step + 6)) ] && grep -q 'resumed from' '$T/int/events.log'"
else
    fail resume "no checkpoint after SIGINT"
fi

# a data file that is not there is bad input: exit 2, the file named
o=$($BIN train $TINY --steps 2 --set data.source=text:$T/no-such-data.txt --out "$T/nodata" 2>&1); rc=$?
check missing-data "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'no-such-data.txt'" _ "$o"

# resuming a finished run trains nothing and says so (no 'nan' loss)
o=$($BIN train --resume "$T/run/ckpt-10.nlck" 2>&1); rc=$?
check resume-finished "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && ! printf '%s' \"\$1\" | grep -qi 'nan' && printf '%s' \"\$1\" | grep -q 'nothing to train'" _ "$o"

# --resume with keys changed from the checkpoint's config names each change (old -> new) on
# stderr and in the run's events.log, and a new train.steps moves the end of the decay; a
# change to how the run executes (threads) is not worth a word; a changed model names the key
# before the checkpoint is refused
o=$($BIN train --resume "$T/run/ckpt-10.nlck" --steps 12 --set train.lr=0.002 --threads 1 --out "$T/rchg" 2>&1); rc=$?
check resume-changes "rc=$rc: $o; $(cat "$T/rchg/events.log" 2>/dev/null)" sh -c "[ $rc -eq 0 ] && printf '%s' \"\$1\" | grep -q 'with 2 changes to its config: train.steps 10 -> 12, train.lr 0.003 -> 0.002' && printf '%s' \"\$1\" | grep -q 'decay now ends at step 12' && grep -q \"changes to the checkpoint's config: train.steps 10 -> 12, train.lr\" '$T/rchg/events.log'" _ "$o"
o=$($BIN train --resume "$T/run/ckpt-10.nlck" --threads 2 --out "$T/rsame" 2>&1); rc=$?
check resume-no-changes "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && ! printf '%s' \"\$1\" | grep -q 'change'" _ "$o"
o=$($BIN train --resume "$T/run/ckpt-10.nlck" --set model.layers=3 --out "$T/rmodel" 2>&1); rc=$?
check resume-model-changed "rc=$rc: $o" sh -c "[ $rc -ne 0 ] && printf '%s' \"\$1\" | grep -q 'model.layers 2 -> 3'" _ "$o"

# a fresh run into a directory holding another run's checkpoints is refused: pruning would
# keep the old, higher-step checkpoints and delete the new ones
o=$($BIN train $TINY --steps 4 --set train.keep_ckpts=1 --out "$T/run" 2>&1); rc=$?
check out-dir-reused "rc=$rc: $o; $(ls "$T/run")" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'resume from' && [ -f '$T/run/ckpt-10.nlck' ]" _ "$o"

# presets takes no arguments
o=$($BIN presets extra 2>&1); rc=$?
check presets-args "rc=$rc: $o" [ $rc -eq 2 ]

# bench on a run that diverges reports no throughput figures for steps it did not take
o=$($BIN bench --device cpu --threads 1 $TINY --set train.lr=1e6 --set train.clip=0 --set train.warmup=0 --set model.placement=post --steps 5 --warmup 2 2>&1); rc=$?
check bench-diverged "rc=$rc: $o" sh -c "[ $rc -eq 1 ] && printf '%s' \"\$1\" | grep -q 'diverged' && ! printf '%s' \"\$1\" | grep -q 'tokens/s'" _ "$o"

# thread counts: an absurd one is refused, one above the cores is capped with a message
o=$($BIN train $TINY --steps 2 --set train.threads=4096 --out "$T/th4096" 2>&1); rc=$?
check threads-absurd-refused "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'train.threads: expected an integer in \[0, 1024\]'" _ "$o"
o=$($BIN train $TINY --steps 2 --threads 1024 --device cpu --out "$T/th1024" 2>&1); rc=$?
check threads-capped-to-cores "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && printf '%s' \"\$1\" | grep -q '1024 threads are more than the [0-9]* cores\\{0,1\\} this process may use; using [0-9]'" _ "$o"

# OpenMP threads spin briefly (3000 iterations) and then sleep, unless the user chose
# otherwise. libgomp reports the settings it took when it was loaded (OMP_DISPLAY_ENV; the last
# report is the restarted program's): its default spins 300000 times, passive waiting 0
spin() { printf '%s\n' "$1" | grep 'GOMP_SPINCOUNT =' | tail -n 1; }
o=$(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose $BIN presets 2>&1 >/dev/null)
check omp-wait-short-spin "libgomp reported: $(spin "$o")" sh -c "[ \"\$1\" = \"  GOMP_SPINCOUNT = '3000'\" ]" _ "$(spin "$o")"
o=$(env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=verbose $BIN presets 2>&1 >/dev/null)
check omp-wait-user-kept "libgomp reported: $(spin "$o")" sh -c "[ \"\$1\" = \"  GOMP_SPINCOUNT = '30000000000'\" ]" _ "$(spin "$o")"

# bench names the BLAS kernel and how the threads wait
o=$(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT $BIN bench --device cpu --threads 1 $TINY --steps 1 --warmup 0 2>&1); rc=$?
check bench-names-kernel "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && printf '%s' \"\$1\" | grep -q '^  backend OpenBLAS kernel [A-Za-z0-9]* .*1 OpenMP thread, waiting: GOMP_SPINCOUNT=3000; OpenBLAS threads 1'" _ "$o"
# ... and which kernel runs the linear layers' products: OpenBLAS where the user asks for it
check bench-names-products "rc=$rc: $o" sh -c "printf '%s' \"\$1\" | grep -q \"; linear layers' products: \(own AVX-512 kernel\|OpenBLAS (this build has no AVX-512)\)\"" _ "$o"
# ... and how attention runs: stored probabilities at a short T, flash from T 512 (auto)
check bench-names-attention "rc=$rc: $o" sh -c "printf '%s' \"\$1\" | grep -q '^  attention stored probabilities'" _ "$o"
# OpenBLAS runs the kernel of the CPU's SIMD level: chosen by itself, or named by normlab
# each timed step is set against the matmul peak sampled beside it: mfu_paired over the 3
# steps, with the samples' median inside their range
o=$($BIN bench --device cpu --threads 1 $TINY --steps 3 --warmup 1 2>&1); rc=$?
pl=$(printf '%s\n' "$o" | sed -n 's/^  mfu_paired \([0-9.]*\) (median over the 3 timed steps of .* which read \([0-9.]*\) GFLOP\/s (\([0-9.]*\)-\([0-9.]*\)))$/\1 \2 \3 \4/p')
check bench-mfu-paired "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && [ -n \"\$1\" ] && echo \"\$1\" | awk '{ exit !(\$1 > 0 && \$3 > 0 && \$3 <= \$2 && \$2 <= \$4) }'" _ "$pl"
# and against the cores' multiply-add issue rate, measured on the thread count asked for:
# mfu_fma is achieved_gflops over it, within the rounding of the three printed figures (2, 2
# and 3 decimals: under the sanitizers both rates are a few GFLOP/s, where 0.005 counts)
fl=$(printf '%s\n' "$o" | awk '$1 == "achieved_gflops" { a = $2 } $1 == "mfu_fma" { m = $2 }
    /^  fma_peak_gflops [0-9.]+ \(measured: 1 thread, each running [0-9]+ independent (AVX-512|AVX2\+FMA|4-wide) multiply-add chains held in registers: / { f = $2 }
    END { if (f != "") print a, f, m }')
check bench-fma-peak "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && [ -n \"\$1\" ] && echo \"\$1\" | awk '{ d = \$1 / \$2 - \$3; t = 6e-4 + \$1 / \$2 * (0.006 / \$1 + 0.006 / \$2); exit !(\$1 > 0 && \$2 > 0 && \$3 > 0 && d < t && d > -t) }'" _ "$fl"
o2=$($BIN bench --device cpu --threads 2 $TINY --steps 1 --warmup 0 2>&1); rc=$?
want="2 threads"; [ "$(getconf _NPROCESSORS_ONLN)" -ge 2 ] || want="1 thread" # capped to the cores
check bench-fma-peak-threads "rc=$rc: $o2" sh -c "[ $rc -eq 0 ] && printf '%s' \"\$1\" | grep -q \"^  fma_peak_gflops [0-9.]* (measured: $want, each running \"" _ "$o2"
# through OPENBLAS_CORETYPE where this OpenBLAS does not know the CPU (and then bench says so)
want='SkylakeX\|Cooperlake\|SapphireRapids'
grep -qw avx512f /proc/cpuinfo || want='Haswell\|Zen\|SkylakeX\|Cooperlake\|SapphireRapids'
grep -qw avx2 /proc/cpuinfo || want='.*'
o=$(env -u OPENBLAS_CORETYPE -u NORMLAB_OPENBLAS_CHOSE $BIN bench --device cpu --threads 1 $TINY --steps 1 --warmup 0 2>&1); rc=$?
check bench-native-kernel "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && printf '%s' \"\$1\" | grep -qi \"^  backend OpenBLAS kernel \($want\) \" && ! printf '%s' \"\$1\" | grep -q 'forces the\|did not recognise this CPU and runs'" _ "$o"
if printf '%s' "$o" | grep -q 'set by normlab'; then
    check bench-native-kernel-named "$o" sh -c "printf '%s' \"\$1\" | grep -q '; OPENBLAS_CORETYPE=[A-Za-z]* set by normlab: OpenBLAS did not recognise this CPU and chose [A-Za-z0-9]*\$'" _ "$(printf '%s' "$o" | grep '^  backend')"
fi
# a kernel forced older than the CPU is warned about and left as asked
if grep -qw avx2 /proc/cpuinfo; then
    o=$(OPENBLAS_CORETYPE=Prescott $BIN bench --device cpu --threads 1 $TINY --steps 1 --warmup 0 2>&1); rc=$?
    check bench-forced-kernel-warned "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && printf '%s' \"\$1\" | grep -q 'OPENBLAS_CORETYPE=Prescott forces the Prescott kernel (SSE)' && ! printf '%s' \"\$1\" | grep -q 'set by normlab'" _ "$o"
fi
o=$($BIN bench --device cpu --threads 1 $TINY --set model.seq_len=512 --set train.batch=1 --steps 1 --warmup 0 2>&1); rc=$?
check bench-attention-flash "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && printf '%s' \"\$1\" | grep -q '^  attention fused, flash'" _ "$o"
# at threads 0 the header names the threads auto ran (one, for a step this small), as the
# backend line does
o=$($BIN bench --device cpu $TINY --set train.threads=0 --steps 1 --warmup 0 2>&1); rc=$?
check bench-auto-threads-header "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && printf '%s' \"\$1\" | grep -q '^bench [a-z0-9-]*: cpu backend (fp32), 1 threads,' && printf '%s' \"\$1\" | grep -q ' 1 OpenMP thread, '" _ "$o"
o=$(NORMLAB_GEMM=blas $BIN bench --device cpu --threads 1 $TINY --steps 1 --warmup 0 2>&1); rc=$?
check bench-products-blas "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && printf '%s' \"\$1\" | grep -q \"; linear layers' products: OpenBLAS (\"" _ "$o"

# bench --race steps a race's runs in lockstep on one backend and says how each run steps
# (plain on the CPU); train.cuda_graphs: on where no step can be captured is refused by name
o=$($BIN bench race --race --device cpu $TINY --steps 2 --warmup 1 2>&1); rc=$?
check bench-race "rc=$rc: $o" sh -c "[ $rc -eq 0 ] && printf '%s' \"\$1\" | grep -q '^  round_ms [0-9]' && [ \$(printf '%s\n' \"\$1\" | grep -c '^  run [a-z]*: step plain (the backend cannot capture') -eq 3 ]" _ "$o"
o=$($BIN bench --race --device cpu $TINY --steps 1 2>&1); rc=$?
check bench-race-no-runs "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'has no runs: list'" _ "$o"
o=$($BIN train --device cpu $TINY --steps 1 --set train.cuda_graphs=on --out "$T/graphs" --quiet 2>&1); rc=$?
check cuda-graphs-on-cpu "rc=$rc: $o" sh -c "[ $rc -eq 2 ] && printf '%s' \"\$1\" | grep -q 'train.cuda_graphs: on, but the backend cannot capture a step'" _ "$o"

# the ETA after --resume comes from the steps taken since, not from the step count. At a
# steady pace the ETAs shown at steps 320 and 400 (20 and 100 steps after resuming at 300,
# 10^8 to go) are about equal; counted from step 0 they would differ about fourfold.
$BIN train $TINY --steps 300 --set train.eval_every=0 --out "$T/eta" --quiet 2>/dev/null
$BIN train --resume "$T/eta/ckpt-300.nlck" --steps 100000000 --set train.log_every=20 2>"$T/eta.err" &
pid=$!
i=0
while [ $i -lt 300 ] && ! grep -q '^step 400/' "$T/eta.err" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid
wait $pid
secs() { grep "^step $1/" "$T/eta.err" | awk '{ n = split($NF, p, ":"); e = 0; for (i = 1; i <= n; i++) e = e * 60 + p[i]; print e }'; }
a=$(secs 320); b=$(secs 400)
check eta-after-resume "ETA at step 320: ${a:-none} s, at 400: ${b:-none} s" sh -c "[ -n '$a' ] && [ -n '$b' ] && awk 'BEGIN { r = $a / $b; exit !(r > 0.5 && r < 2) }'"

# a race interrupted while its first run ends stops there with 130, not 0 and not silently
cat > "$T/race.yaml" <<'YAML'
name: race2
model: {layers: 1, d_model: 16, heads: 2, seq_len: 8}
train: {steps: 3, batch: 2, eval_every: 0, eval_batches: 60000, threads: 1}
data: {source: markov, vocab: 16}
runs:
  - name: a
    set: {model.placement: pre}
  - name: b
    set: {model.placement: post}
YAML
$BIN train "$T/race.yaml" --out "$T/race" 2>"$T/race.err" &
pid=$!
i=0
while [ $i -lt 200 ] && ! grep -q '^step 3/3' "$T/race.err" 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
kill -INT $pid
wait $pid; rc=$?
check race-sigint "rc=$rc: $(cat "$T/race.err")" sh -c "[ $rc -eq 130 ] && grep -q 'interrupted' '$T/race.err' && [ ! -e '$T/race/b/metrics.csv' ]"
