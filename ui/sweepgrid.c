#include "sweepgrid.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "heatmap.h"
#include "plot.h"

int sweepgrid_rows(const nl_sweep_def *d)
{
    return d->n_axes >= 1 ? d->axes[0].n : 1;
}

int sweepgrid_cols(const nl_sweep_def *d)
{
    int rows = sweepgrid_rows(d);
    return rows > 0 ? nl_sweep_cells(d) / rows : 1;
}

static int header_lines(const nl_sweep_def *d)
{
    return d->n_axes >= 2 ? d->n_axes - 1 : 1;
}

int sweepgrid_height(const nl_sweep_def *d)
{
    return header_lines(d) + sweepgrid_rows(d) + 1;
}

int sweepgrid_level(double m, double lo, double hi)
{
    if (!isfinite(m))
        return -1;
    if (!(hi > lo))
        return 0;
    int k = (int)floor((m - lo) / (hi - lo) * (SWEEPGRID_LEVELS - 1) + 0.5);
    return k < 0 ? 0 : k >= SWEEPGRID_LEVELS ? SWEEPGRID_LEVELS - 1 : k;
}

const char *sweepgrid_col_value(const nl_sweep_def *d, int col, int a)
{
    if (a < 1 || a >= d->n_axes)
        return "";
    /* col in mixed radix over axes 1.., the last fastest */
    for (int b = d->n_axes - 1; b > a; b--)
        col /= d->axes[b].n;
    return d->axes[a].values[col % d->axes[a].n];
}

/* The text of a cell that fits in w cells, into buf ("" when nothing fits). */
static void cell_text(const nl_sweep_cell_stats *st, int best, int w, char *buf, int len)
{
    const char *mark = st->diverged ? (best ? "*!" : "!") : best ? "*" : "";
    char cand[4][32];
    int n = 0;
    if (st->runs == 0) {
        snprintf(cand[n++], 32, "-");
    } else if (isfinite(st->mean)) {
        snprintf(cand[n++], 32, "%.3f%s", st->mean, mark);
        snprintf(cand[n++], 32, "%.2f%s", st->mean, mark);
        snprintf(cand[n++], 32, "%s", mark);
    } else if (st->diverged) {
        snprintf(cand[n++], 32, "div!");
        snprintf(cand[n++], 32, "!");
    } else {
        snprintf(cand[n++], 32, "?");
    }
    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        if ((int)strlen(cand[i]) <= w) {
            snprintf(buf, (size_t)len, "%s", cand[i]);
            return;
        }
}

static void centred(ui_grid *g, int x, int w, int y, int role, int attr, const char *text)
{
    int n = text_cells(text);
    if (n > w)
        n = w;
    grid_text(g, x + (w - n + 1) / 2, y, n, role, attr, text);
}

/* The label column's width: row values, and the column keys' names on the header lines. */
static int label_width(const nl_sweep_def *d, int R, int w)
{
    int lw = 0;
    for (int i = 0; i < R; i++) {
        int vw = d->n_axes ? text_cells(d->axes[0].values[i]) : 4;
        if (vw > lw)
            lw = vw;
    }
    for (int a = 1; a < d->n_axes; a++)
        if (text_cells(d->axes[a].label) > lw)
            lw = text_cells(d->axes[a].label);
    lw += 3; /* the selection mark and a space before, a space after */
    return lw > w / 2 ? w / 2 : lw;
}

/* Header lines: a column key's name, then its value over each column. */
static void draw_header(ui_grid *g, ui_rect r, const nl_sweep_def *d, int NH, int lw, int x0,
                        int cw, int tw, int cols_shown)
{
    for (int h = 0; h < NH; h++) {
        int y = r.y + h;
        if (d->n_axes >= 2) {
            const char *lab = d->axes[1 + h].label;
            int n = text_cells(lab) < lw - 1 ? text_cells(lab) : lw - 1;
            grid_text(g, r.x + lw - 1 - n, y, n, ROLE_AXIS, 0, lab);
        }
        for (int c = 0; c < cols_shown; c++) {
            const char *v = d->n_axes >= 2 ? sweepgrid_col_value(d, c, 1 + h) : "val loss";
            /* a value repeated from the column before is left out on all but the last line */
            if (h < NH - 1 && c > 0 && !strcmp(v, sweepgrid_col_value(d, c - 1, 1 + h)))
                continue;
            centred(g, x0 + c * cw, tw, y, ROLE_AXIS, 0, v);
        }
    }
}

/* One cell at (x, y), tw cells: its text on its colour (or, too narrow for text and without
 * colour, the density of its level). */
static void draw_cell(ui_grid *g, int x, int y, int tw, const sweepgrid_spec *s, int cell,
                      double lo, double hi)
{
    const nl_sweep_cell_stats *st = &s->stats[cell];
    int best = nl_sweep_is_best(s->def, s->stats, cell);
    char text[32];
    cell_text(st, best, tw, text, sizeof text);
    int lev = sweepgrid_level(st->mean, lo, hi);
    int role, attr = best ? UI_A_BOLD : 0;
    if (st->runs == 0)
        role = ROLE_CELL_EMPTY;
    else if (st->diverged)
        role = ROLE_CELL_DIV;
    else if (lev >= 0)
        role = s->mono ? ROLE_NORMAL : ROLE_HEATBG0 + lev;
    else
        role = ROLE_NORMAL;
    if (!s->mono && role != ROLE_NORMAL)
        for (int k = 0; k < tw; k++)
            grid_put(g, x + k, y, L' ', role, attr);
    if (text[0]) {
        centred(g, x, tw, y, role, attr, text);
    } else if (role == ROLE_NORMAL && lev >= 0) {
        int hl = lev * (UI_HEAT_LEVELS - 1) / (SWEEPGRID_LEVELS - 1);
        for (int k = 0; k < tw; k++)
            grid_put(g, x + k, y, heat_glyph(hl, s->glyphs, 1), ROLE_HEAT0 + hl, 0);
    }
}

/* The colour scale from lo to hi and the marks' legend on row y from x. */
static void draw_legend(ui_grid *g, int x, int y, int right, const sweepgrid_spec *s, double lo,
                        double hi)
{
    if (isfinite(lo)) {
        char a[24], b[24];
        snprintf(a, sizeof a, "%.3f", lo);
        snprintf(b, sizeof b, "%.3f", hi);
        x += grid_text(g, x, y, right - x, ROLE_AXIS, 0, a) + 1;
        for (int k = 0; k < SWEEPGRID_LEVELS && x < right; k++, x++) {
            if (s->mono) {
                int hl = k * (UI_HEAT_LEVELS - 1) / (SWEEPGRID_LEVELS - 1);
                grid_put(g, x, y, heat_glyph(hl, s->glyphs, 1), ROLE_HEAT0 + hl, 0);
            } else {
                grid_put(g, x, y, L' ', ROLE_HEATBG0 + k, 0);
            }
        }
        x += 1;
        x += grid_text(g, x, y, right - x, ROLE_AXIS, 0, b) + 2;
    }
    static const struct {
        const char *sample, *text;
        int role;
    } marks[] = {{"*", " best in column", ROLE_NORMAL},
                 {"!", " diverged", ROLE_CELL_DIV},
                 {"-", " not run", ROLE_CELL_EMPTY}};
    for (int i = 0; i < 3; i++) {
        int w = 1 + (int)strlen(marks[i].text);
        if (x + w > right)
            break;
        grid_text(g, x, y, 1, marks[i].role, i == 0 ? UI_A_BOLD : 0, marks[i].sample);
        x += 1 + grid_text(g, x + 1, y, right - x - 1, ROLE_AXIS, 0, marks[i].text) + 2;
    }
}

/* The colour range: the grid's finite means (lo = INFINITY when none). */
static void mean_range(const sweepgrid_spec *s, double *lo, double *hi)
{
    int cells = nl_sweep_cells(s->def);
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < cells; i++)
        if (isfinite(s->stats[i].mean)) {
            *lo = s->stats[i].mean < *lo ? s->stats[i].mean : *lo;
            *hi = s->stats[i].mean > *hi ? s->stats[i].mean : *hi;
        }
}

void sweepgrid_draw(ui_grid *g, ui_rect r, const sweepgrid_spec *s, sweepgrid_layout *out)
{
    const nl_sweep_def *d = s->def;
    int R = sweepgrid_rows(d), C = sweepgrid_cols(d), NH = header_lines(d);
    sweepgrid_layout L = {0, 0, 1, 0, 0, 0};
    if (out)
        *out = L;
    if (r.w < 12 || r.h < NH + 2)
        return;
    int lw = label_width(d, R, r.w);
    int cw = (r.w - lw) / (C > 0 ? C : 1);
    if (cw > 10)
        cw = 10;
    if (cw < 1)
        cw = 1;
    int tw = cw >= 3 ? cw - 1 : cw; /* text width: a gap between wide cells */
    int cols_shown = (r.w - lw) / cw < C ? (r.w - lw) / cw : C;
    int x0 = r.x + lw;
    draw_header(g, r, d, NH, lw, x0, cw, tw, cols_shown);
    double lo, hi;
    mean_range(s, &lo, &hi);
    /* rows, scrolled so the selection shows */
    int room = r.h - NH - 1, first = 0; /* >= 1: r.h >= NH + 2 */
    if (s->sel >= room)
        first = s->sel - room + 1;
    int shown = R - first < room ? R - first : room;
    for (int i = 0; i < shown; i++) {
        int row = first + i, y = r.y + NH + i, sel = row == s->sel;
        if (sel)
            grid_put(g, r.x, y, s->glyphs == UI_GLYPH_ASCII ? L'>' : L'▶', ROLE_SELECT, UI_A_BOLD);
        grid_text(g, r.x + 2, y, lw - 3, sel ? ROLE_SELECT : ROLE_NORMAL, sel ? UI_A_BOLD : 0,
                  d->n_axes ? d->axes[0].values[row] : "base");
        for (int c = 0; c < cols_shown; c++)
            draw_cell(g, x0 + c * cw, y, tw, s, row * C + c, lo, hi);
    }
    if (C > cols_shown)
        grid_textf(g, x0 + cols_shown * cw, r.y + NH, r.x + r.w - x0 - cols_shown * cw, ROLE_DIM, 0,
                   "+%d", C - cols_shown);
    int y = r.y + NH + shown;
    draw_legend(g, r.x + 2, y >= r.y + r.h ? r.y + r.h - 1 : y, r.x + r.w, s, lo, hi);
    L.x0 = x0;
    L.y0 = r.y + NH;
    L.cw = cw;
    L.first = first;
    L.shown = shown;
    L.cols_shown = cols_shown;
    if (out)
        *out = L;
}
