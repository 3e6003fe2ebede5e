/* A run: the training loop around the model, and the files of a run directory. */
#include "run.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "clock.h"
#include "fsutil.h"
#include "ckpt.h"
#include "data.h"
#include "optim.h"
#include "xalloc.h"

struct nl_run {
    nl_config cfg;
    char *config_yaml;
    nl_kernels *k;
    bool own_k;
    nl_model *model;
    nl_optim *optim;
    nl_data *data;
    nl_metrics_store *store;
    char dir[512];
    FILE *csv, *events;
    nl_run_state state;
    int64_t step, tokens;
    double time_s;
    float lr_scale;
    float initial_loss;
    int bad_steps;
    double floor;
    double unigram; /* the data's unigram level (text, prose), NAN otherwise */
    char message[256];
    nl_metrics_row last; /* the latest step's row (arrays: the buffers below) */
    bool has_last;
    int L, moe_layers, E;
    int32_t *tok, *tgt;
    float *gn_attn, *gn_ffn, *rms, *frac, *ent, *gnr, *gne;
};

const char *nl_run_state_name(nl_run_state s)
{
    static const char *names[] = {"ready",    "running", "paused", "finished",
                                  "diverged", "stopped", "failed"};
    return s >= 0 && s <= NL_RUN_FAILED ? names[s] : "?";
}

float nl_lr_at(const nl_train_config *t, int64_t step)
{
    if (t->warmup > 0 && step < t->warmup)
        return t->lr * (float)(step + 1) / (float)t->warmup;
    double span = t->steps - t->warmup;
    double p = (double)(step - t->warmup) / (span > 1 ? span : 1);
    if (p > 1)
        p = 1;
    if (p < 0)
        p = 0;
    switch (t->schedule) {
    case NL_SCHED_LINEAR:
        return (float)(t->lr_min + (t->lr - t->lr_min) * (1.0 - p));
    case NL_SCHED_COSINE:
        return (float)(t->lr_min + (t->lr - t->lr_min) * 0.5 * (1.0 + cos(M_PI * p)));
    case NL_SCHED_CONSTANT:
    default:
        return t->lr;
    }
}

void nl_run_log_event(nl_run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    if (!r->events)
        return;
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(r->events, "%s step %lld %s\n", ts, (long long)r->step, r->message);
    fflush(r->events);
}

/* Keep the header and the rows of steps <= keep_step of an existing metrics.csv, through a
 * temporary file that replaces it only once completely written. */
static int csv_truncate_to(const char *path, int64_t keep_step, nl_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 1; /* no file: caller writes a fresh one */
    nl_afile o;
    int rc = nl_afile_open(&o, path, err);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    for (int first = 1; rc == 0 && (len = getline(&line, &cap, f)) > 0; first = 0)
        if (first || atoll(line) <= keep_step)
            rc = nl_afile_write(&o, line, (size_t)len, err);
    free(line);
    if (rc == 0 && ferror(f))
        rc = nl_fail(err, NL_ERR_IO, "%s: cannot cut back to step %lld: %s", path,
                     (long long)keep_step, strerror(errno));
    fclose(f);
    if (rc) {
        nl_afile_abort(&o);
        return rc;
    }
    return nl_afile_commit(&o, err);
}

/* Flush a metrics.csv write; a failed one (disk full) is an error, not lost rows. */
static int csv_flush(nl_run *r, nl_error *err)
{
    if (fflush(r->csv) == 0 && !ferror(r->csv))
        return 0;
    return nl_fail(err, NL_ERR_IO, "%s/metrics.csv: write failed: %s", r->dir, strerror(errno));
}

/* A checkpoint being written is ckpt-N.nlck.tmp until renamed; one left by a killed process
 * is never completed, so it goes when the directory is next used. */
static void log_removed_tmp(void *ctx, const char *name)
{
    nl_run_log_event(ctx, "removed %s, an unfinished checkpoint of an interrupted run", name);
}

/* The backend: the caller's, or a CPU backend of the run's own. Sets the precision. */
static int open_kernels(nl_run *r, nl_kernels *given, nl_error *err)
{
    if (given) {
        r->k = given;
    } else {
        r->k = nl_backend_open("cpu", r->cfg.train.threads, NULL, 0, err);
        if (!r->k)
            return err ? err->code : NL_ERR_RUN;
        r->own_k = true;
    }
    if (r->k->set_precision)
        r->k->set_precision(r->k, (nl_precision)r->cfg.train.precision);
    return 0;
}

/* The host buffers of a step: batch tokens and the per-layer statistics of a metrics row. */
static int alloc_step_buffers(nl_run *r, int metrics_capacity, nl_error *err)
{
    int64_t BT = (int64_t)r->cfg.train.batch * r->cfg.model.seq_len;
    int M = r->moe_layers;
    r->tok = nl_calloc((size_t)BT, sizeof(int32_t));          /* (B,T) */
    r->tgt = nl_calloc((size_t)BT, sizeof(int32_t));          /* (B,T) */
    r->gn_attn = nl_calloc((size_t)r->L, sizeof(float));      /* (L) */
    r->gn_ffn = nl_calloc((size_t)r->L, sizeof(float));       /* (L) */
    r->rms = nl_calloc((size_t)r->L, sizeof(float));          /* (L) */
    bool ok = r->tok && r->tgt && r->gn_attn && r->gn_ffn && r->rms;
    if (M) {
        r->frac = nl_calloc((size_t)(M * r->E), sizeof(float)); /* (M,E) */
        r->ent = nl_calloc((size_t)M, sizeof(float));           /* (M) */
        r->gnr = nl_calloc((size_t)M, sizeof(float));           /* (M) */
        r->gne = nl_calloc((size_t)M, sizeof(float));           /* (M) */
        ok = ok && r->frac && r->ent && r->gnr && r->gne;
    }
    if (ok && metrics_capacity >= 0) {
        r->store = nl_metrics_create(r->L, M, r->E, metrics_capacity > 0 ? metrics_capacity : 4096);
        ok = r->store != NULL;
    }
    if (ok)
        r->config_yaml = nl_config_to_yaml(&r->cfg);
    if (!ok || !r->config_yaml)
        return nl_fail(err, NL_ERR_RUN, "out of memory for the run's step buffers (%lld tokens a "
                       "batch, %d layers)", (long long)BT, r->L);
    return 0;
}

/* The run directory: checked, created, events.log opened, stale temp files removed. */
static int open_run_dir(nl_run *r, const nl_run_opts *o, nl_error *err)
{
    /* refused, not cut: a cut path would put the files in another directory */
    if (!o->out_dir[0])
        return nl_fail(err, NL_ERR_USAGE, "the run directory is an empty name");
    if (strlen(o->out_dir) >= sizeof r->dir)
        return nl_fail(err, NL_ERR_USAGE,
                       "run directory '%.40s...': path too long (%zu characters, at most %zu)",
                       o->out_dir, strlen(o->out_dir), sizeof r->dir - 1);
    snprintf(r->dir, sizeof r->dir, "%s", o->out_dir);
    /* A fresh run among another run's checkpoints would lose its own: pruning keeps the
     * highest steps, theirs. */
    char newest[64];
    if (!o->resume && nl_ckpt_newest(r->dir, newest, sizeof newest) > 0)
        return nl_fail(err, NL_ERR_USAGE,
                       "%s holds the checkpoints of an earlier run: resume from %s/%s, or train "
                       "into another directory",
                       r->dir, r->dir, newest);
    int rc = nl_mkdir_p(r->dir, err);
    if (rc)
        return rc;
    char path[600];
    snprintf(path, sizeof path, "%s/events.log", r->dir);
    r->events = fopen(path, "a");
    if (!r->events)
        return nl_fail(err, NL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    nl_ckpt_remove_unfinished(r->dir, log_removed_tmp, r);
    return 0;
}

/* config.yaml, and for a fresh run the metrics.csv header. */
static int write_run_files(nl_run *r, bool fresh, nl_error *err)
{
    char path[600];
    snprintf(path, sizeof path, "%s/config.yaml", r->dir);
    nl_error werr = {0};
    if (nl_config_save_file(&r->cfg, path, &werr)) {
        /* the directory is there: a write that fails (disk full) is the run failing, not bad
         * input */
        nl_run_log_event(r, "failed: %s", werr.msg);
        return nl_fail(err, NL_ERR_RUN, "%s", werr.msg);
    }
    if (!fresh)
        return 0;
    snprintf(path, sizeof path, "%s/metrics.csv", r->dir);
    r->csv = fopen(path, "w");
    if (!r->csv)
        return nl_fail(err, NL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    nl_metrics_csv_header(r->csv, r->L, r->moe_layers, r->E);
    int rc = csv_flush(r, err);
    if (rc == 0)
        nl_run_log_event(r, "created: %s, %lld parameters, %s backend", r->cfg.name,
                         (long long)nl_model_num_params(r->model), r->k->name);
    return rc;
}

nl_run *nl_run_create(const nl_config *c, const nl_run_opts *opts, nl_error *err)
{
    nl_run_opts o = {0};
    if (opts)
        o = *opts;
    if (nl_config_validate(c, err))
        return NULL;
    nl_run *r = nl_calloc(1, sizeof *r);
    if (!r) {
        nl_fail(err, NL_ERR_RUN, "out of memory for a run");
        return NULL;
    }
    r->cfg = *c;
    r->lr_scale = 1.0f;
    r->state = NL_RUN_READY;
    r->data = nl_data_open(&c->data, c->model.seq_len, c->train.seed, err);
    if (!r->data)
        goto fail;
    if (c->model.vocab == 0)
        r->cfg.model.vocab = nl_data_vocab(r->data);
    else if (nl_data_vocab(r->data) > c->model.vocab) {
        nl_fail(err, NL_ERR_USAGE, "model.vocab: %d is smaller than the data's vocabulary (%d)",
                c->model.vocab, nl_data_vocab(r->data));
        goto fail;
    }
    r->floor = nl_data_entropy_floor(r->data);
    r->unigram = nl_data_unigram_level(r->data);
    if (open_kernels(r, o.kernels, err))
        goto fail;
    r->model = nl_model_create(&r->cfg, r->k, err);
    if (!r->model)
        goto fail;
    r->optim = nl_optim_create(r->model, &r->cfg.train, err);
    if (!r->optim)
        goto fail;
    r->L = r->cfg.model.layers;
    r->moe_layers = nl_model_moe_layers(r->model);
    r->E = r->cfg.model.moe_experts;
    if (alloc_step_buffers(r, o.metrics_capacity, err))
        goto fail;
    if (o.out_dir && open_run_dir(r, &o, err))
        goto fail;
    /* the checkpoint is read and checked against this config before config.yaml is written:
     * a refused resume leaves the run directory as it was, with the refusal in events.log */
    if (o.resume && nl_run_resume(r, o.resume, err)) {
        nl_run_log_event(r, "resume from %s refused: %s", o.resume, err ? err->msg : "error");
        goto fail;
    }
    if (o.out_dir && write_run_files(r, !o.resume, err))
        goto fail;
    return r;
fail:
    nl_run_free(r);
    return NULL;
}

void nl_run_free(nl_run *r)
{
    if (!r)
        return;
    if (r->csv)
        fclose(r->csv);
    if (r->events)
        fclose(r->events);
    nl_optim_free(r->optim);
    nl_model_free(r->model);
    if (r->own_k)
        nl_backend_close(r->k);
    if (r->data)
        nl_data_close(r->data);
    if (r->store)
        nl_metrics_free(r->store);
    free(r->config_yaml);
    free(r->tok);
    free(r->tgt);
    free(r->gn_attn);
    free(r->gn_ffn);
    free(r->rms);
    free(r->frac);
    free(r->ent);
    free(r->gnr);
    free(r->gne);
    free(r);
}

/* ---- run state blob (inside checkpoints) ---- */

#define STATE_MAGIC 0x53524c4eu /* "NLRS" */

typedef struct {
    uint32_t magic, version;
    int64_t step, tokens;
    double time_s;
    float initial_loss, lr_scale;
    int32_t bad_steps, pad;
    int64_t optim_t;
    uint64_t data_len;
} state_head;

int nl_run_save(nl_run *r, char *path_out, int path_len, nl_error *err)
{
    if (!r->dir[0])
        return nl_fail(err, NL_ERR_USAGE, "this run has no directory to save checkpoints in");
    nl_kernels *k = r->k;
    int64_t n = nl_model_num_params(r->model);
    int nt = nl_model_num_tensors(r->model);
    float *host = malloc(sizeof(float) * (size_t)n * 3);
    if (!host)
        return nl_fail(err, NL_ERR_IO, "out of memory while saving a checkpoint");
    nl_model_get_params(r->model, host);
    k->to_host(k, host + n, nl_optim_m(r->optim), sizeof(float) * (size_t)n);
    k->to_host(k, host + 2 * n, nl_optim_v(r->optim), sizeof(float) * (size_t)n);
    nl_ckpt_tensor *ts = calloc((size_t)nt + 2, sizeof(nl_ckpt_tensor));
    size_t dlen = nl_data_state_size(r->data);
    size_t slen = sizeof(state_head) + dlen;
    unsigned char *state = calloc(1, slen);
    if (!ts || !state) {
        free(ts);
        free(state);
        free(host);
        return nl_fail(err, NL_ERR_IO, "out of memory while saving a checkpoint");
    }
    for (int i = 0; i < nt; i++) {
        const nl_tensor *t = nl_model_tensor(r->model, i);
        snprintf(ts[i].name, sizeof ts[i].name, "%s", t->name);
        ts[i].ndim = t->ndim;
        ts[i].shape[0] = t->shape[0];
        ts[i].shape[1] = t->shape[1];
        ts[i].numel = t->numel;
        ts[i].data = host + t->offset;
    }
    snprintf(ts[nt].name, sizeof ts[nt].name, "optim.m");
    snprintf(ts[nt + 1].name, sizeof ts[nt + 1].name, "optim.v");
    for (int j = 0; j < 2; j++) {
        ts[nt + j].ndim = 1;
        ts[nt + j].shape[0] = n;
        ts[nt + j].numel = n;
        ts[nt + j].data = host + (j + 1) * n;
    }
    state_head h = {STATE_MAGIC, 1,
                    r->step,     r->tokens,
                    r->time_s,   r->initial_loss,
                    r->lr_scale, r->bad_steps,
                    0,           nl_optim_t(r->optim),
                    dlen};
    memcpy(state, &h, sizeof h);
    nl_data_get_state(r->data, state + sizeof h);
    nl_ckpt ck = {NL_CKPT_VERSION, r->step, r->config_yaml, state, slen, nt + 2, ts};
    char path[600];
    snprintf(path, sizeof path, "%s/ckpt-%lld.nlck", r->dir, (long long)r->step);
    int rc = nl_ckpt_write(path, &ck, 3, 2, err);
    free(state);
    free(ts);
    free(host);
    if (rc)
        return rc;
    if (path_out)
        snprintf(path_out, (size_t)path_len, "%s", path);
    nl_run_log_event(r, "checkpoint %s", path);
    nl_error perr = {0};
    if (r->cfg.train.keep_ckpts > 0 && nl_ckpt_prune(r->dir, r->cfg.train.keep_ckpts, &perr))
        nl_run_log_event(r, "pruning old checkpoints failed: %s", perr.msg);
    return 0;
}

int nl_model_weights_from_ckpt(const nl_model *m, const nl_ckpt *ck, const char *path, float *host,
                               nl_error *err)
{
    for (int i = 0; i < nl_model_num_tensors(m); i++) {
        const nl_tensor *t = nl_model_tensor(m, i);
        const nl_ckpt_tensor *c = nl_ckpt_find(ck, t->name);
        if (!c)
            return nl_fail(err, NL_ERR_USAGE,
                           "%s: tensor %s missing (checkpoint of a different model)", path,
                           t->name);
        if (c->numel != t->numel || c->ndim != t->ndim || c->shape[0] != t->shape[0] ||
            (t->ndim > 1 && c->shape[1] != t->shape[1]))
            return nl_fail(err, NL_ERR_USAGE,
                           "%s: tensor %s has shape [%lld,%lld], this model's is [%d,%d]", path,
                           t->name, (long long)c->shape[0],
                           (long long)(c->ndim > 1 ? c->shape[1] : 0), t->shape[0], t->shape[1]);
        memcpy(host + t->offset, c->data, sizeof(float) * (size_t)t->numel);
    }
    return 0;
}

int nl_run_resume(nl_run *r, const char *path, nl_error *err)
{
    nl_ckpt ck;
    if (nl_ckpt_read(path, &ck, 0, err))
        return err ? err->code : NL_ERR_IO;
    int rc = 0;
    int64_t n = nl_model_num_params(r->model);
    int nt = nl_model_num_tensors(r->model);
    float *host = malloc(sizeof(float) * (size_t)n);
    state_head h;
    if (!host) {
        rc = nl_fail(err, NL_ERR_RUN, "%s: out of memory", path);
        goto done;
    }
    if (ck.state_len < sizeof h) {
        rc = nl_fail(err, NL_ERR_USAGE, "%s: run state missing or too short", path);
        goto done;
    }
    memcpy(&h, ck.state, sizeof h);
    if (h.magic != STATE_MAGIC || h.version != 1 || sizeof h + h.data_len != ck.state_len) {
        rc = nl_fail(err, NL_ERR_USAGE, "%s: run state is not one this normlab writes", path);
        goto done;
    }
    if (ck.n_tensors != nt + 2) {
        rc = nl_fail(err, NL_ERR_USAGE,
                     "%s: checkpoint has %d tensors, this model has %d (a different model?)", path,
                     ck.n_tensors - 2, nt);
        goto done;
    }
    if ((rc = nl_model_weights_from_ckpt(r->model, &ck, path, host, err)))
        goto done;
    const nl_ckpt_tensor *cm = nl_ckpt_find(&ck, "optim.m"), *cv = nl_ckpt_find(&ck, "optim.v");
    if (!cm || !cv || cm->numel != n || cv->numel != n) {
        rc = nl_fail(err, NL_ERR_USAGE, "%s: optimizer state missing or of the wrong size", path);
        goto done;
    }
    nl_error derr = {0};
    if (nl_data_set_state(r->data, (unsigned char *)ck.state + sizeof h, h.data_len, &derr)) {
        rc = nl_fail(err, derr.code, "%s: %s", path, derr.msg);
        goto done;
    }
    nl_model_set_params(r->model, host);
    r->k->to_device(r->k, nl_optim_m(r->optim), cm->data, sizeof(float) * (size_t)n);
    r->k->to_device(r->k, nl_optim_v(r->optim), cv->data, sizeof(float) * (size_t)n);
    nl_optim_set_t(r->optim, h.optim_t);
    r->step = h.step;
    r->tokens = h.tokens;
    r->time_s = h.time_s;
    r->initial_loss = h.initial_loss;
    r->lr_scale = h.lr_scale;
    r->bad_steps = h.bad_steps;
    r->state = r->step >= r->cfg.train.steps ? NL_RUN_FINISHED : NL_RUN_READY;
    if (r->dir[0]) {
        char p[600];
        snprintf(p, sizeof p, "%s/metrics.csv", r->dir);
        if (r->csv) {
            fclose(r->csv);
            r->csv = NULL;
        }
        int t = csv_truncate_to(p, r->step, err);
        if (t > 1) {
            rc = t;
            goto done;
        }
        r->csv = fopen(p, t == 1 ? "w" : "a");
        if (!r->csv) {
            rc = nl_fail(err, NL_ERR_IO, "%s: cannot open: %s", p, strerror(errno));
            goto done;
        }
        if (t == 1)
            nl_metrics_csv_header(r->csv, r->L, r->moe_layers, r->E);
        if ((rc = csv_flush(r, err)))
            goto done;
    }
    nl_run_log_event(r, "resumed from %s at step %lld", path, (long long)r->step);
done:
    free(host);
    nl_ckpt_free(&ck);
    return rc;
}

int nl_run_eval(nl_run *r, int batches, float *loss, nl_error *err)
{
    double sum = 0;
    int B = r->cfg.train.batch;
    for (int i = 0; i < batches; i++) {
        float l;
        if (nl_data_val_batch(r->data, i, r->tok, r->tgt, B, err))
            return err ? err->code : NL_ERR_RUN;
        if (nl_model_forward(r->model, r->tok, r->tgt, B, &l, NULL, NULL, err))
            return err ? err->code : NL_ERR_RUN;
        sum += l;
    }
    *loss = batches > 0 ? (float)(sum / batches) : NAN;
    return 0;
}

static nl_run_state fail_run(nl_run *r, nl_error *err)
{
    r->state = NL_RUN_FAILED;
    nl_run_log_event(r, "failed: %s", err ? err->msg : "error");
    return r->state;
}

nl_run_state nl_run_step(nl_run *r, nl_error *err)
{
    if (r->state == NL_RUN_FINISHED || r->state == NL_RUN_DIVERGED || r->state == NL_RUN_FAILED ||
        r->state == NL_RUN_STOPPED)
        return r->state;
    const nl_train_config *t = &r->cfg.train;
    if (r->step >= t->steps) {
        r->state = NL_RUN_FINISHED;
        return r->state;
    }
    if (r->state == NL_RUN_READY)
        r->state = NL_RUN_RUNNING;
    int B = t->batch, T = r->cfg.model.seq_len;
    float lr = nl_lr_at(t, r->step) * r->lr_scale;
    double t0 = nl_clock_s();
    nl_error derr = {0};
    if (nl_data_next_batch(r->data, r->tok, r->tgt, B, &derr)) {
        /* nothing of this step has happened yet (the data position is as it was): a
         * checkpoint here lets the run go on once the data is back */
        nl_error serr = {0};
        char path[600];
        size_t n = strlen(derr.msg);
        if (r->dir[0] && nl_run_save(r, path, sizeof path, &serr) == 0)
            snprintf(derr.msg + n, sizeof derr.msg - n, "; checkpoint %s written", path);
        else if (r->dir[0])
            snprintf(derr.msg + n, sizeof derr.msg - n, "; the checkpoint failed too: %s",
                     serr.msg);
        if (err)
            *err = derr;
        return fail_run(r, &derr);
    }
    float loss = NAN, aux = NAN, z = NAN, gnorm = NAN;
    if (nl_model_forward(r->model, r->tok, r->tgt, B, &loss, &aux, &z, err))
        return fail_run(r, err);
    if (nl_model_backward(r->model, err))
        return fail_run(r, err);
    nl_moe_stats ms = {r->moe_layers, r->E, r->frac, r->ent, r->gnr, r->gne};
    nl_model_stats(r->model, &gnorm, r->gn_attn, r->gn_ffn, r->rms, r->moe_layers ? &ms : NULL);
    bool bad = !isfinite(loss) || !isfinite(gnorm);
    if (!bad && nl_optim_step(r->optim, lr, NULL, err))
        return fail_run(r, err);
    double dt = nl_clock_s() - t0;
    r->step++;
    r->tokens += (int64_t)B * T;
    r->time_s += dt;
    float val = NAN;
    if (!bad && t->eval_every > 0 && (r->step % t->eval_every == 0 || r->step == t->steps)) {
        double e0 = nl_clock_s();
        if (nl_run_eval(r, t->eval_batches, &val, err))
            return fail_run(r, err);
        r->time_s += nl_clock_s() - e0; /* time_s counts validation; tok_s (from dt) does not */
    }
    nl_metrics_row row = {r->step,
                          r->tokens,
                          r->time_s,
                          lr,
                          loss,
                          val,
                          gnorm,
                          dt > 0 ? (float)((double)B * T / dt) : 0.0f,
                          r->moe_layers ? aux : NAN,
                          r->moe_layers ? z : NAN,
                          r->gn_attn,
                          r->gn_ffn,
                          r->rms,
                          r->frac,
                          r->ent,
                          r->gnr,
                          r->gne};
    r->last = row;
    r->has_last = true;
    if (r->store)
        nl_metrics_push(r->store, &row);
    if (r->csv) {
        nl_metrics_csv_row(r->csv, &row, r->L, r->moe_layers, r->E);
        if (csv_flush(r, err))
            return fail_run(r, err);
    }
    /* divergence: NaN/Inf at once, or loss above factor x the first loss for a run of steps */
    if (r->step == 1 || r->initial_loss == 0.0f)
        r->initial_loss = loss;
    if (bad) {
        r->state = NL_RUN_DIVERGED;
        nl_run_log_event(r, "diverged at step %lld: %s", (long long)r->step,
                         !isfinite(loss) ? "loss is not finite" : "gradient norm is not finite");
        return r->state;
    }
    if (t->diverge_factor > 0 && loss > t->diverge_factor * r->initial_loss)
        r->bad_steps++;
    else
        r->bad_steps = 0;
    if (t->diverge_patience > 0 && r->bad_steps >= t->diverge_patience) {
        r->state = NL_RUN_DIVERGED;
        nl_run_log_event(
            r, "diverged at step %lld: loss %.4g above %.3g x the initial %.4g for %d steps",
            (long long)r->step, loss, t->diverge_factor, r->initial_loss, r->bad_steps);
        return r->state;
    }
    /* no periodic checkpoint while the loss is above the divergence threshold: should the
     * run diverge, the checkpoints kept are from before it went bad */
    if (r->dir[0] && t->ckpt_every > 0 && r->step % t->ckpt_every == 0 && r->step < t->steps &&
        r->bad_steps == 0) {
        if (nl_run_save(r, NULL, 0, err))
            return fail_run(r, err);
    }
    if (r->step >= t->steps) {
        r->state = NL_RUN_FINISHED;
        if (r->dir[0] && nl_run_save(r, NULL, 0, err))
            return fail_run(r, err);
        nl_run_log_event(r, "finished: loss %.4f after %lld steps", loss, (long long)r->step);
    }
    return r->state;
}

void nl_run_set_state(nl_run *r, nl_run_state s)
{
    r->state = s;
}
nl_run_state nl_run_get_state(const nl_run *r)
{
    return r->state;
}
int64_t nl_run_step_index(const nl_run *r)
{
    return r->step;
}
int64_t nl_run_total_steps(const nl_run *r)
{
    return r->cfg.train.steps;
}
float nl_run_lr(const nl_run *r)
{
    return nl_lr_at(&r->cfg.train, r->step) * r->lr_scale;
}
void nl_run_set_lr_scale(nl_run *r, float scale)
{
    r->lr_scale = scale;
}
double nl_run_entropy_floor(const nl_run *r)
{
    return r->floor;
}
double nl_run_unigram_level(const nl_run *r)
{
    return r->unigram;
}
const char *nl_run_message(const nl_run *r)
{
    return r->message;
}
const char *nl_run_dir(const nl_run *r)
{
    return r->dir[0] ? r->dir : NULL;
}
const nl_config *nl_run_config(const nl_run *r)
{
    return &r->cfg;
}
nl_model *nl_run_model(nl_run *r)
{
    return r->model;
}
nl_metrics_store *nl_run_metrics(nl_run *r)
{
    return r->store;
}
const nl_metrics_row *nl_run_last_row(const nl_run *r)
{
    return r->has_last ? &r->last : NULL;
}
