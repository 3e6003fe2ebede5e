#!/bin/sh
# Command-line rough edges a new user hits first: a mistyped command is named as one, the
# lab takes --set, --help lists the lab's options, --device gpu suggests cuda, a number too
# large for a float is out of range, and `watch` takes a run's file for its directory.
BIN=${NORMLAB_BIN:-./normlab}
T=$(mktemp -d "${TMPDIR:-/tmp}/normlab-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
failed=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failed=1; }

out=$($BIN trian 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "did you mean \`normlab train\`" && pass cli_mistyped_command ||
    fail cli_mistyped_command "rc $rc: $out"
out=$($BIN train --device gpu --steps 1 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "did you mean 'cuda'" && pass cli_device_gpu || fail cli_device_gpu "rc $rc: $out"
out=$($BIN train --set train.lr=1e400 --steps 1 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q "train.lr: '1e400' is out of range" && ! echo "$out" | grep -q 'expected a number' &&
    pass cli_float_range || fail cli_float_range "rc $rc: $out"
# the lab parses --set (a bad value is named; a good one gets as far as needing a terminal)
out=$($BIN --set model.layers=x < /dev/null 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q 'model.layers: expected an integer' && pass cli_lab_set_bad || fail cli_lab_set_bad "rc $rc: $out"
out=$($BIN --set model.layers=3 < /dev/null 2>&1); rc=$?
echo "$out" | grep -q 'a terminal is needed' && pass cli_lab_set_good || fail cli_lab_set_good "rc $rc: $out"
out=$($BIN --help)
for opt in --ascii --no-color --glyphs --colors --refresh --out --set; do
    echo "$out" | grep -q -- "$opt" || { fail cli_help_lab_flags "--help lacks $opt"; opt=missing; break; }
done
[ "$opt" != missing ] && pass cli_help_lab_flags
# watch on a run's metrics.csv watches its directory
if $BIN train --set model.layers=1 --set model.d_model=16 --set model.heads=2 --set model.seq_len=16 \
    --set train.batch=1 --steps 2 --quiet --out "$T/r1" > "$T/train.log" 2>&1; then
    out=$($BIN watch "$T/r1/metrics.csv" < /dev/null 2>&1); rc=$?
    echo "$out" | grep -q 'a terminal is needed' && ! echo "$out" | grep -q 'no such run directory' &&
        pass cli_watch_file || fail cli_watch_file "rc $rc: $out"
    out=$($BIN watch "$T/train.log" < /dev/null 2>&1); rc=$?
    [ $rc = 2 ] && echo "$out" | grep -q 'is not a run directory' && pass cli_watch_other_file ||
        fail cli_watch_other_file "rc $rc: $out"
else
    fail cli_watch_file "train failed: $(tail -n 2 "$T/train.log")"
fi
exit $failed
