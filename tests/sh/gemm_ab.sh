#!/bin/sh
# `make gemm-ab`'s harness (bench/gemm_ab.c): the repository's product kernel against itself
# gives identical C for every shape, the twelve products' lines and the rounds' speedup; a
# variant that sums k in other blocks (KC 96, not 256) is caught: C differs, exit 1.
# Skips with the reason where the kernel is not in this build (no AVX-512).
T=$(mktemp -d /tmp/normlab-gemmab.XXXXXX)
trap 'rm -rf "$T"' EXIT
small="--rounds 1 --d 32 --tokens 64 --vocab 32"
build() { # variant: the harness built into $T/b/bench/gemm_ab
    rm -rf "$T/b"
    make -s gemm-ab-build B="$T/b" VARIANT="$1" >"$T/make.out" 2>&1 ||
        { echo "FAIL gemm_ab/build: $(tail -n 5 "$T/make.out")"; exit 0; }
}
build kernels/cpu/gemm.c
out=$("$T/b/bench/gemm_ab" $small 2>&1); rc=$?
case $out in
    *"does not take this product"*)
        why=$(printf '%s\n' "$out" | grep 'does not take' | head -n 1)
        echo "SKIP gemm_ab: ${why#gemm_ab: }"
        exit 0 ;;
esac
if [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q '^C identical for every shape$' &&
    [ "$(printf '%s\n' "$out" | grep -cE '^(fwd|dX|dW) [a-z]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+$')" -eq 12 ] &&
    printf '%s\n' "$out" | grep -qE '^all: speedup [0-9.]+ \([0-9.]+-[0-9.]+\), median \(min-max\) of 1 rounds$'; then
    echo "PASS gemm_ab/same"
else
    echo "FAIL gemm_ab/same: exit $rc: $out"
fi
# a bad option is refused, named, with its bounds
out=$("$T/b/bench/gemm_ab" --d 8 2>&1); rc=$?
case "$rc:$out" in
    "2:gemm_ab: --d 8: want a whole number from 16 to 4096") echo "PASS gemm_ab/bad-option" ;;
    *) echo "FAIL gemm_ab/bad-option: exit $rc: $out" ;;
esac
sed 's/KC = 256,/KC = 96,/' kernels/cpu/gemm.c >"$T/var.c"
if ! grep -q 'KC = 96,' "$T/var.c"; then
    echo "FAIL gemm_ab/differs: gemm.c has no 'KC = 256,' to change"
    exit 0
fi
build "$T/var.c"
out=$("$T/b/bench/gemm_ab" $small 2>&1); rc=$?
if [ "$rc" -eq 1 ] && printf '%s\n' "$out" | grep -qE '^fwd down +C differs in [0-9]+ of 2048 elements' &&
    ! printf '%s\n' "$out" | grep -q '^dW.*differs'; then
    echo "PASS gemm_ab/differs"
else
    echo "FAIL gemm_ab/differs: exit $rc: $out"
fi
