/* A run's checkpoints: saving, resuming, and loading a model's weights from one (run.h). */
#include "run_internal.h"

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
        int t = nl_run_csv_truncate_to(p, r->step, err);
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
        if ((rc = nl_run_csv_flush(r, err)))
            goto done;
    }
    nl_run_log_event(r, "resumed from %s at step %lld", path, (long long)r->step);
done:
    free(host);
    nl_ckpt_free(&ck);
    return rc;
}
