#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TICKS 16

static const char ascii_markers[] = "*+ox#@%&";
static const wchar_t mono_markers[] = L"●○◆◇■□▲△";

wchar_t plot_marker_glyph(ui_glyphs glyphs, int mono, int marker)
{
    if (marker < 0)
        marker = -marker;
    if (glyphs == UI_GLYPH_ASCII)
        return (wchar_t)ascii_markers[marker % 8];
    return mono ? mono_markers[marker % 8] : L'━';
}

/* Braille: dot (col, row) of a cell -> bit of U+2800 + bits. */
static const unsigned char braille_bit[2][4] = {{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}};
/* Quadrants: bits TL=1, TR=2, BL=4, BR=8 -> glyph. */
static const wchar_t quadrant[16] = {L' ', L'▘', L'▝', L'▀', L'▖', L'▌', L'▞', L'▛',
                                     L'▗', L'▚', L'▐', L'▜', L'▄', L'▙', L'▟', L'█'};

wchar_t plot_dots_glyph(ui_glyphs glyphs, unsigned bits)
{
    if (glyphs == UI_GLYPH_BRAILLE)
        return (wchar_t)(0x2800 + (bits & 0xff));
    if (glyphs == UI_GLYPH_BLOCK)
        return quadrant[bits & 15];
    return bits ? L'*' : L' ';
}

static double nice_step(double range, int n)
{
    if (n < 1)
        n = 1;
    double raw = range / n;
    if (!(raw > 0) || !isfinite(raw))
        return 1;
    double p = pow(10, floor(log10(raw)));
    double f = raw / p;
    double nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * p;
}

double plot_nice_ceil(double span)
{
    if (!(span > 0))
        return 1;
    double st = nice_step(span, 10);
    return ceil(span / st - 1e-9) * st;
}

int plot_ticks_linear(double lo, double hi, int max_ticks, double *out)
{
    if (max_ticks < 1 || !(hi > lo))
        return 0;
    if (max_ticks > MAX_TICKS)
        max_ticks = MAX_TICKS;
    /* the finest 1-2-5 step that gives at most max_ticks ticks */
    static const double mult[3] = {1, 2, 5};
    double p = pow(10, floor(log10((hi - lo) / max_ticks)));
    for (int k = 0; k < 12; k++) {
        double st = mult[k % 3] * p * pow(10, k / 3);
        double first = ceil(lo / st - 1e-9) * st;
        int n = (int)floor((hi - first) / st + 1e-9) + 1;
        if (n > max_ticks)
            continue;
        for (int i = 0; i < n; i++) {
            double t = first + i * st;
            out[i] = fabs(t) < st * 1e-9 ? 0 : t;
        }
        return n;
    }
    return 0;
}

int plot_ticks_log(double lo, double hi, int max_ticks, double *out)
{
    if (max_ticks < 1 || !(lo > 0) || !(hi > lo))
        return 0;
    if (max_ticks > MAX_TICKS)
        max_ticks = MAX_TICKS;
    double l0 = log10(lo), l1 = log10(hi);
    int d0 = (int)ceil(l0 - 1e-9), d1 = (int)floor(l1 + 1e-9);
    int decades = d1 - d0 + 1;
    if (decades < 1)
        return plot_ticks_linear(lo, hi, max_ticks, out);
    /* with room, 1-2-5 in every decade; else every k-th power of ten */
    static const double mult[3] = {1, 2, 5};
    int n = 0;
    if (decades * 3 <= max_ticks || decades == 1) {
        for (int d = d0 - 1; d <= d1; d++)
            for (int m = 0; m < 3; m++) {
                double t = mult[m] * pow(10, d);
                if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9) && n < max_ticks)
                    out[n++] = t;
            }
        if (n >= 2)
            return n;
        n = 0;
    }
    int k = (decades + max_ticks - 1) / max_ticks;
    if (k < 1)
        k = 1;
    for (int d = d0; d <= d1 && n < max_ticks; d += k)
        out[n++] = pow(10, d);
    return n;
}

void plot_fmt_count(double v, char *buf, int len)
{
    double a = fabs(v);
    if (a >= 1e9)
        snprintf(buf, (size_t)len, "%.3gG", v / 1e9);
    else if (a >= 1e6)
        snprintf(buf, (size_t)len, "%.3gM", v / 1e6);
    else if (a >= 1e4)
        snprintf(buf, (size_t)len, "%.3gk", v / 1e3);
    else
        snprintf(buf, (size_t)len, "%.4g", v);
}

void plot_fmt_value(double v, char *buf, int len)
{
    double a = fabs(v);
    if (a != 0 && (a < 1e-3 || a >= 1e5)) {
        /* 1e-05, 2.5e+06 -> drop the padding the C library adds */
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%.2g", v);
        char *e = strchr(tmp, 'e');
        if (e) {
            char sign = e[1];
            int ex = atoi(e + 2);
            *e = '\0';
            snprintf(buf, (size_t)len, "%se%s%d", tmp, sign == '-' ? "-" : "", ex);
            return;
        }
        snprintf(buf, (size_t)len, "%s", tmp);
        return;
    }
    if (a >= 100)
        snprintf(buf, (size_t)len, "%.0f", v);
    else
        snprintf(buf, (size_t)len, "%.3g", v);
}

/* The dot canvas of a plot area. */
typedef struct canvas {
    int w, h, sx, sy;    /* cells, dots per cell */
    unsigned char *bits; /* (h, w) */
    signed char *series; /* (h, w) last series to set a dot, -1 none */
    wchar_t *over;       /* (h, w) marker overlay, 0 none */
    unsigned char *over_role;
    ui_glyphs glyphs;
} canvas;

static void canvas_dot(canvas *c, int dx, int dy, int s)
{
    if (dx < 0 || dy < 0 || dx >= c->w * c->sx || dy >= c->h * c->sy)
        return;
    int cx = dx / c->sx, cy = dy / c->sy, i = cy * c->w + cx;
    unsigned bit = 1;
    if (c->glyphs == UI_GLYPH_BRAILLE)
        bit = braille_bit[dx % 2][dy % 4];
    else if (c->glyphs == UI_GLYPH_BLOCK)
        bit = 1u << ((dy % 2) * 2 + dx % 2);
    c->bits[i] |= (unsigned char)bit;
    c->series[i] = (signed char)s;
}

static void canvas_line(canvas *c, int x0, int y0, int x1, int y1, int s)
{
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int e = dx + dy;
    for (;;) {
        canvas_dot(c, x0, y0, s);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

static double ymap(const plot_spec *p, double v)
{
    if (p->logy)
        return v > 0 ? log10(v) : NAN;
    return v;
}

typedef struct col_agg {
    int has, first, last, lo, hi;
} col_agg;

static void draw_line_series(canvas *c, const plot_layout *L, const plot_spec *p, int si,
                             col_agg *cols)
{
    const plot_series *s = &p->series[si];
    int DW = c->w * c->sx, DH = c->h * c->sy;
    memset(cols, 0, (size_t)DW * sizeof *cols);
    double xr = L->xmax - L->xmin, yr = L->ymax - L->ymin;
    for (int i = 0; i < s->n; i++) {
        double y = ymap(p, s->y[i]);
        if (!isfinite(y) || !isfinite(s->x[i]))
            continue;
        int dx = (int)lround((s->x[i] - L->xmin) / xr * (DW - 1));
        if (dx < 0 || dx >= DW)
            continue;
        double vals[3] = {y, s->ylo ? ymap(p, s->ylo[i]) : NAN, s->yhi ? ymap(p, s->yhi[i]) : NAN};
        col_agg *a = &cols[dx];
        for (int k = 0; k < 3; k++) {
            if (!isfinite(vals[k]))
                continue;
            int dy = (int)lround((L->ymax - vals[k]) / yr * (DH - 1));
            if (dy < 0)
                dy = 0;
            if (dy > DH - 1)
                dy = DH - 1;
            if (!a->has) {
                a->has = 1;
                a->first = a->lo = a->hi = dy;
            }
            if (dy < a->lo)
                a->lo = dy;
            if (dy > a->hi)
                a->hi = dy;
            if (k == 0)
                a->last = dy;
        }
    }
    int prev = -1;
    for (int x = 0; x < DW; x++) {
        col_agg *a = &cols[x];
        if (!a->has)
            continue;
        for (int y = a->lo; y <= a->hi; y++)
            canvas_dot(c, x, y, si);
        if (prev >= 0)
            canvas_line(c, prev, cols[prev].last, x, a->first, si);
        prev = x;
    }
}

static void draw_point_series(canvas *c, const plot_layout *L, const plot_spec *p, int si)
{
    const plot_series *s = &p->series[si];
    int DW = c->w * c->sx, DH = c->h * c->sy;
    double xr = L->xmax - L->xmin, yr = L->ymax - L->ymin;
    wchar_t mark = p->glyphs == UI_GLYPH_ASCII ? L'o' : L'•';
    for (int i = 0; i < s->n; i++) {
        double y = ymap(p, s->y[i]);
        if (!isfinite(y) || !isfinite(s->x[i]))
            continue;
        int dx = (int)lround((s->x[i] - L->xmin) / xr * (DW - 1));
        int dy = (int)lround((L->ymax - y) / yr * (DH - 1));
        if (dx < 0 || dx >= DW || dy < 0 || dy >= DH)
            continue;
        int k = (dy / c->sy) * c->w + dx / c->sx;
        c->over[k] = mark;
        c->over_role[k] = (unsigned char)s->role;
    }
}

/* The y range over every series (and the reference line), in plotted units; with an x
 * window (xmin, xmax) only the points inside it count. */
static int y_range(const plot_spec *p, double *lo, double *hi)
{
    double a = INFINITY, b = -INFINITY;
    for (int si = 0; si < p->nseries; si++) {
        const plot_series *s = &p->series[si];
        for (int i = 0; i < s->n; i++) {
            if ((isfinite(p->xmin) && s->x[i] < p->xmin) ||
                (isfinite(p->xmax) && s->x[i] > p->xmax))
                continue;
            double v[3] = {s->y[i], s->ylo ? s->ylo[i] : NAN, s->yhi ? s->yhi[i] : NAN};
            for (int k = 0; k < 3; k++) {
                double y = ymap(p, v[k]);
                if (!isfinite(y))
                    continue;
                if (y < a)
                    a = y;
                if (y > b)
                    b = y;
            }
        }
    }
    if (!isfinite(a))
        return 0;
    if (p->yfrac > 0 && p->yfrac < 1 && b > a)
        b = a + (b - a) * p->yfrac;
    double r = ymap(p, p->ref_y);
    if (isfinite(r)) {
        if (r < a)
            a = r;
        if (r > b && !(p->yfrac > 0 && p->yfrac < 1))
            b = r;
    }
    if (b - a < 1e-12 * fmax(1, fabs(a))) {
        double d = p->logy ? 0.05 : fmax(fabs(a) * 0.05, 1e-6);
        a -= d;
        b += d;
    } else if (p->stable) {
        /* out to the next multiples of a step a few times finer than the range, so the axis
         * does not move with every new value */
        double st = nice_step(b - a, 8);
        a = floor(a / st - 0.02) * st;
        b = ceil(b / st + 0.02) * st;
    } else {
        double pad = (b - a) * 0.04;
        a -= pad;
        b += pad;
    }
    *lo = a;
    *hi = b;
    return 1;
}

static int x_range(const plot_spec *p, double *lo, double *hi)
{
    double a = INFINITY, b = -INFINITY;
    for (int si = 0; si < p->nseries; si++) {
        const plot_series *s = &p->series[si];
        for (int i = 0; i < s->n; i++) {
            if (!isfinite(s->x[i]) || !isfinite(ymap(p, s->y[i])))
                continue;
            if (s->x[i] < a)
                a = s->x[i];
            if (s->x[i] > b)
                b = s->x[i];
        }
    }
    if (isfinite(p->xmin))
        a = p->xmin;
    if (isfinite(p->xmax))
        b = p->xmax;
    if (!isfinite(a) || !isfinite(b))
        return 0;
    if (b <= a)
        b = a + 1;
    if (p->stable && !isfinite(p->xmax))
        b = a + plot_nice_ceil(b - a);
    *lo = a;
    *hi = b;
    return 1;
}

static void draw_legend(ui_grid *g, int x, int y, int w, const plot_spec *p)
{
    int ascii = p->glyphs == UI_GLYPH_ASCII, n = 0;
    char ref[64] = "";
    if (isfinite(p->ref_y) && p->ref_label) {
        char num[24];
        plot_fmt_value(p->ref_y, num, sizeof num);
        snprintf(ref, sizeof ref, "%s %s", p->ref_label, num);
    }
    int labelled = 0;
    for (int si = 0; si < p->nseries; si++)
        labelled += p->series[si].label && *p->series[si].label;
    int shown = 0;
    for (int si = 0; si < p->nseries && n < w; si++) {
        const plot_series *s = &p->series[si];
        if (!s->label || !*s->label)
            continue;
        /* an entry that does not fit, with room kept for "+N" after it, ends the legend */
        int left = labelled - shown - 1 + p->legend_more;
        int need = 2 + text_cells(s->label) + (left > 0 ? 5 : 0);
        if (n + need > w)
            break;
        wchar_t sym =
            s->points ? (ascii ? L'o' : L'•') : plot_marker_glyph(p->glyphs, p->mono, s->marker);
        grid_put(g, x + n, y, sym, s->role, UI_A_BOLD);
        n += 1;
        grid_put(g, x + n, y, L' ', ROLE_NORMAL, 0);
        n += 1;
        n += grid_text(g, x + n, y, w - n, s->role, 0, s->label);
        n += 2;
        shown++;
    }
    int more = labelled - shown + p->legend_more;
    if (more > 0) {
        char buf[16];
        snprintf(buf, sizeof buf, "+%d", more);
        n += grid_text(g, x + n, y, w - n, ROLE_NORMAL, UI_A_BOLD, buf) + 2;
    }
    if (ref[0] && n + 2 + text_cells(ref) <= w) {
        grid_put(g, x + n, y, ascii ? L'-' : L'╌', ROLE_FLOOR, 0);
        n += 2;
        grid_text(g, x + n, y, w - n, ROLE_FLOOR, 0, ref);
    }
}

/* The y ticks of L's range, their labels, and the label width they need (at most 7). */
static int y_ticks(const plot_spec *p, const plot_layout *L, int ph, double *yt,
                   char ylab[][16], int *nyt)
{
    int yw = 1;
    *nyt = 0;
    if (L->has_data) {
        int max_y_ticks = ph / 2 + 1;
        *nyt = p->logy ? plot_ticks_log(pow(10, L->ymin), pow(10, L->ymax), max_y_ticks, yt)
                       : plot_ticks_linear(L->ymin, L->ymax, max_y_ticks, yt);
        for (int i = 0; i < *nyt; i++) {
            plot_fmt_value(yt[i], ylab[i], 16);
            int n = (int)strlen(ylab[i]);
            if (n > yw)
                yw = n;
        }
    }
    return yw > 7 ? 7 : yw;
}

/* The y tick marks and labels left of the axis at column ax, yw cells wide. */
static void draw_y_ticks(ui_grid *g, const plot_spec *p, const plot_layout *L, int ax, int yw,
                         const double *yt, char ylab[][16], int nyt)
{
    int top = L->area.y, base = top + L->area.h, DH = L->area.h * L->sy, last_row = -1;
    for (int i = 0; i < nyt; i++) {
        double v = p->logy ? log10(yt[i]) : yt[i];
        int dy = (int)lround((L->ymax - v) / (L->ymax - L->ymin) * (DH - 1));
        int row = top + dy / L->sy;
        if (row < top || row >= base || row == last_row)
            continue;
        last_row = row;
        grid_put(g, ax, row, p->glyphs == UI_GLYPH_ASCII ? L'+' : L'┤', ROLE_AXIS, 0);
        int n = (int)strlen(ylab[i]);
        grid_text(g, ax - (n < yw ? n : yw), row, yw, ROLE_AXIS, 0, ylab[i]);
    }
}

/* The x tick marks on the axis row and their labels under it, from column free_from to right. */
static void draw_x_ticks(ui_grid *g, const plot_spec *p, const plot_layout *L, int free_from,
                         int right)
{
    int ax = L->area.x - 1, pw = L->area.w, base = L->area.y + L->area.h;
    double xt[MAX_TICKS];
    int nxt = plot_ticks_linear(L->xmin, L->xmax, pw / 9 > 1 ? pw / 9 : 1, xt);
    for (int i = 0; i < nxt; i++) {
        int col = ax + 1 + (int)lround((xt[i] - L->xmin) / (L->xmax - L->xmin) * (pw - 1));
        char lab[24];
        plot_fmt_count(xt[i], lab, sizeof lab);
        int n = (int)strlen(lab), x0 = col - n / 2;
        if (x0 + n > right)
            x0 = right - n;
        if (x0 < free_from)
            continue;
        grid_put(g, col, base, p->glyphs == UI_GLYPH_ASCII ? L'+' : L'┬', ROLE_AXIS, 0);
        grid_text(g, x0, base + 1, n, ROLE_AXIS, 0, lab);
        free_from = x0 + n + 1;
    }
}

/* The axes of plot r; returns the column where the x tick labels must end (the caption
 * after it). */
static int draw_axes(ui_grid *g, ui_rect r, const plot_spec *p, const plot_layout *L)
{
    int ascii = p->glyphs == UI_GLYPH_ASCII;
    int ax = L->area.x - 1, top = L->area.y, base = top + L->area.h, pw = L->area.w;
    for (int y = top; y < base; y++)
        grid_put(g, ax, y, ascii ? L'|' : L'│', ROLE_AXIS, 0);
    grid_put(g, ax, base, ascii ? L'+' : L'└', ROLE_AXIS, 0);
    for (int x = ax + 1; x < r.x + r.w; x++)
        grid_put(g, x, base, ascii ? L'-' : L'─', ROLE_AXIS, 0);
    /* the x caption sits at the right end of the tick label row */
    int cap_n = p->xcaption ? text_cells(p->xcaption) : 0, right = r.x + r.w;
    if (cap_n && cap_n < pw / 3) {
        right -= cap_n;
        grid_text(g, right, base + 1, cap_n, ROLE_AXIS, UI_A_DIM, p->xcaption);
        right--;
    }
    return right;
}

/* The canvas onto the plot area: dots, markers over them, the reference line under both. */
static void blit_canvas(ui_grid *g, const canvas *c, const plot_spec *p, const plot_layout *L)
{
    int ascii = p->glyphs == UI_GLYPH_ASCII, pw = L->area.w, ph = L->area.h;
    int ref_row = -1;
    double rv = ymap(p, p->ref_y);
    if (isfinite(rv))
        ref_row = (int)lround((L->ymax - rv) / (L->ymax - L->ymin) * (ph * L->sy - 1)) / L->sy;
    for (int y = 0; y < ph; y++)
        for (int x = 0; x < pw; x++) {
            size_t k = (size_t)y * pw + x;
            int gx = L->area.x + x, gy = L->area.y + y;
            if (c->over[k]) {
                grid_put(g, gx, gy, c->over[k], c->over_role[k], UI_A_BOLD);
            } else if (c->bits[k]) {
                const plot_series *s = &p->series[c->series[k]];
                wchar_t ch = ascii || p->mono ? plot_marker_glyph(p->glyphs, p->mono, s->marker)
                                              : plot_dots_glyph(p->glyphs, c->bits[k]);
                grid_put(g, gx, gy, ch, s->role, 0);
            } else if (y == ref_row) {
                grid_put(g, gx, gy, ascii ? L'-' : L'╌', ROLE_FLOOR, 0);
            }
        }
}

/* The series drawn onto a canvas of the plot area, then onto g. */
static void draw_series(ui_grid *g, const plot_spec *p, const plot_layout *L)
{
    int pw = L->area.w, ph = L->area.h;
    canvas c = {pw, ph, L->sx, L->sy, NULL, NULL, NULL, NULL, p->glyphs};
    size_t ncell = (size_t)pw * (size_t)ph;
    c.bits = calloc(ncell, 1);
    c.series = malloc(ncell);
    c.over = calloc(ncell, sizeof *c.over);
    c.over_role = calloc(ncell, 1);
    col_agg *cols = malloc((size_t)pw * (size_t)L->sx * sizeof *cols);
    if (c.bits && c.series && c.over && c.over_role && cols) {
        memset(c.series, -1, ncell);
        for (int si = 0; si < p->nseries; si++)
            if (!p->series[si].points)
                draw_line_series(&c, L, p, si, cols);
        for (int si = 0; si < p->nseries; si++)
            if (p->series[si].points)
                draw_point_series(&c, L, p, si);
        blit_canvas(g, &c, p, L);
    }
    free(c.bits);
    free(c.series);
    free(c.over);
    free(c.over_role);
    free(cols);
}

/* The cursor: a dotted column over the empty cells of the plot area, a mark on the axis. */
static void draw_cursor(ui_grid *g, const plot_spec *p, const plot_layout *L)
{
    if (!p->cursor || !isfinite(p->cursor_x) || p->cursor_x < L->xmin || p->cursor_x > L->xmax)
        return;
    int ascii = p->glyphs == UI_GLYPH_ASCII, top = L->area.y, base = top + L->area.h;
    int col =
        L->area.x + (int)lround((p->cursor_x - L->xmin) / (L->xmax - L->xmin) * (L->area.w - 1));
    for (int y = top; y < base; y++) {
        const ui_cell *cell = &g->cells[(size_t)y * g->w + col];
        if (cell->ch == L' ' || cell->ch == 0 || cell->ch == L'╌' || cell->ch == L'-')
            grid_put(g, col, y, ascii ? L':' : L'┊', ROLE_FOCUS, 0);
    }
    grid_put(g, col, base, ascii ? L'^' : L'┴', ROLE_FOCUS, UI_A_BOLD);
}

void plot_draw(ui_grid *g, ui_rect r, const plot_spec *p, plot_layout *out)
{
    plot_layout L = {{0, 0, 0, 0}, 1, 1, 0, 1, 0, 1, 0};
    L.sx = p->glyphs == UI_GLYPH_BRAILLE ? 2 : p->glyphs == UI_GLYPH_BLOCK ? 2 : 1;
    L.sy = p->glyphs == UI_GLYPH_BRAILLE ? 4 : p->glyphs == UI_GLYPH_BLOCK ? 2 : 1;
    int legend = p->legend ? 1 : 0;
    int ph = r.h - legend - 2;
    if (out)
        *out = L;
    if (ph < 2 || r.w < 12) {
        grid_text(g, r.x, r.y, r.w, ROLE_DIM, 0, "(too small)");
        return;
    }
    int have_y = y_range(p, &L.ymin, &L.ymax);
    int have_x = x_range(p, &L.xmin, &L.xmax);
    L.has_data = have_x && have_y;
    double yt[MAX_TICKS];
    char ylab[MAX_TICKS][16];
    int nyt, yw = y_ticks(p, &L, ph, yt, ylab, &nyt);
    int ax = r.x + yw, pw = r.w - yw - 1, top = r.y + legend;
    L.area = (ui_rect){ax + 1, top, pw, ph};
    if (legend)
        draw_legend(g, r.x + yw + 1, r.y, r.w - yw - 1, p);
    int right = draw_axes(g, r, p, &L);
    if (!L.has_data) {
        const char *msg = "waiting for data";
        grid_text(g, ax + 1 + (pw - (int)strlen(msg)) / 2, top + ph / 2, pw, ROLE_DIM, 0, msg);
    } else {
        draw_y_ticks(g, p, &L, ax, yw, yt, ylab, nyt);
        draw_x_ticks(g, p, &L, r.x + yw + 1, right);
        draw_series(g, p, &L);
        draw_cursor(g, p, &L);
    }
    if (out)
        *out = L;
}
