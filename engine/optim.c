/* AdamW over the model's flat buffers: one global-norm pass, one clip factor computed on the
 * backend (no host round trip), then one AdamW call per run of tensors that share a weight
 * decay setting. */
#include "optim.h"

#include <math.h>
#include <stdlib.h>

#include "xalloc.h"

struct nl_optim {
    nl_model *model;
    nl_kernels *k;
    nl_train_config t;
    float *m, *v; /* (num_params) */
    float *scale; /* (2): [global norm, clip factor] */
    float *hyper; /* (4): [lr, bc1, bc2, skip] of a step queued as a whole (engine/step.c) */
    int64_t steps;
    int n_runs;
    int64_t *run_off, *run_len;
    bool *run_decay;
};

nl_optim *nl_optim_create(nl_model *model, const nl_train_config *t, nl_error *err)
{
    nl_kernels *k = nl_model_kernels(model);
    nl_optim *o = nl_calloc(1, sizeof *o);
    if (!o) {
        nl_fail(err, NL_ERR_RUN, "out of memory for the optimizer");
        return NULL;
    }
    o->model = model;
    o->k = k;
    o->t = *t;
    int64_t n = nl_model_num_params(model);
    o->m = k->alloc(k, sizeof(float) * (size_t)n);
    o->v = k->alloc(k, sizeof(float) * (size_t)n);
    o->scale = k->alloc(k, sizeof(float) * 2);
    if (k->adamw_dev && k->step_guard)
        o->hyper = k->alloc(k, sizeof(float) * 4);
    if (!o->m || !o->v || !o->scale || (k->adamw_dev && k->step_guard && !o->hyper)) {
        nl_fail(err, NL_ERR_RUN, "out of memory for the optimizer state (%lld parameters)",
                (long long)n);
        nl_optim_free(o);
        return NULL;
    }
    /* runs of consecutive tensors with the same decay flag */
    int nt = nl_model_num_tensors(model);
    o->run_off = nl_calloc((size_t)nt, sizeof(int64_t)); /* (nt) */
    o->run_len = nl_calloc((size_t)nt, sizeof(int64_t)); /* (nt) */
    o->run_decay = nl_calloc((size_t)nt, sizeof(bool));  /* (nt) */
    if (!o->run_off || !o->run_len || !o->run_decay) {
        nl_fail(err, NL_ERR_RUN, "out of memory for the optimizer's tensor runs");
        nl_optim_free(o);
        return NULL;
    }
    for (int i = 0; i < nt; i++) {
        const nl_tensor *tt = nl_model_tensor(model, i);
        if (o->n_runs > 0 && o->run_decay[o->n_runs - 1] == tt->decay &&
            o->run_off[o->n_runs - 1] + o->run_len[o->n_runs - 1] == tt->offset) {
            o->run_len[o->n_runs - 1] += tt->numel;
        } else {
            o->run_off[o->n_runs] = tt->offset;
            o->run_len[o->n_runs] = tt->numel;
            o->run_decay[o->n_runs] = tt->decay;
            o->n_runs++;
        }
    }
    return o;
}

void nl_optim_free(nl_optim *o)
{
    if (!o)
        return;
    if (o->m)
        o->k->free(o->k, o->m);
    if (o->v)
        o->k->free(o->k, o->v);
    if (o->scale)
        o->k->free(o->k, o->scale);
    if (o->hyper)
        o->k->free(o->k, o->hyper);
    free(o->run_off);
    free(o->run_len);
    free(o->run_decay);
    free(o);
}

int nl_optim_step(nl_optim *o, float lr, bool sums_ready, float *grad_norm, nl_error *err)
{
    nl_kernels *k = o->k;
    int n_global = 0;
    float *sumsq;
    if (sums_ready) {
        float *loss, *rms;
        int n_grad;
        nl_model_stat_buffers(o->model, &loss, &sumsq, &n_grad, &n_global, &rms);
    } else {
        sumsq = nl_model_grad_sumsq(o->model, &n_global);
    }
    k->clip_scale(k, o->scale, sumsq, n_global, o->t.clip);
    o->steps++;
    float bc1 = 1.0f - (float)pow(o->t.beta1, (double)o->steps);
    float bc2 = 1.0f - (float)pow(o->t.beta2, (double)o->steps);
    float *p = nl_model_params(o->model), *g = nl_model_grads(o->model);
    for (int i = 0; i < o->n_runs; i++) {
        int64_t off = o->run_off[i];
        k->adamw(k, p + off, g + off, o->m + off, o->v + off, o->run_len[i], lr, o->t.beta1,
                 o->t.beta2, o->t.eps, o->run_decay[i] ? o->t.weight_decay : 0.0f, bc1, bc2,
                 o->scale + 1);
    }
    if (grad_norm) {
        float h[2];
        k->to_host(k, h, o->scale, sizeof h);
        *grad_norm = h[0];
    }
    const char *e = k->last_error ? k->last_error(k) : "";
    if (e && *e)
        return nl_fail(err, NL_ERR_RUN, "%s backend: %s", k->name, e);
    return 0;
}

bool nl_optim_has_dev(const nl_optim *o)
{
    return o->hyper != NULL;
}

/* The same scalars nl_optim_step passes to adamw, computed the same way. */
void nl_optim_dev_begin(nl_optim *o, float lr)
{
    o->steps++;
    float h[4] = {lr, 1.0f - (float)pow(o->t.beta1, (double)o->steps),
                  1.0f - (float)pow(o->t.beta2, (double)o->steps), 0.0f};
    o->k->to_device(o->k, o->hyper, h, sizeof h);
}

void nl_optim_dev_ops(nl_optim *o, const float *loss_sum, float loss_div)
{
    nl_kernels *k = o->k;
    float *loss_buf, *sumsq, *rms;
    int n_grad, n_global;
    nl_model_stat_buffers(o->model, &loss_buf, &sumsq, &n_grad, &n_global, &rms);
    k->clip_scale(k, o->scale, sumsq, n_global, o->t.clip);
    k->step_guard(k, o->hyper + 3, loss_sum, loss_div, sumsq, n_global);
    float *p = nl_model_params(o->model), *g = nl_model_grads(o->model);
    for (int i = 0; i < o->n_runs; i++) {
        int64_t off = o->run_off[i];
        k->adamw_dev(k, p + off, g + off, o->m + off, o->v + off, o->run_len[i], o->t.beta1,
                     o->t.beta2, o->t.eps, o->run_decay[i] ? o->t.weight_decay : 0.0f, o->hyper,
                     o->scale + 1);
    }
}

void nl_optim_dev_undo(nl_optim *o)
{
    o->steps--;
}

int64_t nl_optim_t(const nl_optim *o)
{
    return o->steps;
}
void nl_optim_set_t(nl_optim *o, int64_t t)
{
    o->steps = t;
}
float *nl_optim_m(nl_optim *o)
{
    return o->m;
}
float *nl_optim_v(nl_optim *o)
{
    return o->v;
}
