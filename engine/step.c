/* One training step, plain, queued or replayed as a CUDA graph (step.h). */
#include "step.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct nl_step {
    nl_model *m;
    nl_optim *o;
    nl_kernels *k;
    nl_step_way way;
    bool required; /* train.cuda_graphs: on (a failed capture is an error) */
    nl_precision prec;
    int B, L, n_grad;
    float *host;      /* (n_grad + L + 1): grad sums, rms sums, loss sum; pinned where it can */
    bool host_pinned; /* from k->host_alloc */
    void *graph;      /* the captured step (graph way), or NULL before the first capture */
    uint64_t epoch;   /* the backend's graph_epoch at the capture */
    bool warm;        /* a plain step has sized the backend's buffers */
    int captures;
    char what[200], note[300];
};

const char *nl_step_graph_obstacle(nl_model *m, nl_optim *o)
{
    nl_kernels *k = nl_model_kernels(m);
    if (!k->graph_begin || !k->graph_end || !k->graph_launch || !k->graph_free || !k->graph_epoch ||
        !k->host_alloc || !k->to_host_async || !nl_optim_has_dev(o))
        return "the backend cannot capture a step (CUDA only)";
    if (nl_model_moe_layers(m) > 0)
        return "MoE layers size each expert's products from routing counts read back during "
               "the forward";
    return NULL;
}

static nl_step *step_new(nl_model *m, nl_optim *o, nl_step_way way, nl_error *err)
{
    nl_step *s = nl_calloc(1, sizeof *s);
    if (!s) {
        nl_fail(err, NL_ERR_RUN, "out of memory for the training step");
        return NULL;
    }
    s->m = m;
    s->o = o;
    s->k = nl_model_kernels(m);
    s->way = way;
    const nl_config *c = nl_model_get_config(m);
    s->prec = (nl_precision)c->train.precision;
    s->B = c->train.batch;
    s->L = c->model.layers;
    float *loss, *grad, *rms;
    int n_global;
    nl_model_stat_buffers(m, &loss, &grad, &s->n_grad, &n_global, &rms);
    if (way == NL_STEP_PLAIN)
        return s;
    size_t bytes = sizeof(float) * (size_t)(s->n_grad + s->L + 1);
    s->host_pinned = s->k->host_alloc != NULL;
    s->host = s->host_pinned ? s->k->host_alloc(s->k, bytes) : nl_calloc(1, bytes);
    if (!s->host) {
        nl_fail(err, NL_ERR_RUN, "out of memory for the step's figures (%zu bytes)", bytes);
        nl_step_free(s);
        return NULL;
    }
    return s;
}

nl_step *nl_step_create_way(nl_model *m, nl_optim *o, nl_step_way way, nl_error *err)
{
    const char *why = NULL;
    if (way == NL_STEP_GRAPH)
        why = nl_step_graph_obstacle(m, o);
    else if (way == NL_STEP_QUEUED && nl_model_moe_layers(m) > 0)
        why = "MoE layers read routing counts back during the forward";
    else if (way == NL_STEP_QUEUED && !nl_optim_has_dev(o))
        why = "the backend has no adamw_dev and step_guard";
    if (why) {
        nl_fail(err, NL_ERR_USAGE, "cannot queue a whole step: %s", why);
        return NULL;
    }
    nl_step *s = step_new(m, o, way, err);
    if (s)
        snprintf(s->what, sizeof s->what, "%s",
                 way == NL_STEP_GRAPH    ? "CUDA graph"
                 : way == NL_STEP_QUEUED ? "queued"
                                         : "plain");
    return s;
}

nl_step *nl_step_create(nl_model *m, nl_optim *o, nl_cuda_graphs mode, nl_error *err)
{
    const char *why =
        mode == NL_GRAPHS_OFF ? "train.cuda_graphs is off" : nl_step_graph_obstacle(m, o);
    if (why && mode == NL_GRAPHS_ON) {
        nl_fail(err, NL_ERR_USAGE, "train.cuda_graphs: on, but %s; use auto or off", why);
        return NULL;
    }
    nl_step *s = step_new(m, o, why ? NL_STEP_PLAIN : NL_STEP_GRAPH, err);
    if (!s)
        return NULL;
    s->required = mode == NL_GRAPHS_ON;
    if (why)
        snprintf(s->what, sizeof s->what, "plain (%s)", why);
    else
        snprintf(s->what, sizeof s->what, "CUDA graph");
    return s;
}

void nl_step_free(nl_step *s)
{
    if (!s)
        return;
    if (s->graph)
        s->k->graph_free(s->k, s->graph);
    if (s->host_pinned)
        s->k->host_free(s->k, s->host);
    else
        free(s->host);
    free(s);
}

nl_step_way nl_step_get_way(const nl_step *s)
{
    return s->way;
}
const char *nl_step_describe(const nl_step *s)
{
    return s->what;
}
const char *nl_step_take_note(nl_step *s)
{
    static _Thread_local char out[sizeof s->note];
    snprintf(out, sizeof out, "%s", s->note);
    s->note[0] = '\0';
    return out;
}

static int backend_error(nl_kernels *k, nl_error *err)
{
    const char *e = k->last_error ? k->last_error(k) : "";
    if (e && *e)
        return nl_fail(err, NL_ERR_RUN, "%s backend: %s", k->name, e);
    return 0;
}

/* Today's step: the loss read after the forward, the statistics after the backward, the
 * update decided on the host. */
static int plain_step(nl_step *s, const int32_t *tok, const int32_t *tgt, int B, float lr,
                      float *gn_attn, float *gn_ffn, float *rms, nl_moe_stats *moe,
                      nl_step_out *out, nl_error *err)
{
    if (nl_model_forward(s->m, tok, tgt, B, &out->loss, &out->aux, &out->z, err))
        return err ? err->code : NL_ERR_RUN;
    if (nl_model_backward(s->m, err))
        return err ? err->code : NL_ERR_RUN;
    nl_model_stats(s->m, &out->grad_norm, gn_attn, gn_ffn, rms, moe);
    out->bad = !isfinite(out->loss) || !isfinite(out->grad_norm);
    if (!out->bad && nl_optim_step(s->o, lr, true, NULL, err)) /* nl_model_stats summed */
        return err ? err->code : NL_ERR_RUN;
    return 0;
}

/* Every op of a step after the batch is in: nothing is read back. Inside a capture an error
 * shows in graph_end, so the return value is for the queued way. */
static int queue_ops(nl_step *s, int B, nl_error *err)
{
    float *loss, *grad, *rms;
    int n_grad, n_global;
    nl_model_forward_ops(s->m);
    if (nl_model_backward(s->m, err))
        return err ? err->code : NL_ERR_RUN;
    nl_model_stats_ops(s->m);
    nl_model_stat_buffers(s->m, &loss, &grad, &n_grad, &n_global, &rms);
    nl_optim_dev_ops(s->o, loss, (float)((int64_t)B * nl_model_get_config(s->m)->model.seq_len));
    return 0;
}

/* The graph for this step, captured now if there is none or the backend replaced a buffer
 * since. Returns 0 with s->graph set, 1 when the capture failed (why set), or an error. */
static int ensure_graph(nl_step *s, int B, char *why, size_t why_len, nl_error *err)
{
    nl_kernels *k = s->k;
    uint64_t epoch = k->graph_epoch(k);
    if (s->graph && s->epoch == epoch)
        return 0;
    if (s->graph) {
        k->graph_free(k, s->graph);
        s->graph = NULL;
    }
    if (k->graph_begin(k)) {
        int e = backend_error(k, err);
        return e ? e : nl_fail(err, NL_ERR_RUN, "cannot begin capturing a step");
    }
    nl_error qerr = {0};
    queue_ops(s, B, &qerr); /* a failure here fails the capture */
    s->graph = k->graph_end(k, why, why_len);
    if (!s->graph)
        return 1;
    s->epoch = epoch;
    s->captures++;
    snprintf(s->note, sizeof s->note, "%s",
             s->captures == 1 ? "training step captured as a CUDA graph"
                              : "training step captured again (the backend replaced a buffer)");
    return 0;
}

/* Copies of the figures into s->host: grad sums, rms sums, loss sum (pinned: no staging). */
static void copy_back(nl_step *s)
{
    nl_kernels *k = s->k;
    float *loss, *grad, *rms;
    int n_grad, n_global;
    nl_model_stat_buffers(s->m, &loss, &grad, &n_grad, &n_global, &rms);
    void (*copy)(nl_kernels *, void *, const void *, size_t) =
        k->to_host_async ? k->to_host_async : k->to_host;
    copy(k, s->host, grad, sizeof(float) * (size_t)n_grad);
    copy(k, s->host + n_grad, rms, sizeof(float) * (size_t)s->L);
    copy(k, s->host + n_grad + s->L, loss, sizeof(float));
    k->sync(k);
}

/* Queued or graph: returns 0, 1 when the capture failed under auto (the step is to be made
 * plain; nothing of it has happened), or an error. */
static int whole_step(nl_step *s, const int32_t *tok, const int32_t *tgt, int B, float lr,
                      float *gn_attn, float *gn_ffn, float *rms, nl_step_out *out, nl_error *err)
{
    if (nl_model_forward_load(s->m, tok, tgt, B, err))
        return err ? err->code : NL_ERR_USAGE;
    nl_optim_dev_begin(s->o, lr);
    int rc = 0;
    if (s->way == NL_STEP_GRAPH) {
        char why[256] = "";
        rc = ensure_graph(s, B, why, sizeof why, err);
        if (rc == 1) {
            nl_optim_dev_undo(s->o);
            if (s->required)
                return nl_fail(err, NL_ERR_RUN, "train.cuda_graphs: on, but the capture failed: %s",
                               why);
            s->way = NL_STEP_PLAIN;
            snprintf(s->what, sizeof s->what, "plain (the capture failed: %.150s)", why);
            snprintf(s->note, sizeof s->note, "CUDA graph given up, steps are plain: %.200s", why);
            return 1;
        }
        if (rc == 0)
            s->k->graph_launch(s->k, s->graph);
    } else {
        rc = queue_ops(s, B, err);
    }
    if (rc) {
        nl_optim_dev_undo(s->o);
        return rc;
    }
    copy_back(s);
    if ((rc = backend_error(s->k, err)))
        return rc;
    float BT = (float)((int64_t)B * nl_model_get_config(s->m)->model.seq_len);
    out->loss = s->host[s->n_grad + s->L] / BT;
    out->aux = out->z = NAN;
    nl_model_stats_from(s->m, s->host, &out->grad_norm, gn_attn, gn_ffn, rms);
    out->bad = !isfinite(out->loss) || !isfinite(out->grad_norm);
    if (out->bad)
        nl_optim_dev_undo(s->o); /* the backend made no update (step_guard) */
    return 0;
}

int nl_step_run(nl_step *s, const int32_t *tok, const int32_t *tgt, int B, float lr, float *gn_attn,
                float *gn_ffn, float *rms, nl_moe_stats *moe, nl_step_out *out, nl_error *err)
{
    out->loss = out->aux = out->z = out->grad_norm = NAN;
    out->bad = true;
    /* runs that share a backend each step at their own precision */
    if (s->k->set_precision)
        s->k->set_precision(s->k, s->prec);
    bool whole = s->way == NL_STEP_QUEUED || (s->way == NL_STEP_GRAPH && s->warm);
    if (whole && B == s->B) {
        int rc = whole_step(s, tok, tgt, B, lr, gn_attn, gn_ffn, rms, out, err);
        if (rc != 1)
            return rc;
    }
    s->warm = true;
    return plain_step(s, tok, tgt, B, lr, gn_attn, gn_ffn, rms, moe, out, err);
}
