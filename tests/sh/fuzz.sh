#!/bin/sh
# The libFuzzer harnesses (tests/fuzz/): where clang with libFuzzer is installed, build them,
# replay every committed regression input and seed, then fuzz each for a few seconds
# (NORMLAB_FUZZ_S, default 3). Elsewhere one SKIP line says why.
cd "$(dirname "$0")/../.." || exit 2
MAKE=${NORMLAB_MAKE:-make}
S=${NORMLAB_FUZZ_S:-3}
NAMES="preset ckpt data safetensors tail"
CC=${FUZZ_CC:-clang}
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "SKIP fuzz: $CC not found (the harnesses need clang with libFuzzer)"
    exit 0
fi
probe=$(mktemp -d /tmp/normlab-fuzzprobe.XXXXXX)
trap 'rm -rf "$probe"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n' > "$probe/p.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >"$probe/log" 2>&1; then
    echo "SKIP fuzz: $CC cannot link -fsanitize=fuzzer ($(head -1 "$probe/log"))"
    exit 0
fi
if ! $MAKE -s fuzz-build FUZZ_CC="$CC" >"$probe/build" 2>&1; then
    echo "FAIL fuzz/build: $(tail -5 "$probe/build")"
    exit 1
fi
for name in $NAMES; do
    bin=build/fuzz/fuzz_$name
    # every committed input, once each: a crash found earlier stays fixed
    files=$(find tests/fuzz/corpus/$name tests/fuzz/regress/$name -type f 2>/dev/null)
    if [ -n "$files" ]; then
        if "$bin" $files >"$probe/replay" 2>&1; then
            echo "PASS fuzz/$name-replay ($(echo "$files" | wc -l) inputs)"
        else
            echo "FAIL fuzz/$name-replay: $(grep -m1 -E 'ERROR|invariant|runtime error' "$probe/replay")"
        fi
    fi
    out=$(FUZZ_S=$S sh tests/fuzz/run.sh "$name" 2>&1)
    if [ $? -eq 0 ]; then
        echo "PASS fuzz/$name: $(echo "$out" | head -1 | sed 's/^fuzz *//')"
    else
        echo "FAIL fuzz/$name: $(echo "$out" | tr '\n' ' ')"
    fi
done
