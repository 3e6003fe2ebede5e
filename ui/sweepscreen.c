#include "sweepscreen.h"

#include <stddef.h>

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

static int sweep_key(ui_screen *scr, ui_loop *l, int key)
{
    sweep_screen *s = (sweep_screen *)scr;
    const ui_binding *b = keys_find(key, CTX_SWEEP);
    dash_view *v = &s->dv;
    switch (b ? b->act : ACT_NONE) {
    case ACT_QUIT:
        ui_loop_quit(l);
        break;
    case ACT_HELP:
        ui_help_open(&s->help, l);
        break;
    case ACT_NEXT_RUN:
    case ACT_PREV_RUN:
        sweepview_select(&s->sv, s->sv.sel + (b->act == ACT_NEXT_RUN ? 1 : -1));
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
    return 1;
}

static void sweep_draw(ui_screen *scr, ui_loop *l, ui_grid *g)
{
    sweep_screen *s = (sweep_screen *)scr;
    dash_view_frame(&s->dv, l);
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
