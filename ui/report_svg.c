/* `normlab report`: the figures, as inline SVG. Every run has a colour AND a dash pattern
 * AND a marker shape, so the figures still read in greyscale print. Plots carry axes with
 * ticks and labels, a light grid and a legend; heatmaps share one log colour scale, drawn
 * from a perceptually uniform dark-to-light ramp. Coordinates are CSS pixels of the
 * viewBox; the page scales the svg down on narrow screens. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"
#include "report_svg_internal.h"

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

/* ---- axes (the type: report_svg_internal.h) ---- */

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
void rp_axis_linear(axis *a, double lo, double hi, int target, int integer, int pinned)
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
void rp_axis_log(axis *a, double lo, double hi)
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
void rp_log_label(char *buf, size_t n, double v)
{
    if (v >= 1e-3 && v < 1e5) {
        snprintf(buf, n, "%g", v);
        return;
    }
    int e = (int)floor(log10(v) + 1e-9);
    snprintf(buf, n, "%ge%d", round(v / pow(10, e)), e);
}

void rp_tick_label(char *buf, size_t n, const axis *a, double v)
{
    if (a->log) {
        rp_log_label(buf, n, v);
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
    /* the reference line stays in view (a curve far above it would otherwise hide it) */
    if (*xhi >= *xlo && p->ref_label && isfinite(p->ref_y) && (!p->logy || p->ref_y > 0)) {
        *ylo = fmin(*ylo, p->ref_y);
        *yhi = fmax(*yhi, p->ref_y);
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

/* The frame of a plot: grid lines, ticks and their labels, the frame, the axis labels. */
static void put_axes(rp_buf *b, const rp_plot *p, const axis *ax, const axis *ay, double x0,
                     double y0, double pw, double ph)
{
    rp_puts(b, "<g class=\"grid\">");
    char lab[48];
    for (int i = 0; i < ay->n_ticks; i++) {
        double y = y0 + (1 - axis_frac(ay, ay->ticks[i])) * ph;
        rp_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x0, y, x0 + pw, y);
    }
    for (int i = 0; i < ax->n_ticks; i++) {
        double x = x0 + axis_frac(ax, ax->ticks[i]) * pw;
        rp_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, y0, x, y0 + ph);
    }
    rp_puts(b, "</g>\n<g class=\"ticks\">");
    for (int i = 0; i < ay->n_ticks; i++) {
        double y = y0 + (1 - axis_frac(ay, ay->ticks[i])) * ph;
        rp_tick_label(lab, sizeof lab, ay, ay->ticks[i]);
        rp_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x0 - 5, y, x0, y);
        rp_printf(b, "<text x=\"%.1f\" y=\"%.1f\" dy=\"0.35em\" text-anchor=\"end\">%s</text>",
                  x0 - 8, y, lab);
    }
    for (int i = 0; i < ax->n_ticks; i++) {
        double x = x0 + axis_frac(ax, ax->ticks[i]) * pw;
        rp_tick_label(lab, sizeof lab, ax, ax->ticks[i]);
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
}

/* The reference line across the plot area, its label and value above its right end. */
static void put_ref(rp_buf *b, const rp_plot *p, const axis *ay, double x0, double y0, double pw,
                    double ph)
{
    if (!p->ref_label || !isfinite(p->ref_y) || (p->logy && p->ref_y <= 0))
        return;
    double y = y0 + (1 - axis_frac(ay, p->ref_y)) * ph;
    rp_printf(b,
              "<g class=\"ref\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
              "stroke=\"#555\" stroke-width=\"1.2\" stroke-dasharray=\"5 4\"/>",
              x0, y, x0 + pw, y);
    rp_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", x0 + pw - 6, y - 5);
    rp_html(b, p->ref_label);
    rp_printf(b, " %.4g</text></g>\n", p->ref_y);
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
    rp_axis_linear(&ax, p->x_integer && xlo >= 0 && xlo <= 1 ? 0 : xlo, xhi, 8, p->x_integer,
                   p->x_integer);
    if (p->logy)
        rp_axis_log(&ay, ylo, yhi);
    else
        rp_axis_linear(&ay, ylo, yhi, 6, 0, 0);

    rp_printf(b,
              "<svg id=\"%s\" class=\"plot\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
              "role=\"img\" aria-label=\"",
              p->id, W, H, W, H);
    rp_html(b, p->title);
    rp_puts(b, "\">\n");
    rp_printf(b, "<text class=\"ptitle\" x=\"%.1f\" y=\"20\">", x0);
    rp_html(b, p->title);
    rp_puts(b, "</text>\n");
    put_axes(b, p, &ax, &ay, x0, y0, pw, ph);
    if (empty)
        rp_printf(b,
                  "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no data "
                  "yet</text>\n",
                  x0 + pw / 2, y0 + ph / 2);
    else
        put_ref(b, p, &ay, x0, y0, pw, ph);
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
