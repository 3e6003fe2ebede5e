#include "app.h"

#include <math.h>
#include <ncursesw/curses.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dash.h"
#include "engine/backend.h"
#include "engine/session.h"
#include "keys.h"
#include "lessonpane.h"
#include "report.h"
#include "msglog.h"
#include "preflight.h"
#include "runview.h"
#include "setup.h"
#include "sweepview.h"
#include "tail.h"

#define FRAME_MS 100.0         /* at most ten redraws a second */
#define REFRESH_MS 250         /* new metrics are drawn at most four times a second by default */
#define MSG_MS 5000.0          /* how long a message stays in the top bar */
#define SWEEP_RELOAD_MS 1000.0 /* sweep.yaml and sweep.csv are read again this often */

enum { SCREEN_SETUP = 0, SCREEN_DASH, SCREEN_SWEEP };
enum { OV_NONE = 0, OV_HELP, OV_TEACH, OV_CONFIRM, OV_DIFF };
/* What waits for a yes, or for the session to wind down. */
enum { DO_NOTHING = 0, DO_QUIT, DO_SETUP, DO_RESTART };

typedef struct app {
    ui_term term;
    const ui_lab_opts *opts;
    int watch;
    int screen, overlay, confirm;
    setup_state *setup;
    dash_view dv;
    ui_run runs[UI_MAX_RUNS];
    int nruns;
    nl_config *run_cfg; /* (NL_MAX_RACE) the configs of the current runs, for a restart */
    nl_session *sess;
    run_tail tails[UI_MAX_RUNS];
    sweep_view *sweep; /* `normlab watch SWEEP_DIR` */
    double sweep_reload_at, sweep_poll_at;
    char msg[256];
    int msg_role;
    double msg_until;
    ui_msglog log;         /* every message, for the message pane (m) */
    char setup_seen[1024]; /* the setup screen's message last logged */
    int help_scroll, diff_scroll;
    plot_layout loss_layout; /* where the top plot was drawn (the cursor moves a column) */
    int dirty;               /* something to draw within FRAME_MS (a key, a state change) */
    int stale;               /* new metrics to draw within refresh_ms */
    double refresh_ms;
    double last_draw;
    int quit;
    /* the lesson pane (runs with a lesson); a lesson's race starts paused at step 0 */
    int lesson_shown, lesson_scroll, pause_starts;
    char title[96];
    /* the session winding down on a helper thread (stop + final checkpoints + join) */
    pthread_t op_thread;
    int op_busy;
    int op_next;
    atomic_int op_done;
    /* stats: NORMLAB_UI_STATS=FILE gets a line every 5 s */
    FILE *stats;
    double stats_t0;
    double stats_cpu0;
    int stats_frames;
} app;

static void app_msg(app *a, int role, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void app_msg(app *a, int role, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char full[1200];
    vsnprintf(full, sizeof full, fmt, ap);
    va_end(ap);
    snprintf(a->msg, sizeof a->msg, "%s", full);
    msglog_add(&a->log, role, full);
    a->msg_role = role;
    a->msg_until = term_now_ms() + MSG_MS;
    a->dirty = 1;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void stats_tick(app *a, int force)
{
    if (!a->stats)
        return;
    double now = term_now_ms();
    if (!force && now - a->stats_t0 < 5000)
        return;
    double dt = (now - a->stats_t0) / 1000, cpu = thread_cpu_s();
    if (dt > 0)
        fprintf(a->stats, "seconds %.2f frames %d frames_per_s %.2f ui_cpu_pct %.2f\n", dt,
                a->stats_frames, a->stats_frames / dt, 100 * (cpu - a->stats_cpu0) / dt);
    fflush(a->stats);
    a->stats_t0 = now;
    a->stats_cpu0 = cpu;
    a->stats_frames = 0;
}

static void free_runs(app *a)
{
    for (int i = 0; i < a->nruns; i++) {
        runview_free(&a->runs[i]);
        if (a->watch)
            tail_close(&a->tails[i]);
    }
    a->nruns = 0;
}

static int session_busy(app *a)
{
    return a->op_busy;
}

/* ---- the session --------------------------------------------------------------------------- */

static void *op_main(void *arg)
{
    app *a = arg;
    if (a->op_next == DO_QUIT) {
        nl_session_free(a->sess);
        a->sess = NULL;
    } else {
        nl_session_clear(a->sess);
    }
    atomic_store(&a->op_done, 1);
    return NULL;
}

static int start_runs(app *a, const nl_config *cfgs, int n);

/* What follows the session's winding down. */
static void after_wind_down(app *a, int next)
{
    a->dirty = 1;
    if (next == DO_QUIT) {
        a->quit = 1;
    } else if (next == DO_SETUP) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s", a->nruns && a->runs[0].st.dir[0] ? a->runs[0].st.dir : "");
        /* the race's directory (the runs' parent), named only when it was created */
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir)
            *slash = '\0';
        int failed = a->nruns > 0;
        for (int i = 0; i < a->nruns; i++)
            failed &= a->runs[i].st.state == NL_RUN_FAILED;
        free_runs(a);
        a->screen = SCREEN_SETUP;
        if (dir[0] && access(dir, F_OK) == 0)
            snprintf(a->setup->msg, sizeof a->setup->msg, "runs %s; files in %s",
                     failed ? "failed" : "stopped", dir);
        else
            snprintf(a->setup->msg, sizeof a->setup->msg,
                     "runs %s before writing any file (m on the dashboard lists why)",
                     failed ? "failed" : "stopped");
        a->setup->msg_role = failed ? ROLE_ERROR : ROLE_OK;
    } else if (next == DO_RESTART) {
        int n = a->nruns;
        free_runs(a);
        start_runs(a, a->run_cfg, n);
    }
}

static void op_finish(app *a)
{
    pthread_join(a->op_thread, NULL);
    a->op_busy = 0;
    int next = a->op_next;
    a->op_next = DO_NOTHING;
    after_wind_down(a, next);
}

/* Stop everything (final checkpoints) on the helper thread, so the UI keeps drawing, then
 * do `next`. The UI thread leaves the session alone meanwhile. */
static void wind_down(app *a, int next)
{
    if (a->op_busy)
        return;
    if (!a->sess) {
        after_wind_down(a, next);
        return;
    }
    a->op_next = next;
    a->op_busy = 1;
    atomic_store(&a->op_done, 0);
    if (pthread_create(&a->op_thread, NULL, op_main, a) != 0) {
        op_main(a);
        a->op_busy = 0;
        a->op_next = DO_NOTHING;
        after_wind_down(a, next);
        return;
    }
    a->dirty = 1;
}

static void lab_stamp_dir(app *a, char *out, int len)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(out, (size_t)len, "%s/lab-%s", a->opts && a->opts->out_dir ? a->opts->out_dir : "runs",
             stamp);
}

/* Add the runs to the session and start it; on failure the setup screen shows why. */
static int start_runs(app *a, const nl_config *cfgs, int n)
{
    nl_error err = {0};
    if (cfgs != a->run_cfg)
        for (int i = 0; i < n; i++)
            a->run_cfg[i] = cfgs[i];
    if (!a->sess) {
        a->sess = nl_session_create(a->run_cfg[0].train.device, a->run_cfg[0].train.threads, &err);
        if (!a->sess)
            goto fail;
    }
    char base[600];
    lab_stamp_dir(a, base, sizeof base);
    if (preflight_check(a->run_cfg, n, base, err.msg, (int)sizeof err.msg))
        goto fail;
    for (int i = 0; i < n; i++) {
        char dir[700];
        snprintf(dir, sizeof dir, "%s/%s", base, a->run_cfg[i].name);
        if (nl_session_add(a->sess, &a->run_cfg[i], dir, &err) < 0) {
            nl_session_clear(a->sess);
            goto fail;
        }
    }
    if (a->pause_starts) /* queued before the start: the worker pauses before step 1 */
        nl_session_command(a->sess, -1, NL_CMD_PAUSE, 0);
    if (nl_session_start(a->sess, &err)) {
        nl_session_clear(a->sess);
        goto fail;
    }
    free_runs(a);
    for (int i = 0; i < n; i++) {
        runview_init(&a->runs[i], a->run_cfg[i].name, i);
        runview_set_config(&a->runs[i], &a->run_cfg[i]);
        a->runs[i].st.total = a->run_cfg[i].train.steps;
        a->runs[i].st.state = NL_RUN_RUNNING;
    }
    a->nruns = n;
    a->screen = SCREEN_DASH;
    a->overlay = OV_NONE;
    if (a->dv.sel >= n)
        a->dv.sel = 0;
    if (a->pause_starts)
        app_msg(a, ROLE_OK, "%d run%s at step 0: Space starts", n, n == 1 ? "" : "s");
    else
        app_msg(a, ROLE_OK, "started %d run%s in %s", n, n == 1 ? "" : "s", base);
    return 0;
fail:
    a->screen = SCREEN_SETUP;
    snprintf(a->setup->msg, sizeof a->setup->msg, "cannot start: %.1000s", err.msg);
    msglog_add(&a->log, ROLE_ERROR, a->setup->msg);
    a->setup->msg_role = ROLE_ERROR;
    a->dirty = 1;
    return -1;
}

/* A run's new event (checkpoint written, checkpoint failed, ...) goes to the top bar. */
static void show_event(app *a, ui_run *r, const nl_run_status *st)
{
    if (!st->message[0] || !strcmp(st->message, r->last_event))
        return;
    snprintf(r->last_event, sizeof r->last_event, "%s", st->message);
    int bad = strstr(st->message, "fail") || strstr(st->message, "error") ||
              strstr(st->message, "cannot");
    int warn = strstr(st->message, "warn") || strstr(st->message, "slow");
    app_msg(a, bad ? ROLE_ERROR : warn ? ROLE_PAUSED : ROLE_OK, "%s: %s", r->name, st->message);
}

static int status_differs(const nl_run_status *x, const nl_run_status *y)
{
    return x->state != y->state || x->step != y->step || x->diverged_step != y->diverged_step ||
           strcmp(x->message, y->message) || x->layers != y->layers;
}

/* Take in what the worker published since the last poll. */
static void poll_session(app *a)
{
    if (!a->sess || session_busy(a))
        return;
    for (int i = 0; i < a->nruns; i++) {
        ui_run *r = &a->runs[i];
        nl_run_status st;
        if (nl_session_status(a->sess, i, &st) == 0) {
            if (st.state != r->st.state)
                a->dirty = 1; /* paused, stopped, diverged: show it now */
            else if (status_differs(&st, &r->st))
                a->stale = 1;
            if (st.state == NL_RUN_FAILED && r->st.state != NL_RUN_FAILED)
                app_msg(a, ROLE_ERROR, "%s failed: %s", st.name, st.message);
            else if (st.state == NL_RUN_DIVERGED && r->st.state != NL_RUN_DIVERGED)
                app_msg(a, ROLE_DIVERGED, "%s diverged at step %lld", st.name,
                        (long long)st.diverged_step);
            else
                show_event(a, r, &st);
            r->st = st;
        }
        nl_metrics_store *m = nl_session_metrics(a->sess, i);
        if (!m)
            continue;
        if (!r->hist && (runview_set_layers(r, nl_metrics_layers(m)) ||
                         runview_set_moe(r, nl_metrics_moe_layers(m), nl_metrics_experts(m))))
            continue;
        nl_metrics_row row;
        int k = 0;
        while (k < 100000 && nl_metrics_pop(m, &row)) {
            runview_ingest(r, &row);
            k++;
        }
        if (k)
            a->stale = 1;
    }
}

static void poll_tails(app *a)
{
    for (int i = 0; i < a->nruns; i++) {
        if (tail_poll(&a->tails[i], &a->runs[i])) {
            a->stale = 1;
            show_event(a, &a->runs[i], &a->runs[i].st);
        }
    }
}

/* The sweep's files every SWEEP_RELOAD_MS, the selected row's runs at the refresh period. */
static void poll_sweep(app *a)
{
    double now = term_now_ms();
    if (now >= a->sweep_reload_at) {
        a->sweep_reload_at = now + SWEEP_RELOAD_MS;
        if (sweepview_reload(a->sweep))
            a->stale = 1;
    }
    if (now >= a->sweep_poll_at) {
        a->sweep_poll_at = now + a->refresh_ms;
        if (sweepview_poll(a->sweep))
            a->stale = 1;
    }
}

/* ---- keys ---------------------------------------------------------------------------------- */

static int any_in_state(app *a, nl_run_state s)
{
    for (int i = 0; i < a->nruns; i++)
        if (a->runs[i].st.state == s)
            return 1;
    return 0;
}

static int runs_active(app *a)
{
    if (a->watch || !a->sess)
        return 0;
    return nl_session_active(a->sess);
}

static void ask(app *a, int what)
{
    a->overlay = OV_CONFIRM;
    a->confirm = what;
}

static void do_confirmed(app *a, int what)
{
    a->overlay = OV_NONE;
    if (what == DO_QUIT && (a->watch || !a->sess)) {
        a->quit = 1;
        return;
    }
    wind_down(a, what);
}

/* L shows or hides the lesson pane; PgUp / PgDn scroll it (lessonpane_draw clamps). */
static void lesson_key(app *a, ui_action act, int key)
{
    if (!lessonpane_lesson(a->runs, a->nruns)) {
        app_msg(a, ROLE_ERROR, "no lesson: these runs were not started from one (normlab lesson)");
        return;
    }
    if (act == ACT_LESSON) {
        a->lesson_shown = !a->lesson_shown;
        return;
    }
    if (!a->lesson_shown)
        a->lesson_shown = 1;
    else
        a->lesson_scroll +=
            (key == UI_KEY(KEY_PPAGE) ? -1 : 1) * (lessonpane_rect(&a->term.grid, a->nruns).h - 3);
}

/* H: report.html of the runs shown, beside their directories (ui/report.h). */
static void report_key(app *a)
{
    const char *dirs[UI_MAX_RUNS];
    int n = 0, notes = 0;
    for (int i = 0; i < a->nruns; i++)
        if (a->runs[i].st.dir[0])
            dirs[n++] = a->runs[i].st.dir;
    char path[1100];
    nl_error err = {0};
    if (report_save_race(dirs, n, path, sizeof path, &notes, &err))
        app_msg(a, ROLE_ERROR, "report: %.200s", err.msg);
    else
        app_msg(a, ROLE_OK, "report written: %.200s%s", path, notes ? " (with notes)" : "");
}

/* The x window after zooming by factor (< 1 in, > 1 out): around the cursor when it is
 * shown, else keeping the newest steps in view; the whole range again when it would cover
 * all of it. */
static void view_zoom(app *a, double factor)
{
    dash_view *v = &a->dv;
    double lo, hi;
    if (!dash_x_extent(v, a->runs, a->nruns, &lo, &hi)) {
        app_msg(a, ROLE_ERROR, "nothing to zoom yet: no run has data");
        return;
    }
    double x0 = isfinite(v->xv0) ? v->xv0 : lo, x1 = isfinite(v->xv1) ? v->xv1 : hi;
    double span = (x1 - x0) * factor;
    double min_span = v->x_time ? 1 : v->x_tokens ? 64 : 4;
    if (span < min_span)
        span = min_span;
    if (span >= hi - lo) {
        v->xv0 = v->xv1 = NAN;
        app_msg(a, ROLE_OK, "x: the whole run");
        return;
    }
    double a0 = v->cursor ? v->cursor_x - span / 2 : factor < 1 ? x1 - span : (x0 + x1 - span) / 2;
    if (!v->x_time) { /* whole steps (tokens) at the edges */
        span = round(span);
        a0 = round(a0);
    }
    if (a0 < lo)
        a0 = lo;
    if (a0 + span > hi)
        a0 = hi - span;
    v->xv0 = a0;
    v->xv1 = a0 + span;
    char s0[24], s1[24];
    plot_fmt_count(v->xv0, s0, sizeof s0);
    plot_fmt_count(v->xv1, s1, sizeof s1);
    app_msg(a, ROLE_OK, "x %s-%s: [ out, ] in, < > pan, 0 all", s0, s1);
}

static void view_pan(app *a, int dir)
{
    dash_view *v = &a->dv;
    double lo, hi;
    if (!isfinite(v->xv0) || !dash_x_extent(v, a->runs, a->nruns, &lo, &hi)) {
        app_msg(a, ROLE_ERROR, "the whole x range is shown: ] zooms in first");
        return;
    }
    double span = v->xv1 - v->xv0, a0 = v->xv0 + dir * span / 4;
    if (a0 < lo)
        a0 = lo;
    if (a0 + span > hi)
        a0 = hi - span;
    v->xv0 = a0;
    v->xv1 = a0 + span;
}

/* The cursor one plot column left or right (shown at the newest step the first time). */
static void view_cursor(app *a, int dir)
{
    dash_view *v = &a->dv;
    double lo, hi;
    if (!dash_x_extent(v, a->runs, a->nruns, &lo, &hi)) {
        app_msg(a, ROLE_ERROR, "no data to put the cursor on yet");
        return;
    }
    double x0 = isfinite(v->xv0) ? v->xv0 : lo, x1 = isfinite(v->xv1) ? v->xv1 : hi;
    const plot_layout *L = &a->loss_layout;
    if (L->has_data && L->xmax > L->xmin) {
        x0 = L->xmin;
        x1 = L->xmax;
    }
    int cols = L->area.w > 1 ? L->area.w : 60;
    if (!v->cursor || !(v->cursor_x >= x0 && v->cursor_x <= x1)) {
        v->cursor = 1;
        v->cursor_x = hi < x1 ? hi : x1;
    } else {
        v->cursor_x += dir * (x1 - x0) / (cols - 1);
    }
    if (v->cursor_x < x0)
        v->cursor_x = x0;
    if (v->cursor_x > (hi < x1 ? hi : x1))
        v->cursor_x = hi < x1 ? hi : x1;
}

static void dash_key(app *a, int key)
{
    const ui_binding *b = keys_find(key, CTX_DASH);
    if (key == UI_KEY(KEY_RESIZE))
        return;
    if (!b)
        return;
    if (a->watch && b->live) {
        app_msg(a, ROLE_ERROR, "watching files: '%s' (%s) needs a live run", b->label,
                b->footer ? b->footer : b->help);
        return;
    }
    if (session_busy(a) && b->act != ACT_HELP) {
        app_msg(a, ROLE_ERROR, "busy: stopping the runs");
        return;
    }
    dash_view *v = &a->dv;
    switch (b->act) {
    case ACT_QUIT:
        if (runs_active(a))
            ask(a, DO_QUIT);
        else
            do_confirmed(a, DO_QUIT);
        break;
    case ACT_HELP:
        a->overlay = OV_HELP;
        a->help_scroll = 0;
        break;
    case ACT_TEACH:
        a->overlay = OV_TEACH;
        break;
    case ACT_PAUSE:
        if (any_in_state(a, NL_RUN_RUNNING)) {
            nl_session_command(a->sess, -1, NL_CMD_PAUSE, 0);
            app_msg(a, ROLE_PAUSED, "pausing every run (s steps, Space resumes)");
        } else if (any_in_state(a, NL_RUN_PAUSED)) {
            nl_session_command(a->sess, -1, NL_CMD_RESUME, 0);
            app_msg(a, ROLE_RUNNING, "resuming");
        } else {
            app_msg(a, ROLE_ERROR, "no run is going (r restarts)");
        }
        break;
    case ACT_STEP:
        if (any_in_state(a, NL_RUN_PAUSED)) {
            /* every run the worker has paused, including those the UI does not know are yet */
            nl_session_command(a->sess, -1, NL_CMD_STEP, 0);
            app_msg(a, ROLE_OK, "one step");
        } else {
            app_msg(a, ROLE_ERROR, "single steps need a paused run: Space pauses");
        }
        break;
    case ACT_STOP: {
        int i = v->sel < a->nruns ? v->sel : 0;
        ui_run *r = &a->runs[i];
        if (r->st.state == NL_RUN_RUNNING || r->st.state == NL_RUN_PAUSED ||
            r->st.state == NL_RUN_READY) {
            nl_session_command(a->sess, i, NL_CMD_STOP, 0);
            app_msg(a, ROLE_OK, "stopping %s (final checkpoint)", r->name);
        } else {
            app_msg(a, ROLE_ERROR, "%s is not going (%s)", r->name,
                    runview_state_name(r->st.state));
        }
        break;
    }
    case ACT_CKPT:
        if (runs_active(a)) {
            nl_session_command(a->sess, -1, NL_CMD_SAVE, 0);
            app_msg(a, ROLE_OK, "checkpoint requested for every run going");
        } else {
            app_msg(a, ROLE_ERROR, "no run is going");
        }
        break;
    case ACT_RESTART:
        if (runs_active(a))
            ask(a, DO_RESTART);
        else
            do_confirmed(a, DO_RESTART);
        break;
    case ACT_SETUP:
        if (runs_active(a))
            ask(a, DO_SETUP);
        else
            do_confirmed(a, DO_SETUP);
        break;
    case ACT_SMOOTH_MORE:
        if (v->smooth + 1 < dash_smooth_levels())
            v->smooth++;
        app_msg(a, ROLE_OK, "smoothing %.3g (about %d steps)", 1 - dash_smooth_alpha(v->smooth),
                dash_smooth_steps(v->smooth));
        break;
    case ACT_SMOOTH_LESS:
        if (v->smooth > 0)
            v->smooth--;
        if (v->smooth)
            app_msg(a, ROLE_OK, "smoothing %.3g (about %d steps)", 1 - dash_smooth_alpha(v->smooth),
                    dash_smooth_steps(v->smooth));
        else
            app_msg(a, ROLE_OK, "no smoothing");
        break;
    case ACT_LOGY:
        v->logy = !v->logy;
        break;
    case ACT_XAXIS:
        /* step -> tokens -> training time -> step; the window and cursor were in the old
         * units */
        if (v->x_time)
            v->x_time = v->x_tokens = 0;
        else if (v->x_tokens)
            v->x_time = 1;
        else
            v->x_tokens = 1;
        v->xv0 = v->xv1 = NAN;
        v->cursor = 0;
        app_msg(a, ROLE_OK, "x axis by %s",
                v->x_time     ? "training time (seconds)"
                : v->x_tokens ? "tokens"
                              : "step");
        break;
    case ACT_ZOOM_IN:
    case ACT_ZOOM_OUT:
        view_zoom(a, b->act == ACT_ZOOM_IN ? 0.5 : 2);
        break;
    case ACT_PAN_LEFT:
    case ACT_PAN_RIGHT:
        view_pan(a, b->act == ACT_PAN_RIGHT ? 1 : -1);
        break;
    case ACT_CURSOR_LEFT:
        view_cursor(a, key == UI_KEY(KEY_RIGHT) ? 1 : -1);
        break;
    case ACT_CURSOR_OFF:
        v->cursor = 0;
        break;
    case ACT_Y_IN:
        if (v->yzoom < 6)
            v->yzoom++;
        app_msg(a, ROLE_OK, "y: the lower 1/%d of the range ({ back, 0 all)", 1 << v->yzoom);
        break;
    case ACT_Y_OUT:
        if (v->yzoom > 0)
            v->yzoom--;
        break;
    case ACT_VIEW_RESET:
        v->xv0 = v->xv1 = NAN;
        v->yzoom = 0;
        v->cursor = 0;
        app_msg(a, ROLE_OK, "whole range");
        break;
    case ACT_HIDE_RUN:
        if (a->nruns) {
            ui_run *r = &a->runs[v->sel < a->nruns ? v->sel : 0];
            r->hidden = !r->hidden;
            app_msg(a, ROLE_OK, "%s %s (v toggles, V shows all)", r->name,
                    r->hidden ? "hidden" : "shown");
        }
        break;
    case ACT_SHOW_ALL:
        for (int i = 0; i < a->nruns; i++)
            a->runs[i].hidden = 0;
        break;
    case ACT_SERIES:
        v->series = (v->series + 1) % DS_COUNT;
        app_msg(a, ROLE_OK, "top plot: %s (y for the next)", dash_series_name(v->series));
        break;
    case ACT_DEBIAS:
        v->debias = !v->debias;
        v->smooth_window = 0;
        app_msg(a, ROLE_OK, "EMA %s", v->debias ? "debiased (from zero, corrected)" : "plain");
        break;
    case ACT_SMOOTH_KIND:
        v->smooth_window = !v->smooth_window;
        app_msg(a, ROLE_OK, "smoothing: %s",
                v->smooth_window ? "mean of a trailing window (+/- its length)" : "EMA");
        break;
    case ACT_MESSAGES:
        v->msgs = !v->msgs;
        v->msg_scroll = 0;
        break;
    case ACT_PER_LAYER:
        v->perlayer = !v->perlayer;
        break;
    case ACT_DIFF:
        a->overlay = OV_DIFF;
        a->diff_scroll = 0;
        break;
    case ACT_PANEL:
        v->focus = dash_next_panel(v, a->nruns ? &a->runs[v->sel < a->nruns ? v->sel : 0] : NULL);
        break;
    case ACT_EXPERTS: {
        const ui_run *r = a->nruns ? &a->runs[v->sel < a->nruns ? v->sel : 0] : NULL;
        if (!r || r->moe_layers < 1) {
            app_msg(a, ROLE_ERROR, "%s has no MoE layers", r ? r->name : "the run");
            break;
        }
        v->experts_off = !v->experts_off;
        if (v->focus == PANEL_MOE || v->focus == PANEL_GRAD || v->focus == PANEL_RMS)
            v->focus = v->experts_off ? PANEL_GRAD : PANEL_MOE;
        break;
    }
    case ACT_HEAT_KIND:
        v->heat_ffn = !v->heat_ffn;
        break;
    case ACT_ZOOM:
        v->zoom = !v->zoom;
        break;
    case ACT_NEXT_RUN:
        if (v->msgs)
            v->msg_scroll = v->msg_scroll > 0 ? v->msg_scroll - 1 : 0;
        else if (a->lesson_shown && lessonpane_lesson(a->runs, a->nruns))
            a->lesson_scroll++;
        else if (a->nruns)
            v->sel = (v->sel + 1) % a->nruns;
        break;
    case ACT_PREV_RUN:
        if (v->msgs)
            v->msg_scroll++;
        else if (a->lesson_shown && lessonpane_lesson(a->runs, a->nruns))
            a->lesson_scroll--;
        else if (a->nruns)
            v->sel = (v->sel + a->nruns - 1) % a->nruns;
        break;
    case ACT_LESSON:
    case ACT_LESSON_PAGE:
        lesson_key(a, b->act, key);
        break;
    case ACT_REPORT:
        report_key(a);
        break;
    default:
        break;
    }
    a->dirty = 1;
}

static void sweep_key(app *a, int key)
{
    const ui_binding *b = keys_find(key, CTX_SWEEP);
    if (!b)
        return;
    dash_view *v = &a->dv;
    switch (b->act) {
    case ACT_QUIT:
        a->quit = 1;
        break;
    case ACT_HELP:
        a->overlay = OV_HELP;
        break;
    case ACT_NEXT_RUN:
    case ACT_PREV_RUN:
        sweepview_select(a->sweep, a->sweep->sel + (b->act == ACT_NEXT_RUN ? 1 : -1));
        sweepview_poll(a->sweep);
        a->sweep_poll_at = term_now_ms() + a->refresh_ms;
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
    a->dirty = 1;
}

static void setup_screen_key(app *a, int key)
{
    if (key == UI_KEY(KEY_RESIZE))
        return;
    setup_result r = setup_key(a->setup, key);
    a->dirty = 1;
    if (a->setup->msg[0] && strcmp(a->setup->msg, a->setup_seen)) {
        snprintf(a->setup_seen, sizeof a->setup_seen, "%s", a->setup->msg);
        msglog_add(&a->log, a->setup->msg_role, a->setup->msg);
    }
    if (r == SETUP_QUIT) {
        do_confirmed(a, DO_QUIT);
    } else if (r == SETUP_HELP) {
        a->overlay = OV_HELP;
    } else if (r == SETUP_START) {
        if (session_busy(a))
            return;
        nl_config *cfgs = malloc(NL_MAX_RACE * sizeof *cfgs);
        if (!cfgs)
            return;
        int n = setup_runs(a->setup, cfgs);
        a->pause_starts = 0;
        a->dv.title = "lab";
        if (n > 0)
            start_runs(a, cfgs, n);
        free(cfgs);
    }
}

static void on_key(app *a, int key)
{
    a->dirty = 1;
    if (key == UI_KEY(KEY_RESIZE))
        return;
    if (a->overlay == OV_HELP) {
        /* Up/Down and PgUp/PgDn scroll a help taller than the screen; any other key closes */
        int page = a->term.h > 4 ? a->term.h - 3 : 1;
        if (key == UI_KEY(KEY_DOWN) || key == 'j')
            a->help_scroll++;
        else if (key == UI_KEY(KEY_UP) || key == 'k')
            a->help_scroll = a->help_scroll > 0 ? a->help_scroll - 1 : 0;
        else if (key == UI_KEY(KEY_NPAGE) || key == ' ')
            a->help_scroll += page;
        else if (key == UI_KEY(KEY_PPAGE))
            a->help_scroll = a->help_scroll > page ? a->help_scroll - page : 0;
        else
            a->overlay = OV_NONE;
        return;
    }
    if (a->overlay == OV_TEACH) {
        if (key == 'i' || key == 27 || key == 'q' || key == '\r' || key == ' ') {
            a->overlay = OV_NONE;
        } else if (a->screen == SCREEN_DASH) {
            /* Up/Down still select the run the panel explains */
            const ui_binding *b = keys_find(key, CTX_DASH);
            if (b && (b->act == ACT_NEXT_RUN || b->act == ACT_PREV_RUN) && a->nruns)
                a->dv.sel = (a->dv.sel + (b->act == ACT_NEXT_RUN ? 1 : a->nruns - 1)) % a->nruns;
        }
        return;
    }
    if (a->overlay == OV_DIFF) {
        if (key == UI_KEY(KEY_DOWN) || key == 'j')
            a->diff_scroll++;
        else if (key == UI_KEY(KEY_UP) || key == 'k')
            a->diff_scroll = a->diff_scroll > 0 ? a->diff_scroll - 1 : 0;
        else
            a->overlay = OV_NONE;
        return;
    }
    if (a->overlay == OV_CONFIRM) {
        if (key == 'y' || key == 'Y')
            do_confirmed(a, a->confirm);
        else if (key == 'n' || key == 'N' || key == 27 || key == 'q')
            a->overlay = OV_NONE;
        return;
    }
    if (a->screen == SCREEN_SETUP)
        setup_screen_key(a, key);
    else if (a->screen == SCREEN_SWEEP)
        sweep_key(a, key);
    else
        dash_key(a, key);
}

/* ---- drawing ------------------------------------------------------------------------------- */

/* The keys the dashboard's help lists beyond the common ones (FOOTER_* of dash.h). */
static int help_shown(app *a)
{
    int shown = lessonpane_lesson(a->runs, a->nruns) ? FOOTER_LESSON : 0;
    for (int i = 0; i < a->nruns; i++)
        if (a->runs[i].moe_layers > 0)
            shown |= FOOTER_MOE;
    return shown;
}

static void draw(app *a)
{
    ui_grid *g = &a->term.grid;
    int mono = a->term.colours == UI_COLOUR_MONO;
    a->dv.glyphs = a->term.glyphs;
    a->dv.mono = mono;
    a->dv.log = &a->log;
    a->dv.loss_layout = &a->loss_layout;
    a->dv.msg = term_now_ms() < a->msg_until ? a->msg : NULL;
    a->dv.msg_role = a->msg_role;
    double load[1];
    a->dv.load1 = getloadavg(load, 1) == 1 ? load[0] : 0;
    a->dv.cores = nl_backend_cores();
    if (a->screen == SCREEN_SETUP && a->overlay == OV_HELP) {
        draw_help(g, CTX_SETUP, 0, 0, a->term.glyphs, &a->help_scroll);
    } else if (a->screen == SCREEN_SETUP) {
        setup_draw(g, a->setup, a->term.glyphs);
    } else if (a->screen == SCREEN_SWEEP && a->overlay == OV_HELP) {
        draw_help(g, CTX_SWEEP, 1, 0, a->term.glyphs, &a->help_scroll);
    } else if (a->screen == SCREEN_SWEEP) {
        sweepview_draw(g, a->sweep, &a->dv);
    } else if (a->overlay == OV_HELP) {
        draw_help(g, CTX_DASH, a->watch, help_shown(a), a->term.glyphs, &a->help_scroll);
    } else {
        const nl_lesson *lesson = lessonpane_lesson(a->runs, a->nruns);
        a->dv.lesson = lesson != NULL;
        dash_draw(g, &a->dv, a->runs, a->nruns);
        if (lesson && a->lesson_shown)
            lessonpane_draw(g, &a->dv, lesson, a->runs, a->nruns, &a->lesson_scroll);
        if (a->overlay == OV_TEACH)
            draw_teach(g, &a->dv, a->nruns ? &a->runs[a->dv.sel < a->nruns ? a->dv.sel : 0] : NULL);
        if (a->overlay == OV_DIFF)
            draw_config_diff(g, a->runs, a->nruns, a->term.glyphs, &a->diff_scroll);
    }
    if (a->overlay == OV_CONFIRM) {
        const char *q =
            a->confirm == DO_QUIT
                ? "Runs are going. Stop them (each saves a final checkpoint) and quit?  y / n"
            : a->confirm == DO_SETUP
                ? "Runs are going. Stop them (final checkpoints) and go back to setup?  y / n"
                : "Runs are going. Stop them (final checkpoints) and start them again?  y / n";
        draw_dialog(g, "Stop the runs?", q, a->term.glyphs);
    }
    if (session_busy(a))
        draw_dialog(g, "Please wait", "Stopping the runs: each writes a final checkpoint...",
                    a->term.glyphs);
    term_blit(&a->term);
    a->stats_frames++;
}

/* ---- the loop ------------------------------------------------------------------------------ */

/* Milliseconds until the next frame is due (<= 0: now), INFINITY when nothing waits. A
 * key or a state change is drawn within FRAME_MS, new metrics within the refresh period. */
static double next_frame_in(const app *a, double now)
{
    double since = now - a->last_draw;
    if (a->dirty)
        return FRAME_MS - since;
    if (a->stale)
        return a->refresh_ms - since;
    return INFINITY;
}

static int run_loop(app *a)
{
    int sig = 0;
    a->dirty = 1;
    while (!a->quit) {
        double left = next_frame_in(a, term_now_ms());
        /* wake at least every 100 ms to take in metrics and signals */
        int wait = left > 100 ? 100 : left > 0 ? (int)left + 1 : 0;
        int key = term_key(&a->term, wait);
        if (key != UI_KEY_NONE) {
            on_key(a, key);
            /* take every key already typed before drawing */
            int more = 0;
            while (more++ < 64 && (key = term_key(&a->term, 0)) != UI_KEY_NONE && !a->quit)
                on_key(a, key);
        }
        if (a->op_busy && atomic_load(&a->op_done))
            op_finish(a);
        if ((sig = term_quit_signal()) && !a->op_busy) {
            if (a->sess)
                wind_down(a, DO_QUIT);
            else
                a->quit = 1;
        }
        if (a->sweep)
            poll_sweep(a);
        else if (a->watch)
            poll_tails(a);
        else
            poll_session(a);
        double now = term_now_ms();
        if (a->msg_until > 0 && now >= a->msg_until) {
            a->msg_until = 0;
            a->dirty = 1;
        }
        left = next_frame_in(a, now);
        if (left <= 0.5 && !a->quit) {
            draw(a);
            a->dirty = a->stale = 0;
            a->last_draw = now;
        }
        stats_tick(a, 0);
    }
    return sig;
}

static void app_open_stats(app *a)
{
    const char *p = getenv("NORMLAB_UI_STATS");
    if (!p || !*p)
        return;
    a->stats = fopen(p, "a");
    a->stats_t0 = term_now_ms();
    a->stats_cpu0 = thread_cpu_s();
}

static void app_close(app *a)
{
    stats_tick(a, 1);
    if (a->stats)
        fclose(a->stats);
    a->stats = NULL;
    term_close(&a->term);
    free_runs(a);
    if (a->sweep) {
        sweepview_free(a->sweep);
        free(a->sweep);
        a->sweep = NULL;
    }
    if (a->setup) {
        setup_free(a->setup);
        free(a->setup);
    }
    free(a->run_cfg);
    if (a->sess)
        nl_session_free(a->sess);
}

/* `normlab lesson NAME`: the race created and paused at step 0, the lesson pane shown. */
static void start_lesson(app *a, const nl_config *cfg)
{
    nl_config *cfgs = malloc(NL_MAX_RACE * sizeof *cfgs);
    if (!cfgs)
        return;
    snprintf(a->title, sizeof a->title, "lesson %s", cfg->lesson.name);
    a->dv.title = a->title;
    a->pause_starts = 1;
    a->lesson_shown = 1;
    int n = setup_runs(a->setup, cfgs);
    if (n > 0)
        start_runs(a, cfgs, n);
    free(cfgs);
}

int ui_lab_main(const nl_config *cfg, const ui_lab_opts *o)
{
    app *a = calloc(1, sizeof *a);
    if (!a)
        return 1;
    a->opts = o;
    a->setup = malloc(sizeof *a->setup);
    a->run_cfg = calloc(NL_MAX_RACE, sizeof *a->run_cfg);
    if (!a->setup || !a->run_cfg || setup_init(a->setup, cfg, o->preset, o->presets_dir)) {
        free(a->setup);
        free(a->run_cfg);
        free(a);
        fprintf(stderr, "normlab: out of memory\n");
        return 1;
    }
    dash_view_init(&a->dv);
    a->dv.title = "lab";
    a->refresh_ms = o->term.refresh_ms > 0 ? o->term.refresh_ms : REFRESH_MS;
    char msg[256];
    if (term_open(&a->term, &o->term, msg, sizeof msg)) {
        setup_free(a->setup);
        free(a->setup);
        free(a->run_cfg);
        free(a);
        fprintf(stderr, "normlab: %s\n", msg);
        return 2;
    }
    app_open_stats(a);
    if (o->lesson_start)
        start_lesson(a, cfg);
    int sig = run_loop(a);
    app_close(a);
    free(a);
    if (sig)
        term_reraise(sig);
    return 0;
}

int ui_watch_main(char **dirs, int n, const ui_term_opts *t, const char *note)
{
    if (n > UI_MAX_RUNS) {
        fprintf(stderr, "normlab: watch takes at most %d run directories\n", UI_MAX_RUNS);
        return 2;
    }
    app *a = calloc(1, sizeof *a);
    if (!a)
        return 1;
    a->watch = 1;
    a->screen = SCREEN_DASH;
    dash_view_init(&a->dv);
    a->refresh_ms = t->refresh_ms > 0 ? t->refresh_ms : REFRESH_MS;
    a->dv.watch = 1;
    a->dv.title = "watch";
    char msg[700];
    for (int i = 0; i < n; i++) {
        if (tail_open(&a->tails[i], dirs[i], &a->runs[i], msg, sizeof msg)) {
            a->nruns = i;
            free_runs(a);
            free(a);
            fprintf(stderr, "normlab: %s\n", msg);
            return 2;
        }
        a->runs[i].colour = i;
        a->nruns = i + 1;
    }
    for (int i = 0; i < n; i++)
        tail_poll(&a->tails[i], &a->runs[i]);
    if (term_open(&a->term, t, msg, sizeof msg)) {
        free_runs(a);
        free(a);
        fprintf(stderr, "normlab: %s\n", msg);
        return 2;
    }
    const nl_lesson *lesson = lessonpane_lesson(a->runs, a->nruns);
    a->lesson_shown = lesson != NULL;
    if (note)
        app_msg(a, ROLE_OK, "%s", note);
    else if (lesson)
        app_msg(a, ROLE_OK, "lesson %s: L hides the pane", lesson->name);
    app_open_stats(a);
    int sig = run_loop(a);
    app_close(a);
    free(a);
    if (sig)
        term_reraise(sig);
    return 0;
}

int ui_sweep_main(const char *dir, const ui_term_opts *t)
{
    app *a = calloc(1, sizeof *a);
    sweep_view *sv = malloc(sizeof *sv);
    char msg[700];
    if (!a || !sv) {
        free(a);
        free(sv);
        fprintf(stderr, "normlab: out of memory\n");
        return 1;
    }
    if (sweepview_open(sv, dir, msg, sizeof msg)) {
        free(a);
        free(sv);
        fprintf(stderr, "normlab: %s\n", msg);
        return 2;
    }
    a->sweep = sv;
    a->watch = 1;
    a->screen = SCREEN_SWEEP;
    dash_view_init(&a->dv);
    a->refresh_ms = t->refresh_ms > 0 ? t->refresh_ms : REFRESH_MS;
    a->dv.watch = 1;
    a->dv.title = "watch";
    sweepview_poll(sv);
    if (term_open(&a->term, t, msg, sizeof msg)) {
        sweepview_free(sv);
        free(sv);
        free(a);
        fprintf(stderr, "normlab: %s\n", msg);
        return 2;
    }
    app_open_stats(a);
    int sig = run_loop(a);
    app_close(a);
    free(a);
    if (sig)
        term_reraise(sig);
    return 0;
}
