/* The widgets, drawn into the off-screen grid: plot axes and ticks, the shape of a known
 * series, log y, the ASCII fallback, the heatmap's colour ordering, the bar strip, the
 * expert-load map of an MoE run and the grid of a sweep. (The history and the dashboard:
 * test_dash.c; the setup form: test_setup.c.) */
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

int main(void)
{
    (void)t_skip; /* every case here runs everywhere */
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
    T_END();
}
