/* The widgets, drawn into the off-screen grid: plot axes and ticks, the shape of a known
 * series, log y, the ASCII fallback, the heatmap's colour ordering, the bar strip, the
 * history's bucketing (a spike a million steps back still shows), the expert-load map of an
 * MoE run, the grid of a sweep, and the dashboard and setup form. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ncursesw/curses.h>

#include "engine/config.h"
#include "engine/memest.h"
#include "t.h"
#include "ui/bars.h"
#include "ui/dash.h"
#include "ui/grid.h"
#include "ui/heatmap.h"
#include "ui/history.h"
#include "ui/keys.h"
#include "ui/loadmap.h"
#include "ui/plot.h"
#include "ui/runview.h"
#include "ui/setup.h"
#include "ui/sweepgrid.h"
#include "ui/tail.h"
#include "ui/teach.h"
#include "ui/term.h"
#include "ui/widgets.h"

#include "grid_t.h"

static int cell_dotted(ui_grid *g, int x, int y)
{
    ui_cell *c = grid_at(g, x, y);
    return c && c->ch != L' ' && c->ch != 0x2800;
}

static void test_grid_text(void)
{
    ui_grid g;
    grid_init(&g, 10, 2);
    int n = grid_text(&g, 1, 0, -1, ROLE_NORMAL, 0, "a\xe2\x94\x80z"); /* a─z */
    T_CHECK(n == 3, "wrote %d cells", n);
    T_CHECK(grid_at(&g, 2, 0)->ch == 0x2500, "box char decoded as U+%04X",
            (unsigned)grid_at(&g, 2, 0)->ch);
    n = grid_text(&g, 7, 1, -1, ROLE_NORMAL, 0, "abcdef");
    T_CHECK(n == 3, "clipped to %d", n);
    n = grid_text(&g, 0, 1, 2, ROLE_NORMAL, 0,
                  "\xff"
                  "x");
    T_CHECK(grid_at(&g, 0, 1)->ch == L'?', "invalid byte shows as ?");
    char buf[64];
    grid_row_utf8(&g, 0, buf, sizeof buf);
    T_CHECK(!strcmp(buf, " a\xe2\x94\x80z"), "row 0 is '%s'", buf);
    grid_free(&g);
}

static void test_ticks(void)
{
    double t[16];
    int n = plot_ticks_linear(0, 10, 6, t);
    T_CHECK(n == 6 && t[0] == 0 && t[5] == 10, "0..10 ticks: n=%d first %g last %g", n, t[0],
            n ? t[n - 1] : 0);
    n = plot_ticks_linear(0.13, 0.91, 5, t);
    T_CHECK(n >= 3 && n <= 5, "0.13..0.91: %d ticks", n);
    for (int i = 0; i < n; i++)
        T_CHECK(t[i] >= 0.13 && t[i] <= 0.91, "tick %g outside", t[i]);
    n = plot_ticks_log(1, 1000, 4, t);
    T_CHECK(n == 4 && t[0] == 1 && fabs(t[3] - 1000) < 1e-9, "log 1..1000: n=%d", n);
    n = plot_ticks_log(2, 9, 5, t);
    T_CHECK(n >= 2, "inside one decade: %d ticks", n);
    char b[32];
    plot_fmt_count(12500, b, sizeof b);
    T_CHECK(!strcmp(b, "12.5k"), "12500 -> %s", b);
    plot_fmt_count(3000000, b, sizeof b);
    T_CHECK(!strcmp(b, "3M"), "3e6 -> %s", b);
    plot_fmt_value(1e-5, b, sizeof b);
    T_CHECK(!strcmp(b, "1e-5"), "1e-5 -> %s", b);
    plot_fmt_value(1000, b, sizeof b);
    T_CHECK(!strcmp(b, "1000"), "1000 -> %s", b);
}

/* y = x over 0..100 in a 40x12 plot: ticks on both axes, and the line rises left to right. */
static void test_plot_axes_and_line(void)
{
    ui_grid g;
    grid_init(&g, 40, 12);
    double x[101], y[101];
    for (int i = 0; i <= 100; i++)
        x[i] = y[i] = i;
    plot_series s = {"ramp", ROLE_SERIES0, 0, 101, x, y, NULL, NULL, 0};
    plot_spec p = {UI_GLYPH_BRAILLE, 0, "step", NAN, NAN, NAN, NULL, 1, 1, &s, 0, .mono = 0};
    plot_layout L;
    plot_draw(&g, (ui_rect){0, 0, 40, 12}, &p, &L);
    dump(__func__, &g);
    T_CHECK(L.has_data, "has data");
    T_CHECK(row_has(&g, 0, "ramp"), "legend shows the series name");
    /* y labels: 0 near the bottom of the area, 100 near the top, with a tick mark beside */
    int found0 = 0, found100 = 0;
    for (int yy = L.area.y; yy < L.area.y + L.area.h; yy++) {
        char buf[256];
        grid_row_utf8(&g, yy, buf, sizeof buf);
        if (!strncmp(buf, "  0\xe2\x94\xa4", 6))
            found0 = yy;
        if (!strncmp(buf, "100\xe2\x94\xa4", 6))
            found100 = yy;
    }
    T_CHECK(found0 == L.area.y + L.area.h - 1, "tick 0 on the bottom row (row %d)", found0);
    T_CHECK(found100 == L.area.y, "tick 100 on the top row (row %d)", found100);
    /* x labels under the axis; the caption under the y labels */
    int lab = L.area.y + L.area.h + 1;
    T_CHECK(row_has(&g, lab, "step"), "x caption");
    T_CHECK(row_has(&g, lab, "0") && row_has(&g, lab, "100"), "x tick labels 0 and 100");
    /* shape: the topmost dotted row of each column never goes down as x grows */
    int prev_top = 1 << 30, cols = 0;
    for (int xx = L.area.x; xx < L.area.x + L.area.w; xx++) {
        int top = -1;
        for (int yy = L.area.y; yy < L.area.y + L.area.h; yy++)
            if (cell_dotted(&g, xx, yy)) {
                top = yy;
                break;
            }
        if (top < 0)
            continue;
        cols++;
        T_CHECK(top <= prev_top, "column %d top row %d below previous %d", xx, top, prev_top);
        prev_top = top;
    }
    T_CHECK(cols == L.area.w, "every column has a dot (%d of %d)", cols, L.area.w);
    T_CHECK(cell_dotted(&g, L.area.x, L.area.y + L.area.h - 1), "starts bottom left");
    T_CHECK(cell_dotted(&g, L.area.x + L.area.w - 1, L.area.y), "ends top right");
    T_CHECK(grid_at(&g, L.area.x, L.area.y + L.area.h - 1)->role == ROLE_SERIES0, "series colour");
    grid_free(&g);
}

/* A V shape: lowest in the middle column, high at both ends. */
static void test_plot_v_shape(void)
{
    ui_grid g;
    grid_init(&g, 30, 10);
    double x[21], y[21];
    for (int i = 0; i <= 20; i++) {
        x[i] = i;
        y[i] = fabs(i - 10.0);
    }
    plot_series s = {NULL, ROLE_SERIES0 + 1, 0, 21, x, y, NULL, NULL, 0};
    plot_spec p = {UI_GLYPH_BLOCK, 0, NULL, NAN, NAN, NAN, NULL, 0, 1, &s, 0, .mono = 0};
    plot_layout L;
    plot_draw(&g, (ui_rect){0, 0, 30, 10}, &p, &L);
    dump(__func__, &g);
    int bottom = L.area.y + L.area.h - 1, mid = L.area.x + L.area.w / 2;
    int lowest_col = -1;
    for (int xx = L.area.x; xx < L.area.x + L.area.w; xx++)
        if (cell_dotted(&g, xx, bottom)) {
            lowest_col = xx;
            break;
        }
    T_CHECK(abs(lowest_col - mid) <= 1, "bottom reached at column %d, middle is %d", lowest_col,
            mid);
    T_CHECK(cell_dotted(&g, L.area.x, L.area.y) &&
                cell_dotted(&g, L.area.x + L.area.w - 1, L.area.y),
            "both ends at the top");
    T_CHECK(!cell_dotted(&g, mid, L.area.y), "the middle is not at the top");
    grid_free(&g);
}

static void test_plot_ascii(void)
{
    ui_grid g;
    grid_init(&g, 50, 14);
    double x[50], y[50], y2[50], vx[2] = {10, 40}, vy[2] = {3, 2};
    for (int i = 0; i < 50; i++) {
        x[i] = i;
        y[i] = 5 - i * 0.06;
        y2[i] = 4 + sin(i * 0.3);
    }
    plot_series s[3] = {{"post", ROLE_SERIES0, 0, 50, x, y, NULL, NULL, 0},
                        {"pre", ROLE_SERIES0 + 1, 1, 50, x, y2, NULL, NULL, 0},
                        {"val", ROLE_VAL, 0, 2, vx, vy, NULL, NULL, 1}};
    plot_spec p = {UI_GLYPH_ASCII, 0, "step", NAN, NAN, 1.5, "floor", 1, 3, s, 0, .mono = 0};
    plot_layout L;
    plot_draw(&g, (ui_rect){0, 0, 50, 14}, &p, &L);
    dump(__func__, &g);
    int stars = 0, pluses = 0, os = 0, dashes_floor = 0;
    for (int yy = 0; yy < g.h; yy++)
        for (int xx = 0; xx < g.w; xx++) {
            ui_cell *c = grid_at(&g, xx, yy);
            T_CHECK(c->ch < 128, "non-ASCII U+%04X at %d,%d", (unsigned)c->ch, xx, yy);
            if (yy < L.area.y || xx < L.area.x || yy >= L.area.y + L.area.h)
                continue;
            stars += c->ch == L'*';
            pluses += c->ch == L'+' && c->role == ROLE_SERIES0 + 1;
            os += c->ch == L'o';
            dashes_floor += c->ch == L'-' && c->role == ROLE_FLOOR;
        }
    T_CHECK(stars > 10 && pluses > 10, "both series drawn (%d *, %d +)", stars, pluses);
    T_CHECK(os == 2, "two validation markers, got %d", os);
    T_CHECK(dashes_floor > 20, "floor line drawn (%d cells)", dashes_floor);
    T_CHECK(row_has(&g, 0, "* post") && row_has(&g, 0, "+ pre") && row_has(&g, 0, "floor 1.5"),
            "ASCII legend");
    /* floor 1.5 is the lowest value: it sits on the bottom row */
    int floor_row = -1;
    for (int yy = L.area.y; yy < L.area.y + L.area.h; yy++)
        if (grid_at(&g, L.area.x + 1, yy)->role == ROLE_FLOOR)
            floor_row = yy;
    T_CHECK(floor_row == L.area.y + L.area.h - 1, "floor on row %d", floor_row);
    grid_free(&g);
}

static void test_plot_logy(void)
{
    ui_grid g;
    grid_init(&g, 40, 13);
    double x[4] = {0, 1, 2, 3}, y[4] = {1, 10, 100, 1000};
    plot_series s = {"loss", ROLE_SERIES0, 0, 4, x, y, NULL, NULL, 0};
    plot_spec p = {UI_GLYPH_BRAILLE, 1, NULL, NAN, NAN, NAN, NULL, 0, 1, &s, 0, .mono = 0};
    plot_layout L;
    plot_draw(&g, (ui_rect){0, 0, 40, 13}, &p, &L);
    dump(__func__, &g);
    /* the four decades are evenly spaced rows */
    int rows[4], k = 0;
    const char *labs[4] = {"1000", "100", "10", "1"};
    for (int yy = L.area.y; yy < L.area.y + L.area.h && k < 4; yy++) {
        char buf[256];
        grid_row_utf8(&g, yy, buf, sizeof buf);
        char want[32];
        snprintf(want, sizeof want, "%4s\xe2\x94\xa4", labs[k]);
        if (!strncmp(buf, want, strlen(want)))
            rows[k++] = yy;
    }
    T_CHECK(k == 4, "found %d of 4 decade labels", k);
    if (k == 4) {
        int d1 = rows[1] - rows[0], d2 = rows[2] - rows[1], d3 = rows[3] - rows[2];
        T_CHECK(abs(d1 - d2) <= 1 && abs(d2 - d3) <= 1, "decades %d %d %d rows apart", d1, d2, d3);
    }
    grid_free(&g);
}

/* An envelope (bucket min/max) reaching far above the mean still shows as a column of dots. */
static void test_plot_envelope_spike(void)
{
    ui_grid g;
    grid_init(&g, 40, 12);
    double x[200], y[200], lo[200], hi[200];
    for (int i = 0; i < 200; i++) {
        x[i] = i;
        y[i] = lo[i] = 1;
        hi[i] = i == 37 ? 50 : 1.2;
    }
    plot_series s = {NULL, ROLE_SERIES0, 0, 200, x, y, lo, hi, 0};
    plot_spec p = {UI_GLYPH_BRAILLE, 0, NULL, NAN, NAN, NAN, NULL, 0, 1, &s, 0, .mono = 0};
    plot_layout L;
    plot_draw(&g, (ui_rect){0, 0, 40, 12}, &p, &L);
    dump(__func__, &g);
    int col = L.area.x + (int)lround(37.0 / 199 * (L.area.w * 2 - 1)) / 2, top_cols = 0, hit = 0;
    for (int xx = L.area.x; xx < L.area.x + L.area.w; xx++)
        if (cell_dotted(&g, xx, L.area.y)) {
            top_cols++;
            hit |= abs(xx - col) <= 1;
        }
    T_CHECK(top_cols >= 1 && top_cols <= 2 && hit, "spike: %d top cells, near column %d: %d",
            top_cols, col, hit);
    grid_free(&g);
}

static void test_heatmap_order(void)
{
    /* 3 layers x 16 steps, values 10^(-3 + 4 c/15): the colour level rises left to right */
    enum { R = 3, C = 16 };
    float v[R * C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            v[r * C + c] = (float)pow(10, -3 + 4.0 * c / (C - 1)) * (float)(r + 1);
    v[1 * C + 5] = NAN; /* no data: left blank */
    for (int mono = 0; mono <= 1; mono++) {
        ui_grid g;
        grid_init(&g, 3 + C + 12, 4);
        heatmap_spec s = {R, C, v, UI_GLYPH_BRAILLE, mono, "L", 1, 0, 0};
        heatmap_draw(&g, (ui_rect){0, 0, 3 + C, 4}, &s);
        dump(__func__, &g);
        T_CHECK(row_has(&g, 0, "L0") && row_has(&g, 2, "L2"), "row labels");
        int x0 = 3; /* "L2" + space */
        int prev = -1;
        for (int c = 0; c < C; c++) {
            ui_cell *cell = grid_at(&g, x0 + c, 0);
            int lev = cell->role - ROLE_HEAT0;
            T_CHECK(lev >= 0 && lev < UI_HEAT_LEVELS, "mono=%d col %d: role %d", mono, c,
                    cell->role);
            T_CHECK(lev >= prev, "mono=%d level falls at column %d: %d after %d", mono, c, lev,
                    prev);
            prev = lev;
            if (mono && c > 0) {
                static const char density[] = " .:-=+*#%@";
                wchar_t a = grid_at(&g, x0 + c - 1, 0)->ch, b = cell->ch;
                T_CHECK(strchr(density, (int)a) && strchr(density, (int)b) &&
                            strchr(density, (int)b) >= strchr(density, (int)a),
                        "density falls at column %d ('%lc' after '%lc')", c, (wint_t)b, (wint_t)a);
            }
        }
        T_CHECK(grid_at(&g, x0, 0)->role == ROLE_HEAT0, "coldest cell is level 0");
        T_CHECK(grid_at(&g, x0 + C - 1, 2)->role == ROLE_HEAT0 + UI_HEAT_LEVELS - 1,
                "hottest cell is the top level");
        T_CHECK(grid_at(&g, x0 + 5, 1)->ch == L' ', "missing value left blank");
        T_CHECK(!mono || grid_at(&g, x0 + C - 1, 2)->ch == L'@',
                "mono: densest glyph for the hottest");
        T_CHECK(mono || grid_at(&g, x0 + 2, 0)->ch == 0x2588, "colour: a full block");
        T_CHECK(row_has(&g, 3, "0.001") && row_has(&g, 3, " 30"), "scale row shows the range");
        grid_free(&g);
    }
    T_CHECK(heat_level(1, 1, 100) == 0 && heat_level(100, 1, 100) == UI_HEAT_LEVELS - 1 &&
                heat_level(10, 1, 100) == UI_HEAT_LEVELS / 2 && heat_level(NAN, 1, 10) == -1,
            "heat_level on a log scale");
}

/* Many layers in few rows: the max of the layers sharing a row decides its colour. */
static void test_heat_snap(void)
{
    double lo = 0.03, hi = 0.2;
    heat_snap(&lo, &hi);
    T_NEAR(lo, pow(10, -1.75), 1e-9, "lo to a quarter decade below");
    T_NEAR(hi, pow(10, -0.5), 1e-9, "hi to a quarter decade above");
    lo = 0.01;
    hi = 1;
    heat_snap(&lo, &hi);
    T_NEAR(lo, 0.01, 1e-9, "exact quarter decades stay");
    T_NEAR(hi, 1, 1e-9, "exact quarter decades stay");
}

static void test_heatmap_resample(void)
{
    enum { R = 8, C = 4 };
    float v[R * C];
    for (int i = 0; i < R * C; i++)
        v[i] = 1;
    v[5 * C + 2] = 1000;
    ui_grid g;
    grid_init(&g, 12, 4);
    heatmap_spec s = {R, C, v, UI_GLYPH_ASCII, 0, "L", 0, 1, 0};
    heatmap_draw(&g, (ui_rect){0, 0, 12, 4}, &s);
    dump(__func__, &g);
    /* rows show layers 0,2,4,6; layer 5 falls in the third row */
    T_CHECK(row_has(&g, 2, "L4"), "third row is labelled L4");
    int hot = 0;
    for (int x = 0; x < 12; x++)
        for (int y = 0; y < 4; y++)
            if (grid_at(&g, x, y)->role == ROLE_HEAT0 + UI_HEAT_LEVELS - 1)
                hot = hot ? hot : y + 1;
    T_CHECK(hot == 3, "the spike shows in row %d", hot - 1);
    grid_free(&g);
}

static void test_bars(void)
{
    float v[4] = {1, 2, 4, 8};
    ui_grid g;
    grid_init(&g, 16, 7);
    bars_spec s = {4, v, UI_GLYPH_BLOCK, 0, ROLE_SERIES0, 0, 0, 0, 0, 0};
    bars_draw(&g, (ui_rect){0, 0, 16, 7}, &s);
    dump(__func__, &g);
    int h[4];
    for (int i = 0; i < 4; i++) {
        h[i] = 0;
        for (int y = 1; y < 6; y++)
            h[i] += grid_at(&g, i * 4, y)->ch != L' ';
    }
    T_CHECK(h[0] <= h[1] && h[1] <= h[2] && h[2] < h[3] && h[3] == 5, "heights %d %d %d %d", h[0],
            h[1], h[2], h[3]);
    T_CHECK(grid_at(&g, 12, 1)->ch == 0x2588, "tallest bar fills its top cell");
    T_CHECK(row_has(&g, 6, "0") && row_has(&g, 6, "3"), "layer indices under the bars");
    grid_free(&g);
}

/* Three MoE layers of four experts: an even split, a collapse onto expert 0, and a split
 * between experts 0 and 1. The colours, the percentages, the entropy column and the
 * fallbacks (no colour; cells too narrow for text) follow the pattern. */
static void test_loadmap(void)
{
    enum { M = 3, E = 4 };
    const float frac[M * E] = {0.25f, 0.25f, 0.25f, 0.25f, 1, 0, 0, 0, 0.5f, 0.5f, 0, 0};
    const float ent[M] = {1.386f, 0.0f, 0.693f};
    T_CHECK(loadmap_level(0.25, 4) == UI_HEAT_LEVELS / 2 && loadmap_level(0, 4) == 0 &&
                loadmap_level(0.5, 4) == UI_HEAT_LEVELS - 1 &&
                loadmap_level(1, 4) == UI_HEAT_LEVELS - 1 && loadmap_level(NAN, 4) == -1 &&
                loadmap_level(0.125, 8) == UI_HEAT_LEVELS / 2,
            "levels: even share mid-ramp, 2/E and above hottest");
    ui_grid g;
    grid_init(&g, 32, 6);
    loadmap_spec s = {M, E, frac, ent, UI_GLYPH_BRAILLE, 0};
    loadmap_draw(&g, (ui_rect){0, 0, 32, 6}, &s);
    dump(__func__, &g);
    /* "M2 " then 4 cells of 5 (4 + a gap), then the entropy column */
    T_CHECK(row_has(&g, 0, "E0") && row_has(&g, 0, "E3") && row_has(&g, 0, "H"), "header");
    T_CHECK(row_has(&g, 1, "M0") && row_has(&g, 3, "M2"), "row labels");
    int x0 = 3, per = 5;
    int want[M][E] = {{8, 8, 8, 8}, {15, 0, 0, 0}, {15, 15, 0, 0}};
    for (int m = 0; m < M; m++)
        for (int e = 0; e < E; e++) {
            ui_cell *c = grid_at(&g, x0 + e * per, 1 + m);
            T_CHECK(c->role == ROLE_HEATBG0 + want[m][e], "layer %d expert %d: role %d, want %d", m,
                    e, c->role - ROLE_HEATBG0, want[m][e]);
        }
    char row[256];
    grid_row_utf8(&g, 1, row, sizeof row);
    T_CHECK(strstr(row, "25   25   25   25") && strstr(row, "1.39"), "even row: '%s'", row);
    grid_row_utf8(&g, 2, row, sizeof row);
    T_CHECK(strstr(row, "100") && strstr(row, "0.00"), "collapsed row: '%s'", row);
    T_CHECK(row_has(&g, 4, "50%") && row_has(&g, 4, "even 25%"), "scale row");

    /* no colour: the numbers carry it; nothing on a coloured background */
    s.mono = 1;
    grid_clear(&g);
    loadmap_draw(&g, (ui_rect){0, 0, 32, 6}, &s);
    dump(__func__, &g);
    int bg = 0;
    for (int i = 0; i < g.w * g.h; i++)
        bg += g.cells[i].role >= ROLE_HEATBG0 && g.cells[i].role < ROLE_HEATBG0 + UI_HEAT_LEVELS;
    grid_row_utf8(&g, 3, row, sizeof row);
    T_CHECK(bg == 0 && strstr(row, "50   50    0    0"), "mono split row: '%s' (%d bg)", row, bg);

    /* 64 experts in 20 columns: groups of four, each showing its busiest expert */
    float wide[64];
    for (int e = 0; e < 64; e++)
        wide[e] = e == 37 ? 0.5f : 0.5f / 63;
    loadmap_spec w = {1, 64, wide, NULL, UI_GLYPH_ASCII, 0};
    grid_free(&g);
    grid_init(&g, 19, 3);
    loadmap_draw(&g, (ui_rect){0, 0, 19, 3}, &w);
    dump(__func__, &g);
    int hot = -1;
    for (int x = 3; x < 19; x++)
        if (grid_at(&g, x, 1)->role == ROLE_HEAT0 + UI_HEAT_LEVELS - 1)
            hot = x;
    T_CHECK(hot == 3 + 37 / 4 && grid_at(&g, hot, 1)->ch == L'#',
            "the hot expert 37 in column %d (want %d)", hot, 3 + 37 / 4);
    grid_free(&g);
}

/* A 2x2 sweep with 2 seeds: pre/1 two runs (mean 3.1), pre/2 one run at 2.9 and one
 * diverged, post/1 two runs (mean 3.6), post/2 none yet. */
static void sweep_2x2(nl_sweep_def *d, nl_sweep_cell_stats *st)
{
    nl_error err = {0};
    nl_sweep_def_init(d);
    d->seeds = 2;
    int rc = nl_sweep_add_axis(d, "model.placement=pre,post", &err);
    rc |= nl_sweep_add_axis(d, "model.layers=1,2", &err);
    T_CHECK(rc == 0 && nl_sweep_cells(d) == 4, "sweep definition: %s", err.msg);
    nl_sweep_result rows[5];
    memset(rows, 0, sizeof rows);
    const struct {
        int cell, seed, div;
        float val;
    } r[5] = {{0, 0, 0, 3.0f}, {0, 1, 0, 3.2f}, {1, 0, 0, 2.9f}, {1, 1, 1, NAN}, {2, 0, 0, 3.5f}};
    for (int i = 0; i < 5; i++) {
        rows[i].cell = r[i].cell;
        rows[i].seed = r[i].seed;
        rows[i].diverged = r[i].div;
        rows[i].val_loss = r[i].val;
        rows[i].train_loss = rows[i].best_loss = r[i].val;
    }
    nl_sweep_result more = rows[4];
    more.seed = 1;
    more.val_loss = 3.7f;
    nl_sweep_result all[6];
    memcpy(all, rows, sizeof rows);
    all[5] = more;
    nl_sweep_summarise(d, all, 6, st);
}

static void test_sweepgrid(void)
{
    nl_sweep_def *d = malloc(sizeof *d);
    nl_sweep_cell_stats st[4];
    sweep_2x2(d, st);
    T_CHECK(sweepgrid_rows(d) == 2 && sweepgrid_cols(d) == 2 && sweepgrid_height(d) == 4,
            "2 rows, 2 columns, 4 lines");
    ui_grid g;
    grid_init(&g, 72, 5);
    sweepgrid_spec s = {d, st, 1, UI_GLYPH_BRAILLE, 0};
    sweepgrid_layout L;
    sweepgrid_draw(&g, (ui_rect){0, 0, 72, 5}, &s, &L);
    dump(__func__, &g);
    T_CHECK(row_has(&g, 0, "layers") && L.y0 == 1 && L.shown == 2 && L.cols_shown == 2,
            "header line, two rows and columns shown");
    T_CHECK(row_has(&g, 1, "pre") && row_has(&g, 2, "post"), "row labels");
    T_CHECK(grid_at(&g, 0, 2)->ch == L'▶' && grid_at(&g, 2, 2)->role == ROLE_SELECT,
            "the second row is selected");
    char buf[256];
    grid_row_utf8(&g, 0, buf, sizeof buf);
    T_CHECK(buf[L.x0 + (L.cw - 1) / 2] == '1', "column 1 heading: '%s'", buf);
    /* cell texts: mean, * best in column, ! a diverged seed, - not run */
    T_CHECK(row_has(&g, 1, "3.100*") && row_has(&g, 1, "2.900*!"), "pre row: marks");
    grid_row_utf8(&g, 2, buf, sizeof buf);
    T_CHECK(strstr(buf, "3.600") && !strstr(buf, "3.600*") && strstr(buf, " -"), "post row: '%s'",
            buf);
    /* colours: pre/1 cold end of the ramp, post/1 warm end, pre/2 red, post/2 grey */
    int c01 = L.x0 + 1, c2 = L.x0 + L.cw + 1;
    T_CHECK(grid_at(&g, c01, 1)->role == ROLE_HEATBG0 + 3, "pre/1 level %d",
            grid_at(&g, c01, 1)->role - ROLE_HEATBG0);
    T_CHECK(grid_at(&g, c01, 2)->role == ROLE_HEATBG0 + SWEEPGRID_LEVELS - 1, "post/1 hottest");
    T_CHECK(grid_at(&g, c2, 1)->role == ROLE_CELL_DIV, "pre/2 diverged");
    T_CHECK(grid_at(&g, c2, 2)->role == ROLE_CELL_EMPTY, "post/2 not run");
    T_CHECK(grid_at(&g, c01, 1)->attr & UI_A_BOLD, "the best cell is bold");
    T_CHECK(row_has(&g, 3, "2.900") && row_has(&g, 3, "3.600") && row_has(&g, 3, "diverged") &&
                row_has(&g, 3, "not run"),
            "scale line");

    /* no colour: the same text, no coloured backgrounds, divergence still marked */
    s.mono = 1;
    grid_clear(&g);
    sweepgrid_draw(&g, (ui_rect){0, 0, 72, 5}, &s, &L);
    int bg = 0;
    for (int i = 0; i < g.w * g.h; i++)
        bg += g.cells[i].role >= ROLE_HEATBG0 && g.cells[i].role < ROLE_HEATBG0 + UI_HEAT_LEVELS;
    T_CHECK(bg == 0 && row_has(&g, 1, "2.900*!") && row_has(&g, 2, "3.600"), "mono: %d bg", bg);

    /* narrow cells: the marks alone, density for a plain cell without colour */
    grid_free(&g);
    grid_init(&g, 13, 5);
    sweepgrid_draw(&g, (ui_rect){0, 0, 13, 5}, &s, &L);
    dump(__func__, &g);
    T_CHECK(L.cw == 3, "cells of %d", L.cw);
    grid_row_utf8(&g, 1, buf, sizeof buf);
    T_CHECK(strstr(buf, "pre  * *!"), "narrow pre row: '%s'", buf);
    T_CHECK(grid_at(&g, L.x0, 2)->ch == L'@', "narrow post/1: densest '%lc'",
            (wint_t)grid_at(&g, L.x0, 2)->ch);
    grid_free(&g);
    free(d);
}

/* A million steps in a history sized for ~2 MB: memory stays bounded, every step is counted
 * once, recent steps are exact, and a spike 900,000 steps back is still a bucket's max. */
/* The entries of a history of n steps: each step counted once, in order, the spike at step
 * spike in one bucket, recent steps exact. */
static void check_history_entries(history *h, long N, long SPIKE)
{
    int len = history_len(h);
    T_CHECK(len < 8192, "entries %d", len);
    long covered = 0, spike_entries = 0;
    double prev_end = 0;
    int vals = 0;
    for (int i = 0; i < len; i++) {
        hist_entry e;
        history_entry(h, i, &e);
        covered += e.n;
        T_CHECK(e.step0 == prev_end + 1, "entry %d starts at %g after %g", i, e.step0, prev_end);
        prev_end = e.step1;
        T_CHECK(e.tok1 == e.step1 * 64, "tokens follow steps");
        if (history_max(h, i, 2) == 1000.0f) {
            spike_entries++;
            T_CHECK(e.step0 <= SPIKE && e.step1 >= SPIKE, "spike in entry %g..%g", e.step0,
                    e.step1);
            T_CHECK(history_min(h, i, 2) == 1.0f, "bucket min beside the spike");
            T_CHECK(history_mean(h, i, 2) < 1000.0f / 2, "bucket mean is not the max");
        }
        vals += !isnan(history_max(h, i, 1));
        if (i < len - 1 && isnan(history_mean(h, i, 1)) == 0)
            T_CHECK(history_mean(h, i, 1) == 2.5f, "val mean %g", history_mean(h, i, 1));
    }
    T_CHECK(covered == N, "entries cover %ld steps", covered);
    T_CHECK(spike_entries == 1, "spike in %ld entries", spike_entries);
    T_CHECK(vals >= 100, "validation values kept in %d entries", vals);
    hist_entry e;
    history_entry(h, len - 1, &e);
    T_CHECK(e.n == 1 && e.step0 == N && history_mean(h, len - 1, 3) == (float)N,
            "newest step exact");
    history_entry(h, len - 2, &e);
    T_CHECK(e.n == 1 && e.step0 == N - 1, "recent steps at full resolution");
    T_CHECK(history_last(h, 1) == 2.5f, "last validation value");
}

/* Drawn from the history, the spike still reaches the top row of a 60-column plot. */
static void check_spike_plot(history *h, const char *name)
{
    int len = history_len(h);
    hist_entry e;
    double *x = malloc(sizeof(double) * (size_t)len), *y = malloc(sizeof(double) * (size_t)len);
    double *lo = malloc(sizeof(double) * (size_t)len), *hi = malloc(sizeof(double) * (size_t)len);
    for (int i = 0; i < len; i++) {
        history_entry(h, i, &e);
        x[i] = (e.step0 + e.step1) / 2;
        y[i] = history_mean(h, i, 2);
        lo[i] = history_min(h, i, 2);
        hi[i] = history_max(h, i, 2);
    }
    ui_grid g;
    grid_init(&g, 60, 10);
    plot_series s = {NULL, ROLE_SERIES0, 0, len, x, y, lo, hi, 0};
    plot_spec p = {UI_GLYPH_BRAILLE, 1, NULL, NAN, NAN, NAN, NULL, 0, 1, &s, 0, .mono = 0};
    plot_layout L;
    plot_draw(&g, (ui_rect){0, 0, 60, 10}, &p, &L);
    dump(name, &g);
    int top = -1;
    for (int xx = L.area.x; xx < L.area.x + L.area.w; xx++)
        if (cell_dotted(&g, xx, L.area.y))
            top = xx - L.area.x;
    T_CHECK(top >= 0 && abs(top - L.area.w / 10) <= 1, "spike at column %d of %d", top, L.area.w);
    grid_free(&g);
    free(x);
    free(y);
    free(lo);
    free(hi);
}

static void test_history_bucketing(void)
{
    enum { CH = 4 };
    history *h = history_create_budget(CH, 2u << 20);
    T_CHECK(h != NULL, "created");
    if (!h)
        return;
    size_t bytes = history_bytes(h);
    float row[CH];
    const long N = 1000000, SPIKE = 100000;
    for (long s = 1; s <= N; s++) {
        row[0] = 3.0f - (float)s * 1e-6f;
        row[1] = s % 1000 == 0 ? 2.5f : NAN;  /* validation every 1000 steps */
        row[2] = s == SPIKE ? 1000.0f : 1.0f; /* one spike */
        row[3] = (float)s;
        history_push(h, (double)s, (double)s * 64, row);
    }
    T_CHECK(history_bytes(h) == bytes, "memory grew from %zu to %zu", bytes, history_bytes(h));
    T_CHECK(bytes < (3u << 20), "history of a million steps takes %zu bytes", bytes);
    T_CHECK(history_pushed(h) == N, "pushed %lld", (long long)history_pushed(h));
    check_history_entries(h, N, SPIKE);
    check_spike_plot(h, __func__);
    history_free(h);
}

static void test_history_small(void)
{
    history *h = history_create(1, 4, 4);
    float v;
    for (int s = 1; s <= 20; s++) {
        v = (float)s;
        history_push(h, s, s, &v);
    }
    /* 4 recent + buckets of growing width covering 1..16 */
    int len = history_len(h);
    hist_entry e;
    history_entry(h, len - 4, &e);
    T_CHECK(e.step0 == 17 && e.n == 1, "oldest recent is step %g", e.step0);
    history_entry(h, 0, &e);
    T_CHECK(e.step0 == 1, "first bucket starts at step 1");
    T_CHECK(history_min(h, 0, 0) == 1 && history_max(h, 0, 0) == (float)e.step1,
            "bucket 0 range %g..%g", history_min(h, 0, 0), history_max(h, 0, 0));
    T_CHECK(len <= 8, "entries %d", len);
    history_reset(h);
    T_CHECK(history_len(h) == 0 && history_pushed(h) == 0 && isnan(history_last(h, 0)), "reset");
    history_free(h);
}

/* Two runs of a race, made up: "post" whose gradient norms grow with depth (and which
 * diverged), "pre" whose norms are level. */
static void fake_run(ui_run *r, const char *name, int colour, int grow)
{
    runview_init(r, name, colour);
    runview_set_layers(r, 4);
    float ga[4], gf[4], rms[4];
    for (int s = 1; s <= 120; s++) {
        for (int l = 0; l < 4; l++) {
            ga[l] = grow ? 0.01f * powf(4.0f, (float)l) : 0.05f;
            gf[l] = ga[l] * 2;
            rms[l] = grow ? 1.0f : 1.0f + l;
        }
        nl_metrics_row row = {s,
                              s * 512,
                              s * 0.1,
                              1e-3f,
                              4.0f - s * 0.01f,
                              s % 50 ? NAN : 3.5f,
                              1.0f,
                              5000,
                              NAN,
                              NAN,
                              ga,
                              gf,
                              rms,
                              NULL,
                              NULL,
                              NULL,
                              NULL};
        runview_ingest(r, &row);
    }
    r->st.state = NL_RUN_RUNNING;
    r->st.step = 120;
    r->st.total = 300;
    r->st.entropy_floor = 2.0;
}

/* The dashboard of fake_run's two runs: a legend with both and the floor, and a heatmap in
 * which post's layer 3 is hotter than its layer 0. */
static void check_dash_heatmap(ui_grid *g)
{
    int legend = -1, heat0 = -1;
    for (int y = 0; y < 24; y++) {
        char buf[1024];
        grid_row_utf8(g, y, buf, sizeof buf);
        if (legend < 0 && strstr(buf, "\xe2\x94\x81 post") && strstr(buf, "\xe2\x94\x81 pre"))
            legend = y;
        if (heat0 < 0 && !strncmp(buf, "L0 ", 3))
            heat0 = y;
    }
    T_CHECK(legend > 0 && row_has(g, legend, "floor 2"),
            "legend with both runs and the floor (row %d)", legend);
    T_CHECK(heat0 > 0, "a heatmap row for layer 0");
    if (heat0 > 0) {
        /* post's norms grow with depth: layer 3's cells are hotter than layer 0's */
        int l0 = grid_at(g, 10, heat0)->role - ROLE_HEAT0;
        int l3 = -1;
        for (int y = heat0 + 1; y < 24 && l3 < 0; y++) {
            char buf[256];
            grid_row_utf8(g, y, buf, sizeof buf);
            if (!strncmp(buf, "L3 ", 3))
                l3 = grid_at(g, 10, y)->role - ROLE_HEAT0;
        }
        T_CHECK(l0 >= 0 && l3 > l0 && l3 < UI_HEAT_LEVELS, "layer 0 at level %d, layer 3 at %d", l0,
                l3);
    }
}

/* The teaching panel's observation of post: layer 3 is 64x layer 0; of pre: level gradients
 * and a growing RMS. */
static void check_teach_observations(ui_run *runs)
{
    char obs[TEACH_MAX_LINES][TEACH_LINE];
    int n = teach_observe(&runs[0], 0, obs, TEACH_MAX_LINES);
    int ratio = 0, grows = 0;
    for (int i = 0; i < n; i++) {
        ratio |= strstr(obs[i], "Step 120: the attention gradient norm is largest in layer 3 "
                                "(0.64) and smallest in layer 0 (0.01).") != NULL;
        grows |= strstr(obs[i], "Last over first layer now: 64\xc3\x97 - the attention gradient "
                                "grows toward the output") != NULL;
    }
    T_CHECK(ratio && grows, "observations: '%s' / '%s'", n > 0 ? obs[0] : "", n > 1 ? obs[1] : "");
    n = teach_observe(&runs[1], 0, obs, TEACH_MAX_LINES);
    int level = 0, rms = 0;
    for (int i = 0; i < n; i++) {
        level |= strstr(obs[i], "about level across depth") != NULL;
        rms |= strstr(obs[i], "grows with depth") != NULL;
    }
    T_CHECK(level && rms, "pre: level gradients and growing RMS");
}

/* Help in watch mode marks the live-only keys (the whole help: it scrolls where the screen
 * is shorter). */
static void check_help_live(void)
{
    ui_grid g;
    grid_init(&g, 100, 90);
    ui_draw_help(&g, CTX_DASH, 1, 0, UI_GLYPH_BRAILLE, NULL);
    int live = 0;
    for (int y = 0; y < g.h; y++)
        live += row_has(&g, y, "(live runs only)");
    T_CHECK(live >= 5, "%d live-only keys marked", live);
    grid_free(&g);
}

static void test_dashboard(void)
{
    ui_run runs[2];
    fake_run(&runs[0], "post", 0, 1);
    fake_run(&runs[1], "pre", 1, 0);
    runs[0].st.state = NL_RUN_DIVERGED;
    runs[0].st.diverged_step = 77;
    dash_view v;
    dash_view_init(&v);
    ui_grid g;
    grid_init(&g, 80, 24);
    dash_draw(&g, &v, runs, 2);
    dump(__func__, &g);
    check_dash_heatmap(&g);
    T_CHECK(row_has(&g, 0, "normlab lab") && row_has(&g, 0, "2 runs"), "top bar");
    int y_post = 21, y_pre = 22;
    T_CHECK(row_has(&g, y_post, "post") && row_has(&g, y_post, "120/300") &&
                row_has(&g, y_post, "DIVERGED at step 77"),
            "status line of the diverged run");
    T_CHECK(grid_at(&g, 79, y_post)->role == ROLE_DIVERGED, "diverged in its colour");
    T_CHECK(row_has(&g, y_pre, "running") && row_has(&g, y_pre, "loss 2.8"),
            "status line of the running run");
    T_CHECK(row_has(&g, 23, "q quit") && row_has(&g, 23, "? help"), "footer");
    T_CHECK(row_has(&g, 12, "Grad norm (attn)") || row_has(&g, 11, "Grad norm (attn)") ||
                row_has(&g, 13, "Grad norm (attn)"),
            "heatmap title");

    /* ASCII: after folding, nothing outside ASCII */
    v.glyphs = UI_GLYPH_ASCII;
    dash_draw(&g, &v, runs, 2);
    int bad = 0;
    for (int i = 0; i < g.w * g.h; i++)
        bad += grid_ascii_fold(g.cells[i].ch) == L'?' && g.cells[i].ch != L'?';
    T_CHECK(bad == 0, "%d cells without an ASCII look-alike", bad);

    check_teach_observations(runs);
    grid_free(&g);
    check_help_live();
    runview_free(&runs[0]);
    runview_free(&runs[1]);
}

/* One made-up step at tok_s tokens/s. */
static void ingest_speed(ui_run *r, int step, float tok_s)
{
    float g[4] = {0.1f, 0.1f, 0.1f, 0.1f};
    nl_metrics_row row = {.step = step,
                          .tokens = step * 512,
                          .time_s = step * 0.1,
                          .lr = 1e-3f,
                          .loss = 3.0f,
                          .val_loss = NAN,
                          .grad_norm = 1.0f,
                          .tok_s = tok_s,
                          .aux_loss = NAN,
                          .z_loss = NAN,
                          .gn_attn = g,
                          .gn_ffn = g,
                          .rms = g};
    runview_ingest(r, &row);
}

/* A run slowed by the machine says so on its status line: its tokens/s fell to a fraction of
 * its best (another program took the cores), or the load average is a task above the cores
 * (it started on a busy machine). A steady run on a quiet machine, a run whose speed only
 * wobbles, and a paused run say nothing. */
static void test_status_slowed(void)
{
    ui_run r;
    runview_init(&r, "pre", 0);
    runview_set_layers(&r, 4);
    r.st.state = NL_RUN_RUNNING;
    r.st.total = 1000;
    char why[64];
    int s = 1;
    ingest_speed(&r, s++, 2000); /* the first step: start-up */
    for (; s <= 40; s++)
        ingest_speed(&r, s, s % 2 ? 50000 : 40000);
    T_CHECK(!runview_slowed(&r, 1.9, 2, why, sizeof why), "a steady run slowed: %s", why);
    T_CHECK(!runview_slowed(&r, 2.9, 2, why, sizeof why), "load 2.9 on 2 cores: %s", why);
    T_CHECK(runview_slowed(&r, 3.2, 2, why, sizeof why) && strstr(why, "load 3.2/2 cores"),
            "load 3.2 on 2 cores: '%s'", why);
    T_CHECK(!runview_slowed(&r, 3.2, 0, why, sizeof why), "cores unknown: %s", why);
    for (; s <= 60; s++)
        ingest_speed(&r, s, 600);
    T_CHECK(runview_slowed(&r, 0, 0, why, sizeof why) && strstr(why, "slowed 0.0"),
            "600 tok/s after 45000: '%s'", why);

    dash_view v;
    dash_view_init(&v);
    v.load1 = 3.5;
    v.cores = 2;
    ui_grid g;
    grid_init(&g, 100, 24);
    dash_draw(&g, &v, &r, 1);
    dump(__func__, &g);
    int y = 22, x = -1;
    char line[1024];
    grid_row_utf8(&g, y, line, sizeof line);
    const char *at = strstr(line, "slowed 0.0");
    if (at)
        for (int i = 0; i < g.w && x < 0; i++)
            x = grid_at(&g, i, y)->ch == L's' && grid_at(&g, i + 1, y)->ch == L'l' ? i : -1;
    T_CHECK(at && strstr(line, "load 3.5/2 cores"), "status line '%s'", line);
    T_CHECK(x >= 0 && grid_at(&g, x, y)->role == ROLE_ERROR, "not in the error colour");

    r.st.state = NL_RUN_PAUSED;
    T_CHECK(!runview_slowed(&r, 3.5, 2, why, sizeof why), "a paused run slowed: %s", why);
    r.st.state = NL_RUN_RUNNING;
    for (; s <= 100; s++) /* back to full speed */
        ingest_speed(&r, s, 45000);
    T_CHECK(!runview_slowed(&r, 1.0, 2, why, sizeof why), "back to speed: %s", why);
    grid_free(&g);
    runview_free(&r);
}

/* An MoE run (4 layers, 2 MoE layers of 4 experts) on the dashboard: the expert-load panel
 * takes the bar strips' place with the latest routing, aux and z losses in its title; e
 * (experts_off) brings the bars back; Tab skips the panels that are not on screen. */
static void test_dashboard_moe(void)
{
    ui_run r;
    fake_run(&r, "moe", 0, 0);
    T_CHECK(runview_set_moe(&r, 2, 4) == 0, "routing arrays");
    float ga[4] = {0.1f, 0.1f, 0.1f, 0.1f}, rms[4] = {1, 1, 1, 1};
    float frac[8] = {0.25f, 0.25f, 0.25f, 0.25f, 0.7f, 0.1f, 0.1f, 0.1f}, ent[2] = {1.38f, 0.62f};
    nl_metrics_row row = {121,   121 * 512, 12.1, 1e-3f, 2.5f, NAN, 1.0f, 5000, 2.25f,
                          3.75f, ga,        ga,   rms,   frac, ent, NULL, NULL};
    runview_ingest(&r, &row);
    dash_view v;
    dash_view_init(&v);
    ui_grid g;
    grid_init(&g, 80, 24);
    dash_draw(&g, &v, &r, 1);
    dump(__func__, &g);
    int title = -1, m1 = -1, rms_panel = 0;
    for (int y = 0; y < 24; y++) {
        char buf[1024];
        grid_row_utf8(&g, y, buf, sizeof buf);
        if (strstr(buf, "Expert load") && strstr(buf, "aux 2.25") && strstr(buf, "z 3.75"))
            title = y;
        if (strstr(buf, " M1 "))
            m1 = y;
        rms_panel |= strstr(buf, "Residual RMS") != NULL;
    }
    T_CHECK(title > 0 && m1 > title && !rms_panel, "expert panel (title row %d, M1 row %d)", title,
            m1);
    T_CHECK(row_has(&g, 0, "MoE 4 experts"), "top bar names the experts");
    if (m1 > 0) {
        char buf[1024];
        grid_row_utf8(&g, m1, buf, sizeof buf);
        char *p = strstr(buf, " M1 ");
        T_CHECK(p && strstr(p, "70") && strstr(p, "10") && strstr(p, "0.62"), "M1 row: '%s'", p);
        /* expert 0 of MoE layer 1 takes 70% > 2/E: the hottest colour */
        int hot = 0;
        for (int x = 40; x < 80; x++)
            hot |= grid_at(&g, x, m1)->role == ROLE_HEATBG0 + UI_HEAT_LEVELS - 1;
        T_CHECK(hot, "the busy expert in the hottest colour");
    }
    T_CHECK(row_has(&g, 23, "e experts"), "footer names e for an MoE run");
    v.focus = PANEL_HEAT;
    T_CHECK(dash_next_panel(&v, &r) == PANEL_MOE, "Tab from the heatmap goes to the experts");
    v.experts_off = 1;
    T_CHECK(dash_next_panel(&v, &r) == PANEL_GRAD, "with e, to the bars");
    dash_draw(&g, &v, &r, 1);
    int back = 0, gone = 1;
    for (int y = 0; y < 24; y++) {
        back |= row_has(&g, y, "Residual RMS");
        gone &= !row_has(&g, y, "Expert load");
    }
    T_CHECK(back && gone, "e brings the bars back");
    /* a dense run has no expert panel, and its footer no e */
    ui_run d;
    fake_run(&d, "dense", 0, 0);
    v.experts_off = 0;
    T_CHECK(!dash_panel_shown(&v, &d, PANEL_MOE) && dash_panel_shown(&v, &d, PANEL_RMS),
            "dense: bars");
    dash_draw(&g, &v, &d, 1);
    T_CHECK(!row_has(&g, 23, "experts"), "dense footer");
    grid_free(&g);
    runview_free(&r);
    runview_free(&d);
}

static void keys_in(setup_state *s, const char *text)
{
    for (const char *p = text; *p; p++)
        setup_key(s, *p == '\n' ? '\r' : *p);
}

static const char *cur_key_name(const setup_state *s)
{
    return s->rows[s->cur].key >= 0 ? s->keys[s->rows[s->cur].key].key : "(header)";
}

/* The form's editor: find a key, a bad value kept in the editor, Esc, a good value. */
static void form_edit(setup_state *s)
{
    nl_error err = {0};
    keys_in(s, "/layers\n");
    T_CHECK(!strcmp(cur_key_name(s), "model.layers"), "find jumped to %s", cur_key_name(s));
    keys_in(s, "999");
    T_CHECK(s->editing && s->edit_bad && strstr(s->msg, "model.layers") && strstr(s->msg, "999"),
            "bad value while typing: '%s'", s->msg);
    setup_key(s, '\r');
    T_CHECK(s->editing, "Enter keeps a bad value in the editor");
    setup_key(s, 27);
    char buf[64];
    nl_config_get(&s->cfg, "model.layers", buf, sizeof buf, &err);
    T_CHECK(!s->editing && !strcmp(buf, "4"), "Esc leaves layers at %s", buf);
    keys_in(s, "6\n");
    T_CHECK(s->cfg.model.layers == 6, "layers %d", s->cfg.model.layers);
}

/* The race: runs added with 'a' up to the limit, named after their setup, one deleted. */
static void form_race(setup_state *s)
{
    keys_in(s, "/placement\n");
    setup_key(s, UI_KEY(KEY_LEFT));
    T_CHECK(s->cfg.model.placement == NL_PLACE_POST, "Left goes pre -> post");
    setup_key(s, 'a');
    setup_key(s, UI_KEY(KEY_RIGHT));
    setup_key(s, 'a');
    T_CHECK(s->nrace == 2 && !strcmp(s->race[0].name, "post-L6") &&
                !strcmp(s->race[1].name, "pre-L6"),
            "race of %d: %s, %s", s->nrace, s->race[0].name, s->race[1].name);
    for (int i = 0; i < 7; i++)
        setup_key(s, 'a');
    T_CHECK(s->nrace == NL_MAX_RACE && strstr(s->msg, "full"), "the race stops at %d: '%s'",
            s->nrace, s->msg);
    T_CHECK(!strcmp(s->race[2].name, "pre-L6-2"), "a repeated setup gets a new name: %s",
            s->race[2].name);
    setup_key(s, '\t');
    for (int i = 0; i < 10; i++)
        setup_key(s, UI_KEY(KEY_UP));
    setup_key(s, UI_KEY(KEY_DOWN));
    setup_key(s, 'd');
    T_CHECK(s->nrace == NL_MAX_RACE - 1 && !strcmp(s->race[1].name, "pre-L6-2"),
            "deleted the second run");
}

/* A cross-field problem is reported with the engine's message and blocks a start. */
static void form_cross_field(setup_state *s, nl_config *runs)
{
    setup_key(s, '\t');
    keys_in(s, "/heads\n5\n");
    T_CHECK(s->cfg.model.heads == 5 && strstr(s->invalid, "divisible"), "invalid: '%s'",
            s->invalid);
    int keep = s->nrace;
    s->nrace = 0;
    T_CHECK(setup_runs(s, runs) < 0 && strstr(s->msg, "divisible"), "start refused: '%s'", s->msg);
    keys_in(s, "\n");
    setup_key(s, 21);
    keys_in(s, "4\n");
    T_CHECK(setup_runs(s, runs) == 1 && !strcmp(runs[0].name, "pre-L6"), "a single run: %s",
            runs[0].name);
    s->nrace = keep;
    T_CHECK(setup_runs(s, runs) == keep, "the race");
}

/* MoE fields: the others are dimmed while experts is 0; experts=4 is taken; top_k above it
 * is flagged while typed, and refused at the start. */
static void form_moe(setup_state *s, nl_config *runs)
{
    keys_in(s, "/renorm\n");
    T_CHECK(!strcmp(cur_key_name(s), "model.moe.renorm"), "found %s", cur_key_name(s));
    {
        ui_grid g;
        grid_init(&g, 80, 24);
        setup_draw(&g, s, UI_GLYPH_BRAILLE);
        int dim = 0;
        for (int y = 0; y < 24; y++)
            if (row_has(&g, y, "  every ") || row_has(&g, y, "  aux_loss "))
                dim += grid_at(&g, 2, y)->role == ROLE_DIM;
        T_CHECK(dim == 2, "unused MoE fields dimmed (%d)", dim);
        grid_free(&g);
    }
    keys_in(s, "/experts\n");
    T_CHECK(!strcmp(cur_key_name(s), "model.moe.experts"), "found %s", cur_key_name(s));
    keys_in(s, "4");
    T_CHECK(s->editing && !s->edit_bad && strstr(s->msg, "model.moe.experts = 4"),
            "experts=4 while typed: '%s'", s->msg);
    keys_in(s, "\n");
    T_CHECK(!s->editing && s->cfg.model.moe_experts == 4 && !s->invalid[0], "experts %d",
            s->cfg.model.moe_experts);
    keys_in(s, "x");
    T_CHECK(!s->editing, "a letter does not start an edit");
    setup_key(s, UI_KEY(KEY_DOWN));
    keys_in(s, "9");
    T_CHECK(s->editing && !s->edit_bad && strstr(s->msg, "must be <= model.moe.experts (4)"),
            "top_k=9 flagged while typed: '%s'", s->msg);
    keys_in(s, "\n");
    int keep = s->nrace;
    s->nrace = 0;
    T_CHECK(setup_runs(s, runs) < 0 && strstr(s->msg, "top_k"), "start refused: '%s'", s->msg);
    setup_key(s, '\r');
    setup_key(s, 21);
    keys_in(s, "2\n");
    T_CHECK(setup_runs(s, runs) == 1 && runs[0].model.moe_experts == 4 &&
                !strcmp(runs[0].name, "pre-L6-moe4"),
            "an MoE run: %s", runs[0].name);
    s->nrace = keep;
}

static void test_setup_form(void)
{
    nl_config *c = malloc(sizeof *c);
    nl_error err = {0};
    nl_config_defaults(c);
    int rc = nl_config_load_string(c, nl_default_preset_yaml, nl_default_preset_yaml_len, "default",
                                   &err);
    T_CHECK(rc == 0, "default preset: %s", err.msg);
    setup_state *s = malloc(sizeof *s);
    T_CHECK(setup_init(s, c, NULL, "presets") == 0, "setup_init");
    T_CHECK(!strcmp(cur_key_name(s), "model.placement"), "starts on the placement, not %s",
            cur_key_name(s));
    nl_config *runs = malloc(NL_MAX_RACE * sizeof *runs);
    form_edit(s);
    form_race(s);
    form_cross_field(s, runs);
    form_moe(s, runs);

    ui_grid g;
    grid_init(&g, 80, 24);
    setup_draw(&g, s, UI_GLYPH_BRAILLE);
    dump(__func__, &g);
    int race = 0, moe_on = 0;
    for (int y = 0; y < 24; y++) {
        race |= row_has(&g, y, "Race 8/8") || row_has(&g, y, "Race 7/8");
        if (row_has(&g, y, "  every "))
            moe_on = grid_at(&g, 2, y)->role == ROLE_NORMAL;
    }
    T_CHECK(race, "race box");
    T_CHECK(moe_on, "MoE fields no longer dimmed with experts=4");
    T_CHECK(row_has(&g, 0, "MoE 4 experts"), "top bar");
    T_CHECK(row_has(&g, 23, "F5") && row_has(&g, 23, "q quit"), "footer");
    grid_free(&g);
    setup_free(s);
    free(s);
    free(runs);
    free(c);
}

/* `normlab watch` says what it skipped (issue 11): metrics.csv rows that do not parse, a header
 * that does not parse (no row can be read under it) and one that disagrees with config.yaml
 * are counted and named in the run's status line, in the error colour; the good rows are
 * still shown. */
static void write_watch_dir(const char *dir, int cfg_layers, int csv_layers, const char *extra,
                            const char *header)
{
    char path[512];
    nl_config c;
    nl_config_defaults(&c);
    char v[16];
    snprintf(v, sizeof v, "%d", cfg_layers);
    nl_config_set(&c, "model.layers", v, NULL);
    snprintf(path, sizeof path, "mkdir -p %s", dir);
    T_CHECK(system(path) == 0, "mkdir");
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    T_CHECK(nl_config_save_file(&c, path, NULL) == 0, "config.yaml");
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    FILE *f = fopen(path, "w");
    if (header)
        fputs(header, f);
    else
        nl_metrics_csv_header(f, csv_layers, 0, 0);
    float a[3 * 8] = {0};
    nl_metrics_row row = {1,   64, 0.1,   1e-3f,  3.5f, NAN,  1.0f, 1000, NAN,
                          NAN, a,  a + 8, a + 16, NULL, NULL, NULL, NULL};
    nl_metrics_csv_row(f, &row, csv_layers, 0, 0);
    fputs(extra, f);
    fclose(f);
}

static void test_watch_reports_skipped(void)
{
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/normlab-test-watch-%d", (int)getpid());
    run_tail t;
    ui_run r;
    char msg[256];

    /* two bad rows among good ones */
    write_watch_dir(dir, 4, 4, "2,128,0.2,oops\n3,1\n", NULL);
    T_CHECK(tail_open(&t, dir, &r, msg, sizeof msg) == 0, "tail_open: %s", msg);
    tail_poll(&t, &r);
    T_CHECK(r.last_step == 1, "the good row was not shown (last step %lld)",
            (long long)r.last_step);
    T_CHECK(strstr(r.warn, "2 bad lines skipped (line 3:"), "warning '%s'", r.warn);
    ui_grid g;
    grid_init(&g, 120, 24);
    dash_view v;
    dash_view_init(&v);
    v.watch = 1;
    dash_draw(&g, &v, &r, 1);
    dump(__func__, &g);
    int shown = 0;
    for (int y = 0; y < g.h; y++)
        if (row_has(&g, y, "metrics.csv: 2 bad lines"))
            shown = 1;
    T_CHECK(shown, "the skipped lines are not on screen");
    tail_close(&t);
    runview_free(&r);

    /* a header of 2 layers under a config of 4 */
    write_watch_dir(dir, 4, 2, "", NULL);
    tail_open(&t, dir, &r, msg, sizeof msg);
    tail_poll(&t, &r);
    T_CHECK(strstr(r.warn, "header has 2 layers, config.yaml 4"), "mismatch warning '%s'", r.warn);
    tail_close(&t);
    runview_free(&r);

    /* a header that does not parse: nothing under it is read, and that is said */
    write_watch_dir(dir, 4, 4, "2,128,0.2\n", "step,garbage\n");
    tail_open(&t, dir, &r, msg, sizeof msg);
    tail_poll(&t, &r);
    T_CHECK(strstr(r.warn, "bad header (line 1:") && strstr(r.warn, "2 rows not shown"),
            "bad header warning '%s'", r.warn);
    tail_close(&t);
    runview_free(&r);
    grid_free(&g);
    snprintf(msg, sizeof msg, "rm -rf %s", dir);
    T_CHECK(system(msg) == 0, "cleanup");
}

/* The setup form's top bar gives the parameter count and the memory estimate as the config
 * is edited, from engine/memest.c, and turns to the error colour past the free memory. */
static void test_setup_size(void)
{
    nl_config *c = malloc(sizeof *c);
    nl_config_defaults(c);
    nl_config_load_string(c, nl_default_preset_yaml, nl_default_preset_yaml_len, "default", NULL);
    setup_state *s = malloc(sizeof *s);
    T_CHECK(setup_init(s, c, NULL, "presets") == 0, "setup_init");
    char want[96], p[24], m[24], text[96];
    nl_mem_estimate e;
    for (int round = 0; round < 2; round++) {
        nl_mem_estimate_config(&s->cfg, nl_config_vocab(&s->cfg), false, &e);
        plot_fmt_count(e.params, p, sizeof p);
        nl_mem_format(e.total, m, sizeof m);
        snprintf(want, sizeof want, "%s params · ~%s", p, m);
        ui_grid g;
        grid_init(&g, 140, 30);
        setup_draw(&g, s, UI_GLYPH_BRAILLE);
        dump(__func__, &g);
        T_CHECK(row_has(&g, 0, want), "round %d: top bar lacks '%s'", round, want);
        grid_free(&g);
        keys_in(s, "/layers\n");
        keys_in(s, "12\n"); /* typing replaces the value */
    }
    T_CHECK(s->cfg.model.layers == 12, "layers %d", s->cfg.model.layers);
    keys_in(s, "/d_model\n8192\n/heads\n64\n/layers\n256\n");
    int role = setup_size_text(s, text, sizeof text);
    T_CHECK(role == ROLE_ERROR && strstr(text, "more than the"), "too large: %d '%s'", role, text);
    setup_free(s);
    free(s);
    free(c);
}

int main(void)
{
    (void)t_skip; /* every case here runs everywhere */
    T_RUN(test_watch_reports_skipped);
    T_RUN(test_setup_size);
    T_RUN(test_grid_text);
    T_RUN(test_ticks);
    T_RUN(test_plot_axes_and_line);
    T_RUN(test_plot_v_shape);
    T_RUN(test_plot_ascii);
    T_RUN(test_plot_logy);
    T_RUN(test_plot_envelope_spike);
    T_RUN(test_heatmap_order);
    T_RUN(test_heat_snap);
    T_RUN(test_heatmap_resample);
    T_RUN(test_bars);
    T_RUN(test_loadmap);
    T_RUN(test_sweepgrid);
    T_RUN(test_history_bucketing);
    T_RUN(test_history_small);
    T_RUN(test_dashboard);
    T_RUN(test_dashboard_moe);
    T_RUN(test_status_slowed);
    T_RUN(test_setup_form);
    T_END();
}
