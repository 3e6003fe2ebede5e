#include "bars.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "heatmap.h"
#include "plot.h"

static const wchar_t eighths[9] = {L' ', L'▁', L'▂', L'▃', L'▄', L'▅', L'▆', L'▇', L'█'};

/* The top row: "0..HI" (or "LO..HI log"), the vanished count, and max/min of the rest. */
static void bars_header(ui_grid *g, ui_rect r, const bars_spec *s, double lo, double hi,
                        double min_live, int nvanished)
{
    char a[24], b[24], buf[96];
    plot_fmt_value(s->logv ? lo : 0, a, sizeof a);
    plot_fmt_value(hi, b, sizeof b);
    snprintf(buf, sizeof buf, "%s..%s%s", a, b, s->logv ? " log" : "");
    int x = r.x + grid_text(g, r.x, r.y, r.w, ROLE_AXIS, 0, buf);
    if (nvanished > 0 && x + 4 < r.x + r.w) {
        grid_put(g, x + 2, r.y, s->glyphs == UI_GLYPH_ASCII ? L'x' : L'\u00d7', ROLE_VANISHED, 0);
        snprintf(buf, sizeof buf, "%d vanished", nvanished);
        x += 4 + grid_text(g, x + 4, r.y, r.x + r.w - x - 4, ROLE_AXIS, 0, buf);
    }
    if (min_live > 0 && hi > 0 && isfinite(min_live)) {
        plot_fmt_value(hi / min_live, a, sizeof a);
        snprintf(buf, sizeof buf, "  max/min %s\u00d7", a);
        grid_text(g, x, r.y, r.x + r.w - x, ROLE_AXIS, 0, buf);
    }
}

/* The range of the values: [lo, hi] over the finite ones (positive on a log scale), the
 * log scale spanning only what has not vanished. Returns 0 when there is none. */
static int bars_range(const bars_spec *s, double *lo, double *hi, double *min_live, int *nvanished)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < s->n; i++) {
        double v = s->v[i];
        if (!isfinite(v) || (s->logv && v <= 0))
            continue;
        if (v < *lo)
            *lo = v;
        if (v > *hi)
            *hi = v;
    }
    if (!isfinite(*lo))
        return 0;
    /* the smallest value that has not vanished, and how many have */
    *min_live = INFINITY;
    *nvanished = 0;
    for (int i = 0; i < s->n; i++) {
        double v = s->v[i];
        if (!isfinite(v))
            continue;
        if (s->vanish && heat_vanished(v, *hi))
            (*nvanished)++;
        else if (v > 0 && v < *min_live)
            *min_live = v;
    }
    if (s->logv && s->vanish && isfinite(*min_live))
        *lo = *min_live; /* the log scale spans what is alive */
    return 1;
}

/* One bar of value v, bw cells wide at x, rising from the row above base, H rows at most. */
static void bars_one(ui_grid *g, const bars_spec *s, double v, int x, int bw, int base, int H,
                     double lo, double hi)
{
    if (s->vanish && heat_vanished(v, hi)) {
        for (int c = 0; c < bw; c++)
            grid_put(g, x + c, base - 1, s->glyphs == UI_GLYPH_ASCII ? L'x' : L'\u00d7',
                     ROLE_VANISHED, 0);
        return;
    }
    double t;
    if (s->logv)
        t = v > 0 ? (hi > lo ? 0.1 + 0.9 * (log(v) - log(lo)) / (log(hi) - log(lo)) : 1) : 0;
    else
        t = hi > 0 ? v / hi : 0;
    if (t < 0)
        t = 0;
    int eighth = (int)lround(t * H * 8);
    if (eighth < 1 && v > 0)
        eighth = 1;
    int role = s->role;
    if (s->heat) {
        int lev = heat_level(v, s->heat_lo, s->heat_hi);
        if (lev >= 0)
            role = ROLE_HEAT0 + lev;
    }
    for (int row = 0; row < H; row++) {
        int fill = eighth - row * 8;
        if (fill <= 0)
            break;
        wchar_t ch;
        if (s->glyphs == UI_GLYPH_ASCII)
            ch = fill >= 4 ? L'#' : L'_';
        else
            ch = eighths[fill > 8 ? 8 : fill];
        for (int c = 0; c < bw; c++)
            grid_put(g, x + c, base - 1 - row, ch, role, 0);
    }
}

void bars_draw(ui_grid *g, ui_rect r, const bars_spec *s)
{
    if (r.h < 3 || r.w < 4 || s->n < 1)
        return;
    double lo, hi, min_live;
    int nvanished;
    if (!bars_range(s, &lo, &hi, &min_live, &nvanished)) {
        grid_text(g, r.x, r.y, r.w, ROLE_DIM, 0, "waiting for data");
        return;
    }
    /* top row: the range; bottom row: indices; bars in between */
    int H = r.h - 2, base = r.y + 1 + H;
    char buf[64];
    bars_header(g, r, s, lo, hi, min_live, nvanished);
    int per = r.w / s->n; /* cells per bar */
    int n = s->n, group = 1;
    if (per < 1) {
        group = (s->n + r.w - 1) / r.w;
        n = (s->n + group - 1) / group;
        per = 1;
    }
    int bw = per > 2 ? per - 1 : per; /* a gap between wide bars */
    snprintf(buf, sizeof buf, "%d", (n - 1) * group);
    int lstep = ((int)strlen(buf) + 1 + per - 1) / per; /* bars between index labels */
    for (int i = 0; i < n; i++) {
        double v = NAN;
        for (int k = i * group; k < (i + 1) * group && k < s->n; k++)
            if (isfinite(s->v[k]) && !(v >= s->v[k]))
                v = s->v[k];
        int x = r.x + i * per;
        if (i % lstep == 0) {
            snprintf(buf, sizeof buf, "%d", i * group);
            if (x + (int)strlen(buf) <= r.x + r.w)
                grid_text(g, x, base, (int)strlen(buf), ROLE_AXIS, 0, buf);
        }
        if (isfinite(v))
            bars_one(g, s, v, x, bw, base, H, lo, hi);
    }
}
