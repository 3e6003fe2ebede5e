/* Defaults, derived values, validation and races of a config (config.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "config_keys.h"
#include "fsutil.h"
#include "json_text.h"

/* ---- defaults and derived values --------------------------------------------------------- */

void nl_config_defaults(nl_config *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->name, "default");

    nl_model_config *m = &c->model;
    m->placement = NL_PLACE_PRE;
    m->norm = NL_NORM_LAYERNORM;
    m->ffn = NL_FFN_GELU;
    m->pos = NL_POS_LEARNED;
    m->init = NL_INIT_NORMAL;
    m->vocab = 0;
    m->d_model = 128;
    m->layers = 4;
    m->heads = 4;
    m->seq_len = 64;
    m->ffn_hidden = 0;
    m->tied = false;
    m->rope_theta = 10000.0f;
    m->norm_eps = 1e-5f;
    m->embed_norm = -1;
    m->final_norm = -1;
    /* custom starts as Pre-Norm, so switching to custom changes nothing until a flag does */
    m->custom_attn.pre = true;
    m->custom_attn.alpha = 1.0f;
    m->custom_ffn.pre = true;
    m->custom_ffn.alpha = 1.0f;
    m->moe_experts = 0;
    m->moe_top_k = 2;
    m->moe_every = 1;
    m->moe_aux_loss = 0.01f;
    m->moe_z_loss = 0.001f;
    m->moe_renorm = true;

    nl_train_config *t = &c->train;
    t->steps = 300;
    t->batch = 8;
    t->lr = 1e-3f;
    t->lr_min = 0.0f;
    t->warmup = 20;
    t->schedule = NL_SCHED_COSINE;
    t->beta1 = 0.9f;
    t->beta2 = 0.95f;
    t->eps = 1e-8f;
    t->weight_decay = 0.1f;
    t->decay_all = false;
    t->clip = 1.0f;
    t->seed = 1;
    t->eval_every = 50;
    t->eval_batches = 4;
    t->threads = 0;
    t->device = NL_DEVICE_AUTO;
    t->precision = NL_TRAIN_FP32;
    t->attention = NL_ATTN_AUTO;
    t->attn_chunk = 0;
    t->cuda_graphs = NL_GRAPHS_AUTO;
    t->ckpt_every = 0;
    t->keep_ckpts = 3;
    t->log_every = 10;
    t->diverge_factor = 3.0f;
    t->diverge_patience = 20;

    nl_data_config *d = &c->data;
    strcpy(d->source, "markov");
    d->vocab = 64;
    d->order = 1;
    d->alpha = 0.1f;
    d->seed = 1;
    d->val_fraction = 0.1f;
}

int nl_config_vocab(const nl_config *c)
{
    if (c->model.vocab > 0)
        return c->model.vocab;
    if (strncmp(c->data.source, "text:", 5) == 0 || strcmp(c->data.source, "prose") == 0)
        return 256;
    if (strncmp(c->data.source, "tokens:", 7) == 0)
        return 0; /* the token file decides */
    return c->data.vocab;
}

int nl_config_ffn_hidden(const nl_config *c)
{
    if (c->model.ffn_hidden > 0)
        return c->model.ffn_hidden;
    int d = c->model.d_model;
    if (c->model.ffn == NL_FFN_SWIGLU) {
        /* the multiple of 32 nearest 8d/3: round(8d / 96) * 32 = round(d / 12) * 32 */
        int k = (d + 6) / 12;
        return (k < 1 ? 1 : k) * 32;
    }
    return 4 * d;
}

/* ---- validation -------------------------------------------------------------------------- */

static int fault(nl_config_fault *f, const char *k0, const char *k1, int override_index)
{
    if (f) {
        f->keys[0] = k0;
        f->keys[1] = k1;
        f->override_index = override_index;
    }
    return NL_ERR_USAGE;
}

/* The model's shape: heads divide d_model, and rope gets an even head dimension. */
static int check_shape(const nl_model_config *m, nl_error *err, nl_config_fault *f)
{
    if (m->heads < 1 || m->d_model % m->heads != 0) {
        nl_fail(err, NL_ERR_USAGE, "model.d_model (%d) must be divisible by model.heads (%d)",
                m->d_model, m->heads);
        return fault(f, "model.heads", "model.d_model", -1);
    }
    int head_dim = m->d_model / m->heads;
    if (m->pos == NL_POS_ROPE && head_dim % 2 != 0) {
        nl_fail(err, NL_ERR_USAGE,
                "model.pos: rope needs an even head dimension, but d_model/heads = %d/%d = %d",
                m->d_model, m->heads, head_dim);
        return fault(f, "model.pos", "model.heads", -1);
    }
    return 0;
}

/* The data source against the model's vocabulary, and a markov table of a size that fits. */
static int check_source(const nl_config *c, nl_error *err, nl_config_fault *f)
{
    const nl_model_config *m = &c->model;
    const char *src = c->data.source;
    if (!nl_config_valid_source(src, sizeof c->data.source)) {
        nl_fail(err, NL_ERR_USAGE,
                "data.source: expected markov, prose, text:PATH or tokens:PATH, got '%s'", src);
        return fault(f, "data.source", NULL, -1);
    }
    if (strcmp(src, "markov") == 0) {
        if (m->vocab > 0 && m->vocab < c->data.vocab) {
            nl_fail(err, NL_ERR_USAGE,
                    "model.vocab (%d) is smaller than the markov source's data.vocab (%d)",
                    m->vocab, c->data.vocab);
            return fault(f, "model.vocab", "data.vocab", -1);
        }
        /* the transition table holds vocab^(order+1) probabilities */
        double entries = pow((double)c->data.vocab, (double)c->data.order + 1.0);
        if (entries > (double)(1 << 28)) {
            nl_fail(err, NL_ERR_USAGE,
                    "data.order: a markov chain of order %d over %d symbols needs %.3g table "
                    "entries (at most %d)",
                    c->data.order, c->data.vocab, entries, 1 << 28);
            return fault(f, "data.order", "data.vocab", -1);
        }
    } else if ((strncmp(src, "text:", 5) == 0 || strcmp(src, "prose") == 0) && m->vocab > 0 &&
               m->vocab < 256) {
        nl_fail(err, NL_ERR_USAGE,
                "model.vocab (%d) is smaller than the 256 byte values of a %s source", m->vocab,
                src[0] == 'p' ? "prose" : "text:");
        return fault(f, "model.vocab", "data.source", -1);
    }
    return 0;
}

/* The per-layer overrides of model.custom.layers: within the model, one per layer, alpha in
 * range. */
static int check_overrides(const nl_model_config *m, nl_error *err, nl_config_fault *f)
{
    if (m->n_overrides < 0 || m->n_overrides > NL_MAX_OVERRIDES) {
        nl_fail(err, NL_ERR_USAGE, "model.custom.layers: at most %d overrides", NL_MAX_OVERRIDES);
        return fault(f, NULL, NULL, -1);
    }
    for (int i = 0; i < m->n_overrides; i++) {
        const nl_layer_override *o = &m->overrides[i];
        if (o->layer < 0 || o->layer >= m->layers) {
            nl_fail(err, NL_ERR_USAGE,
                    "model.custom.layers: an override for layer %d, but model.layers is %d "
                    "(layers are 0..%d)",
                    o->layer, m->layers, m->layers - 1);
            return fault(f, NULL, NULL, i);
        }
        for (int j = 0; j < i; j++) {
            if (m->overrides[j].layer == o->layer) {
                nl_fail(err, NL_ERR_USAGE, "model.custom.layers: layer %d has two overrides",
                        o->layer);
                return fault(f, NULL, NULL, i);
            }
        }
        const nl_sublayer_flags *fl[2] = {&o->attn, &o->ffn};
        for (int k = 0; k < 2; k++) {
            if (!(fl[k]->alpha >= 0.0f && fl[k]->alpha <= 1000.0f)) {
                nl_fail(err, NL_ERR_USAGE,
                        "model.custom.layers: layer %d: alpha must be in [0, 1000] (0 = keep)",
                        o->layer);
                return fault(f, NULL, NULL, i);
            }
        }
    }
    return 0;
}

int nl_config_check(const nl_config *c, nl_error *err, nl_config_fault *f)
{
    const nl_model_config *m = &c->model;
    fault(f, NULL, NULL, -1);

    if (!nl_config_valid_name(c->name, sizeof c->name)) {
        nl_fail(err, NL_ERR_USAGE, "name: expected a name of letters, digits or . _ - + = ,");
        return fault(f, "name", NULL, -1);
    }
    int rc = check_shape(m, err, f);
    if (!rc)
        rc = check_source(c, err, f);
    if (rc)
        return rc;
    if (m->moe_experts > 0 && m->moe_top_k > m->moe_experts) {
        nl_fail(err, NL_ERR_USAGE, "model.moe.top_k (%d) must be <= model.moe.experts (%d)",
                m->moe_top_k, m->moe_experts);
        return fault(f, "model.moe.top_k", "model.moe.experts", -1);
    }
    if ((rc = check_overrides(m, err, f)))
        return rc;
    if (c->train.cuda_graphs == NL_GRAPHS_ON && m->moe_experts > 0) {
        nl_fail(err, NL_ERR_USAGE,
                "train.cuda_graphs: on is not possible with MoE (model.moe.experts %d): each "
                "expert's products are sized from routing counts read back during the step; "
                "use auto or off",
                m->moe_experts);
        return fault(f, "train.cuda_graphs", "model.moe.experts", -1);
    }
    if (c->train.lr_min > c->train.lr) {
        nl_fail(err, NL_ERR_USAGE, "train.lr_min (%g) must be <= train.lr (%g)",
                (double)c->train.lr_min, (double)c->train.lr);
        return fault(f, "train.lr_min", "train.lr", -1);
    }
    if (c->n_runs < 0 || c->n_runs > NL_MAX_RACE) {
        nl_fail(err, NL_ERR_USAGE, "runs: at most %d runs in a race", NL_MAX_RACE);
        return fault(f, NULL, NULL, -1);
    }
    return 0;
}

int nl_config_validate(const nl_config *c, nl_error *err)
{
    return nl_config_check(c, err, NULL);
}

/* ---- races ------------------------------------------------------------------------------- */

int nl_config_apply_race_sets(const nl_config *base, int i, nl_config *out, int *bad_set,
                              nl_error *err)
{
    if (bad_set)
        *bad_set = -1;
    if (i < 0 || i >= base->n_runs)
        return nl_fail(err, NL_ERR_USAGE, "race entry %d does not exist (the race has %d)", i,
                       base->n_runs);
    const nl_race_entry *e = &base->runs[i];
    if (out != base)
        memcpy(out, base, sizeof *out);
    /* out may alias base, so keep the entry's text before the race list is cleared */
    nl_race_entry entry = *e;
    out->n_runs = 0;
    memset(out->runs, 0, sizeof out->runs);
    for (int j = 0; j < entry.n_set && j < 32; j++) {
        nl_error e2 = {0};
        if (nl_config_set(out, entry.set_key[j], entry.set_val[j], &e2)) {
            if (bad_set)
                *bad_set = j;
            return nl_fail(err, NL_ERR_USAGE, "runs[%d] '%s': %s", i, entry.name, e2.msg);
        }
    }
    nl_error e3 = {0};
    if (nl_config_set(out, "name", entry.name, &e3))
        return nl_fail(err, NL_ERR_USAGE, "runs[%d]: %s", i, e3.msg);
    return 0;
}

int nl_config_race_entry(const nl_config *base, int i, nl_config *out, nl_error *err)
{
    int rc = nl_config_apply_race_sets(base, i, out, NULL, err);
    if (rc)
        return rc;
    nl_error e = {0};
    if (nl_config_check(out, &e, NULL))
        return nl_fail(err, NL_ERR_USAGE, "runs[%d] '%s': %s", i, out->name, e.msg);
    return 0;
}
