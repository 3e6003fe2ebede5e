/* `normlab report`: the figures, as inline SVG. Every run has a colour AND a dash pattern
 * AND a marker shape, so the figures still read in greyscale print. Plots carry axes with
 * ticks and labels, a light grid and a legend; heatmaps share one log colour scale, drawn
 * from a perceptually uniform dark-to-light ramp. Coordinates are CSS pixels of the
 * viewBox; the page scales the svg down on narrow screens. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

/* Colour-blind-safe colours, dark enough on white. */
static const char *const colours[8] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                       "#E69F00", "#56B4E9", "#222222", "#8C564B"};
static const char *const dashes[8] = {"",    "7 4",          "2 3", "10 3 2 3",
                                      "4 2", "12 3 2 3 2 3", "1 2", "14 5"};

const char *rp_colour(int style)
{
    return colours[((style % RP_STYLES) + RP_STYLES) % 8];
}

const char *rp_dash(int style)
{
    style = ((style % RP_STYLES) + RP_STYLES) % RP_STYLES;
    return dashes[(style + style / 8) % 8];
}

void rp_marker(rp_buf *b, int style, double x, double y, double s)
{
    style = ((style % RP_STYLES) + RP_STYLES) % RP_STYLES;
    const char *c = rp_colour(style);
    int shape = (style + 3 * (style / 8)) % 8;
    int hollow = shape >= 4;
    const char *fill = hollow ? "#ffffff" : c;
    double h = s / 2;
    switch (shape % 4) {
    case 0:
        rp_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"%s\"/>", x, y,
                  h, fill, c);
        break;
    case 1:
        rp_printf(b,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                  "stroke=\"%s\"/>",
                  x - h * 0.9, y - h * 0.9, 1.8 * h, 1.8 * h, fill, c);
        break;
    case 2:
        rp_printf(b,
                  "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\" stroke=\"%s\"/>",
                  x, y - 1.2 * h, x + 1.1 * h, y + 0.8 * h, x - 1.1 * h, y + 0.8 * h, fill, c);
        break;
    default:
        rp_printf(b,
                  "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\" "
                  "stroke=\"%s\"/>",
                  x, y - 1.3 * h, x + 1.1 * h, y, x, y + 1.3 * h, x - 1.1 * h, y, fill, c);
        break;
    }
}

void rp_num(rp_buf *b, double v)
{
    if (isnan(v))
        rp_puts(b, "&#8211;");
    else if (isinf(v))
        rp_puts(b, v > 0 ? "&#8734;" : "&#8722;&#8734;");
    else
        rp_printf(b, "%.4g", v);
}

/* ---- axes ---- */

typedef struct axis {
    double lo, hi;
    int log;
    double ticks[32];
    int n_ticks;
    double step; /* linear tick spacing, for the labels' decimals */
} axis;

static double nice_step(double range, int target, int integer)
{
    double raw = range / target;
    if (!(raw > 0))
        raw = 1;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double s = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
    s *= mag;
    if (integer) {
        if (s < 1)
            s = 1;
        if (fabs(s - round(s)) > 1e-9)
            s = ceil(s);
    }
    return s;
}

/* A linear axis over [lo, hi], widened to whole ticks; pinned: exactly [lo, hi] (steps,
 * layers), the ticks inside it. */
static void axis_linear(axis *a, double lo, double hi, int target, int integer, int pinned)
{
    if (!(hi > lo)) {
        double d = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
        lo -= d;
        hi += d;
    }
    a->log = 0;
    a->step = nice_step(hi - lo, target, integer);
    a->lo = pinned ? lo : floor(lo / a->step) * a->step;
    a->hi = pinned ? hi : ceil(hi / a->step - 1e-9) * a->step;
    if (a->hi <= a->lo)
        a->hi = a->lo + a->step;
    a->n_ticks = 0;
    for (double t = ceil(a->lo / a->step - 1e-9) * a->step;
         t <= a->hi + a->step * 1e-9 && a->n_ticks < 32; t += a->step)
        a->ticks[a->n_ticks++] = fabs(t) < a->step * 1e-9 ? 0 : t;
}

/* A log axis: from the 1-2-5 value at or below lo to the one at or above hi; ticks at every
 * decade, and at 2 and 5 when the range spans under two and a half decades. */
static void axis_log(axis *a, double lo, double hi)
{
    static const double m125[3] = {1, 2, 5};
    a->log = 1;
    a->step = 0;
    if (!(lo > 0))
        lo = hi > 0 ? hi / 10 : 1;
    if (!(hi > lo))
        hi = lo * 10;
    double dlo = floor(log10(lo)), dhi = ceil(log10(hi));
    a->lo = pow(10, dlo);
    for (int k = 2; k >= 0; k--)
        if (m125[k] * pow(10, dlo) <= lo * (1 + 1e-9)) {
            a->lo = m125[k] * pow(10, dlo);
            break;
        }
    a->hi = pow(10, dhi);
    for (int k = 0; k < 3; k++)
        if (m125[k] * pow(10, dhi - 1) >= hi * (1 - 1e-9)) {
            a->hi = m125[k] * pow(10, dhi - 1);
            break;
        }
    int fine = log10(a->hi / a->lo) < 2.5; /* 1-2-5 ticks unless that crowds the axis */
    a->n_ticks = 0;
    for (double d = dlo; d <= dhi && a->n_ticks < 32; d++)
        for (int k = 0; k < (fine ? 3 : 1) && a->n_ticks < 32; k++) {
            double t = m125[k] * pow(10, d);
            if (t >= a->lo * (1 - 1e-9) && t <= a->hi * (1 + 1e-9))
                a->ticks[a->n_ticks++] = t;
        }
}

/* Position of v in [0, 1] along a; NAN when v cannot be placed (<= 0 on a log axis). */
static double axis_frac(const axis *a, double v)
{
    if (a->log) {
        if (!(v > 0))
            return NAN;
        return (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo));
    }
    return (v - a->lo) / (a->hi - a->lo);
}

/* 0.01, 0.5, 20, and beyond that 1e-5, 2e+6 (no padded exponent). */
static void log_label(char *buf, size_t n, double v)
{
    if (v >= 1e-3 && v < 1e5) {
        snprintf(buf, n, "%g", v);
        return;
    }
    int e = (int)floor(log10(v) + 1e-9);
    snprintf(buf, n, "%ge%d", round(v / pow(10, e)), e);
}

static void tick_label(char *buf, size_t n, const axis *a, double v)
{
    if (a->log) {
        log_label(buf, n, v);
        return;
    }
    double av = fabs(v);
    if (av >= 10000 && fmod(av, 1000) == 0 && a->step >= 1000) {
        if (av >= 1e6 && fmod(av, 1e5) == 0)
            snprintf(buf, n, "%gM", v / 1e6);
        else
            snprintf(buf, n, "%gk", v / 1e3);
        return;
    }
    int dec = a->step >= 1 ? 0 : (int)ceil(-log10(a->step) - 1e-9);
    if (fabs(a->step * pow(10, dec) - round(a->step * pow(10, dec))) > 1e-6)
        dec++; /* 2.5, 0.25 */
    if (dec > 6)
        dec = 6;
    snprintf(buf, n, "%.*f", dec, v);
}

/* ---- the line plot ---- */

#define M_LEFT 66
#define M_RIGHT 18
#define M_TOP 34
#define M_BOTTOM 48
#define LEGEND_ROW 22
#define LEGEND_COL 212
#define MAX_POINTS 1200 /* a longer series is averaged over buckets of consecutive points */

static void range_of(const rp_plot *p, double *xlo, double *xhi, double *ylo, double *yhi)
{
    *xlo = *ylo = INFINITY;
    *xhi = *yhi = -INFINITY;
    for (int s = 0; s < p->n_series; s++) {
        const rp_series *se = &p->series[s];
        for (int64_t i = 0; i < se->n; i++) {
            double x = se->x[i], y = se->y[i];
            if (!isfinite(x) || !isfinite(y) || (p->logy && y <= 0))
                continue;
            if (isfinite(p->ymax_clip) && y > p->ymax_clip)
                y = p->ymax_clip;
            *xlo = fmin(*xlo, x);
            *xhi = fmax(*xhi, x);
            *ylo = fmin(*ylo, y);
            *yhi = fmax(*yhi, y);
        }
    }
}

static void put_line(rp_buf *b, const rp_series *se, const axis *ax, const axis *ay, double x0,
                     double y0, double pw, double ph, double clip)
{
    int64_t per = se->n > MAX_POINTS ? (se->n + MAX_POINTS - 1) / MAX_POINTS : 1;
    rp_printf(b, "<path class=\"curve\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"",
              rp_colour(se->style));
    if (rp_dash(se->style)[0])
        rp_printf(b, " stroke-dasharray=\"%s\"", rp_dash(se->style));
    rp_puts(b, " stroke-linejoin=\"round\" d=\"");
    int pen = 0, any = 0;
    for (int64_t i = 0; i < se->n; i += per) {
        double sx = 0, sy = 0;
        int k = 0;
        for (int64_t j = i; j < i + per && j < se->n; j++) {
            double y = se->y[j];
            if (!isfinite(y) && !(isinf(y) && y > 0 && isfinite(clip)))
                continue;
            if (isfinite(clip) && y > clip)
                y = clip;
            sx += se->x[j];
            sy += y;
            k++;
        }
        double fx = k ? axis_frac(ax, sx / k) : NAN, fy = k ? axis_frac(ay, sy / k) : NAN;
        if (!isfinite(fx) || !isfinite(fy)) {
            pen = 0;
            continue;
        }
        fy = fmin(fmax(fy, -0.02), 1.02);
        rp_printf(b, "%s%.1f %.1f", pen ? " L" : (any ? " M" : "M"), x0 + fx * pw,
                  y0 + (1 - fy) * ph);
        pen = any = 1;
    }
    if (!any)
        rp_puts(b, "M0 0");
    rp_puts(b, "\"/>\n");
}

static void put_points(rp_buf *b, const rp_series *se, const axis *ax, const axis *ay, double x0,
                       double y0, double pw, double ph, double clip)
{
    int64_t finite = 0;
    for (int64_t i = 0; i < se->n; i++)
        finite += isfinite(se->y[i]) != 0;
    int64_t every = finite > 150 ? (finite + 149) / 150 : 1, seen = 0;
    rp_puts(b, "<g class=\"points\">");
    for (int64_t i = 0; i < se->n; i++) {
        double y = se->y[i];
        if (!isfinite(y) || seen++ % every)
            continue;
        if (isfinite(clip) && y > clip)
            y = clip;
        double fx = axis_frac(ax, se->x[i]), fy = axis_frac(ay, y);
        if (!isfinite(fx) || !isfinite(fy))
            continue;
        rp_marker(b, se->style, x0 + fx * pw, y0 + (1 - fy) * ph, 7);
    }
    rp_puts(b, "</g>\n");
}

static void put_legend(rp_buf *b, const rp_plot *p, int top)
{
    int per_row = (p->width - M_LEFT) / LEGEND_COL;
    if (per_row < 1)
        per_row = 1;
    rp_puts(b, "<g class=\"legend\">");
    for (int i = 0; i < p->n_legend; i++) {
        const rp_legend *l = &p->legend[i];
        double x = M_LEFT + (i % per_row) * LEGEND_COL, y = top + (i / per_row) * LEGEND_ROW + 11;
        if (l->line) {
            rp_printf(b,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                      "stroke-width=\"2.5\"",
                      x, y, x + 34, y, rp_colour(l->style));
            if (rp_dash(l->style)[0])
                rp_printf(b, " stroke-dasharray=\"%s\"", rp_dash(l->style));
            rp_puts(b, "/>");
        }
        if (l->marker)
            rp_marker(b, l->style, x + 17, y, 7);
        char label[40];
        snprintf(label, sizeof label, "%s", l->label);
        if (strlen(l->label) >= sizeof label)
            memcpy(label + sizeof label - 4, "...", 4);
        rp_printf(b, "<text x=\"%.1f\" y=\"%.1f\" dy=\"0.35em\">", x + 42, y);
        rp_html(b, label);
        rp_puts(b, "</text>");
    }
    rp_puts(b, "</g>\n");
}

void rp_svg_plot(rp_buf *b, const rp_plot *p)
{
    int per_row = (p->width - M_LEFT) / LEGEND_COL;
    if (per_row < 1)
        per_row = 1;
    int legend_rows = (p->n_legend + per_row - 1) / per_row;
    int H = p->height + (legend_rows ? legend_rows * LEGEND_ROW + 6 : 0), W = p->width;
    double x0 = M_LEFT, y0 = M_TOP, pw = W - M_LEFT - M_RIGHT, ph = p->height - M_TOP - M_BOTTOM;

    double xlo, xhi, ylo, yhi;
    range_of(p, &xlo, &xhi, &ylo, &yhi);
    int empty = !(xhi >= xlo);
    if (empty) {
        xlo = 0;
        xhi = 1;
        ylo = p->logy ? 1 : 0;
        yhi = p->logy ? 10 : 1;
    }
    axis ax, ay;
    axis_linear(&ax, p->x_integer && xlo >= 0 && xlo <= 1 ? 0 : xlo, xhi, 8, p->x_integer,
                p->x_integer);
    if (p->logy)
        axis_log(&ay, ylo, yhi);
    else
        axis_linear(&ay, ylo, yhi, 6, 0, 0);

    rp_printf(b,
              "<svg id=\"%s\" class=\"plot\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
              "role=\"img\" aria-label=\"",
              p->id, W, H, W, H);
    rp_html(b, p->title);
    rp_puts(b, "\">\n");
    rp_printf(b, "<text class=\"ptitle\" x=\"%.1f\" y=\"20\">", x0);
    rp_html(b, p->title);
    rp_puts(b, "</text>\n");
    /* grid and ticks */
    rp_puts(b, "<g class=\"grid\">");
    char lab[48];
    for (int i = 0; i < ay.n_ticks; i++) {
        double fy = axis_frac(&ay, ay.ticks[i]);
        double y = y0 + (1 - fy) * ph;
        rp_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x0, y, x0 + pw, y);
    }
    for (int i = 0; i < ax.n_ticks; i++) {
        double x = x0 + axis_frac(&ax, ax.ticks[i]) * pw;
        rp_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, y0, x, y0 + ph);
    }
    rp_puts(b, "</g>\n<g class=\"ticks\">");
    for (int i = 0; i < ay.n_ticks; i++) {
        double y = y0 + (1 - axis_frac(&ay, ay.ticks[i])) * ph;
        tick_label(lab, sizeof lab, &ay, ay.ticks[i]);
        rp_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x0 - 5, y, x0, y);
        rp_printf(b, "<text x=\"%.1f\" y=\"%.1f\" dy=\"0.35em\" text-anchor=\"end\">%s</text>",
                  x0 - 8, y, lab);
    }
    for (int i = 0; i < ax.n_ticks; i++) {
        double x = x0 + axis_frac(&ax, ax.ticks[i]) * pw;
        tick_label(lab, sizeof lab, &ax, ax.ticks[i]);
        rp_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, y0 + ph, x,
                  y0 + ph + 5);
        rp_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>", x,
                  y0 + ph + 19, lab);
    }
    rp_puts(b, "</g>\n");
    rp_printf(b, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
              x0, y0, pw, ph);
    rp_printf(b, "<text class=\"alabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
              x0 + pw / 2, y0 + ph + 40);
    rp_html(b, p->xlabel);
    rp_printf(b,
              "</text>\n<text class=\"alabel\" transform=\"translate(16 %.1f) rotate(-90)\" "
              "text-anchor=\"middle\">",
              y0 + ph / 2);
    rp_html(b, p->ylabel);
    rp_puts(b, "</text>\n");
    if (empty)
        rp_printf(b,
                  "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no data "
                  "yet</text>\n",
                  x0 + pw / 2, y0 + ph / 2);
    for (int s = 0; s < p->n_series; s++) {
        if (p->series[s].points)
            put_points(b, &p->series[s], &ax, &ay, x0, y0, pw, ph, p->ymax_clip);
        else
            put_line(b, &p->series[s], &ax, &ay, x0, y0, pw, ph, p->ymax_clip);
    }
    if (legend_rows)
        put_legend(b, p, p->height);
    rp_puts(b, "</svg>\n");
}

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
    /* each bucket's maximum per layer (a spike is never averaged away), then runs of one
     * level along a row merged into one rect */
    float *cell = malloc((size_t)cols * (size_t)L * sizeof *cell);
    double *step_max = malloc((size_t)n * sizeof *step_max); /* each step's largest value */
    if (!cell || !step_max) {
        free(cell);
        free(step_max);
        return;
    }
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
    /* one path per colour level, in cell units under a scale (a cell is "Mc lh1v1h-1z"),
     * so a long run's heatmap stays small; vanished cells in page units, so the hatch is
     * not stretched */
    rp_buf level_d[HEAT_LEVELS];
    rp_buf vanished_d = {0};
    memset(level_d, 0, sizeof level_d);
    for (int l = 0; l < L; l++) {
        for (int c = 0; c < cols;) {
            float x = cell[(size_t)c * L + l];
            int level = isnan(x) ? -2 : x == 0 ? -1 : heat_level_of(x, lo, hi);
            int c2 = c + 1;
            while (c2 < cols) {
                float x2 = cell[(size_t)c2 * L + l];
                int l2 = isnan(x2) ? -2 : x2 == 0 ? -1 : heat_level_of(x2, lo, hi);
                if (l2 != level)
                    break;
                c2++;
            }
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
    free(cell);
    free(step_max);
    rp_printf(b, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
              px, py, pw, ph);
    /* layer labels: every k-th, L0 on top */
    int every = L > 16 ? (L + 15) / 16 : 1;
    rp_puts(b, "<g class=\"ticks\">");
    for (int l = 0; l < L; l += every)
        rp_printf(b, "<text x=\"%.1f\" y=\"%.1f\" dy=\"0.35em\" text-anchor=\"end\">L%d</text>",
                  px - 6, py + (l + 0.5) * cell_h, l);
    /* step ticks */
    axis ax;
    double first = (double)r->step[0], last = (double)r->step[n - 1];
    axis_linear(&ax, first, last > first ? last : first + 1, 5, 1, 1);
    char lab[48];
    for (int i = 0; i < ax.n_ticks; i++) {
        double t = ax.ticks[i];
        if (t < first || t > last + 1e-9)
            continue;
        /* the column holding step t: columns span [first, last] evenly by row index */
        double f = last > first ? (t - first) / (last - first) : 0;
        double x = px + (f * (n - 1) + 0.5) / n * pw;
        tick_label(lab, sizeof lab, &ax, t);
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
    axis_log(&a, lo, hi);
    rp_puts(b, "<g class=\"ticks\">");
    for (int i = 0; i < a.n_ticks; i++) {
        double t = a.ticks[i];
        if (t < lo * (1 - 1e-9) || t > hi * (1 + 1e-9))
            continue;
        double x = x0 + (log10(t) - log10(lo)) / (log10(hi) - log10(lo)) * bw;
        rp_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x, y0 + bh, x,
                  y0 + bh + 4);
        char lab[32];
        log_label(lab, sizeof lab, t);
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
