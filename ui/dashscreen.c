#include "dashscreen.h"

#include <ncursesw/curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashkeys.h"
#include "engine/backend.h"
#include "keys.h"
#include "lessonpane.h"
#include "report.h"
#include "widgets.h"

static ui_run *runs_of(const dash_screen *d)
{
    return d->src->runs;
}

static int nruns_of(const dash_screen *d)
{
    return d->src->nruns;
}

/* The selected run, or NULL when there are none. */
static ui_run *selected(dash_screen *d)
{
    int n = nruns_of(d);
    return n ? &runs_of(d)[d->dv.sel < n ? d->dv.sel : 0] : NULL;
}

static int any_in_state(const dash_screen *d, nl_run_state s)
{
    for (int i = 0; i < nruns_of(d); i++)
        if (runs_of(d)[i].st.state == s)
            return 1;
    return 0;
}

static void command(dash_screen *d, int run, nl_cmd cmd)
{
    if (d->src->ops->command)
        d->src->ops->command(d->src, run, cmd);
}

/* ---- keys: the runs ----------------------------------------------------------------------- */

/* Quit, back to setup, restart: ask first while runs are going. */
static void ask_or_finish(dash_screen *d, ui_loop *l, int next)
{
    if (ui_source_active(d->src))
        ui_confirm_ask(&d->confirm, l, next);
    else
        ui_finish(l, next);
}

static void key_pause(dash_screen *d, ui_loop *l)
{
    if (any_in_state(d, NL_RUN_RUNNING)) {
        command(d, -1, NL_CMD_PAUSE);
        ui_loop_msg(l, ROLE_PAUSED, "pausing every run (s steps, Space resumes)");
    } else if (any_in_state(d, NL_RUN_PAUSED)) {
        command(d, -1, NL_CMD_RESUME);
        ui_loop_msg(l, ROLE_RUNNING, "resuming");
    } else {
        ui_loop_msg(l, ROLE_ERROR, "no run is going (r restarts)");
    }
}

static void key_step(dash_screen *d, ui_loop *l)
{
    if (any_in_state(d, NL_RUN_PAUSED)) {
        /* every run the worker has paused, including those the UI does not know are yet */
        command(d, -1, NL_CMD_STEP);
        ui_loop_msg(l, ROLE_OK, "one step");
    } else {
        ui_loop_msg(l, ROLE_ERROR, "single steps need a paused run: Space pauses");
    }
}

static void key_stop(dash_screen *d, ui_loop *l)
{
    int i = d->dv.sel < nruns_of(d) ? d->dv.sel : 0;
    ui_run *r = &runs_of(d)[i];
    if (r->st.state == NL_RUN_RUNNING || r->st.state == NL_RUN_PAUSED ||
        r->st.state == NL_RUN_READY) {
        command(d, i, NL_CMD_STOP);
        ui_loop_msg(l, ROLE_OK, "stopping %s (final checkpoint)", r->name);
    } else {
        ui_loop_msg(l, ROLE_ERROR, "%s is not going (%s)", r->name,
                    runview_state_name(r->st.state));
    }
}

static void key_ckpt(dash_screen *d, ui_loop *l)
{
    if (ui_source_active(d->src)) {
        command(d, -1, NL_CMD_SAVE);
        ui_loop_msg(l, ROLE_OK, "checkpoint requested for every run going");
    } else {
        ui_loop_msg(l, ROLE_ERROR, "no run is going");
    }
}

/* H: report.html of the runs shown, beside their directories (ui/report.h). */
static void key_report(dash_screen *d, ui_loop *l)
{
    const char *dirs[UI_MAX_RUNS];
    int n = 0, notes = 0;
    for (int i = 0; i < nruns_of(d); i++)
        if (runs_of(d)[i].st.dir[0])
            dirs[n++] = runs_of(d)[i].st.dir;
    char path[1100];
    nl_error err = {0};
    if (report_save_race(dirs, n, path, sizeof path, &notes, &err))
        ui_loop_msg(l, ROLE_ERROR, "report: %.200s", err.msg);
    else
        ui_loop_msg(l, ROLE_OK, "report written: %.200s%s", path, notes ? " (with notes)" : "");
}

/* The keys that act on the runs or the screen stack; 0 when act is none of them. */
static int key_runs(dash_screen *d, ui_loop *l, ui_action act)
{
    switch (act) {
    case ACT_QUIT:
        ask_or_finish(d, l, UI_NEXT_QUIT);
        return 1;
    case ACT_RESTART:
        ask_or_finish(d, l, UI_NEXT_RESTART);
        return 1;
    case ACT_SETUP:
        ask_or_finish(d, l, UI_NEXT_SETUP);
        return 1;
    case ACT_PAUSE:
        key_pause(d, l);
        return 1;
    case ACT_STEP:
        key_step(d, l);
        return 1;
    case ACT_STOP:
        key_stop(d, l);
        return 1;
    case ACT_CKPT:
        key_ckpt(d, l);
        return 1;
    case ACT_REPORT:
        key_report(d, l);
        return 1;
    case ACT_HELP:
        ui_help_open(&d->help, l);
        return 1;
    case ACT_TEACH:
        ui_loop_push(l, &d->teach.base);
        return 1;
    case ACT_DIFF:
        d->diff.scroll = 0;
        ui_loop_push(l, &d->diff.base);
        return 1;
    default:
        return 0;
    }
}

static void key_experts(dash_screen *d, ui_loop *l)
{
    dash_view *v = &d->dv;
    const ui_run *r = selected(d);
    if (!r || r->moe_layers < 1) {
        ui_loop_msg(l, ROLE_ERROR, "%s has no MoE layers", r ? r->name : "the run");
        return;
    }
    v->experts_off = !v->experts_off;
    if (v->focus == PANEL_MOE || v->focus == PANEL_GRAD || v->focus == PANEL_RMS)
        v->focus = v->experts_off ? PANEL_GRAD : PANEL_MOE;
}

static void key_hide(dash_screen *d, ui_loop *l)
{
    ui_run *r = selected(d);
    if (!r)
        return;
    r->hidden = !r->hidden;
    ui_loop_msg(l, ROLE_OK, "%s %s (v toggles, V shows all)", r->name,
                r->hidden ? "hidden" : "shown");
}

/* Panels, series, runs shown and selected; 0 when act is none of them. */
static int key_panels(dash_screen *d, ui_loop *l, ui_action act)
{
    dash_view *v = &d->dv;
    int n = nruns_of(d);
    switch (act) {
    case ACT_HIDE_RUN:
        key_hide(d, l);
        return 1;
    case ACT_SHOW_ALL:
        for (int i = 0; i < n; i++)
            runs_of(d)[i].hidden = 0;
        return 1;
    case ACT_SERIES:
        v->series = (v->series + 1) % DS_COUNT;
        ui_loop_msg(l, ROLE_OK, "top plot: %s (y for the next)", dash_series_name(v->series));
        return 1;
    case ACT_PER_LAYER:
        v->perlayer = !v->perlayer;
        return 1;
    case ACT_PANEL:
        v->focus = dash_next_panel(v, selected(d));
        return 1;
    case ACT_EXPERTS:
        key_experts(d, l);
        return 1;
    case ACT_HEAT_KIND:
        v->heat_ffn = !v->heat_ffn;
        return 1;
    case ACT_ZOOM:
        v->zoom = !v->zoom;
        return 1;
    case ACT_NEXT_RUN:
    case ACT_PREV_RUN:
        if (n)
            v->sel = (v->sel + (act == ACT_NEXT_RUN ? 1 : n - 1)) % n;
        return 1;
    default:
        return 0;
    }
}

static int dash_key(ui_screen *s, ui_loop *l, int key)
{
    dash_screen *d = (dash_screen *)s;
    const ui_binding *b = keys_find(key, CTX_DASH);
    if (!b)
        return 1;
    if (!d->src->live && b->live) {
        ui_loop_msg(l, ROLE_ERROR, "watching files: '%s' (%s) needs a live run", b->label,
                    b->footer ? b->footer : b->help);
        return 1;
    }
    if (ui_source_busy(d->src) && b->act != ACT_HELP) {
        ui_loop_msg(l, ROLE_ERROR, "busy: stopping the runs");
        return 1;
    }
    /* the panes first: they take the keys that scroll them while they are shown */
    if (d->msgs.base.ops->key(&d->msgs.base, l, key) ||
        d->lesson.base.ops->key(&d->lesson.base, l, key))
        return 1;
    if (!key_runs(d, l, b->act) &&
        !dash_view_key(&d->dv, l, b->act, key, runs_of(d), nruns_of(d), &d->loss_layout))
        key_panels(d, l, b->act);
    return 1;
}

/* ---- the panes ---------------------------------------------------------------------------- */

/* m shows or hides the message pane; Up/Down scroll it while it is shown. */
static int msgs_key(ui_screen *s, ui_loop *l, int key)
{
    dash_pane *p = (dash_pane *)s;
    const ui_binding *b = keys_find(key, CTX_DASH);
    ui_action act = b ? b->act : ACT_NONE;
    if (act == ACT_MESSAGES) {
        p->shown = !p->shown;
        p->scroll = 0;
        return 1;
    }
    if (!p->shown || (act != ACT_NEXT_RUN && act != ACT_PREV_RUN))
        return 0;
    if (act == ACT_NEXT_RUN)
        p->scroll = p->scroll > 0 ? p->scroll - 1 : 0;
    else
        p->scroll++;
    return 1;
}

static void msgs_draw(ui_screen *s, ui_loop *l, ui_grid *g)
{
    dash_pane *p = (dash_pane *)s;
    if (!p->shown)
        return;
    ui_rect r = dash_lower_rect(g, &p->dash->dv, nruns_of(p->dash));
    int scroll = p->scroll;
    if (r.h > 0)
        msglog_draw(g, r, &l->log, &scroll, p->dash->dv.glyphs);
}

static const ui_screen_ops msgs_ops = {"message pane", msgs_key, msgs_draw, NULL};

/* L shows or hides the lesson pane; PgUp / PgDn scroll it (lessonpane_draw clamps), and
 * Up/Down while it is shown. */
static int lesson_key(ui_screen *s, ui_loop *l, int key)
{
    dash_pane *p = (dash_pane *)s;
    const ui_binding *b = keys_find(key, CTX_DASH);
    ui_action act = b ? b->act : ACT_NONE;
    const nl_lesson *lesson = lessonpane_lesson(runs_of(p->dash), nruns_of(p->dash));
    if ((act == ACT_NEXT_RUN || act == ACT_PREV_RUN) && p->shown && lesson) {
        p->scroll += act == ACT_NEXT_RUN ? 1 : -1;
        return 1;
    }
    if (act != ACT_LESSON && act != ACT_LESSON_PAGE)
        return 0;
    if (!lesson)
        ui_loop_msg(l, ROLE_ERROR,
                    "no lesson: these runs were not started from one (normlab lesson)");
    else if (act == ACT_LESSON)
        p->shown = !p->shown;
    else if (!p->shown)
        p->shown = 1;
    else
        p->scroll += (key == UI_KEY(KEY_PPAGE) ? -1 : 1) *
                     (lessonpane_rect(&l->term.grid, nruns_of(p->dash)).h - 3);
    return 1;
}

static void lesson_draw(ui_screen *s, ui_loop *l, ui_grid *g)
{
    dash_pane *p = (dash_pane *)s;
    const nl_lesson *lesson = lessonpane_lesson(runs_of(p->dash), nruns_of(p->dash));
    if (lesson && p->shown)
        lessonpane_draw(g, &p->dash->dv, lesson, runs_of(p->dash), nruns_of(p->dash), &p->scroll);
}

static const ui_screen_ops lesson_ops = {"lesson pane", lesson_key, lesson_draw, NULL};

/* ---- the screen --------------------------------------------------------------------------- */

void dash_view_frame(dash_view *v, ui_loop *l)
{
    v->glyphs = l->term.glyphs;
    v->mono = l->term.colours == UI_COLOUR_MONO;
    v->msg = ui_loop_message(l);
    v->msg_role = l->msg_role;
    double load[1];
    v->load1 = getloadavg(load, 1) == 1 ? load[0] : 0;
    v->cores = nl_backend_cores();
}

static void dash_screen_draw(ui_screen *s, ui_loop *l, ui_grid *g)
{
    dash_screen *d = (dash_screen *)s;
    dash_view_frame(&d->dv, l);
    d->dv.watch = !d->src->live;
    d->dv.lesson = lessonpane_lesson(runs_of(d), nruns_of(d)) != NULL;
    dash_draw(g, &d->dv, runs_of(d), nruns_of(d));
    d->msgs.base.ops->draw(&d->msgs.base, l, g);
    d->lesson.base.ops->draw(&d->lesson.base, l, g);
}

static const ui_screen_ops dash_ops = {"dashboard", dash_key, dash_screen_draw, NULL};

void dash_screen_init(dash_screen *d, ui_source *src, const char *title)
{
    memset(d, 0, sizeof *d);
    d->base.ops = &dash_ops;
    d->base.opaque = 1;
    d->src = src;
    dash_view_init(&d->dv);
    d->dv.loss_layout = &d->loss_layout;
    dash_screen_title(d, title);
    d->msgs.base.ops = &msgs_ops;
    d->msgs.dash = d;
    d->lesson.base.ops = &lesson_ops;
    d->lesson.dash = d;
    ui_help_init(&d->help, CTX_DASH);
    ui_teach_init(&d->teach, &d->dv);
    ui_diff_init(&d->diff);
    ui_confirm_init(&d->confirm);
}

void dash_screen_title(dash_screen *d, const char *title)
{
    snprintf(d->title, sizeof d->title, "%s", title);
    d->dv.title = d->title;
}

void dash_screen_runs_changed(dash_screen *d)
{
    if (d->dv.sel >= nruns_of(d))
        d->dv.sel = 0;
}

void dash_screen_show_lesson(dash_screen *d, int shown)
{
    d->lesson.shown = shown;
}
