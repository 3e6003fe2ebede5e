#include "sweepview.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plot.h"
#include "sweepgrid.h"
#include "widgets.h"

static void close_runs(sweep_view *sv)
{
    for (int i = 0; i < sv->nruns; i++)
        if (sv->open[i]) {
            tail_close(&sv->tails[i]);
            runview_free(&sv->runs[i]);
            sv->open[i] = 0;
        }
    sv->nruns = 0;
}

/* Stats of every cell from the rows read; returns -1 when out of memory. */
static int summarise(sweep_view *sv)
{
    int cells = nl_sweep_cells(&sv->def);
    if (cells != sv->cells || !sv->stats) {
        free(sv->stats);
        sv->stats = calloc((size_t)cells, sizeof *sv->stats);
        sv->cells = sv->stats ? cells : 0;
        if (!sv->stats)
            return -1;
    }
    nl_sweep_summarise(&sv->def, sv->rows, sv->nrows, sv->stats);
    return 0;
}

int sweepview_open(sweep_view *sv, const char *dir, char *msg, int msglen)
{
    memset(sv, 0, sizeof *sv);
    snprintf(sv->dir, sizeof sv->dir, "%s", dir);
    size_t n = strlen(sv->dir);
    while (n > 1 && sv->dir[n - 1] == '/')
        sv->dir[--n] = '\0';
    nl_error err = {0};
    if (nl_sweep_load_dir(sv->dir, &sv->def, &sv->rows, &sv->nrows, &err)) {
        snprintf(msg, (size_t)msglen, "%s", err.msg);
        return -1;
    }
    if (summarise(sv)) {
        snprintf(msg, (size_t)msglen, "out of memory");
        sweepview_free(sv);
        return -1;
    }
    sweepview_select(sv, 0);
    return 0;
}

void sweepview_free(sweep_view *sv)
{
    close_runs(sv);
    free(sv->rows);
    free(sv->stats);
    sv->rows = NULL;
    sv->stats = NULL;
    sv->nrows = sv->cells = 0;
}

static int rows_differ(const nl_sweep_result *a, int na, const nl_sweep_result *b, int nb)
{
    if (na != nb)
        return 1;
    for (int i = 0; i < na; i++)
        if (a[i].cell != b[i].cell || a[i].seed != b[i].seed || a[i].diverged != b[i].diverged ||
            memcmp(&a[i].val_loss, &b[i].val_loss, sizeof a[i].val_loss))
            return 1;
    return 0;
}

int sweepview_reload(sweep_view *sv)
{
    nl_sweep_def *d = malloc(sizeof *d);
    if (!d)
        return 0;
    nl_sweep_result *rows = NULL;
    int n = 0, changed = 0;
    nl_error err = {0};
    if (nl_sweep_load_dir(sv->dir, d, &rows, &n, &err)) {
        free(d);
        free(rows);
        changed = strcmp(sv->msg, err.msg) != 0;
        snprintf(sv->msg, sizeof sv->msg, "%s", err.msg);
        return changed;
    }
    if (sv->msg[0]) {
        sv->msg[0] = '\0';
        changed = 1;
    }
    if (!nl_sweep_def_same(&sv->def, d, NULL, 0)) {
        /* another sweep now lives in the directory: start over on it */
        close_runs(sv);
        sv->def = *d;
        sv->sel = 0;
        changed = 1;
    }
    free(d);
    changed |= rows_differ(sv->rows, sv->nrows, rows, n);
    free(sv->rows);
    sv->rows = rows;
    sv->nrows = n;
    summarise(sv);
    if (changed && sv->nruns == 0)
        sweepview_select(sv, sv->sel); /* keeps the overlay when it is shown */
    return changed;
}

/* The runs of the selected row, or of every row in the overlay (run order: cell by cell,
 * seeds inside), up to SWEEPVIEW_MAX_RUNS. */
static void load_runs(sweep_view *sv)
{
    int R = sweepgrid_rows(&sv->def), C = sweepgrid_cols(&sv->def);
    close_runs(sv);
    int r0 = sv->all ? 0 : sv->sel, r1 = sv->all ? R : sv->sel + 1;
    sv->total_runs = (r1 - r0) * C * sv->def.seeds;
    sv->osel = 0;
    for (int r = r0; r < r1; r++)
        for (int c = 0; c < C; c++)
            for (int s = 0; s < sv->def.seeds && sv->nruns < SWEEPVIEW_MAX_RUNS; s++) {
                sv->cell[sv->nruns] = r * C + c;
                sv->col[sv->nruns] = c;
                sv->seed[sv->nruns] = s;
                sv->open[sv->nruns] = 0;
                sv->nruns++;
            }
}

void sweepview_select(sweep_view *sv, int row)
{
    int R = sweepgrid_rows(&sv->def);
    if (row >= R)
        row = R - 1;
    if (row < 0)
        row = 0;
    sv->sel = row;
    load_runs(sv);
}

void sweepview_overlay(sweep_view *sv, int on)
{
    sv->all = on;
    load_runs(sv);
}

int sweepview_open_runs(const sweep_view *sv, ui_run *out, int *idx)
{
    int k = 0;
    for (int i = 0; i < sv->nruns; i++)
        if (sv->open[i]) {
            out[k] = sv->runs[i];
            idx[k++] = i;
        }
    return k;
}

int sweepview_poll(sweep_view *sv)
{
    int changed = 0;
    for (int i = 0; i < sv->nruns; i++) {
        if (!sv->open[i]) {
            char name[256], path[1024], msg[256];
            nl_sweep_run_name(&sv->def, sv->cell[i], sv->seed[i], name, sizeof name);
            snprintf(path, sizeof path, "%s/%s", sv->dir, name);
            struct stat st;
            if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
                continue; /* not started yet */
            if (tail_open(&sv->tails[i], path, &sv->runs[i], msg, sizeof msg))
                continue;
            /* the grid: a colour per column; the overlay: per cell (seeds share it) */
            sv->runs[i].colour = (sv->all ? sv->cell[i] : sv->col[i]) % UI_SERIES_COLOURS;
            sv->runs[i].hist_bytes = SWEEPVIEW_HISTORY_BYTES;
            sv->open[i] = 1;
            changed = 1;
        }
        changed |= tail_poll(&sv->tails[i], &sv->runs[i]);
    }
    return changed;
}

/* ---- drawing ---------------------------------------------------------------------------- */

static void draw_curves(ui_grid *g, ui_rect r, const sweep_view *sv, const dash_view *v)
{
    const nl_sweep_def *d = &sv->def;
    int C = sweepgrid_cols(d);
    char title[256], rowname[200];
    if (d->n_axes)
        snprintf(rowname, sizeof rowname, "%s=%s", d->axes[0].label, d->axes[0].values[sv->sel]);
    else
        snprintf(rowname, sizeof rowname, "base");
    int started = 0;
    for (int i = 0; i < sv->nruns; i++)
        started += sv->open[i];
    double a = dash_smooth_alpha(v->smooth);
    char more[48] = "";
    if (sv->total_runs > sv->nruns)
        snprintf(more, sizeof more, " (first %d)", sv->nruns);
    char smooth[32] = "raw";
    if (a < 1)
        snprintf(smooth, sizeof smooth, "EMA %.3g", 1 - a);
    snprintf(title, sizeof title, "Train loss · %s · %d of %d runs%s · %s · %s", rowname, started,
             sv->total_runs, more, smooth, v->logy ? "log y" : "linear y");
    ui_panel_title(g, (ui_rect){0, r.y, r.w, 1}, title, 0, v->glyphs);

    dash_series *ser = calloc((size_t)(sv->nruns > 0 ? sv->nruns : 1), sizeof *ser);
    plot_series *ps = calloc((size_t)(sv->nruns > 0 ? sv->nruns : 1), sizeof *ps);
    char(*names)[128] = calloc((size_t)(C > 0 ? C : 1), sizeof *names);
    if (!ser || !ps || !names) {
        free(ser);
        free(ps);
        free(names);
        return;
    }
    int k = 0, labelled_col = -1;
    double floor_ = NAN;
    for (int i = 0; i < sv->nruns; i++) {
        if (!sv->open[i] || !dash_series_build(&ser[i], &sv->runs[i], v->smooth, v->x_tokens))
            continue;
        int c = sv->col[i];
        const char *label = NULL;
        if (c != labelled_col) { /* one legend entry per column: its seeds share a colour */
            nl_sweep_cell_name(d, sv->sel * C + c, names[c], sizeof names[c]);
            label = names[c];
            labelled_col = c;
        }
        if (!isfinite(floor_))
            floor_ = sv->runs[i].st.entropy_floor;
        ps[k++] = (plot_series){label,    ROLE_SERIES0 + c % UI_SERIES_COLOURS, c,    ser[i].n,
                                ser[i].x, a < 1 ? ser[i].ema : ser[i].y,        NULL, NULL,
                                0};
    }
    plot_spec spec = {v->glyphs, v->logy, v->x_tokens ? "tokens" : "step",
                      NAN,       NAN,     floor_,
                      "floor",   1,       k,
                      ps,        1,       .mono = v->mono};
    plot_draw(g, (ui_rect){r.x, r.y + 1, r.w, r.h - 1}, &spec, NULL);
    for (int i = 0; i < sv->nruns; i++)
        dash_series_free(&ser[i]);
    free(ser);
    free(ps);
    free(names);
}

/* One line on the selected row's runs: how many are in each state, and the newest step of a
 * run going. */
static void draw_row_status(ui_grid *g, int y, const sweep_view *sv)
{
    int fin = 0, div = 0, run = 0, other = 0, wait = 0, going = -1;
    for (int i = 0; i < sv->nruns; i++) {
        if (!sv->open[i]) {
            wait++;
            continue;
        }
        nl_run_state s = sv->runs[i].st.state;
        if (s == NL_RUN_FINISHED)
            fin++;
        else if (s == NL_RUN_DIVERGED)
            div++;
        else if (s == NL_RUN_RUNNING) {
            run++;
            going = i;
        } else
            other++;
    }
    char buf[512];
    int n = snprintf(buf, sizeof buf, "This row: %d finished", fin);
    if (div)
        n += snprintf(buf + n, sizeof buf - (size_t)n, " · %d diverged", div);
    if (other)
        n += snprintf(buf + n, sizeof buf - (size_t)n, " · %d stopped", other);
    if (run)
        n += snprintf(buf + n, sizeof buf - (size_t)n, " · %d going", run);
    if (wait)
        n += snprintf(buf + n, sizeof buf - (size_t)n, " · %d not started", wait);
    if (going >= 0) {
        const ui_run *r = &sv->runs[going];
        snprintf(buf + n, sizeof buf - (size_t)n, " · %s at %lld/%lld", r->name,
                 (long long)r->last_step, (long long)r->st.total);
    }
    grid_text(g, 1, y, g->w - 1, ROLE_NORMAL, 0, buf);
    if (div)
        grid_text(g, 1, y, g->w - 1, ROLE_NORMAL, UI_A_BOLD, "This row:");
}

void sweepview_topbar(ui_grid *g, const sweep_view *sv, const dash_view *v, const char *what)
{
    int W = g->w;
    const nl_sweep_def *d = &sv->def;
    for (int x = 0; x < W; x++)
        grid_put(g, x, 0, L' ', ROLE_NORMAL, UI_A_REVERSE);
    int x = grid_text(g, 0, 0, W, ROLE_TITLE, UI_A_REVERSE | UI_A_BOLD, " normlab watch ");
    int done = 0;
    for (int i = 0; i < sv->cells; i++)
        done += sv->stats[i].runs;
    const char *base = strrchr(sv->dir, '/');
    grid_textf(g, x, 0, W - x, ROLE_NORMAL, UI_A_REVERSE,
               "· sweep %s%s · %d/%d runs done · %d seed%s ", base ? base + 1 : sv->dir, what, done,
               nl_sweep_runs(d), d->seeds, d->seeds == 1 ? "" : "s");
    const char *msg = sv->msg[0] ? sv->msg : v->msg;
    int role = sv->msg[0] ? ROLE_ERROR : v->msg_role;
    if (msg && *msg) {
        int mw = text_cells(msg);
        int mx = W - mw - 1 > 15 ? W - mw - 1 : 15;
        for (int k = mx - 1; k < W; k++)
            grid_put(g, k, 0, L' ', ROLE_NORMAL, UI_A_REVERSE);
        grid_text(g, mx, 0, W - mx, role, UI_A_REVERSE | UI_A_BOLD, msg);
    }
}

void sweepview_draw(ui_grid *g, const sweep_view *sv, const dash_view *v)
{
    grid_clear(g);
    int W = g->w, H = g->h;
    if (W < 60 || H < 16) {
        grid_textf(g, 0, 0, W, ROLE_ERROR, 0, "terminal %dx%d is too small: the sweep needs 60x16",
                   W, H);
        if (H > 1)
            ui_draw_footer(g, H - 1, CTX_SWEEP, 1, 0);
        return;
    }
    const nl_sweep_def *d = &sv->def;
    if (!sv->stats) {
        grid_text(g, 0, 0, W, ROLE_ERROR, 0, "out of memory");
        ui_draw_footer(g, H - 1, CTX_SWEEP, 1, 0);
        return;
    }

    sweepview_topbar(g, sv, v, "");
    ui_draw_footer(g, H - 1, CTX_SWEEP, 1, 0);

    /* the grid: what it needs, up to about half the screen */
    char title[256];
    int n = snprintf(title, sizeof title, "Final val loss, mean of %d seed%s · ", d->seeds,
                     d->seeds == 1 ? "" : "s");
    for (int a = 0; a < d->n_axes; a++)
        n +=
            snprintf(title + n, sizeof title - (size_t)n, "%s%s", a ? " × " : "", d->axes[a].label);
    if (!d->n_axes)
        snprintf(title + n, sizeof title - (size_t)n, "no varied keys");
    ui_panel_title(g, (ui_rect){0, 1, W, 1}, title, 0, v->glyphs);
    int gh = sweepgrid_height(d), cap = (H - 4) / 2;
    if (gh > cap)
        gh = cap;
    if (gh < 3)
        gh = 3;
    sweepgrid_spec gs = {d, sv->stats, sv->sel, v->glyphs, v->mono};
    sweepgrid_draw(g, (ui_rect){0, 2, W, gh}, &gs, NULL);

    /* the curves of the selected row, and a line on its runs */
    int top = 2 + gh, bottom = H - 2;
    if (bottom - top >= 4)
        draw_curves(g, (ui_rect){0, top, W, bottom - top}, sv, v);
    draw_row_status(g, H - 2, sv);
}
