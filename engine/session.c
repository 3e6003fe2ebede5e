/* The session worker. One thread creates, steps, checkpoints and frees every run; the UI
 * thread only queues commands and copies status snapshots, both under one mutex.
 *
 * Lockstep: a round steps every RUNNING run whose step count is the lowest among the
 * RUNNING runs, so step s of every running run comes before step s+1 of any. A run that is
 * behind (resumed after a pause, added later) steps alone until it catches up; the worker
 * does one step at a time either way, so that costs no throughput. Commands are applied
 * between rounds, so pausing every run leaves them all at the same step.
 *
 * Metrics: each run publishes into its own store, whose consumer is the UI (nl_session_metrics
 * hands it out); the worker reads the latest row from the run itself for the status
 * snapshot. Each run is driven by an nl_driver (driver.h), which also gives its ETA. */
#include "session.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "driver.h"

#define CMD_QUEUE 256
#define SESSION_RING 4096 /* rows the UI may fall behind by before rows are dropped */

typedef struct cmd_entry {
    int run; /* -1 = every run */
    nl_cmd cmd;
    double arg;
} cmd_entry;

typedef struct slot {
    /* set by nl_session_add, read-only afterwards */
    nl_config cfg;
    char out_dir[512];
    bool has_dir;
    /* worker-owned */
    nl_run *run;
    nl_driver drv;
    int single_steps; /* queued single steps of a paused run */
    /* shared, under the session mutex */
    nl_metrics_store *metrics; /* the run's store, read by the UI; NULL until created */
    nl_run_status status;
} slot;

struct nl_session {
    char device[16];
    int threads;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* commands, new runs, or quit */
    pthread_t worker;
    bool started, quit; /* under mu */
    int n;              /* slots added; under mu */
    slot *slots[NL_MAX_RACE];
    cmd_entry queue[CMD_QUEUE]; /* FIFO, under mu */
    int q_head, q_len;
    /* worker-owned */
    int created; /* slots [0, created) have been through run creation */
    nl_kernels *kernels;
    char notice[256]; /* the backend's one-line notice (CPU fallback) */
};

/* ---- status snapshots (worker side) ---- */

/* Messages longer than the snapshot's field are cut. */
static void set_message(slot *sl, const char *msg)
{
    size_t n = strnlen(msg, sizeof sl->status.message - 1);
    memcpy(sl->status.message, msg, n);
    sl->status.message[n] = '\0';
}

/* Copy the run's current state into its snapshot; message, when not NULL, replaces the
 * run's own last event. Takes the mutex. */
static void publish(nl_session *s, slot *sl, const char *message)
{
    nl_run *r = sl->run;
    pthread_mutex_lock(&s->mu);
    nl_run_status *st = &sl->status;
    if (r) {
        st->state = nl_run_get_state(r);
        st->step = nl_run_step_index(r);
        st->total = nl_run_total_steps(r);
        st->lr = nl_run_lr(r);
        st->entropy_floor = nl_run_entropy_floor(r);
        st->unigram_level = nl_run_unigram_level(r);
        const nl_metrics_row *last = nl_driver_last(&sl->drv);
        if (last) {
            st->lr = last->lr;
            st->loss = last->loss;
            st->grad_norm = last->grad_norm;
            st->tok_s = last->tok_s;
        }
        st->eta_s = nl_driver_eta(&sl->drv);
        if (st->state == NL_RUN_DIVERGED && st->diverged_step == 0)
            st->diverged_step = st->step;
        const char *dir = nl_run_dir(r);
        snprintf(st->dir, sizeof st->dir, "%s", dir ? dir : "");
        if (!message)
            message = nl_run_message(r);
    }
    if (message)
        set_message(sl, message);
    pthread_mutex_unlock(&s->mu);
}

static void fail_slot(nl_session *s, slot *sl, const char *message)
{
    pthread_mutex_lock(&s->mu);
    sl->status.state = NL_RUN_FAILED;
    set_message(sl, message);
    pthread_mutex_unlock(&s->mu);
}

/* ---- the worker's actions ---- */

static void create_run(nl_session *s, slot *sl)
{
    nl_error err = {0};
    if (!s->kernels) {
        s->kernels = nl_backend_open(s->device, s->threads, s->notice, sizeof s->notice, &err);
        if (!s->kernels) {
            fail_slot(s, sl, err.msg);
            return;
        }
    }
    nl_run_opts o = {.out_dir = sl->has_dir ? sl->out_dir : NULL,
                     .kernels = s->kernels,
                     .metrics_capacity = SESSION_RING};
    nl_run *r = nl_run_create(&sl->cfg, &o, &err);
    if (!r) {
        fail_slot(s, sl, err.msg);
        return;
    }
    nl_metrics_store *run_store = nl_run_metrics(r);
    sl->run = r;
    nl_driver_init(&sl->drv, r);
    nl_run_set_state(r, NL_RUN_RUNNING);
    pthread_mutex_lock(&s->mu);
    sl->metrics = run_store;
    sl->status.layers = nl_metrics_layers(run_store);
    sl->status.moe_layers = nl_metrics_moe_layers(run_store);
    sl->status.experts = nl_metrics_experts(run_store);
    pthread_mutex_unlock(&s->mu);
    publish(s, sl, s->notice[0] ? s->notice : NULL);
}

static void step_run(nl_session *s, slot *sl)
{
    nl_error err = {0};
    nl_run_state st = nl_driver_step(&sl->drv, &err);
    if (st != NL_RUN_RUNNING)
        nl_driver_pause(&sl->drv);
    if (st == NL_RUN_FAILED) {
        nl_run_set_state(sl->run, NL_RUN_FAILED);
        publish(s, sl, err.msg[0] ? err.msg : NULL);
    } else {
        publish(s, sl, NULL);
    }
}

/* Stop with a final checkpoint (when the run has a directory and has taken a step). */
static void stop_run(nl_session *s, slot *sl)
{
    char why[64];
    snprintf(why, sizeof why, "stopped at step %lld", (long long)nl_run_step_index(sl->run));
    sl->single_steps = 0;
    nl_driver_stop(&sl->drv, true, why, NULL, 0, NULL);
    publish(s, sl, NULL);
}

static void save_run(nl_session *s, slot *sl)
{
    nl_error err = {0};
    char path[600];
    if (nl_run_save(sl->run, path, sizeof path, &err)) {
        /* the run itself is unharmed: report, keep training */
        char msg[256 + 32];
        snprintf(msg, sizeof msg, "save failed: %.240s", err.msg);
        publish(s, sl, msg);
        return;
    }
    publish(s, sl, NULL);
}

static void apply_one(nl_session *s, slot *sl, nl_cmd cmd, double arg, int toggle_to)
{
    nl_run *r = sl->run;
    if (!r)
        return; /* creation failed */
    nl_run_state st = nl_run_get_state(r);
    switch (cmd) {
    case NL_CMD_PAUSE:
    case NL_CMD_RESUME:
    case NL_CMD_TOGGLE_PAUSE: {
        nl_run_state want = cmd == NL_CMD_PAUSE    ? NL_RUN_PAUSED
                            : cmd == NL_CMD_RESUME ? NL_RUN_RUNNING
                            : toggle_to >= 0       ? (nl_run_state)toggle_to
                            : st == NL_RUN_RUNNING ? NL_RUN_PAUSED
                                                   : NL_RUN_RUNNING;
        if ((st == NL_RUN_RUNNING || st == NL_RUN_PAUSED) && want != st) {
            nl_run_set_state(r, want);
            sl->single_steps = 0;
            nl_driver_pause(&sl->drv); /* the pause is not step time */
            publish(s, sl, want == NL_RUN_PAUSED ? "paused" : "resumed");
        }
        break;
    }
    case NL_CMD_STEP:
        if (st == NL_RUN_PAUSED)
            sl->single_steps++;
        break;
    case NL_CMD_STOP:
        if (nl_run_state_active(st))
            stop_run(s, sl);
        break;
    case NL_CMD_SAVE:
        if (nl_run_dir(r) && nl_run_step_index(r) > 0)
            save_run(s, sl);
        break;
    case NL_CMD_SET_LR_SCALE:
        if (isfinite(arg) && arg >= 0.0) {
            char msg[64];
            nl_run_set_lr_scale(r, (float)arg);
            snprintf(msg, sizeof msg, "learning rate x %g", arg);
            publish(s, sl, msg);
        }
        break;
    }
}

static void apply_command(nl_session *s, const cmd_entry *c)
{
    if (c->run >= 0) {
        if (c->run < s->created)
            apply_one(s, s->slots[c->run], c->cmd, c->arg, -1);
        return;
    }
    /* toggling every run: pause all when any runs, else resume all */
    int toggle_to = -1;
    if (c->cmd == NL_CMD_TOGGLE_PAUSE) {
        toggle_to = NL_RUN_RUNNING;
        for (int i = 0; i < s->created; i++)
            if (s->slots[i]->run && nl_run_get_state(s->slots[i]->run) == NL_RUN_RUNNING)
                toggle_to = NL_RUN_PAUSED;
    }
    for (int i = 0; i < s->created; i++)
        apply_one(s, s->slots[i], c->cmd, c->arg, toggle_to);
}

/* The runs of the next round: RUNNING runs at the lowest step, and paused runs with a
 * single step queued. */
static int plan_round(nl_session *s, slot **todo)
{
    int64_t lowest = INT64_MAX;
    for (int i = 0; i < s->created; i++) {
        nl_run *r = s->slots[i]->run;
        if (r && nl_run_get_state(r) == NL_RUN_RUNNING && nl_run_step_index(r) < lowest)
            lowest = nl_run_step_index(r);
    }
    int n = 0;
    for (int i = 0; i < s->created; i++) {
        slot *sl = s->slots[i];
        if (!sl->run)
            continue;
        nl_run_state st = nl_run_get_state(sl->run);
        if (st == NL_RUN_RUNNING && nl_run_step_index(sl->run) == lowest) {
            todo[n++] = sl;
        } else if (st == NL_RUN_PAUSED && sl->single_steps > 0) {
            sl->single_steps--;
            todo[n++] = sl;
        }
    }
    return n;
}

static void *worker_main(void *arg)
{
    nl_session *s = arg;
    cmd_entry cmds[CMD_QUEUE];
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int n = s->n, nc = 0;
        bool quit = s->quit;
        for (; s->q_len > 0; s->q_len--, s->q_head = (s->q_head + 1) % CMD_QUEUE)
            cmds[nc++] = s->queue[s->q_head];
        pthread_mutex_unlock(&s->mu);

        for (; s->created < n && !quit; s->created++)
            create_run(s, s->slots[s->created]);
        for (int c = 0; c < nc; c++)
            apply_command(s, &cmds[c]);
        if (quit)
            break;

        slot *todo[NL_MAX_RACE];
        int nt = plan_round(s, todo);
        for (int i = 0; i < nt; i++)
            step_run(s, todo[i]);
        if (nt > 0)
            continue;

        pthread_mutex_lock(&s->mu);
        while (!s->quit && s->q_len == 0 && s->n == s->created)
            pthread_cond_wait(&s->wake, &s->mu);
        pthread_mutex_unlock(&s->mu);
    }
    for (int i = 0; i < s->created; i++) {
        slot *sl = s->slots[i];
        if (sl->run && nl_run_state_active(nl_run_get_state(sl->run)))
            stop_run(s, sl);
    }
    for (int i = 0; i < s->created; i++) {
        pthread_mutex_lock(&s->mu);
        s->slots[i]->metrics = NULL; /* the run's own: freed with it */
        pthread_mutex_unlock(&s->mu);
        nl_run_free(s->slots[i]->run);
        s->slots[i]->run = NULL;
    }
    nl_backend_close(s->kernels);
    s->kernels = NULL;
    return NULL;
}

/* ---- the UI side ---- */

nl_session *nl_session_create(const char *device, int threads, nl_error *err)
{
    if (!device || !*device)
        device = "auto";
    if (strcmp(device, "auto") && strcmp(device, "cpu") && strcmp(device, "cuda")) {
        nl_fail(err, NL_ERR_USAGE, "device '%s': expected auto, cpu or cuda", device);
        return NULL;
    }
    nl_session *s = calloc(1, sizeof *s);
    if (!s) {
        nl_fail(err, NL_ERR_RUN, "out of memory for a session");
        return NULL;
    }
    snprintf(s->device, sizeof s->device, "%s", device);
    s->threads = threads;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    return s;
}

void nl_session_free(nl_session *s)
{
    if (!s)
        return;
    nl_session_clear(s);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int nl_session_add(nl_session *s, const nl_config *c, const char *out_dir, nl_error *err)
{
    slot *sl = calloc(1, sizeof *sl);
    if (!sl) {
        nl_fail(err, NL_ERR_RUN, "out of memory for a run");
        return -1;
    }
    if (out_dir && strlen(out_dir) >= sizeof sl->out_dir) {
        free(sl);
        nl_fail(err, NL_ERR_USAGE, "run directory '%s' is too long", out_dir);
        return -1;
    }
    sl->cfg = *c;
    if (out_dir) {
        snprintf(sl->out_dir, sizeof sl->out_dir, "%s", out_dir);
        sl->has_dir = true;
    }
    nl_run_status *st = &sl->status;
    snprintf(st->name, sizeof st->name, "%s", c->name);
    st->state = NL_RUN_READY;
    st->total = c->train.steps;
    st->loss = st->lr = st->grad_norm = st->tok_s = NAN;
    st->eta_s = st->entropy_floor = st->unigram_level = NAN;
    st->layers = c->model.layers;
    snprintf(st->dir, sizeof st->dir, "%s", out_dir ? out_dir : "");

    pthread_mutex_lock(&s->mu);
    if (s->n >= NL_MAX_RACE) {
        pthread_mutex_unlock(&s->mu);
        free(sl);
        nl_fail(err, NL_ERR_USAGE, "a session holds at most %d runs", NL_MAX_RACE);
        return -1;
    }
    int i = s->n;
    s->slots[i] = sl;
    s->n++;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    return i;
}

int nl_session_count(nl_session *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int nl_session_start(nl_session *s, nl_error *err)
{
    pthread_mutex_lock(&s->mu);
    if (s->started) {
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    s->quit = false;
    int rc = pthread_create(&s->worker, NULL, worker_main, s);
    if (rc == 0)
        s->started = true;
    pthread_mutex_unlock(&s->mu);
    if (rc)
        return nl_fail(err, NL_ERR_RUN, "cannot start the session's worker thread: %s",
                       strerror(rc));
    return 0;
}

void nl_session_clear(nl_session *s)
{
    pthread_mutex_lock(&s->mu);
    bool started = s->started;
    s->quit = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    if (started)
        pthread_join(s->worker, NULL);

    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n; i++) {
        free(s->slots[i]);
        s->slots[i] = NULL;
    }
    s->n = 0;
    s->created = 0;
    s->q_len = s->q_head = 0;
    s->started = false;
    s->quit = false;
    pthread_mutex_unlock(&s->mu);
}

void nl_session_command(nl_session *s, int i, nl_cmd cmd, double arg)
{
    pthread_mutex_lock(&s->mu);
    if (s->q_len < CMD_QUEUE) { /* a full queue means the worker is stuck: drop the key */
        s->queue[(s->q_head + s->q_len) % CMD_QUEUE] = (cmd_entry){i, cmd, arg};
        s->q_len++;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->mu);
}

int nl_session_status(nl_session *s, int i, nl_run_status *out)
{
    pthread_mutex_lock(&s->mu);
    int ok = i >= 0 && i < s->n;
    if (ok)
        *out = s->slots[i]->status;
    pthread_mutex_unlock(&s->mu);
    return ok ? 0 : -1;
}

nl_metrics_store *nl_session_metrics(nl_session *s, int i)
{
    pthread_mutex_lock(&s->mu);
    nl_metrics_store *m = i >= 0 && i < s->n ? s->slots[i]->metrics : NULL;
    pthread_mutex_unlock(&s->mu);
    return m;
}

int nl_session_active(nl_session *s)
{
    pthread_mutex_lock(&s->mu);
    int active = 0;
    for (int i = 0; i < s->n && !active; i++) {
        nl_run_state st = s->slots[i]->status.state;
        /* READY: waiting for the worker to create it */
        active = st == NL_RUN_RUNNING || st == NL_RUN_PAUSED || (st == NL_RUN_READY && s->started);
    }
    pthread_mutex_unlock(&s->mu);
    return active;
}
