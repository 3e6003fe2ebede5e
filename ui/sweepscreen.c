#include "sweepscreen.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "dashkeys.h"
#include "dashscreen.h"
#include "keys.h"

#define SWEEP_RELOAD_MS 1000.0 /* sweep.yaml and sweep.csv are read again this often */

static sweep_screen *of_source(ui_source *src)
{
    return (sweep_screen *)((char *)src - offsetof(sweep_screen, src));
}

/* The sweep's files every SWEEP_RELOAD_MS, the selected row's runs at the refresh period. */
static void sweep_poll(ui_source *src, ui_loop *l)
{
    sweep_screen *s = of_source(src);
    double now = term_now_ms();
    if (now >= s->reload_at) {
        s->reload_at = now + SWEEP_RELOAD_MS;
        if (sweepview_reload(&s->sv))
            ui_loop_stale(l);
    }
    if (now >= s->poll_at) {
        s->poll_at = now + l->refresh_ms;
        if (sweepview_poll(&s->sv))
            ui_loop_stale(l);
    }
}

static const ui_source_ops sweep_source_ops = {sweep_poll, NULL, NULL, NULL, NULL};

/* The grid's keys: the row, and the curves' smoothing, y scale and x axis. */
static void sweep_grid_key(sweep_screen *s, ui_loop *l, ui_action act)
{
    dash_view *v = &s->dv;
    switch (act) {
    case ACT_NEXT_RUN:
    case ACT_PREV_RUN:
        sweepview_select(&s->sv, s->sv.sel + (act == ACT_NEXT_RUN ? 1 : -1));
        sweepview_poll(&s->sv);
        s->poll_at = term_now_ms() + l->refresh_ms;
        break;
    case ACT_SMOOTH_MORE:
        if (v->smooth + 1 < dash_smooth_levels())
            v->smooth++;
        break;
    case ACT_SMOOTH_LESS:
        if (v->smooth > 0)
            v->smooth--;
        break;
    case ACT_LOGY:
        v->logy = !v->logy;
        break;
    case ACT_XAXIS:
        v->x_tokens = !v->x_tokens;
        break;
    default:
        break;
    }
}

/* o: the overlay of every row, or back to the grid (the x window, cursor and y range were
 * the overlay's: the grid's curves start whole again) */
static void key_overlay(sweep_screen *s, ui_loop *l)
{
    dash_view *v = &s->dv;
    sweepview_overlay(&s->sv, !s->sv.all);
    sweepview_poll(&s->sv);
    s->poll_at = term_now_ms() + l->refresh_ms;
    s->help.ctx = s->sv.all ? CTX_OVERLAY : CTX_SWEEP;
    if (!s->sv.all) {
        v->xv0 = v->xv1 = NAN;
        v->yzoom = v->cursor = v->x_time = v->series = 0;
    }
    v->sel = 0;
    ui_loop_msg(l, ROLE_OK, "%s", s->sv.all ? "every row of the sweep (o: the grid)" : "the grid");
}

/* Up/Down, v and V in the overlay: the selected run, hiding it, showing all. */
static void key_overlay_runs(sweep_screen *s, ui_loop *l, ui_action act)
{
    sweep_view *sv = &s->sv;
    int n = 0, k = 0, idx[SWEEPVIEW_MAX_RUNS];
    for (int i = 0; i < sv->nruns; i++)
        if (sv->open[i]) {
            if (i == sv->osel)
                k = n;
            idx[n++] = i;
        }
    if (!n)
        return;
    if (act == ACT_NEXT_RUN || act == ACT_PREV_RUN) {
        sv->osel = idx[(k + (act == ACT_NEXT_RUN ? 1 : n - 1)) % n];
    } else if (act == ACT_HIDE_RUN) {
        ui_run *r = &sv->runs[idx[k]];
        r->hidden = !r->hidden;
        ui_loop_msg(l, ROLE_OK, "%s %s (v toggles, V shows all)", r->name,
                    r->hidden ? "hidden" : "shown");
    } else if (act == ACT_SHOW_ALL) {
        for (int i = 0; i < sv->nruns; i++)
            sv->runs[i].hidden = 0;
    }
}

/* The overlay's keys: the dashboard's view keys over its runs, then its own. */
static void key_in_overlay(sweep_screen *s, ui_loop *l, const ui_binding *b, int key)
{
    ui_run *runs = malloc(SWEEPVIEW_MAX_RUNS * sizeof *runs);
    int idx[SWEEPVIEW_MAX_RUNS];
    if (!runs)
        return;
    int n = sweepview_open_runs(&s->sv, runs, idx);
    if (!dash_view_key(&s->dv, l, b->act, key, runs, n, &s->layout)) {
        if (b->act == ACT_SERIES) {
            s->dv.series = (s->dv.series + 1) % DS_COUNT;
            ui_loop_msg(l, ROLE_OK, "plot: %s (y for the next)", dash_series_name(s->dv.series));
        } else {
            key_overlay_runs(s, l, b->act);
        }
    }
    free(runs);
}

static int sweep_key(ui_screen *scr, ui_loop *l, int key)
{
    sweep_screen *s = (sweep_screen *)scr;
    const ui_binding *b = keys_find(key, s->sv.all ? CTX_OVERLAY : CTX_SWEEP);
    switch (b ? b->act : ACT_NONE) {
    case ACT_NONE:
        break;
    case ACT_QUIT:
        ui_loop_quit(l);
        break;
    case ACT_HELP:
        ui_help_open(&s->help, l);
        break;
    case ACT_OVERLAY:
        key_overlay(s, l);
        break;
    default:
        if (s->sv.all) {
            key_in_overlay(s, l, b, key);
            break;
        }
        sweep_grid_key(s, l, b->act);
        break;
    }
    return 1;
}

static void sweep_draw(ui_screen *scr, ui_loop *l, ui_grid *g)
{
    sweep_screen *s = (sweep_screen *)scr;
    dash_view_frame(&s->dv, l);
    if (s->sv.all)
        sweepview_draw_overlay(g, &s->sv, &s->dv);
    else
        sweepview_draw(g, &s->sv, &s->dv);
}

static const ui_screen_ops sweep_screen_ops = {"sweep grid", sweep_key, sweep_draw, NULL};

int sweep_screen_open(sweep_screen *s, ui_loop *l, const char *dir, char *msg, int msglen)
{
    s->base.ops = &sweep_screen_ops;
    s->base.opaque = 1;
    s->src.ops = &sweep_source_ops;
    s->src.runs = NULL;
    s->src.nruns = 0;
    s->src.live = 0;
    s->reload_at = s->poll_at = 0;
    dash_view_init(&s->dv);
    s->dv.watch = 1;
    s->dv.title = "watch";
    s->dv.loss_layout = &s->layout;
    ui_help_init(&s->help, CTX_SWEEP);
    if (sweepview_open(&s->sv, dir, msg, msglen))
        return -1;
    sweepview_poll(&s->sv);
    l->src = &s->src;
    ui_loop_set_base(l, &s->base);
    return 0;
}

void sweep_screen_close(sweep_screen *s)
{
    sweepview_free(&s->sv);
}
