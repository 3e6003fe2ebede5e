/* The session worker with two small runs on the CPU: lockstep, pause and single step,
 * learning-rate scaling, stop with a final checkpoint, failed runs, idling without
 * busy waiting. */
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/config.h"
#include "engine/run.h"
#include "engine/session.h"
#include "t.h"

#define WAIT_S 120.0 /* generous: the sanitizer build is slow */

static char tmpdir[256];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int small_config(nl_config *c, const char *name, int steps, const char *source)
{
    nl_error err = {0};
    nl_config_defaults(c);
    const char *kv[][2] = {
        {"name", name},
        {"model.layers", "2"},
        {"model.d_model", "32"},
        {"model.heads", "2"},
        {"model.seq_len", "16"},
        {"train.batch", "2"},
        {"train.eval_every", "0"},
        {"train.threads", "1"},
        {"train.device", "cpu"},
        {"data.vocab", "16"},
        {"data.source", source},
        {"train.warmup", "0"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (nl_config_set(c, kv[i][0], kv[i][1], &err)) {
            T_CHECK(0, "%s=%s: %s", kv[i][0], kv[i][1], err.msg);
            return -1;
        }
    char buf[32];
    snprintf(buf, sizeof buf, "%d", steps);
    if (nl_config_set(c, "train.steps", buf, &err) || nl_config_validate(c, &err)) {
        T_CHECK(0, "config: %s", err.msg);
        return -1;
    }
    return 0;
}

static nl_run_status status_of(nl_session *s, int i)
{
    nl_run_status st;
    memset(&st, 0, sizeof st);
    T_CHECK(nl_session_status(s, i, &st) == 0, "status %d", i);
    return st;
}

/* Polls until every run in [0, n) satisfies pred, or WAIT_S passes. */
typedef int (*status_pred)(const nl_run_status *st, int64_t arg);
static int wait_all(nl_session *s, int n, status_pred pred, int64_t arg)
{
    double end = now_s() + WAIT_S;
    for (;;) {
        int ok = 1;
        for (int i = 0; i < n; i++) {
            nl_run_status st = status_of(s, i);
            ok &= pred(&st, arg);
        }
        if (ok)
            return 1;
        if (now_s() > end)
            return 0;
        sleep_ms(5);
    }
}

static int at_least(const nl_run_status *st, int64_t step)
{
    return st->step >= step;
}
static int in_state(const nl_run_status *st, int64_t state)
{
    return st->state == state;
}

/* Pause everything: both runs stop at the same step, their snapshot is filled in, and they
 * stay there. Returns the step. */
static int64_t check_paused(nl_session *s, char dir[2][512])
{
    nl_session_command(s, -1, NL_CMD_PAUSE, 0);
    T_CHECK(wait_all(s, 2, in_state, NL_RUN_PAUSED), "runs did not pause");
    nl_run_status a = status_of(s, 0), b = status_of(s, 1);
    T_CHECK(a.step == b.step, "not in lockstep when paused: %lld vs %lld", (long long)a.step,
            (long long)b.step);
    T_CHECK(nl_session_active(s), "paused runs are not active");
    /* the snapshot */
    T_CHECK(a.layers == 2 && a.moe_layers == 0 && a.experts == 0, "dims %d %d %d", a.layers,
            a.moe_layers, a.experts);
    T_CHECK(isfinite(a.loss) && a.loss > 0 && a.lr > 0 && isfinite(a.grad_norm) && a.tok_s > 0,
            "latest loss %g lr %g gn %g tok/s %g", a.loss, a.lr, a.grad_norm, a.tok_s);
    T_CHECK(isfinite(a.entropy_floor) && a.entropy_floor > 0 && a.entropy_floor < log(16.0),
            "entropy floor %g", a.entropy_floor);
    T_CHECK(isfinite(a.eta_s) && a.eta_s > 0, "eta %g", a.eta_s);
    T_CHECK(!strcmp(a.dir, dir[0]) && !strcmp(a.name, "a") && a.diverged_step == 0,
            "dir '%s' name '%s'", a.dir, a.name);
    const int64_t s0 = a.step;
    sleep_ms(200);
    a = status_of(s, 0);
    b = status_of(s, 1);
    T_CHECK(a.step == s0 && b.step == s0, "paused runs moved: %lld %lld", (long long)a.step,
            (long long)b.step);
    return s0;
}

/* One step of run 0 (from step s0) at half the learning rate; run 1 stays. */
static void check_single_step(nl_session *s, const nl_config *c, int64_t s0)
{
    nl_run_status a, b;
    nl_session_command(s, 0, NL_CMD_SET_LR_SCALE, 0.5);
    nl_session_command(s, 0, NL_CMD_STEP, 0);
    T_CHECK(wait_all(s, 1, at_least, s0 + 1), "single step not taken");
    sleep_ms(200);
    a = status_of(s, 0);
    b = status_of(s, 1);
    T_CHECK(a.step == s0 + 1 && b.step == s0, "single step moved %lld and %lld from %lld",
            (long long)a.step, (long long)b.step, (long long)s0);
    T_CHECK(a.state == NL_RUN_PAUSED && b.state == NL_RUN_PAUSED, "states after a single step");
    T_NEAR(a.lr, 0.5 * nl_lr_at(&c->train, s0), 1e-6, "scaled lr of the single step");
}

/* Every step up to s0 + 1 reached the UI's store, in order. */
static void check_relayed(nl_session *s, int64_t s0)
{
    nl_metrics_store *ms = nl_session_metrics(s, 0);
    T_CHECK(ms != NULL, "no metrics store");
    if (ms) {
        nl_metrics_row row;
        int64_t expect = 1;
        int in_order = 1;
        while (nl_metrics_pop(ms, &row))
            in_order &= row.step == expect++;
        T_CHECK(in_order && expect == s0 + 2, "rows 1..%lld not all relayed (next %lld)",
                (long long)(s0 + 1), (long long)expect);
    }
}

/* Resume: run 1 catches up first, then both move together; pause again -> equal. */
static void check_catch_up(nl_session *s, int64_t s0)
{
    nl_session_command(s, -1, NL_CMD_TOGGLE_PAUSE, 0);
    T_CHECK(wait_all(s, 2, at_least, s0 + 4), "runs did not resume");
    nl_session_command(s, -1, NL_CMD_TOGGLE_PAUSE, 0);
    T_CHECK(wait_all(s, 2, in_state, NL_RUN_PAUSED), "runs did not pause again");
    nl_run_status a = status_of(s, 0), b = status_of(s, 1);
    T_CHECK(a.step == b.step, "not in lockstep after catching up: %lld vs %lld", (long long)a.step,
            (long long)b.step);
}

/* Stop: a final checkpoint at the current step, run by run, then everything. */
static void check_stop(nl_session *s, char dir[2][512])
{
    nl_session_command(s, 1, NL_CMD_STOP, 0);
    double end = now_s() + WAIT_S;
    while (status_of(s, 1).state != NL_RUN_STOPPED && now_s() < end)
        sleep_ms(5);
    nl_run_status b = status_of(s, 1);
    T_CHECK(b.state == NL_RUN_STOPPED, "run 1 is %s", nl_run_state_name(b.state));
    char ck[700];
    snprintf(ck, sizeof ck, "%s/ckpt-%lld.nlck", dir[1], (long long)b.step);
    struct stat sb;
    T_CHECK(stat(ck, &sb) == 0 && sb.st_size > 0, "no final checkpoint %s", ck);
    T_CHECK(status_of(s, 0).state == NL_RUN_PAUSED, "stopping run 1 changed run 0");
    nl_session_command(s, -1, NL_CMD_STOP, 0);
    T_CHECK(wait_all(s, 2, in_state, NL_RUN_STOPPED), "not every run stopped");
    T_CHECK(!nl_session_active(s), "active after stopping everything");
    snprintf(ck, sizeof ck, "%s/ckpt-%lld.nlck", dir[0], (long long)status_of(s, 0).step);
    T_CHECK(stat(ck, &sb) == 0, "no final checkpoint %s", ck);
}

static void test_session_lockstep(void)
{
    nl_error err = {0};
    nl_session *s = nl_session_create("cpu", 1, &err);
    T_CHECK(s != NULL, "create: %s", err.msg);
    if (!s)
        return;
    nl_config c;
    char dir[2][512];
    for (int i = 0; i < 2; i++) {
        if (small_config(&c, i ? "b" : "a", 1000000, "markov"))
            goto out;
        snprintf(dir[i], sizeof dir[i], "%s/run-%c", tmpdir, 'a' + i);
        T_CHECK(nl_session_add(s, &c, dir[i], &err) == i, "add %d: %s", i, err.msg);
    }
    T_CHECK(nl_session_count(s) == 2, "count %d", nl_session_count(s));
    nl_run_status st = status_of(s, 1);
    T_CHECK(!strcmp(st.name, "b") && st.state == NL_RUN_READY && st.total == 1000000 &&
                !strcmp(st.dir, dir[1]),
            "status before start: %s %s %lld %s", st.name, nl_run_state_name(st.state),
            (long long)st.total, st.dir);
    T_CHECK(!nl_session_active(s), "active before start");
    T_CHECK(nl_session_metrics(s, 0) == NULL, "a metrics store before the run exists");

    T_CHECK(nl_session_start(s, &err) == 0, "start: %s", err.msg);
    T_CHECK(nl_session_active(s), "not active after start");
    T_CHECK(wait_all(s, 2, at_least, 5), "runs did not reach step 5");

    const int64_t s0 = check_paused(s, dir);
    check_single_step(s, &c, s0);
    check_relayed(s, s0);
    check_catch_up(s, s0);
    check_stop(s, dir);
out:
    nl_session_free(s);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static void test_session_finish_fail_and_idle(void)
{
    nl_error err = {0};
    nl_session *s = nl_session_create("cpu", 1, &err);
    T_CHECK(s != NULL, "create: %s", err.msg);
    if (!s)
        return;
    nl_config c;
    char missing[600];
    snprintf(missing, sizeof missing, "text:%s/no-such-file.txt", tmpdir);
    if (small_config(&c, "short", 6, "markov") == 0)
        T_CHECK(nl_session_add(s, &c, NULL, &err) == 0, "add: %s", err.msg);
    if (small_config(&c, "broken", 6, missing) == 0)
        T_CHECK(nl_session_add(s, &c, NULL, &err) == 1, "add: %s", err.msg);
    T_CHECK(nl_session_start(s, &err) == 0, "start: %s", err.msg);
    double end = now_s() + WAIT_S;
    while (nl_session_active(s) && now_s() < end)
        sleep_ms(5);
    nl_run_status a = status_of(s, 0), b = status_of(s, 1);
    T_CHECK(a.state == NL_RUN_FINISHED && a.step == 6 && a.eta_s == 0.0,
            "short run: %s at %lld, eta %g", nl_run_state_name(a.state), (long long)a.step,
            a.eta_s);
    T_CHECK(b.state == NL_RUN_FAILED && strstr(b.message, "no-such-file.txt"),
            "broken run: %s, '%s'", nl_run_state_name(b.state), b.message);
    T_CHECK(nl_session_metrics(s, 1) == NULL, "a failed run has a metrics store");
    /* commands to finished or failed runs change nothing */
    nl_session_command(s, -1, NL_CMD_RESUME, 0);
    nl_session_command(s, 1, NL_CMD_STEP, 0);
    sleep_ms(100);
    T_CHECK(status_of(s, 0).state == NL_RUN_FINISHED && status_of(s, 1).state == NL_RUN_FAILED,
            "a command revived a finished or failed run");

    /* nothing to do: the worker sleeps instead of spinning */
    double cpu0 = cpu_seconds(), wall0 = now_s();
    sleep_ms(500);
    double cpu = cpu_seconds() - cpu0, wall = now_s() - wall0;
    T_CHECK(cpu < 0.25 * wall, "idle session used %.3f s of CPU in %.3f s", cpu, wall);

    /* a run added to a started session is created and run at once */
    if (small_config(&c, "late", 3, "markov") == 0)
        T_CHECK(nl_session_add(s, &c, NULL, &err) == 2, "add late: %s", err.msg);
    end = now_s() + WAIT_S;
    while (status_of(s, 2).state != NL_RUN_FINISHED && now_s() < end)
        sleep_ms(5);
    T_CHECK(status_of(s, 2).step == 3, "late run at %lld", (long long)status_of(s, 2).step);

    nl_session_clear(s);
    T_CHECK(nl_session_count(s) == 0, "runs left after clear");
    nl_run_status none;
    T_CHECK(nl_session_status(s, 0, &none) == -1, "status of a cleared run");

    /* restart after clear */
    if (small_config(&c, "again", 2, "markov") == 0)
        T_CHECK(nl_session_add(s, &c, NULL, &err) == 0, "add after clear: %s", err.msg);
    T_CHECK(nl_session_start(s, &err) == 0, "restart: %s", err.msg);
    end = now_s() + WAIT_S;
    while (status_of(s, 0).state != NL_RUN_FINISHED && now_s() < end)
        sleep_ms(5);
    T_CHECK(status_of(s, 0).step == 2, "restarted run at %lld", (long long)status_of(s, 0).step);
    nl_session_free(s);
}

/* Freeing a session with a running run stops it with a final checkpoint. */
static void test_session_free_checkpoints(void)
{
    nl_error err = {0};
    nl_session *s = nl_session_create("cpu", 1, &err);
    nl_config c;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/run-free", tmpdir);
    if (!s || small_config(&c, "free", 1000000, "markov")) {
        nl_session_free(s);
        return;
    }
    nl_session_add(s, &c, dir, &err);
    nl_session_start(s, &err);
    T_CHECK(wait_all(s, 1, at_least, 2), "run did not start");
    nl_session_free(s);
    char path[600];
    snprintf(path, sizeof path, "%s/events.log", dir);
    FILE *f = fopen(path, "r");
    T_CHECK(f != NULL, "no events.log");
    int stopped = 0, ckpt = 0;
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        stopped |= strstr(line, "stopped at step") != NULL;
        ckpt |= strstr(line, "checkpoint") != NULL;
    }
    if (f)
        fclose(f);
    T_CHECK(stopped && ckpt, "events.log lacks the stop (%d) or its checkpoint (%d)", stopped,
            ckpt);
    T_CHECK(nl_session_create("gpu", 1, &err) == NULL && strstr(err.msg, "gpu"),
            "device 'gpu' accepted: %s", err.msg);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/normlab-test-session-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    T_RUN(test_session_lockstep);
    T_RUN(test_session_finish_fail_and_idle);
    T_RUN(test_session_free_checkpoints);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    T_END();
}
