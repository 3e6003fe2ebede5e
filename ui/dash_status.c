#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dash_internal.h"
#include "engine/clock.h"
#include "plot.h"

/* The status figures of r at history entry `at` (the cursor) into f; returns how many. */
static int figures_at(char f[][48], int w, const ui_run *r, int at)
{
    int nf = 0;
    hist_entry e;
    history_entry(r->hist, at, &e);
    float loss = history_mean(r->hist, at, CH_LOSS), gn = history_mean(r->hist, at, CH_GN);
    float lr = history_mean(r->hist, at, CH_LR), toks = history_mean(r->hist, at, CH_TOKS);
    float val = history_mean(r->hist, at, CH_VAL);
    char tok[24];
    if (e.n > 1)
        snprintf(f[nf++], 48, "@%.0f-%.0f", e.step0, e.step1);
    else
        snprintf(f[nf++], 48, "@%.0f", e.step1);
    snprintf(f[nf++], 48, w < 60 ? "loss %.3f" : "loss %.4f", loss);
    if (isfinite(val))
        snprintf(f[nf++], 48, "val %.4f", val);
    snprintf(f[nf++], 48, "gn %.3g", gn);
    snprintf(f[nf++], 48, "lr %.2g", lr);
    plot_fmt_count(toks, tok, sizeof tok);
    snprintf(f[nf++], 48, "%s tok/s", isfinite(toks) ? tok : "-");
    return nf;
}

/* The status figures of r now into f; returns how many. *slowed and *warned get the index of
 * the figure to show in red (-1: none). */
static int figures_now(char f[][48], int w, const dash_view *v, const ui_run *r, int *slowed,
                       int *warned)
{
    const nl_run_status *st = &r->st;
    /* the latest row is fresher than the status snapshot for the per-step numbers */
    float loss = st->loss, gn = st->grad_norm, lr = st->lr, toks = st->tok_s, val = NAN;
    int64_t step = st->step > r->last_step ? st->step : r->last_step;
    int nf = 0;
    char tok[24], eta_s[24];
    if (r->hist && history_len(r->hist) > 0) {
        loss = history_last(r->hist, CH_LOSS);
        gn = history_last(r->hist, CH_GN);
        lr = history_last(r->hist, CH_LR);
        toks = history_last(r->hist, CH_TOKS);
        val = history_last(r->hist, CH_VAL);
    }
    /* one ETA for every run, from its own training time (pauses left out), shown only while
     * it runs */
    double eta = NAN;
    if (st->total > step && r->last_step > 0 && r->last_time_s > 0)
        eta = r->last_time_s / (double)r->last_step * (double)(st->total - step);
    if (w < 60 && step > 0) /* half a line (two runs a row): the loss first */
        snprintf(f[nf++], 48, "loss %.3f", loss);
    if (st->total > 0)
        snprintf(f[nf++], 48, "%lld/%lld", (long long)step, (long long)st->total);
    else
        snprintf(f[nf++], 48, "step %lld", (long long)step);
    if (r->warn[0]) { /* skipped metrics lines: right after the step, where it is seen */
        snprintf(f[nf], 48, "%.47s", r->warn);
        *warned = nf++;
    }
    if (step > 0 && w >= 60) /* a run that has not stepped has no loss yet */
        snprintf(f[nf++], 48, "loss %.4f", loss);
    /* the ETA early, so every running run shows it however narrow the line */
    nl_fmt_eta(eta, eta_s, sizeof eta_s);
    if (st->state == NL_RUN_RUNNING)
        snprintf(f[nf++], 48, "eta %s", eta_s);
    plot_fmt_count(toks, tok, sizeof tok);
    snprintf(f[nf++], 48, "%s tok/s", isfinite(toks) ? tok : "-");
    if (runview_slowed(r, v->load1, v->cores, f[nf], 48))
        *slowed = nf++;
    if (step > 0)
        snprintf(f[nf++], 48, "gn %.3g", gn);
    snprintf(f[nf++], 48, "lr %.2g", lr);
    if (isfinite(val))
        snprintf(f[nf++], 48, "val %.4f", val);
    return nf;
}

/* The state at the right end of the line from x to end; a failure says why, as far as two
 * thirds of the room allows. Returns the cells it took. */
static int draw_state(ui_grid *g, int x, int y, int end, const nl_run_status *st, int ascii)
{
    char state[200];
    nl_run_state s = st->state;
    if (s == NL_RUN_DIVERGED)
        snprintf(state, sizeof state, "DIVERGED at step %lld", (long long)st->diverged_step);
    else if (s == NL_RUN_FAILED && st->message[0])
        snprintf(state, sizeof state, "FAILED: %.180s", st->message);
    else if (s == NL_RUN_FAILED)
        snprintf(state, sizeof state, "FAILED");
    else
        snprintf(state, sizeof state, "%s", runview_state_name(s));
    int sw = text_cells(state), maxsw = (end - x) * 2 / 3;
    if (sw > maxsw && maxsw > 8) {
        grid_text(g, end - maxsw, y, maxsw - 1, runview_state_role(s), 0, state);
        grid_put(g, end - 1, y, ascii ? L'>' : L'…', runview_state_role(s), 0);
        return maxsw;
    }
    grid_text(g, end - sw, y, sw, runview_state_role(s), s == NL_RUN_DIVERGED ? UI_A_BOLD : 0,
              state);
    return sw;
}

/* One run's line at (x0, y), w cells: its mark, name, then as many of its figures as fit
 * and its state at the right. With the cursor shown the figures are those of the step
 * under it ("@120"); a failed run's state carries the reason, as far as it fits. */
void dash_draw_status(ui_grid *g, int x0, int y, int w, const dash_view *v, const ui_run *r,
                      int selected, int namew)
{
    int x = x0, end = x0 + w;
    int ascii = v->glyphs == UI_GLYPH_ASCII;
    int role = ROLE_SERIES0 + r->colour % UI_SERIES_COLOURS;
    grid_put(g, x, y, selected ? (ascii ? L'>' : L'▶') : L' ', role, UI_A_BOLD);
    grid_put(g, x + 1, y,
             r->hidden ? (ascii ? L'.' : L'·') : plot_marker_glyph(v->glyphs, v->mono, r->colour),
             role, UI_A_BOLD);
    x += 3;
    int nrole = r->hidden ? ROLE_DIM : selected ? ROLE_SELECT : ROLE_NORMAL;
    grid_text(g, x, y, namew, nrole, 0, r->name);
    for (int k = text_cells(r->name); k < namew; k++)
        grid_put(g, x + k, y, L' ', nrole, 0);
    x += namew + 1;
    int room = end - draw_state(g, x, y, end, &r->st, ascii) - 1;
    char f[9][48];
    int slowed = -1, warned = -1;
    int at = v->cursor ? dash_entry_at(v, r, v->cursor_x) : -1;
    int nf = at >= 0 ? figures_at(f, w, r, at) : figures_now(f, w, v, r, &slowed, &warned);
    for (int i = 0; i < nf; i++) {
        int fw = text_cells(f[i]);
        if (x + fw > room)
            break;
        grid_text(g, x, y, fw, i == slowed || i == warned ? ROLE_ERROR : ROLE_NORMAL,
                  i == 0 ? UI_A_BOLD : 0, f[i]);
        x += fw + 2;
    }
}

void dash_status_layout(int W, int H, int n, int *rows, int *per_row)
{
    /* the run lines take at most a third of the screen below the top bar; two runs a row
     * where one a row would take more and the width allows */
    int cap = (H - 2) / 3;
    if (cap < 1)
        cap = 1;
    *per_row = n > cap && W >= 100 ? 2 : 1;
    if (n > cap && W >= 80 && n <= 2 * cap)
        *per_row = 2;
    int need = (n + *per_row - 1) / *per_row;
    *rows = need < cap ? need : cap;
    if (*rows < 1)
        *rows = n > 0 ? 1 : 0;
}
