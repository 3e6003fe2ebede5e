#include "dash.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dash_internal.h"
#include "heatmap.h"
#include "lessonpane.h"
#include "widgets.h"

/* The top bar: title, the run summary, and a message (else a standing alert while a run has
 * diverged or failed) at its right end. */
static void draw_topbar(ui_grid *g, const dash_view *v, const ui_run *runs, int n,
                        const ui_run *run)
{
    int W = g->w;
    int x = ui_draw_topbar(g, v->title ? v->title : "");
    int title_end = x;
    if (run) {
        char floor_[48] = "";
        if (isfinite(run->st.entropy_floor))
            snprintf(floor_, sizeof floor_, " · floor %.4g", run->st.entropy_floor);
        else if (isfinite(run->st.unigram_level))
            snprintf(floor_, sizeof floor_, " · unigram %.4g", run->st.unigram_level);
        char moe[48] = "";
        if (run->moe_layers > 0)
            snprintf(moe, sizeof moe, " · MoE %d experts", run->experts);
        x += grid_textf(g, x, 0, W - x, ROLE_NORMAL, UI_A_REVERSE,
                        "· %d run%s · %s · %d layers%s%s ", n, n == 1 ? "" : "s", run->name,
                        run->layers, moe, floor_);
    }
    char alert[160] = "";
    int ndiv = 0, nfail = 0, first_bad = -1;
    for (int i = 0; i < n; i++) {
        ndiv += runs[i].st.state == NL_RUN_DIVERGED;
        nfail += runs[i].st.state == NL_RUN_FAILED;
        if (first_bad < 0 &&
            (runs[i].st.state == NL_RUN_DIVERGED || runs[i].st.state == NL_RUN_FAILED))
            first_bad = i;
    }
    const char *warn = v->glyphs == UI_GLYPH_ASCII ? "!" : "⚠";
    if (ndiv + nfail == 1 && first_bad >= 0 && ndiv)
        snprintf(alert, sizeof alert, "%s %s DIVERGED at step %lld", warn, runs[first_bad].name,
                 (long long)runs[first_bad].st.diverged_step);
    else if (ndiv + nfail == 1 && first_bad >= 0)
        snprintf(alert, sizeof alert, "%s %s FAILED (m: why)", warn, runs[first_bad].name);
    else if (ndiv + nfail > 1)
        snprintf(alert, sizeof alert, "%s %d diverged, %d failed", warn, ndiv, nfail);
    const char *msg = v->msg && *v->msg ? v->msg : alert[0] ? alert : NULL;
    int mrole = v->msg && *v->msg ? v->msg_role : ROLE_DIVERGED;
    if (!msg)
        return;
    int mw = text_cells(msg);
    /* a message wins over the run summary; one too long for the bar ends in "…" and stays
     * whole in the message pane (m) */
    int room = W - title_end - 1;
    int mx = W - mw - 1 > title_end ? W - mw - 1 : title_end;
    if (mx < x)
        grid_put(g, mx - 1, 0, L' ', ROLE_NORMAL, UI_A_REVERSE);
    for (int k = mx; k < W; k++)
        grid_put(g, k, 0, L' ', ROLE_NORMAL, UI_A_REVERSE);
    grid_text(g, mx, 0, room, mrole, UI_A_REVERSE | UI_A_BOLD, msg);
    if (mw > room && room > 1)
        grid_put(g, W - 2, 0, v->glyphs == UI_GLYPH_ASCII ? L'>' : L'…', mrole,
                 UI_A_REVERSE | UI_A_BOLD);
}

/* The run lines above the footer: all of them when they fit (two a row on a short screen),
 * else a window that keeps the selected run in view, and "+N" for the rest. Returns the row
 * of the first. */
int dash_draw_run_lines(ui_grid *g, const dash_view *v, const ui_run *runs, int n, int sel)
{
    int W = g->w, H = g->h, rows, per;
    dash_status_layout(W, H, n, &rows, &per);
    int slots = rows * per, first = 0;
    if (n > slots) {
        slots--; /* the last slot says how many more */
        first = sel - slots / 2;
        if (first > n - slots)
            first = n - slots;
        if (first < 0)
            first = 0;
    }
    int y_status = H - 1 - rows;
    int cw = per == 2 ? (W - 1) / 2 : W;
    int namew = 4;
    for (int i = 0; i < n; i++) {
        int w = text_cells(runs[i].name);
        if (w > namew)
            namew = w;
    }
    int maxname = per == 2 ? 10 : 16;
    if (namew > maxname)
        namew = maxname;
    for (int k = 0; k < slots && first + k < n; k++) {
        int i = first + k, row = per == 2 ? k % rows : k, col = per == 2 ? k / rows : 0;
        dash_draw_status(g, col * (cw + 1), y_status + row, cw, v, &runs[i], i == sel && n > 1,
                         namew);
    }
    if (n > rows * per) {
        int k = rows * per - 1, row = per == 2 ? k % rows : k, col = per == 2 ? k / rows : 0;
        grid_textf(g, col * (cw + 1) + 3, y_status + row, cw - 3, ROLE_DIM, 0,
                   "+%d more runs (Up/Down selects; runs %d-%d of %d shown)", n - slots, first + 1,
                   first + slots, n);
    }
    return y_status;
}

/* Where each panel goes in the P rows under the top bar (h = 0: not shown); focus is the
 * panel with the focus. */
static void layout_panels(ui_rect rect[PANEL_COUNT], const dash_view *v, const ui_run *run,
                          int W, int P, int focus)
{
    memset(rect, 0, PANEL_COUNT * sizeof *rect);
    if (v->zoom) {
        rect[focus] = (ui_rect){0, 1, W, P};
        return;
    }
    int top = P - P / 2;
    int bottom = P - top;
    int hw = W * 58 / 100;
    rect[PANEL_LOSS] = (ui_rect){0, 1, W, top};
    rect[PANEL_HEAT] = (ui_rect){0, 1 + top, hw, bottom};
    if (dash_panel_shown(v, run, PANEL_MOE)) {
        rect[PANEL_MOE] = (ui_rect){hw + 1, 1 + top, W - hw - 1, bottom};
    } else if (bottom < 8) {
        /* too short for two bar strips with bars in them: the focused one alone */
        int p = focus == PANEL_RMS ? PANEL_RMS : PANEL_GRAD;
        rect[p] = (ui_rect){hw + 1, 1 + top, W - hw - 1, bottom};
    } else {
        rect[PANEL_GRAD] = (ui_rect){hw + 1, 1 + top, W - hw - 1, bottom / 2};
        rect[PANEL_RMS] = (ui_rect){hw + 1, 1 + top + bottom / 2, W - hw - 1, bottom - bottom / 2};
    }
}

static void draw_panels(ui_grid *g, const dash_view *v, const ui_run *runs, int n, int sel,
                        int P)
{
    const ui_run *run = n > 0 ? &runs[sel] : NULL;
    int focus = v->focus;
    if (!dash_panel_shown(v, run, focus)) /* the run changed under the focus */
        focus = focus == PANEL_MOE ? PANEL_GRAD : focus >= PANEL_GRAD ? PANEL_MOE : PANEL_LOSS;
    ui_rect rect[PANEL_COUNT];
    layout_panels(rect, v, run, g->w, P, focus);
    double lo = NAN, hi = NAN;
    if (rect[PANEL_LOSS].h > 0)
        dash_draw_loss(g, rect[PANEL_LOSS], v, runs, n, focus == PANEL_LOSS, sel);
    if (rect[PANEL_HEAT].h > 0 && v->perlayer)
        dash_draw_layer_curves(g, rect[PANEL_HEAT], v, run, focus == PANEL_HEAT);
    else if (rect[PANEL_HEAT].h > 0)
        dash_draw_heat(g, rect[PANEL_HEAT], v, run, focus == PANEL_HEAT, &lo, &hi);
    if (rect[PANEL_MOE].h > 0)
        dash_draw_experts(g, rect[PANEL_MOE], v, run, focus == PANEL_MOE);
    if (run && !isfinite(lo) && run->layers > 0 && run->last_step > 0) {
        /* the bars share the heatmap's colour range; without the heatmap, their own */
        const float *gv = v->heat_ffn ? run->gn_ffn : run->gn_attn;
        if (!heat_range_live(gv, run->layers, &lo, &hi))
            lo = hi = NAN;
    }
    if (rect[PANEL_GRAD].h > 0)
        dash_draw_bars(g, rect[PANEL_GRAD], v, run, 0, focus == PANEL_GRAD, lo, hi);
    if (rect[PANEL_RMS].h > 0)
        dash_draw_bars(g, rect[PANEL_RMS], v, run, 1, focus == PANEL_RMS, lo, hi);
}

static int too_small(const ui_grid *g)
{
    return g->w < 60 || g->h < 16;
}

void dash_draw(ui_grid *g, const dash_view *v, const ui_run *runs, int n)
{
    grid_clear(g);
    if (too_small(g)) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "Terminal %dx%d is too small: the dashboard needs 60x16. "
                 "Enlarge the window (q quits).",
                 g->w, g->h);
        ui_draw_too_small(g, msg, CTX_DASH, v->watch);
        return;
    }
    int sel = v->sel < 0 ? 0 : v->sel >= n ? n - 1 : v->sel;
    const ui_run *run = n > 0 ? &runs[sel] : NULL;
    draw_topbar(g, v, runs, n, run);
    ui_draw_footer(g, g->h - 1, CTX_DASH, v->watch,
                   (run && run->moe_layers > 0 ? UI_FOOTER_MOE : 0) |
                       (v->lesson ? UI_FOOTER_LESSON : 0));
    int y_status = dash_draw_run_lines(g, v, runs, n, sel);
    draw_panels(g, v, runs, n, sel, y_status - 1);
}

ui_rect dash_lower_rect(const ui_grid *g, const dash_view *v, int n)
{
    if (too_small(g))
        return (ui_rect){0, 0, 0, 0};
    int rows, per;
    dash_status_layout(g->w, g->h, n, &rows, &per);
    int y_status = g->h - 1 - rows, P = y_status - 1;
    int top = v->zoom ? 1 : 1 + (P - P / 2);
    if (P - top + 1 < 6)
        top = 1;
    return (ui_rect){0, top, g->w, y_status - top};
}

int dash_panel_shown(const dash_view *v, const ui_run *run, int p)
{
    int moe = run && run->moe_layers > 0 && !v->experts_off;
    if (p == PANEL_MOE)
        return moe;
    if (p == PANEL_GRAD || p == PANEL_RMS)
        return !moe;
    return p >= 0 && p < PANEL_COUNT;
}

int dash_next_panel(const dash_view *v, const ui_run *run)
{
    int p = v->focus;
    for (int k = 0; k < PANEL_COUNT; k++) {
        p = (p + 1) % PANEL_COUNT;
        if (dash_panel_shown(v, run, p))
            return p;
    }
    return PANEL_LOSS;
}

int dash_help_shown(const ui_run *runs, int n)
{
    int shown = lessonpane_lesson(runs, n) ? UI_FOOTER_LESSON : 0;
    for (int i = 0; i < n; i++)
        if (runs[i].moe_layers > 0)
            shown |= UI_FOOTER_MOE;
    return shown;
}
