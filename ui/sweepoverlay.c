/* The sweep's overlay: every row's runs on one loss plot, drawn by the dashboard's own loss
 * panel and run lines (dash.h), so zoom, pan, the cursor's read-out, the y range, hidden runs
 * and the legend's "+N" behave as they do there. */
#include <stdio.h>
#include <stdlib.h>

#include "sweepview.h"
#include "widgets.h"

/* The index among the open runs of sv->runs[osel], or 0. */
static int selected_open(const sweep_view *sv, const int *idx, int n)
{
    for (int k = 0; k < n; k++)
        if (idx[k] == sv->osel)
            return k;
    return 0;
}

/* A short name for run i of the overlay: its cell's values ("pre/2"), and its seed when
 * there are several ("pre/2-s1"), so that names fit the legend and the half-width run lines;
 * the axes they stand for are in the top bar. */
static void short_name(const sweep_view *sv, int i, char *buf, size_t len)
{
    const nl_sweep_def *d = &sv->def;
    int ax[NL_SWEEP_MAX_AXES];
    nl_sweep_cell_index(d, sv->cell[i], ax);
    size_t n = 0;
    buf[0] = '\0';
    for (int a = 0; a < d->n_axes && n < len; a++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", a ? "/" : "", d->axes[a].values[ax[a]]);
    if (!d->n_axes)
        n = (size_t)snprintf(buf, len, "base");
    if (d->seeds > 1 && n < len)
        snprintf(buf + n, len - n, "-s%d", sv->seed[i]);
}

/* " · every row (placement/layers)": what the short names stand for. */
static void overlay_what(const sweep_view *sv, char *buf, size_t len)
{
    const nl_sweep_def *d = &sv->def;
    size_t n = (size_t)snprintf(buf, len, " · every row");
    if (sv->total_runs > sv->nruns && n < len)
        n += (size_t)snprintf(buf + n, len - n, ", first %d runs", sv->nruns);
    for (int a = 0; a < d->n_axes && n < len; a++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", a ? "/" : " (", d->axes[a].label);
    if (d->n_axes && n < len)
        snprintf(buf + n, len - n, "%s)", d->seeds > 1 ? "-seed" : "");
}

void sweepview_draw_overlay(ui_grid *g, const sweep_view *sv, const dash_view *v)
{
    grid_clear(g);
    int W = g->w, H = g->h;
    if (W < 60 || H < 16 || !sv->stats) {
        grid_textf(g, 0, 0, W, ROLE_ERROR, 0,
                   sv->stats ? "terminal %dx%d is too small: the sweep needs 60x16"
                             : "out of memory",
                   W, H);
        if (H > 1)
            ui_draw_footer(g, H - 1, CTX_OVERLAY, 1, 0);
        return;
    }
    ui_run *runs = malloc(SWEEPVIEW_MAX_RUNS * sizeof *runs);
    if (!runs) {
        grid_text(g, 0, 0, W, ROLE_ERROR, 0, "out of memory");
        return;
    }
    int idx[SWEEPVIEW_MAX_RUNS];
    int n = sweepview_open_runs(sv, runs, idx), sel = selected_open(sv, idx, n);
    for (int k = 0; k < n; k++)
        short_name(sv, idx[k], runs[k].name, sizeof runs[k].name);
    char what[256];
    overlay_what(sv, what, sizeof what);
    sweepview_topbar(g, sv, v, what);
    ui_draw_footer(g, H - 1, CTX_OVERLAY, 1, 0);
    int y_status = n > 0 ? dash_draw_run_lines(g, v, runs, n, sel) : H - 1;
    dash_draw_loss(g, (ui_rect){0, 1, W, y_status - 1}, v, runs, n, 1, sel);
    if (n == 0)
        grid_text(g, 2, 3, W - 4, ROLE_DIM, 0, "no run of the sweep has started yet");
    free(runs);
}
