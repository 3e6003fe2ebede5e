#include "loadmap.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "heatmap.h"

int loadmap_level(double frac, int experts)
{
    if (!isfinite(frac) || frac < 0 || experts < 1)
        return -1;
    double t = frac * experts / 2; /* 0 .. 1 over 0 .. 2/E */
    int k = (int)floor(t * UI_HEAT_LEVELS + 1e-9);
    if (k < 0)
        k = 0;
    if (k >= UI_HEAT_LEVELS)
        k = UI_HEAT_LEVELS - 1;
    return k;
}

/* Max of the fractions in a (layer group, expert group) block. */
static float block_max(const loadmap_spec *s, int l0, int l1, int e0, int e1)
{
    float m = NAN;
    for (int l = l0; l < l1 && l < s->layers; l++)
        for (int e = e0; e < e1 && e < s->experts; e++) {
            float v = s->frac[(size_t)l * s->experts + e];
            if (isfinite(v) && !(m >= v))
                m = v;
        }
    return m;
}

static void centred(ui_grid *g, int x, int w, int y, int role, int attr, const char *text)
{
    int n = text_cells(text);
    grid_text(g, x + (w - n + 1) / 2, y, n, role, attr, text);
}

/* Where the map's parts go in its rect. */
typedef struct lm_layout {
    int lw, entw;           /* the layer labels' and the entropy column's widths */
    int ge, ncol, per, gap; /* experts a column, columns, cells a column, gap in it */
    int cw;                 /* the cells a column draws (per - gap) */
    int gl, nrow;           /* layers a row, rows */
    int scale;              /* a last row for the scale */
    int x0, ex;             /* the first column's left edge, the entropy column's */
} lm_layout;

/* Returns 0 when nothing fits. */
static int lm_layout_of(const loadmap_spec *s, ui_rect r, lm_layout *m)
{
    int L = s->layers, E = s->experts;
    char buf[32];
    snprintf(buf, sizeof buf, "M%d", L - 1);
    m->lw = (int)strlen(buf) + 1;
    m->entw = s->entropy ? 6 : 0;
    if (r.w - m->lw - m->entw < E)
        m->entw = 0;
    int W = r.w - m->lw - m->entw;
    if (W < 1)
        return 0;
    /* columns: one per expert, or groups of experts when they do not fit */
    m->ge = 1;
    m->ncol = E;
    m->per = W / E;
    if (m->per < 1) {
        m->ge = (E + W - 1) / W;
        m->ncol = (E + m->ge - 1) / m->ge;
        m->per = 1;
    }
    if (m->per > 8)
        m->per = 8;
    m->gap = m->per >= 4 ? 1 : 0;
    m->cw = m->per - m->gap;
    /* rows: one per MoE layer, or groups of layers */
    m->scale = r.h >= 3;
    int H = r.h - 1 - m->scale;
    m->gl = 1;
    m->nrow = L;
    if (L > H) {
        m->gl = (L + H - 1) / H;
        m->nrow = (L + m->gl - 1) / m->gl;
    }
    m->x0 = r.x + m->lw;
    m->ex = m->x0 + m->ncol * m->per - m->gap;
    return 1;
}

/* The header: expert indices, and H over the entropy column. */
static void lm_header(ui_grid *g, ui_rect r, const lm_layout *m)
{
    char buf[32];
    snprintf(buf, sizeof buf, "E%d", (m->ncol - 1) * m->ge);
    int lstep = (int)strlen(buf) <= m->cw ? 1 : ((int)strlen(buf) + m->per) / m->per;
    for (int c = 0; c < m->ncol; c += lstep) {
        snprintf(buf, sizeof buf, "E%d", c * m->ge);
        if (lstep == 1)
            centred(g, m->x0 + c * m->per, m->cw, r.y, ROLE_AXIS, 0, buf);
        else if (m->x0 + c * m->per + (int)strlen(buf) <= m->x0 + m->ncol * m->per)
            grid_text(g, m->x0 + c * m->per, r.y, (int)strlen(buf), ROLE_AXIS, 0, buf);
    }
    if (m->entw)
        grid_text(g, m->ex + m->entw - 1, r.y, 1, ROLE_AXIS, 0, "H");
}

/* Row i (layers l0..l1) at y: its label, a cell per column, the router entropy. */
static void lm_row(ui_grid *g, ui_rect r, const loadmap_spec *s, const lm_layout *m, int i)
{
    int L = s->layers, E = s->experts, cw = m->cw;
    int y = r.y + 1 + i, l0 = i * m->gl, l1 = l0 + m->gl;
    char buf[32];
    snprintf(buf, sizeof buf, "M%d", l0);
    grid_text(g, r.x, y, m->lw - 1, ROLE_AXIS, 0, buf);
    for (int c = 0; c < m->ncol; c++) {
        float v = block_max(s, l0, l1, c * m->ge, (c + 1) * m->ge);
        int lev = loadmap_level(v, E), x = m->x0 + c * m->per;
        if (lev < 0)
            continue;
        snprintf(buf, sizeof buf, "%.0f", v * 100);
        int hot = v * E >= 2; /* at or past the top of the ramp */
        if ((int)strlen(buf) <= cw && cw >= 2) {
            if (s->mono) {
                centred(g, x, cw, y, ROLE_NORMAL, hot ? UI_A_BOLD : 0, buf);
            } else {
                for (int k = 0; k < cw; k++)
                    grid_put(g, x + k, y, L' ', ROLE_HEATBG0 + lev, 0);
                centred(g, x, cw, y, ROLE_HEATBG0 + lev, hot ? UI_A_BOLD : 0, buf);
            }
        } else {
            for (int k = 0; k < cw; k++)
                grid_put(g, x + k, y, heat_glyph(lev, s->glyphs, s->mono), ROLE_HEAT0 + lev, 0);
        }
    }
    if (!m->entw)
        return;
    float h = NAN;
    for (int l = l0; l < l1 && l < L; l++)
        if (isfinite(s->entropy[l]) && !(h <= s->entropy[l]))
            h = s->entropy[l]; /* a collapsing router is the one to see */
    if (isfinite(h)) {
        snprintf(buf, sizeof buf, "%.2f", h);
        grid_text(g, m->ex + m->entw - (int)strlen(buf), y, m->entw, ROLE_NORMAL, 0, buf);
    }
}

/* The scale: 0 [ramp] 2/E, then the even share and what H is, where they fit. */
static void lm_scale(ui_grid *g, ui_rect r, const loadmap_spec *s, const lm_layout *m)
{
    int E = s->experts;
    int y = r.y + 1 + m->nrow, x = m->x0, right = r.x + r.w;
    char top[24], even[48];
    snprintf(top, sizeof top, "%.0f%%", 200.0 / E);
    snprintf(even, sizeof even, " even %.0f%%", 100.0 / E);
    int room = right - x - 2 - 1 - (int)strlen(top), ramp = room;
    if (room - (int)strlen(even) >= UI_HEAT_LEVELS / 2)
        ramp = room - (int)strlen(even); /* a shorter ramp leaves room for the even share */
    if (ramp > UI_HEAT_LEVELS)
        ramp = UI_HEAT_LEVELS;
    if (ramp < 4)
        return;
    x += grid_text(g, x, y, 2, ROLE_AXIS, 0, "0 ");
    for (int k = 0; k < ramp; k++, x++) {
        int lev = k * UI_HEAT_LEVELS / ramp;
        grid_put(g, x, y, heat_glyph(lev, s->glyphs, s->mono), ROLE_HEAT0 + lev, 0);
    }
    x += 1;
    x += grid_text(g, x, y, right - x, ROLE_AXIS, 0, top);
    if (x + (int)strlen(even) <= right)
        x += grid_text(g, x, y, right - x, ROLE_AXIS, 0, even);
    if (m->entw && x + 10 <= right)
        grid_text(g, x, y, right - x, ROLE_AXIS, 0, " H: nats");
}

void loadmap_draw(ui_grid *g, ui_rect r, const loadmap_spec *s)
{
    if (s->layers < 1 || s->experts < 1 || !s->frac || r.h < 2 || r.w < 6) {
        grid_text(g, r.x, r.y, r.w, ROLE_DIM, 0, "waiting for data");
        return;
    }
    lm_layout m;
    if (!lm_layout_of(s, r, &m))
        return;
    lm_header(g, r, &m);
    for (int i = 0; i < m.nrow; i++)
        lm_row(g, r, s, &m, i);
    if (m.scale)
        lm_scale(g, r, s, &m);
}
