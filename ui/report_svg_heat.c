/* `normlab report`: the heatmaps, as inline SVG; they share one log colour scale, drawn from a
 * perceptually uniform dark-to-light ramp (report_svg.c has the plots). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"
#include "report_svg_internal.h"

/* ---- heatmaps ---- */

#define HEAT_LEVELS 32
#define HEAT_VANISHED_REL 1e-6 /* as the dashboard (ui/heatmap.h) */
#define HEAT_MAX_COLS 240

/* A dark-to-light ramp (blue-violet, teal, green, yellow): lightness rises with the level,
 * so it reads in greyscale too. */
static void heat_colour(int level, char out[8])
{
    static const unsigned char stops[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},
                                              {44, 113, 142}, {33, 144, 141}, {39, 173, 129},
                                              {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
    double t = (double)level / (HEAT_LEVELS - 1) * 8;
    int i = (int)t;
    if (i > 7)
        i = 7;
    double f = t - i;
    int rgb[3];
    for (int k = 0; k < 3; k++)
        rgb[k] = (int)lround(stops[i][k] + f * (stops[i + 1][k] - stops[i][k]));
    snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

static int heat_level_of(double v, double lo, double hi)
{
    double t = (log10(v) - log10(lo)) / (log10(hi) - log10(lo));
    int k = (int)floor(t * HEAT_LEVELS);
    return k < 0 ? 0 : k >= HEAT_LEVELS ? HEAT_LEVELS - 1 : k;
}

static int vanished(double v, double col_max)
{
    return v == 0 || (isfinite(v) && col_max > 0 && v < HEAT_VANISHED_REL * col_max);
}

int rp_heat_range(rp_run *const *runs, int n, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int k = 0; k < n; k++) {
        const rp_run *r = runs[k];
        size_t L = (size_t)r->layers;
        for (int64_t i = 0; i < r->n; i++) {
            const float *rows[2] = {r->gn_attn + (size_t)i * L, r->gn_ffn + (size_t)i * L};
            for (int t = 0; t < 2; t++) {
                double mx = 0;
                for (size_t l = 0; l < L; l++)
                    if (isfinite(rows[t][l]))
                        mx = fmax(mx, rows[t][l]);
                for (size_t l = 0; l < L; l++) {
                    double v = rows[t][l];
                    if (isfinite(v) && v > 0 && !vanished(v, mx)) {
                        *lo = fmin(*lo, v);
                        *hi = fmax(*hi, v);
                    }
                }
            }
        }
    }
    if (!(*hi >= *lo))
        return 0;
    /* out to quarter decades, so the scale's ends are round */
    *lo = pow(10, floor(log10(*lo) * 4) / 4);
    *hi = pow(10, ceil(log10(*hi) * 4) / 4);
    if (*hi <= *lo)
        *hi = *lo * pow(10, 0.25);
    return 1;
}

#define HEAT_PANEL_W 380
#define HEAT_LEFT 44
#define HEAT_GAP 40
#define HEAT_TOP 30
#define HEAT_BOTTOM 44

/* One panel: v is (n, L) row-major; the panel's columns are buckets of consecutive steps. */
/* The cells of a panel: each bucket's maximum per layer (a spike is never averaged away) of
 * v (n steps, L layers) into cell (cols, L): 0 where every value of the bucket has vanished,
 * NAN where it has none. Returns -1 when out of memory. */
static int heat_cells(const float *v, int64_t n, int L, int cols, float *cell)
{
    double *step_max = malloc((size_t)n * sizeof *step_max); /* each step's largest value */
    if (!step_max)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        const float *row = v + (size_t)i * (size_t)L;
        step_max[i] = 0;
        for (int k = 0; k < L; k++)
            if (isfinite(row[k]))
                step_max[i] = fmax(step_max[i], row[k]);
    }
    for (int c = 0; c < cols; c++) {
        int64_t a = (int64_t)c * n / cols, e = (int64_t)(c + 1) * n / cols;
        for (int l = 0; l < L; l++) {
            double mx = NAN;
            int van = 0, live = 0;
            for (int64_t i = a; i < e; i++) {
                double x = v[(size_t)i * (size_t)L + (size_t)l];
                if (!isfinite(x))
                    continue;
                if (vanished(x, step_max[i])) {
                    van = 1;
                } else {
                    live = 1;
                    mx = isnan(mx) ? x : fmax(mx, x);
                }
            }
            cell[(size_t)c * L + l] = live ? (float)mx : van ? 0.0f : NAN;
        }
    }
    free(step_max);
    return 0;
}

/* The colour level of a cell: -2 none, -1 vanished, else 0..HEAT_LEVELS-1. */
static int cell_level(float x, double lo, double hi)
{
    return isnan(x) ? -2 : x == 0 ? -1 : heat_level_of(x, lo, hi);
}

/* The cells drawn: runs of one level along a row merged into one rect, one path per colour
 * level in cell units under a scale (a cell is "Mc lh1v1h-1z"), so a long run's heatmap
 * stays small; vanished cells in page units, so the hatch is not stretched. */
static void heat_paths(rp_buf *b, const float *cell, int L, int cols, double lo, double hi,
                       double px, double py, double cw, double cell_h)
{
    rp_buf level_d[HEAT_LEVELS];
    rp_buf vanished_d = {0};
    memset(level_d, 0, sizeof level_d);
    for (int l = 0; l < L; l++) {
        for (int c = 0; c < cols;) {
            int level = cell_level(cell[(size_t)c * L + l], lo, hi), c2 = c + 1;
            while (c2 < cols && cell_level(cell[(size_t)c2 * L + l], lo, hi) == level)
                c2++;
            if (level >= 0)
                rp_printf(&level_d[level], "M%d %dh%dv1h-%dz", c, l, c2 - c, c2 - c);
            else if (level == -1)
                rp_printf(&vanished_d, "M%.2f %.2fh%.2fv%.2fh-%.2fz", px + c * cw, py + l * cell_h,
                          (c2 - c) * cw, cell_h, (c2 - c) * cw);
            c = c2;
        }
    }
    rp_printf(b,
              "<g class=\"cells\" shape-rendering=\"crispEdges\" transform=\"translate(%.2f "
              "%.2f) scale(%.5f %.5f)\">",
              px, py, cw, cell_h);
    for (int k = 0; k < HEAT_LEVELS; k++) {
        if (level_d[k].n) {
            char col[8];
            heat_colour(k, col);
            rp_printf(b, "<path fill=\"%s\" d=\"", col);
            rp_puts(b, level_d[k].p);
            rp_puts(b, "\"/>");
        }
        b->oom |= level_d[k].oom;
        rp_buf_free(&level_d[k]);
    }
    rp_puts(b, "</g>\n");
    if (vanished_d.n) {
        rp_puts(b, "<path class=\"vanished\" fill=\"url(#vanished-hatch)\" d=\"");
        rp_puts(b, vanished_d.p);
        rp_puts(b, "\"/>\n");
    }
    b->oom |= vanished_d.oom;
    rp_buf_free(&vanished_d);
}

/* The layer labels (every k-th, L0 on top), the step ticks and the axis label. */
static void heat_ticks(rp_buf *b, const rp_run *r, double px, double py, double pw, double cell_h)
{
    int L = r->layers;
    int64_t n = r->n;
    double ph = cell_h * L;
    int every = L > 16 ? (L + 15) / 16 : 1;
    rp_puts(b, "<g class=\"ticks\">");
    for (int l = 0; l < L; l += every)
        rp_printf(b, "<text x=\"%.1f\" y=\"%.1f\" dy=\"0.35em\" text-anchor=\"end\">L%d</text>",
                  px - 6, py + (l + 0.5) * cell_h, l);
    axis ax;
    double first = (double)r->step[0], last = (double)r->step[n - 1];
    rp_axis_linear(&ax, first, last > first ? last : first + 1, 5, 1, 1);
    char lab[48];
    for (int i = 0; i < ax.n_ticks; i++) {
        double t = ax.ticks[i];
        if (t < first || t > last + 1e-9)
            continue;
        /* the column holding step t: columns span [first, last] evenly by row index */
        double f = last > first ? (t - first) / (last - first) : 0;
        double x = px + (f * (n - 1) + 0.5) / n * pw;
        rp_tick_label(lab, sizeof lab, &ax, t);
        rp_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, py + ph, x,
                  py + ph + 4);
        rp_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>", x,
                  py + ph + 17, lab);
    }
    rp_puts(b, "</g>\n");
    rp_printf(b,
              "<text class=\"alabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">step</text>\n",
              px + pw / 2, py + ph + 36);
}

static void heat_panel(rp_buf *b, const rp_run *r, const float *v, const char *what, double px,
                       double py, double cell_h, double lo, double hi)
{
    int L = r->layers;
    int64_t n = r->n;
    int cols = n < HEAT_MAX_COLS ? (int)n : HEAT_MAX_COLS;
    double pw = HEAT_PANEL_W, ph = cell_h * L, cw = pw / cols;
    rp_printf(b, "<text class=\"ptitle\" x=\"%.1f\" y=\"%.1f\">", px, py - 10);
    rp_html(b, what);
    rp_puts(b, "</text>\n");
    rp_printf(b, "<rect class=\"heatbg\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
              px, py, pw, ph);
    float *cell = malloc((size_t)cols * (size_t)L * sizeof *cell);
    if (!cell || heat_cells(v, n, L, cols, cell)) {
        free(cell);
        return;
    }
    heat_paths(b, cell, L, cols, lo, hi, px, py, cw, cell_h);
    free(cell);
    rp_printf(b, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
              px, py, pw, ph);
    heat_ticks(b, r, px, py, pw, cell_h);
}

static void hatch_def(rp_buf *b)
{
    rp_puts(b, "<defs><pattern id=\"vanished-hatch\" width=\"6\" height=\"6\" "
               "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
               "<rect width=\"6\" height=\"6\" fill=\"#ffffff\"/>"
               "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#c0392b\" "
               "stroke-width=\"2\"/></pattern></defs>\n");
}

void rp_svg_heatmaps(rp_buf *b, const rp_run *r, double lo, double hi, const char *id)
{
    int L = r->layers > 0 ? r->layers : 1;
    double cell_h = 200.0 / L;
    if (cell_h > 22)
        cell_h = 22;
    if (cell_h < 2)
        cell_h = 2;
    double ph = cell_h * L;
    int W = HEAT_LEFT + 2 * HEAT_PANEL_W + HEAT_GAP + 16;
    int H = (int)ceil(HEAT_TOP + ph + HEAT_BOTTOM);
    rp_printf(b,
              "<svg id=\"%s\" class=\"heatmap\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
              "role=\"img\" aria-label=\"gradient norm per layer and step: ",
              id, W, H, W, H);
    rp_html(b, r->name);
    rp_puts(b, "\">\n");
    if (r->n == 0 || r->layers == 0) {
        rp_printf(b, "<text class=\"empty\" x=\"%d\" y=\"%d\">no data yet</text></svg>\n",
                  HEAT_LEFT, HEAT_TOP);
        return;
    }
    heat_panel(b, r, r->gn_attn, "attention sublayer", HEAT_LEFT, HEAT_TOP, cell_h, lo, hi);
    heat_panel(b, r, r->gn_ffn, "FFN sublayer", HEAT_LEFT + HEAT_PANEL_W + HEAT_GAP, HEAT_TOP,
               cell_h, lo, hi);
    rp_puts(b, "</svg>\n");
}

void rp_svg_heat_scale(rp_buf *b, double lo, double hi)
{
    const int W = 580, H = 64, x0 = 24, bw = 380, y0 = 8, bh = 16;
    rp_printf(b,
              "<svg id=\"heat-scale\" class=\"scale\" viewBox=\"0 0 %d %d\" width=\"%d\" "
              "height=\"%d\" role=\"img\" aria-label=\"colour scale of the gradient norms\">\n",
              W, H, W, H);
    hatch_def(b);
    rp_puts(b, "<g shape-rendering=\"crispEdges\">");
    for (int k = 0; k < HEAT_LEVELS; k++) {
        char col[8];
        heat_colour(k, col);
        rp_printf(b, "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\"/>",
                  x0 + k * (double)bw / HEAT_LEVELS, y0, (double)bw / HEAT_LEVELS + 0.3, bh, col);
    }
    rp_puts(b, "</g>");
    rp_printf(b, "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n", x0, y0,
              bw, bh);
    axis a;
    rp_axis_log(&a, lo, hi);
    rp_puts(b, "<g class=\"ticks\">");
    for (int i = 0; i < a.n_ticks; i++) {
        double t = a.ticks[i];
        if (t < lo * (1 - 1e-9) || t > hi * (1 + 1e-9))
            continue;
        double x = x0 + (log10(t) - log10(lo)) / (log10(hi) - log10(lo)) * bw;
        rp_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x, y0 + bh, x,
                  y0 + bh + 4);
        char lab[32];
        rp_log_label(lab, sizeof lab, t);
        rp_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>", x, y0 + bh + 17,
                  lab);
    }
    rp_puts(b, "</g>\n");
    rp_printf(b,
              "<text class=\"alabel\" x=\"%d\" y=\"%d\">gradient L2 norm (log scale, %.3g to "
              "%.3g)</text>\n",
              x0, y0 + bh + 36, lo, hi);
    rp_printf(b,
              "<rect x=\"%d\" y=\"%d\" width=\"22\" height=\"%d\" fill=\"url(#vanished-hatch)\" "
              "stroke=\"#888\"/><text x=\"%d\" y=\"%d\" dy=\"0.35em\">vanished</text>\n",
              x0 + bw + 24, y0, bh, x0 + bw + 52, y0 + bh / 2);
    rp_puts(b, "</svg>\n");
}
