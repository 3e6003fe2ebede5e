/* A run: the training loop around the model, and the files of a run directory.
 * This file: creation, the run directory's files, and accessors; checkpoints are in
 * run_ckpt.c, evaluation and the training step in run_step.c. */
#include "run_internal.h"

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
int nl_run_csv_truncate_to(const char *path, int64_t keep_step, nl_error *err)
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
int nl_run_csv_flush(nl_run *r, nl_error *err)
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
    if (ok && r->dp_size > 1) {
        r->dp_buf = nl_calloc((size_t)(3 + r->L + M * r->E + M), sizeof(float));
        ok = r->dp_buf != NULL;
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
    int rc = nl_run_csv_flush(r, err);
    if (rc == 0)
        nl_run_log_event(r, "created: %s, %lld parameters, %s backend, steps %s", r->cfg.name,
                         (long long)nl_model_num_params(r->model), r->k->name,
                         nl_step_describe(r->stepper));
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
    r->dp_rank = nl_dist_rank();
    r->dp_size = nl_dist_size();
    if (c->train.batch % r->dp_size) {
        nl_fail(err, NL_ERR_USAGE,
                "train.batch: %d is not divisible by the %d ranks (mpirun -np %d): each rank "
                "steps an equal slice of every batch; set train.batch to a multiple of %d",
                c->train.batch, r->dp_size, r->dp_size, r->dp_size);
        goto fail;
    }
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
    nl_config local = r->cfg; /* the model holds this rank's slice of a batch */
    local.train.batch /= r->dp_size;
    r->model = nl_model_create(&local, r->k, err);
    if (!r->model)
        goto fail;
    r->optim = nl_optim_create(r->model, &r->cfg.train, err);
    if (!r->optim || nl_dist_setup(r->k, nl_model_num_params(r->model), err))
        goto fail;
    r->stepper = nl_step_create(r->model, r->optim, r->cfg.train.cuda_graphs, err);
    if (!r->stepper)
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
    nl_step_free(r->stepper); /* its graph holds the model's and optimizer's buffers */
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
    free(r->dp_buf);
    free(r);
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
const char *nl_run_step_way(const nl_run *r)
{
    if (r->dp_size > 1) /* run_step.c: steps over several ranks are made op by op */
        return "plain (data parallel over several ranks)";
    return nl_step_describe(r->stepper);
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
