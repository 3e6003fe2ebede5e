#include "lab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "preflight.h"

static void free_runs(lab *b)
{
    for (int i = 0; i < b->src.nruns; i++)
        runview_free(&b->runs[i]);
    b->src.nruns = 0;
}

static int start_runs(lab *b, const nl_config *cfgs, int n);

/* ---- stopping the runs ---------------------------------------------------------------------- */

static void *op_main(void *arg)
{
    lab *b = arg;
    if (b->op_next == UI_NEXT_QUIT) {
        nl_session_free(b->sess);
        b->sess = NULL;
    } else {
        nl_session_clear(b->sess);
    }
    atomic_store(&b->op_done, 1);
    return NULL;
}

/* Back on the setup screen, saying where the runs' files are. */
static void back_to_setup(lab *b)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", b->src.nruns && b->runs[0].st.dir[0] ? b->runs[0].st.dir : "");
    /* the race's directory (the runs' parent), named only when it was created */
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = '\0';
    int failed = b->src.nruns > 0;
    for (int i = 0; i < b->src.nruns; i++)
        failed &= b->runs[i].st.state == NL_RUN_FAILED;
    free_runs(b);
    ui_loop_set_base(b->loop, &b->setup.base);
    setup_state *s = b->setup.st;
    if (dir[0] && access(dir, F_OK) == 0)
        snprintf(s->msg, sizeof s->msg, "runs %s; files in %s", failed ? "failed" : "stopped", dir);
    else
        snprintf(s->msg, sizeof s->msg,
                 "runs %s before writing any file (m on the dashboard lists why)",
                 failed ? "failed" : "stopped");
    s->msg_role = failed ? ROLE_ERROR : ROLE_OK;
}

/* What follows the session's winding down. */
static void after_wind_down(lab *b, int next)
{
    ui_loop_changed(b->loop);
    if (next == UI_NEXT_QUIT) {
        ui_loop_quit(b->loop);
    } else if (next == UI_NEXT_SETUP) {
        back_to_setup(b);
    } else if (next == UI_NEXT_RESTART) {
        int n = b->src.nruns;
        free_runs(b);
        start_runs(b, b->run_cfg, n);
    }
}

static void op_finish(lab *b)
{
    pthread_join(b->op_thread, NULL);
    b->op_busy = 0;
    int next = b->op_next;
    b->op_next = 0;
    after_wind_down(b, next);
}

/* Stop everything (final checkpoints) on the helper thread, so the UI keeps drawing, then
 * do `next`. The UI thread leaves the session alone meanwhile. */
static void lab_finish(ui_source *src, ui_loop *l, int next)
{
    lab *b = (lab *)src;
    if (b->op_busy)
        return;
    if (!b->sess) {
        after_wind_down(b, next);
        return;
    }
    b->op_next = next;
    b->op_busy = 1;
    atomic_store(&b->op_done, 0);
    if (pthread_create(&b->op_thread, NULL, op_main, b) != 0) {
        op_main(b);
        b->op_busy = 0;
        b->op_next = 0;
        after_wind_down(b, next);
        return;
    }
    ui_loop_push(l, &b->busy.base);
}

/* ---- starting them -------------------------------------------------------------------------- */

static void stamp_dir(const lab *b, char *out, int len)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(out, (size_t)len, "%s/lab-%s", b->out_dir ? b->out_dir : "runs", stamp);
}

/* The session with runs cfgs[0..n) in base/NAME, started; 0, or -1 with err set. */
static int session_start(lab *b, int n, const char *base, nl_error *err)
{
    if (!b->sess) {
        b->sess = nl_session_create(nl_device_name(b->run_cfg[0].train.device),
                                    b->run_cfg[0].train.threads, err);
        if (!b->sess)
            return -1;
    }
    if (preflight_check(b->run_cfg, n, base, err->msg, (int)sizeof err->msg))
        return -1;
    for (int i = 0; i < n; i++) {
        char dir[700];
        snprintf(dir, sizeof dir, "%s/%s", base, b->run_cfg[i].name);
        if (nl_session_add(b->sess, &b->run_cfg[i], dir, err) < 0) {
            nl_session_clear(b->sess);
            return -1;
        }
    }
    if (b->pause_starts) /* queued before the start: the worker pauses before step 1 */
        nl_session_command(b->sess, -1, NL_CMD_PAUSE, 0);
    if (nl_session_start(b->sess, err)) {
        nl_session_clear(b->sess);
        return -1;
    }
    return 0;
}

/* Add the runs to the session and start it; on failure the setup screen shows why. */
static int start_runs(lab *b, const nl_config *cfgs, int n)
{
    nl_error err = {0};
    if (cfgs != b->run_cfg)
        for (int i = 0; i < n; i++)
            b->run_cfg[i] = cfgs[i];
    char base[600];
    stamp_dir(b, base, sizeof base);
    if (session_start(b, n, base, &err)) {
        setup_state *s = b->setup.st;
        ui_loop_set_base(b->loop, &b->setup.base);
        snprintf(s->msg, sizeof s->msg, "cannot start: %.1000s", err.msg);
        msglog_add(&b->loop->log, ROLE_ERROR, s->msg);
        s->msg_role = ROLE_ERROR;
        return -1;
    }
    free_runs(b);
    for (int i = 0; i < n; i++) {
        runview_init(&b->runs[i], b->run_cfg[i].name, i);
        runview_set_config(&b->runs[i], &b->run_cfg[i]);
        b->runs[i].st.total = b->run_cfg[i].train.steps;
        b->runs[i].st.state = NL_RUN_RUNNING;
    }
    b->src.nruns = n;
    ui_loop_set_base(b->loop, &b->dash.base);
    dash_screen_runs_changed(&b->dash);
    if (b->pause_starts)
        ui_loop_msg(b->loop, ROLE_OK, "%d run%s at step 0: Space starts", n, n == 1 ? "" : "s");
    else
        ui_loop_msg(b->loop, ROLE_OK, "started %d run%s in %s", n, n == 1 ? "" : "s", base);
    return 0;
}

/* ---- the session as a run source ------------------------------------------------------------ */

static int status_differs(const nl_run_status *x, const nl_run_status *y)
{
    return x->state != y->state || x->step != y->step || x->diverged_step != y->diverged_step ||
           strcmp(x->message, y->message) || x->layers != y->layers;
}

/* Run i's status: a change of state is drawn now, and said when it is a failure. */
static void poll_status(lab *b, ui_loop *l, int i)
{
    ui_run *r = &b->runs[i];
    nl_run_status st;
    if (nl_session_status(b->sess, i, &st) != 0)
        return;
    if (st.state != r->st.state)
        ui_loop_changed(l); /* paused, stopped, diverged: show it now */
    else if (status_differs(&st, &r->st))
        ui_loop_stale(l);
    if (st.state == NL_RUN_FAILED && r->st.state != NL_RUN_FAILED)
        ui_loop_msg(l, ROLE_ERROR, "%s failed: %s", st.name, st.message);
    else if (st.state == NL_RUN_DIVERGED && r->st.state != NL_RUN_DIVERGED)
        ui_loop_msg(l, ROLE_DIVERGED, "%s diverged at step %lld", st.name,
                    (long long)st.diverged_step);
    else
        ui_source_event(l, r, &st);
    r->st = st;
}

/* Take in what the worker published since the last poll. */
static void lab_poll(ui_source *src, ui_loop *l)
{
    lab *b = (lab *)src;
    if (b->op_busy && atomic_load(&b->op_done))
        op_finish(b);
    if (!b->sess || b->op_busy)
        return;
    for (int i = 0; i < b->src.nruns; i++) {
        ui_run *r = &b->runs[i];
        poll_status(b, l, i);
        nl_metrics_store *m = nl_session_metrics(b->sess, i);
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
            ui_loop_stale(l);
    }
}

static int lab_active(ui_source *src)
{
    lab *b = (lab *)src;
    return b->sess && nl_session_active(b->sess);
}

static int lab_busy(ui_source *src)
{
    return ((lab *)src)->op_busy;
}

static void lab_command(ui_source *src, int run, nl_cmd cmd)
{
    lab *b = (lab *)src;
    if (b->sess)
        nl_session_command(b->sess, run, cmd, 0);
}

static const ui_source_ops lab_ops = {lab_poll, lab_finish, lab_active, lab_busy, lab_command};

/* ---- the setup screen ----------------------------------------------------------------------- */

static void setup_start(lab *b)
{
    if (b->op_busy)
        return;
    nl_config *cfgs = malloc(NL_MAX_RACE * sizeof *cfgs);
    if (!cfgs)
        return;
    int n = setup_runs(b->setup.st, cfgs);
    b->pause_starts = 0;
    dash_screen_title(&b->dash, "lab");
    if (n > 0)
        start_runs(b, cfgs, n);
    free(cfgs);
}

static int setup_screen_key(ui_screen *s, ui_loop *l, int key)
{
    setup_screen *ss = (setup_screen *)s;
    setup_result r = setup_key(ss->st, key);
    if (ss->st->msg[0] && strcmp(ss->st->msg, ss->seen)) {
        snprintf(ss->seen, sizeof ss->seen, "%s", ss->st->msg);
        msglog_add(&l->log, ss->st->msg_role, ss->st->msg);
    }
    if (r == SETUP_QUIT)
        ui_finish(l, UI_NEXT_QUIT);
    else if (r == SETUP_HELP)
        ui_loop_push(l, &ss->help.base);
    else if (r == SETUP_START)
        setup_start(ss->lab);
    return 1;
}

static void setup_screen_draw(ui_screen *s, ui_loop *l, ui_grid *g)
{
    setup_screen *ss = (setup_screen *)s;
    setup_draw(g, ss->st, l->term.glyphs);
}

static const ui_screen_ops setup_ops = {"setup", setup_screen_key, setup_screen_draw, NULL};

/* ---- the lab ----------------------------------------------------------------------------------
 */

int lab_init(lab *b, ui_loop *l, const nl_config *cfg, const char *preset, const char *presets_dir,
             const char *out_dir)
{
    memset(b, 0, sizeof *b);
    b->src.ops = &lab_ops;
    b->src.runs = b->runs;
    b->src.live = 1;
    b->loop = l;
    b->out_dir = out_dir;
    b->setup.base.ops = &setup_ops;
    b->setup.base.opaque = 1;
    b->setup.lab = b;
    ui_help_init(&b->setup.help, CTX_SETUP);
    b->setup.st = malloc(sizeof *b->setup.st);
    b->run_cfg = calloc(NL_MAX_RACE, sizeof *b->run_cfg);
    if (!b->setup.st || !b->run_cfg || setup_init(b->setup.st, cfg, preset, presets_dir)) {
        free(b->setup.st);
        free(b->run_cfg);
        b->setup.st = NULL;
        b->run_cfg = NULL;
        return -1;
    }
    dash_screen_init(&b->dash, &b->src, "lab");
    ui_busy_init(&b->busy);
    l->src = &b->src;
    ui_loop_set_base(l, &b->setup.base);
    return 0;
}

void lab_free(lab *b)
{
    free_runs(b);
    if (b->setup.st) {
        setup_free(b->setup.st);
        free(b->setup.st);
    }
    free(b->run_cfg);
    if (b->sess)
        nl_session_free(b->sess);
    b->setup.st = NULL;
    b->run_cfg = NULL;
    b->sess = NULL;
}

void lab_start_lesson(lab *b, const nl_config *cfg)
{
    nl_config *cfgs = malloc(NL_MAX_RACE * sizeof *cfgs);
    if (!cfgs)
        return;
    char title[96];
    snprintf(title, sizeof title, "lesson %s", cfg->lesson.name);
    dash_screen_title(&b->dash, title);
    b->pause_starts = 1;
    dash_screen_show_lesson(&b->dash, 1);
    int n = setup_runs(b->setup.st, cfgs);
    if (n > 0)
        start_runs(b, cfgs, n);
    free(cfgs);
}
