/* Training end to end on the CPU: learning on the default preset, determinism, bit-exact
 * resume, divergence handling, checkpoint refusal. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../engine/ckpt.h"
#include "../engine/config.h"
#include "../engine/run.h"
#include "t.h"

static char tmpdir[256];

static int load_default(nl_config *c)
{
    nl_error err = {0};
    nl_config_defaults(c);
    if (nl_config_load_string(c, nl_default_preset_yaml, nl_default_preset_yaml_len, "default",
                              &err)) {
        T_CHECK(0, "default preset: %s", err.msg);
        return -1;
    }
    nl_config_set(c, "train.threads", "2", NULL);
    return 0;
}

/* Train to the end; returns the last train loss (NAN on failure). */
static float train(nl_config *c, const char *dir, const char *resume, nl_run_state *state_out,
                   float *val_out)
{
    nl_error err = {0};
    nl_run_opts o = {.out_dir = dir, .resume = resume};
    nl_run *r = nl_run_create(c, &o, &err);
    if (!r) {
        T_CHECK(0, "nl_run_create: %s", err.msg);
        return NAN;
    }
    nl_metrics_row row;
    float last = NAN;
    nl_run_state st = nl_run_get_state(r);
    while (st != NL_RUN_FINISHED && st != NL_RUN_DIVERGED && st != NL_RUN_FAILED) {
        st = nl_run_step(r, &err);
        while (nl_metrics_pop(nl_run_metrics(r), &row))
            last = row.loss;
    }
    T_CHECK(st != NL_RUN_FAILED, "run failed: %s", err.msg);
    if (state_out)
        *state_out = st;
    if (val_out)
        nl_run_eval(r, 4, val_out, &err);
    nl_run_free(r);
    return last;
}

static void test_default_learns(void)
{
    nl_config c;
    if (load_default(&c))
        return;
    nl_config_set(&c, "train.steps", "200", NULL);
    nl_config_set(&c, "train.eval_every", "0", NULL);
    nl_error err = {0};
    nl_run_opts o = {0};
    nl_run *r = nl_run_create(&c, &o, &err);
    T_CHECK(r != NULL, "create: %s", err.msg);
    if (!r)
        return;
    double floor = nl_run_entropy_floor(r);
    double lnv = log((double)nl_run_config(r)->model.vocab);
    float first = NAN, last = NAN;
    nl_metrics_row row;
    while (nl_run_step(r, &err) == NL_RUN_RUNNING)
        while (nl_metrics_pop(nl_run_metrics(r), &row))
            if (isnan(first))
                first = row.loss;
    while (nl_metrics_pop(nl_run_metrics(r), &row))
        last = row.loss;
    float val = NAN;
    nl_run_eval(r, 8, &val, &err);
    printf("# default preset, 200 steps: first loss %.4f, last %.4f, val %.4f, ln(V) %.4f, "
           "floor %.4f\n",
           first, last, val, lnv, floor);
    T_CHECK(isfinite(floor) && floor > 0 && floor < lnv, "entropy floor %g not in (0, ln V)",
            floor);
    T_NEAR(first, lnv, 0.05, "initial loss ~ ln(V)");
    /* well below ln(V): at least 60% of the way from ln(V) to the floor */
    T_CHECK(val < lnv - 0.6 * (lnv - floor), "val loss %.4f not well below ln V %.4f (floor %.4f)",
            val, lnv, floor);
    T_CHECK(val > floor - 0.05, "val loss %.4f below the entropy floor %.4f", val, floor);
    nl_run_free(r);
}

static char *read_csv_no_time(const char *path)
{
    /* drop the time_s (3rd) and tok_s (8th) columns */
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, len = 0;
    char *out = malloc(cap);
    char line[1 << 16];
    while (fgets(line, sizeof line, f)) {
        int col = 1;
        for (char *p = line; *p; p++) {
            bool skip = col == 3 || col == 8;
            if (!skip && len + 2 < cap)
                out[len++] = *p;
            if (*p == ',')
                col++;
        }
    }
    out[len] = '\0';
    fclose(f);
    return out;
}

static void small_config(nl_config *c, int steps)
{
    load_default(c);
    char s[16];
    snprintf(s, sizeof s, "%d", steps);
    nl_config_set(c, "train.steps", s, NULL);
    nl_config_set(c, "model.layers", "2", NULL);
    nl_config_set(c, "model.d_model", "32", NULL);
    nl_config_set(c, "model.seq_len", "16", NULL);
    nl_config_set(c, "train.eval_every", "10", NULL);
    nl_config_set(c, "train.keep_ckpts", "10", NULL);
}

static void test_deterministic(void)
{
    nl_config c;
    small_config(&c, 20);
    char a[300], b[300], pa[320], pb[320];
    snprintf(a, sizeof a, "%s/det-a", tmpdir);
    snprintf(b, sizeof b, "%s/det-b", tmpdir);
    train(&c, a, NULL, NULL, NULL);
    train(&c, b, NULL, NULL, NULL);
    snprintf(pa, sizeof pa, "%s/metrics.csv", a);
    snprintf(pb, sizeof pb, "%s/metrics.csv", b);
    char *x = read_csv_no_time(pa), *y = read_csv_no_time(pb);
    T_CHECK(x && y, "metrics.csv missing");
    if (x && y) {
        T_CHECK(strlen(x) > 200, "metrics.csv too short (%zu bytes)", strlen(x));
        T_CHECK(!strcmp(x, y), "two runs of the same config differ");
    }
    free(x);
    free(y);
}

static void resume_bit_exact(const char *tag, const char *const *sets)
{
    nl_config c;
    small_config(&c, 40);
    for (int i = 0; sets && sets[i]; i++)
        nl_config_set_kv(&c, sets[i], NULL);
    nl_config_set(&c, "train.ckpt_every", "20", NULL);
    char a[300], b[300], path[400], cmd[800];
    snprintf(a, sizeof a, "%s/res-a-%s", tmpdir, tag);
    snprintf(b, sizeof b, "%s/res-b-%s", tmpdir, tag);
    train(&c, a, NULL, NULL, NULL);
    /* b: a copy of a's directory as it was at step 20, then resumed */
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/ckpt-20.nlck %s/metrics.csv %s/", b, a, a, b);
    T_CHECK(system(cmd) == 0, "copy failed");
    snprintf(path, sizeof path, "%s/ckpt-20.nlck", b);
    nl_run_state st;
    train(&c, b, path, &st, NULL);
    T_CHECK(st == NL_RUN_FINISHED, "resumed run ended %s", nl_run_state_name(st));
    char pa[400], pb[400];
    snprintf(pa, sizeof pa, "%s/metrics.csv", a);
    snprintf(pb, sizeof pb, "%s/metrics.csv", b);
    char *x = read_csv_no_time(pa), *y = read_csv_no_time(pb);
    T_CHECK(x && y && !strcmp(x, y), "metrics after resume differ from the uninterrupted run");
    free(x);
    free(y);
    /* the final checkpoints are identical too (weights and moments) */
    nl_ckpt ca, cb;
    snprintf(pa, sizeof pa, "%s/ckpt-40.nlck", a);
    snprintf(pb, sizeof pb, "%s/ckpt-40.nlck", b);
    nl_error err = {0};
    if (nl_ckpt_read(pa, &ca, 0, &err) == 0) {
        if (nl_ckpt_read(pb, &cb, 0, &err) == 0) {
            T_CHECK(ca.n_tensors == cb.n_tensors, "tensor count differs");
            for (int i = 0; i < ca.n_tensors && i < cb.n_tensors; i++)
                T_CHECK(!memcmp(ca.tensors[i].data, cb.tensors[i].data,
                                sizeof(float) * (size_t)ca.tensors[i].numel),
                        "tensor %s differs after resume", ca.tensors[i].name);
            nl_ckpt_free(&cb);
        } else {
            T_CHECK(0, "%s", err.msg);
        }
        nl_ckpt_free(&ca);
    } else {
        T_CHECK(0, "%s", err.msg);
    }
}

static void test_resume_bit_exact(void) { resume_bit_exact("dense", NULL); }

static void test_resume_bit_exact_moe(void)
{
    const char *sets[] = {"model.moe.experts=4", "model.moe.top_k=2", "model.placement=hybrid",
                          "model.ffn=swiglu", NULL};
    resume_bit_exact("moe", sets);
}

/* MoE: trains, and the load-balancing loss keeps every expert in use. */
static void test_moe_balanced(void)
{
    nl_config c;
    small_config(&c, 120);
    const char *sets[] = {"model.moe.experts=4", "model.moe.top_k=2", "model.d_model=32",
                          "model.moe.aux_loss=0.01", "train.lr=3e-3", NULL};
    for (int i = 0; sets[i]; i++)
        nl_config_set_kv(&c, sets[i], NULL);
    nl_error err = {0};
    nl_run *r = nl_run_create(&c, &(nl_run_opts){0}, &err);
    T_CHECK(r != NULL, "%s", err.msg);
    if (!r)
        return;
    nl_metrics_row row;
    float first = NAN, last = NAN, minload = 1, maxload = 0, aux = NAN;
    while (nl_run_step(r, &err) == NL_RUN_RUNNING)
        ;
    while (nl_metrics_pop(nl_run_metrics(r), &row)) {
        if (isnan(first))
            first = row.loss;
        last = row.loss;
        aux = row.aux_loss;
        minload = 1;
        maxload = 0;
        for (int i = 0; i < 2 * 4; i++) {
            minload = fminf(minload, row.expert_frac[i]);
            maxload = fmaxf(maxload, row.expert_frac[i]);
        }
    }
    printf("# moe 120 steps: loss %.4f -> %.4f, aux %.4f, expert load in [%.3f, %.3f]\n", first,
           last, aux, minload, maxload);
    T_CHECK(last < first - 0.5, "MoE model did not learn: %.4f -> %.4f", first, last);
    T_CHECK(minload > 0.08 && maxload < 0.5, "expert load degenerate: [%.3f, %.3f]", minload,
            maxload);
    /* summed over the 2 MoE layers; each is 1 when perfectly balanced */
    T_CHECK(aux >= 1.99f && aux < 3.0f, "aux loss %.4f (2 when balanced)", aux);
    nl_run_free(r);
}

/* A checkpoint taken after 20 steps, resumed with key=value changed, is refused with the
 * checkpoint named. */
static void expect_resume_refused(const char *tag, const char *key, const char *value)
{
    nl_config c;
    small_config(&c, 20);
    nl_config_set(&c, "train.ckpt_every", "20", NULL);
    char a[300], path[400];
    snprintf(a, sizeof a, "%s/mm-%s", tmpdir, tag);
    train(&c, a, NULL, NULL, NULL);
    snprintf(path, sizeof path, "%s/ckpt-20.nlck", a);
    nl_config_set(&c, key, value, NULL);
    nl_config_set(&c, "train.steps", "30", NULL);
    nl_error err = {0};
    nl_run_opts o = {.resume = path};
    nl_run *r = nl_run_create(&c, &o, &err);
    T_CHECK(r == NULL, "%s: the checkpoint was resumed with %s=%s", tag, key, value);
    T_CHECK(strstr(err.msg, "ckpt-20.nlck") != NULL, "%s: message does not name the file: %s", tag,
            err.msg);
    nl_run_free(r);
}

static void test_resume_mismatch_refused(void)
{
    expect_resume_refused("layers", "model.layers", "3");
    expect_resume_refused("data", "data.seed", "12345");
}

/* Post-Norm at lr 50 without warmup or clipping: diverges within a few steps, and the loss
 * stays above 1.5 x the first for 5 steps. */
static void diverging_config(nl_config *c)
{
    small_config(c, 200);
    nl_config_set(c, "train.lr", "50", NULL);
    nl_config_set(c, "train.warmup", "0", NULL);
    nl_config_set(c, "train.clip", "0", NULL);
    nl_config_set(c, "train.schedule", "constant", NULL);
    nl_config_set(c, "model.placement", "post", NULL);
    nl_config_set(c, "train.diverge_patience", "5", NULL);
    nl_config_set(c, "train.diverge_factor", "1.5", NULL);
}

static void test_divergence_stops(void)
{
    nl_config c;
    diverging_config(&c);
    char a[300], path[400];
    snprintf(a, sizeof a, "%s/div", tmpdir);
    nl_run_state st;
    train(&c, a, NULL, &st, NULL);
    T_CHECK(st == NL_RUN_DIVERGED, "lr 50 did not diverge (state %s)", nl_run_state_name(st));
    snprintf(path, sizeof path, "%s/events.log", a);
    FILE *f = fopen(path, "r");
    char buf[4096] = "";
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    T_CHECK(strstr(buf, "diverged at step") != NULL, "events.log lacks the divergence: %s", buf);
}


/* Divergence keeps the last good checkpoint: no periodic checkpoint is taken while the loss
 * is above the divergence threshold, so keep_ckpts=1 does not leave only a bad one. */
static void test_divergence_keeps_good_checkpoint(void)
{
    nl_config c;
    diverging_config(&c);
    nl_config_set(&c, "train.ckpt_every", "1", NULL);
    nl_config_set(&c, "train.keep_ckpts", "1", NULL);
    nl_config_set(&c, "train.eval_every", "0", NULL);
    nl_error err = {0};
    char a[300];
    snprintf(a, sizeof a, "%s/div-good", tmpdir);
    nl_run *r = nl_run_create(&c, &(nl_run_opts){.out_dir = a}, &err);
    T_CHECK(r != NULL, "%s", err.msg);
    if (!r)
        return;
    float loss[256], first = NAN;
    int n = 0;
    nl_run_state st;
    nl_metrics_row row;
    while ((st = nl_run_step(r, &err)) == NL_RUN_RUNNING)
        ;
    while (nl_metrics_pop(nl_run_metrics(r), &row))
        if (n < 256)
            loss[n++] = row.loss;
    first = loss[0];
    nl_run_free(r);
    T_CHECK(st == NL_RUN_DIVERGED, "lr 50 did not diverge (state %s)", nl_run_state_name(st));
    nl_ckpt ck;
    char path[400];
    int kept = -1;
    for (int s = n; s >= 1 && kept < 0; s--) {
        snprintf(path, sizeof path, "%s/ckpt-%d.nlck", a, s);
        if (access(path, F_OK) == 0)
            kept = s;
    }
    T_CHECK(kept > 0, "no checkpoint kept after divergence at step %d", n);
    if (kept > 0) {
        T_CHECK(loss[kept - 1] <= 1.5f * first,
                "the kept checkpoint (step %d, loss %.3f) is above 1.5 x the first loss %.3f", kept,
                loss[kept - 1], first);
        T_CHECK(nl_ckpt_read(path, &ck, 1, &err) == 0, "%s", err.msg);
        nl_ckpt_free(&ck);
    }
}

/* time_s counts validation (docs/FORMATS.md), tok_s does not. */
static void test_time_includes_validation(void)
{
    nl_config c;
    small_config(&c, 6);
    nl_config_set(&c, "train.eval_every", "2", NULL);
    nl_config_set(&c, "train.eval_batches", "60", NULL);
    nl_error err = {0};
    nl_run *r = nl_run_create(&c, &(nl_run_opts){0}, &err);
    T_CHECK(r != NULL, "%s", err.msg);
    if (!r)
        return;
    while (nl_run_step(r, &err) == NL_RUN_RUNNING)
        ;
    nl_metrics_row row;
    double prev = 0, step_time = 0, with_eval = 0;
    int tokens = c.train.batch * c.model.seq_len;
    while (nl_metrics_pop(nl_run_metrics(r), &row)) {
        double dt = row.time_s - prev, own = tokens / (double)row.tok_s;
        prev = row.time_s;
        if (isfinite(row.val_loss))
            with_eval += dt - own;
        else
            step_time += own;
    }
    /* 60 validation batches cost far more than the 3 steps without one */
    T_CHECK(with_eval > step_time,
            "time_s grew by %.4g s over the training of the validation steps; 3 plain steps "
            "took %.4g s",
            with_eval, step_time);
    nl_run_free(r);
}

/* A metrics.csv that cannot be written fails the run with the file named, instead of
 * training on with the rows lost (/dev/full answers every write with ENOSPC). */
static void test_metrics_write_failure_reported(void)
{
    nl_config c;
    small_config(&c, 5);
    char a[300], link[400];
    snprintf(a, sizeof a, "%s/full", tmpdir);
    snprintf(link, sizeof link, "mkdir -p %s && ln -sf /dev/full %s/metrics.csv", a, a);
    T_CHECK(system(link) == 0, "setup failed");
    nl_error err = {0};
    nl_run *r = nl_run_create(&c, &(nl_run_opts){.out_dir = a}, &err);
    nl_run_state st = NL_RUN_FAILED;
    if (r) {
        while ((st = nl_run_step(r, &err)) == NL_RUN_RUNNING)
            ;
        nl_run_free(r);
    }
    T_CHECK(!r || st == NL_RUN_FAILED, "the run ended %s with its metrics unwritten",
            nl_run_state_name(st));
    T_CHECK(strstr(err.msg, "metrics.csv") != NULL, "the error does not name metrics.csv: '%s'",
            err.msg);
}

/* Resuming cuts metrics.csv back through a temporary file; when that file cannot be
 * written, metrics.csv is left as it was and the resume fails. */
static void test_resume_keeps_metrics_on_write_failure(void)
{
    nl_config c;
    small_config(&c, 10);
    nl_config_set(&c, "train.ckpt_every", "5", NULL);
    char a[300], path[400], cmd[800];
    snprintf(a, sizeof a, "%s/cut", tmpdir);
    train(&c, a, NULL, NULL, NULL);
    snprintf(cmd, sizeof cmd, "ln -sf /dev/full %s/metrics.csv.tmp", a);
    T_CHECK(system(cmd) == 0, "setup failed");
    snprintf(path, sizeof path, "%s/ckpt-5.nlck", a);
    nl_error err = {0};
    nl_run *r = nl_run_create(&c, &(nl_run_opts){.out_dir = a, .resume = path}, &err);
    T_CHECK(r == NULL, "resume went on with metrics.csv not cut back");
    T_CHECK(strstr(err.msg, "metrics.csv") != NULL, "the error does not name metrics.csv: '%s'",
            err.msg);
    nl_run_free(r);
    snprintf(path, sizeof path, "%s/metrics.csv", a);
    struct stat st;
    T_CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 100,
            "metrics.csv is no longer the regular file with its rows");
}

/* The data file cut short while the run reads it (D6): the run fails with the file named,
 * a checkpoint and an events.log entry, instead of dying of SIGBUS; with the file restored,
 * the checkpoint resumes. */
static void test_data_truncated_during_training(void)
{
    nl_config c;
    small_config(&c, 20);
    char a[300], data[400], src[420], cmd[1000];
    snprintf(a, sizeof a, "%s/trunc", tmpdir);
    snprintf(data, sizeof data, "%s/trunc-data.txt", tmpdir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && head -c 200000 README.md > %s", tmpdir, data);
    T_CHECK(system(cmd) == 0, "setup failed");
    snprintf(src, sizeof src, "text:%s", data);
    nl_config_set(&c, "data.source", src, NULL);
    nl_config_set(&c, "model.vocab", "256", NULL);
    nl_error err = {0};
    nl_run *r = nl_run_create(&c, &(nl_run_opts){.out_dir = a}, &err);
    T_CHECK(r != NULL, "create: %s", err.msg);
    if (!r)
        return;
    nl_run_state st = nl_run_step(r, &err);
    nl_run_step(r, &err);
    T_CHECK(st == NL_RUN_RUNNING, "first steps: %s", err.msg);
    T_CHECK(truncate(data, 100) == 0, "truncate");
    st = nl_run_step(r, &err);
    T_CHECK(st == NL_RUN_FAILED, "a step on the cut file ended %s", nl_run_state_name(st));
    T_CHECK(strstr(err.msg, data) && strstr(err.msg, "cut short"),
            "the error does not name the file: '%s'", err.msg);
    nl_run_free(r);
    char path[500], line[2048] = "";
    snprintf(path, sizeof path, "%s/ckpt-2.nlck", a);
    nl_ckpt ck;
    T_CHECK(nl_ckpt_read(path, &ck, 1, &err) == 0, "no checkpoint at step 2: %s", err.msg);
    nl_ckpt_free(&ck);
    snprintf(path, sizeof path, "%s/events.log", a);
    FILE *f = fopen(path, "r");
    int logged = 0;
    while (f && fgets(line, sizeof line, f))
        logged |= strstr(line, "failed: ") && strstr(line, "cut short");
    if (f)
        fclose(f);
    T_CHECK(logged, "events.log does not say why the run failed");
    /* put the data back: the run goes on from its checkpoint */
    snprintf(cmd, sizeof cmd, "head -c 200000 README.md > %s", data);
    T_CHECK(system(cmd) == 0, "restore failed");
    snprintf(path, sizeof path, "%s/ckpt-2.nlck", a);
    nl_run_state end = NL_RUN_FAILED;
    train(&c, a, path, &end, NULL);
    T_CHECK(end == NL_RUN_FINISHED, "resume after restoring the data ended %s",
            nl_run_state_name(end));
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/normlab-test-train-%d", (int)getpid());
    T_RUN(test_default_learns);
    T_RUN(test_deterministic);
    T_RUN(test_resume_bit_exact);
    T_RUN(test_resume_bit_exact_moe);
    T_RUN(test_moe_balanced);
    T_RUN(test_resume_mismatch_refused);
    T_RUN(test_divergence_stops);
    T_RUN(test_divergence_keeps_good_checkpoint);
    T_RUN(test_time_includes_validation);
    T_RUN(test_metrics_write_failure_reported);
    T_RUN(test_resume_keeps_metrics_on_write_failure);
    T_RUN(test_data_truncated_during_training);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    T_END();
}
