#!/bin/sh
# A report as a reader sees it: a tiny race trained here, its report opened in headless
# Chromium (Debian's `chromium`) and screenshotted, and the PNG checked: not blank (enough
# ink, and each run's curve colour present), where the same check on a blank page's
# screenshot must say blank. Also: one SVG curve path per run in the loss plot. Skipped with
# the reason where chromium (or python3, which decodes the PNG) is missing.
# Prints PASS/FAIL/SKIP lines for tests/run.sh. KEEP=1 keeps the files (the screenshot).
cd "$(dirname "$0")/../.." || exit 2
BIN=${NORMLAB_BIN:-./normlab}
export LC_ALL=C

CHROMIUM=$(command -v chromium || command -v chromium-browser)
if [ -z "$CHROMIUM" ]; then
    echo "SKIP report_chromium: chromium is not installed (Debian: apt-get install chromium)"
    exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP report_chromium: python3 is not installed (it decodes the screenshot)"
    exit 0
fi
T=$(mktemp -d /tmp/nl_report_chromium.XXXXXX) || exit 2
[ -n "$KEEP" ] && echo "report_chromium: files in $T" >&2
[ -n "$KEEP" ] || trap 'rm -rf "$T"' EXIT

pass() { echo "PASS report_chromium/$1"; }
fail() { echo "FAIL report_chromium/$1: $2"; }

TINY="--set model.layers=3 --set model.d_model=32 --set model.heads=2 --set model.seq_len=16
      --set train.batch=4 --set train.eval_every=5 --set train.eval_batches=1 --set train.threads=1"
# shellcheck disable=SC2086
if ! "$BIN" train race --steps 20 $TINY --out "$T/race" --quiet >"$T/train.log" 2>&1; then
    fail train "normlab train race failed: $(tail -n 3 "$T/train.log")"
    exit 1
fi
if ! "$BIN" report "$T/race" -o "$T/report.html" >"$T/report.log" 2>&1; then
    fail report "normlab report failed: $(cat "$T/report.log")"
    exit 1
fi
curves=$(awk 'index($0, "<svg id=\"loss-plot\"") { on = 1 } on { print } on && /<\/svg>/ { exit }' \
    "$T/report.html" | grep -o '<path class="curve"' | wc -l)
[ "$curves" -eq 3 ] && pass one_path_per_run || fail one_path_per_run "$curves curve paths for 3 runs"

printf '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body></body></html>\n' >"$T/blank.html"

# shot HTML PNG: a 1100x2200 screenshot (the top of the page: title, runs, loss, heatmaps)
shot() {
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --no-first-run --disable-extensions --hide-scrollbars --user-data-dir="$T/profile" \
        --window-size=1100,2200 --screenshot="$2" "file://$1" >"$T/chromium.log" 2>&1
    [ -s "$2" ]
}

# ink PNG: prints "W H non_white_fraction count(colour)..." for the three first run colours
cat >"$T/ink.py" <<'EOF'
import struct, sys, zlib

def pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit("not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise SystemExit("unsupported PNG: depth %d colour type %d" % (depth, ctype))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, bpp, rows

w, h, bpp, rows = pixels(sys.argv[1])
want = [(0x00, 0x72, 0xB2), (0xD5, 0x5E, 0x00), (0x00, 0x9E, 0x73)]
ink, near = 0, [0] * len(want)
for line in rows:
    for x in range(0, w * bpp, bpp):
        r, g, b = line[x], line[x + 1], line[x + 2]
        if r < 235 or g < 235 or b < 235:
            ink += 1
            for k, (R, G, B) in enumerate(want):
                if abs(r - R) + abs(g - G) + abs(b - B) < 60:
                    near[k] += 1
print(w, h, "%.5f" % (ink / float(w * h)), *near)
EOF

if ! shot "$T/blank.html" "$T/blank.png"; then
    fail screenshot "chromium made no screenshot of a blank page: $(tail -n 3 "$T/chromium.log")"
    exit 1
fi
if ! shot "$T/report.html" "$T/report.png"; then
    fail screenshot "chromium made no screenshot of the report: $(tail -n 3 "$T/chromium.log")"
    exit 1
fi
pass screenshot

# the checker says blank for a blank page (so it can fail) ...
set -- $(python3 "$T/ink.py" "$T/blank.png" 2>&1)
if [ "$#" -ge 3 ] && awk -v f="$3" 'BEGIN { exit !(f < 0.001) }'; then
    pass checker_sees_blank
else
    fail checker_sees_blank "a blank page read as: $*"
fi
# ... and not for the report: ink over several percent of the page, every run's colour drawn
set -- $(python3 "$T/ink.py" "$T/report.png" 2>&1)
if [ "$#" -eq 6 ] && awk -v f="$3" 'BEGIN { exit !(f > 0.03) }' && [ "$4" -gt 40 ] &&
    [ "$5" -gt 40 ] && [ "$6" -gt 40 ]; then
    pass not_blank
else
    fail not_blank "width height ink-fraction and pixels of the 3 run colours: $*"
fi
