#include "heatmap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

static const char density[] = " .:-=+*#%@";

int heat_level(double v, double lo, double hi)
{
    if (!(v > 0) || !isfinite(v))
        return -1;
    if (!(hi > lo) || !(lo > 0))
        return UI_HEAT_LEVELS / 2;
    double t = (log(v) - log(lo)) / (log(hi) - log(lo));
    int k = (int)floor(t * UI_HEAT_LEVELS);
    if (k < 0)
        k = 0;
    if (k >= UI_HEAT_LEVELS)
        k = UI_HEAT_LEVELS - 1;
    return k;
}

wchar_t heat_glyph(int level, ui_glyphs glyphs, int mono)
{
    if (level < 0)
        return L' ';
    if (mono) {
        /* skip the blank: a value must show */
        int n = (int)sizeof density - 2;
        return (wchar_t)density[1 + level * n / UI_HEAT_LEVELS];
    }
    return glyphs == UI_GLYPH_ASCII ? L'#' : L'█';
}

int heat_vanished(double v, double ref)
{
    if (!isfinite(v) || v < 0)
        return 0;
    return v == 0 || (isfinite(ref) && v < UI_VANISHED_REL * ref);
}

int heat_range(const float *v, int n, double *lo, double *hi)
{
    double a = INFINITY, b = 0;
    for (int i = 0; i < n; i++) {
        if (!(v[i] > 0) || !isfinite(v[i]))
            continue;
        if (v[i] < a)
            a = v[i];
        if (v[i] > b)
            b = v[i];
    }
    if (!isfinite(a))
        return 0;
    *lo = a;
    *hi = b;
    return 1;
}

/* The largest finite value of v (n of them), NAN when none. */
static double max_of(const float *v, int n, int stride)
{
    double m = NAN;
    for (int i = 0; i < n; i++) {
        float x = v[(size_t)i * stride];
        if (isfinite(x) && !(m >= x))
            m = x;
    }
    return m;
}

int heat_range_live(const float *v, int n, double *lo, double *hi)
{
    double ref = max_of(v, n, 1), a = INFINITY, b = 0;
    for (int i = 0; i < n; i++) {
        if (!(v[i] > 0) || !isfinite(v[i]) || heat_vanished(v[i], ref))
            continue;
        a = fmin(a, v[i]);
        b = fmax(b, v[i]);
    }
    if (!isfinite(a))
        return 0;
    *lo = a;
    *hi = b;
    return 1;
}

int heatmap_range(const heatmap_spec *s, double *lo, double *hi)
{
    if (!s->vanish)
        return heat_range(s->v, s->rows * s->cols, lo, hi);
    double a = INFINITY, b = 0;
    for (int c = 0; c < s->cols; c++) {
        double ref = max_of(s->v + c, s->rows, s->cols);
        for (int r = 0; r < s->rows; r++) {
            float x = s->v[(size_t)r * s->cols + c];
            if (!(x > 0) || !isfinite(x) || heat_vanished(x, ref))
                continue;
            a = fmin(a, x);
            b = fmax(b, x);
        }
    }
    if (!isfinite(a))
        return 0;
    *lo = a;
    *hi = b;
    return 1;
}

void heat_snap(double *lo, double *hi)
{
    *lo = pow(10, floor(log10(*lo) * 4 + 1e-9) / 4);
    *hi = pow(10, ceil(log10(*hi) * 4 - 1e-9) / 4);
}

/* Output cell (row, col) of an (H, W) resampling of s: the max of the cells of v that fall
 * in it (NAN when none has a value; 0 and negatives count, so a column of zeros is 0), and
 * in *ref the largest value of those columns over every row, what vanishing is judged by. */
static float cell_value(const heatmap_spec *s, int row, int col, int H, int W, float *ref)
{
    int r0 = row * s->rows / H, r1 = (row + 1) * s->rows / H;
    int c0 = col * s->cols / W, c1 = (col + 1) * s->cols / W;
    if (r1 <= r0)
        r1 = r0 + 1;
    if (c1 <= c0)
        c1 = c0 + 1;
    float m = NAN;
    *ref = NAN;
    for (int c = c0; c < c1 && c < s->cols; c++) {
        for (int r = r0; r < r1 && r < s->rows; r++) {
            float v = s->v[(size_t)r * s->cols + c];
            if (isfinite(v) && !(m >= v))
                m = v;
        }
        float cm = (float)max_of(s->v + c, s->rows, s->cols);
        if (isfinite(cm) && !(*ref >= cm))
            *ref = cm;
    }
    return m;
}

/* The glyph of a vanished cell: a cross, which no level of the ramp uses. */
static wchar_t vanished_glyph(ui_glyphs glyphs)
{
    return glyphs == UI_GLYPH_ASCII ? L'x' : L'\u00d7';
}

void heatmap_draw(ui_grid *g, ui_rect r, const heatmap_spec *s)
{
    int scale = s->scale ? 1 : 0;
    int H = r.h - scale;
    if (H < 1 || r.w < 8 || s->rows < 1 || s->cols < 1) {
        grid_text(g, r.x, r.y, r.w, ROLE_DIM, 0, "waiting for data");
        return;
    }
    if (H >= s->rows)
        H = H / s->rows * s->rows; /* whole rows per layer */
    char lab[16];
    snprintf(lab, sizeof lab, "%s%d", s->row_prefix ? s->row_prefix : "", s->rows - 1);
    int lw = (int)strlen(lab) + 1;
    int W = r.w - lw;
    double lo = 1, hi = 1;
    int any = heatmap_range(s, &lo, &hi), vanished = 0;
    if (any && s->snap)
        heat_snap(&lo, &hi);
    int prev_layer = -1;
    for (int row = 0; row < H; row++) {
        int layer = row * s->rows / H;
        if (layer != prev_layer) {
            snprintf(lab, sizeof lab, "%s%d", s->row_prefix ? s->row_prefix : "", layer);
            grid_text(g, r.x, r.y + row, lw - 1, ROLE_AXIS, 0, lab);
        }
        prev_layer = layer;
        for (int col = 0; col < W; col++) {
            float ref, v = cell_value(s, row, col, H, W, &ref);
            if (s->vanish && heat_vanished(v, ref)) {
                grid_put(g, r.x + lw + col, r.y + row, vanished_glyph(s->glyphs), ROLE_VANISHED, 0);
                vanished = 1;
                continue;
            }
            int k = any ? heat_level(v, lo, hi) : -1;
            if (k < 0)
                continue;
            grid_put(g, r.x + lw + col, r.y + row, heat_glyph(k, s->glyphs, s->mono),
                     ROLE_HEAT0 + k, 0);
        }
    }
    if (!any && !vanished)
        grid_text(g, r.x + lw, r.y, W, ROLE_DIM, 0, "waiting for data");
    if (scale && (any || vanished)) {
        int y = r.y + H, x = r.x + lw, end = r.x + r.w;
        if (any) {
            char a[24], b[24];
            plot_fmt_value(lo, a, sizeof a);
            plot_fmt_value(hi, b, sizeof b);
            x += grid_text(g, x, y, end - x, ROLE_AXIS, 0, a) + 1;
            for (int k = 0; k < UI_HEAT_LEVELS && x < end; k++, x++)
                grid_put(g, x, y, heat_glyph(k, s->glyphs, s->mono), ROLE_HEAT0 + k, 0);
            grid_put(g, x, y, L' ', ROLE_NORMAL, 0);
            x += 1 + grid_text(g, x + 1, y, end - x - 1, ROLE_AXIS, 0, b) + 2;
        }
        if (vanished && x + 10 <= end) {
            grid_put(g, x, y, vanished_glyph(s->glyphs), ROLE_VANISHED, 0);
            grid_text(g, x + 2, y, end - x - 2, ROLE_AXIS, 0, "vanished");
        }
    }
}
