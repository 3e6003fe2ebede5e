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

void loadmap_draw(ui_grid *g, ui_rect r, const loadmap_spec *s)
{
    int L = s->layers, E = s->experts;
    if (L < 1 || E < 1 || !s->frac || r.h < 2 || r.w < 6) {
        grid_text(g, r.x, r.y, r.w, ROLE_DIM, 0, "waiting for data");
        return;
    }
    char buf[32];
    snprintf(buf, sizeof buf, "M%d", L - 1);
    int lw = (int)strlen(buf) + 1;
    int entw = s->entropy ? 6 : 0;
    if (r.w - lw - entw < E)
        entw = 0;
    int W = r.w - lw - entw;
    if (W < 1)
        return;
    /* columns: one per expert, or groups of experts when they do not fit */
    int ge = 1, ncol = E, per = W / E;
    if (per < 1) {
        ge = (E + W - 1) / W;
        ncol = (E + ge - 1) / ge;
        per = 1;
    }
    if (per > 8)
        per = 8;
    int gap = per >= 4 ? 1 : 0, cw = per - gap;
    /* rows: one per MoE layer, or groups of layers */
    int scale = r.h >= 3;
    int H = r.h - 1 - scale;
    int gl = 1, nrow = L;
    if (L > H) {
        gl = (L + H - 1) / H;
        nrow = (L + gl - 1) / gl;
    }
    int x0 = r.x + lw;

    /* header: expert indices, and H over the entropy column */
    snprintf(buf, sizeof buf, "E%d", (ncol - 1) * ge);
    int lstep = (int)strlen(buf) <= cw ? 1 : ((int)strlen(buf) + per) / per;
    for (int c = 0; c < ncol; c += lstep) {
        snprintf(buf, sizeof buf, "E%d", c * ge);
        if (lstep == 1)
            centred(g, x0 + c * per, cw, r.y, ROLE_AXIS, 0, buf);
        else if (x0 + c * per + (int)strlen(buf) <= x0 + ncol * per)
            grid_text(g, x0 + c * per, r.y, (int)strlen(buf), ROLE_AXIS, 0, buf);
    }
    int ex = x0 + ncol * per - gap; /* the entropy column's left edge */
    if (entw)
        grid_text(g, ex + entw - 1, r.y, 1, ROLE_AXIS, 0, "H");

    for (int i = 0; i < nrow; i++) {
        int y = r.y + 1 + i, l0 = i * gl, l1 = l0 + gl;
        snprintf(buf, sizeof buf, "M%d", l0);
        grid_text(g, r.x, y, lw - 1, ROLE_AXIS, 0, buf);
        for (int c = 0; c < ncol; c++) {
            float v = block_max(s, l0, l1, c * ge, (c + 1) * ge);
            int lev = loadmap_level(v, E), x = x0 + c * per;
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
        if (entw) {
            float h = NAN;
            for (int l = l0; l < l1 && l < L; l++)
                if (isfinite(s->entropy[l]) && !(h <= s->entropy[l]))
                    h = s->entropy[l]; /* a collapsing router is the one to see */
            if (isfinite(h)) {
                snprintf(buf, sizeof buf, "%.2f", h);
                grid_text(g, ex + entw - (int)strlen(buf), y, entw, ROLE_NORMAL, 0, buf);
            }
        }
    }

    if (!scale)
        return;
    /* scale: 0 [ramp] 2/E, then the even share and what H is, where they fit */
    int y = r.y + 1 + nrow, x = x0, right = r.x + r.w;
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
    if (entw && x + 10 <= right)
        grid_text(g, x, y, right - x, ROLE_AXIS, 0, " H: nats");
}
