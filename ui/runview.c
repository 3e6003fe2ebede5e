#include "runview.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/data.h"
#include "grid.h"

void runview_init(ui_run *r, const char *name, int colour)
{
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->st.name, sizeof r->st.name, "%s", name);
    r->st.eta_s = NAN;
    r->st.entropy_floor = r->st.unigram_level = NAN;
    r->st.loss = r->st.lr = r->st.grad_norm = r->st.tok_s = NAN;
    r->first_loss = NAN;
    r->colour = colour;
    r->aux_loss = r->z_loss = NAN;
}

int runview_set_moe(ui_run *r, int moe_layers, int experts)
{
    free(r->expert_frac);
    free(r->router_entropy);
    r->expert_frac = r->router_entropy = NULL;
    r->moe_layers = r->experts = 0;
    r->aux_loss = r->z_loss = NAN;
    r->moe_step = 0;
    if (moe_layers < 1 || experts < 1)
        return 0;
    r->expert_frac = malloc((size_t)moe_layers * (size_t)experts * sizeof(float));
    r->router_entropy = malloc((size_t)moe_layers * sizeof(float));
    if (!r->expert_frac || !r->router_entropy) {
        free(r->expert_frac);
        free(r->router_entropy);
        r->expert_frac = r->router_entropy = NULL;
        return -1;
    }
    r->moe_layers = moe_layers;
    r->experts = experts;
    for (int i = 0; i < moe_layers * experts; i++)
        r->expert_frac[i] = NAN;
    for (int m = 0; m < moe_layers; m++)
        r->router_entropy[m] = NAN;
    return 0;
}

int runview_set_layers(ui_run *r, int layers)
{
    history_free(r->hist);
    free(r->gn_attn);
    free(r->gn_ffn);
    free(r->rms);
    r->hist = NULL;
    r->gn_attn = r->gn_ffn = r->rms = NULL;
    r->layers = 0;
    if (layers < 1)
        return -1;
    r->hist = history_create_budget(CH_LAYER0 + 3 * layers,
                                    r->hist_bytes ? r->hist_bytes : RUNVIEW_HISTORY_BYTES);
    r->gn_attn = malloc((size_t)layers * sizeof(float));
    r->gn_ffn = malloc((size_t)layers * sizeof(float));
    r->rms = malloc((size_t)layers * sizeof(float));
    if (!r->hist || !r->gn_attn || !r->gn_ffn || !r->rms)
        return -1;
    r->layers = layers;
    runview_reset(r);
    return 0;
}

void runview_set_config(ui_run *r, const nl_config *c)
{
    if (!r->cfg)
        r->cfg = malloc(sizeof *r->cfg);
    if (!r->cfg)
        return;
    *r->cfg = *c;
    r->has_cfg = 1;
}

void runview_reset(ui_run *r)
{
    if (r->hist)
        history_reset(r->hist);
    for (int l = 0; l < r->layers; l++)
        r->gn_attn[l] = r->gn_ffn[l] = r->rms[l] = NAN;
    r->last_step = 0;
    r->last_time_s = 0;
    r->first_loss = NAN;
    for (int i = 0; i < r->moe_layers * r->experts; i++)
        r->expert_frac[i] = NAN;
    for (int m = 0; m < r->moe_layers; m++)
        r->router_entropy[m] = NAN;
    r->aux_loss = r->z_loss = NAN;
    r->moe_step = 0;
    r->toks_avg = r->toks_best = 0;
    r->toks_steps = 0;
}

void runview_free(ui_run *r)
{
    history_free(r->hist);
    free(r->gn_attn);
    free(r->gn_ffn);
    free(r->rms);
    free(r->cfg);
    free(r->expert_frac);
    free(r->router_entropy);
    memset(r, 0, sizeof *r);
}

void runview_ingest(ui_run *r, const nl_metrics_row *row)
{
    if (!r->hist)
        return;
    int C = history_channels(r->hist);
    float stackbuf[CH_LAYER0 + 3 * 64], *v = stackbuf;
    if (C > (int)(sizeof stackbuf / sizeof *stackbuf))
        v = malloc((size_t)C * sizeof *v);
    if (!v)
        return;
    v[CH_LOSS] = row->loss;
    v[CH_VAL] = row->val_loss;
    v[CH_GN] = row->grad_norm;
    v[CH_LR] = row->lr;
    v[CH_TOKS] = row->tok_s;
    v[CH_TIME] = (float)row->time_s;
    for (int l = 0; l < r->layers; l++) {
        v[CH_ATTN(l)] = row->gn_attn ? row->gn_attn[l] : NAN;
        v[CH_FFN(l)] = row->gn_ffn ? row->gn_ffn[l] : NAN;
        v[CH_RMS(l)] = row->rms ? row->rms[l] : NAN;
        r->gn_attn[l] = v[CH_ATTN(l)];
        r->gn_ffn[l] = v[CH_FFN(l)];
        r->rms[l] = v[CH_RMS(l)];
    }
    history_push(r->hist, (double)row->step, (double)row->tokens, v);
    if (v != stackbuf)
        free(v);
    if (r->moe_layers > 0 && row->expert_frac) {
        memcpy(r->expert_frac, row->expert_frac,
               (size_t)r->moe_layers * (size_t)r->experts * sizeof(float));
        if (row->router_entropy)
            memcpy(r->router_entropy, row->router_entropy, (size_t)r->moe_layers * sizeof(float));
        r->aux_loss = row->aux_loss;
        r->z_loss = row->z_loss;
        r->moe_step = row->step;
    }
    if (isfinite(row->tok_s) && row->tok_s > 0) {
        /* about the last 8 steps; the best only once the average has settled */
        r->toks_avg =
            r->toks_steps ? r->toks_avg + 0.125f * (row->tok_s - r->toks_avg) : row->tok_s;
        if (++r->toks_steps >= RUNVIEW_SETTLE_STEPS && r->toks_avg > r->toks_best)
            r->toks_best = r->toks_avg;
    }
    if (isnan(r->first_loss) && isfinite(row->loss))
        r->first_loss = row->loss;
    r->last_step = row->step;
    r->last_time_s = row->time_s;
}

int runview_slowed(const ui_run *r, double load1, int cores, char *why, size_t n)
{
    if (n)
        why[0] = '\0';
    if (r->st.state != NL_RUN_RUNNING)
        return 0;
    double ratio = r->toks_best > 0 ? r->toks_avg / r->toks_best : 1.0;
    int slow = r->toks_steps >= 2 * RUNVIEW_SETTLE_STEPS && ratio < 0.5;
    int busy = cores > 0 && load1 >= cores + 1.0;
    if (slow && busy)
        snprintf(why, n, "slowed %.2fx, load %.1f/%d cores", ratio, load1, cores);
    else if (slow)
        snprintf(why, n, "slowed %.2fx of its best", ratio);
    else if (busy)
        snprintf(why, n, "busy machine: load %.1f/%d cores", load1, cores);
    return slow || busy;
}

const char *runview_state_name(nl_run_state s)
{
    switch (s) {
    case NL_RUN_READY:
        return "ready";
    case NL_RUN_RUNNING:
        return "running";
    case NL_RUN_PAUSED:
        return "paused";
    case NL_RUN_FINISHED:
        return "finished";
    case NL_RUN_DIVERGED:
        return "diverged";
    case NL_RUN_STOPPED:
        return "stopped";
    case NL_RUN_FAILED:
        return "failed";
    }
    return "?";
}

int runview_state_role(nl_run_state s)
{
    switch (s) {
    case NL_RUN_READY:
        return ROLE_READY;
    case NL_RUN_RUNNING:
        return ROLE_RUNNING;
    case NL_RUN_PAUSED:
        return ROLE_PAUSED;
    case NL_RUN_FINISHED:
        return ROLE_FINISHED;
    case NL_RUN_DIVERGED:
        return ROLE_DIVERGED;
    case NL_RUN_STOPPED:
        return ROLE_STOPPED;
    case NL_RUN_FAILED:
        return ROLE_FAILED;
    }
    return ROLE_NORMAL;
}

void runview_reference_levels(const nl_config *c, double *entropy_floor, double *unigram_level)
{
    *entropy_floor = *unigram_level = NAN;
    if (strncmp(c->data.source, "tokens:", 7) == 0)
        return;
    nl_error err = {0};
    nl_data *d = nl_data_open(&c->data, c->model.seq_len, c->train.seed, &err);
    if (d) {
        *entropy_floor = nl_data_entropy_floor(d);
        *unigram_level = nl_data_unigram_level(d);
        nl_data_close(d);
    }
}

double runview_reference_line(double entropy_floor, double unigram_level, const char **label)
{
    *label = isfinite(entropy_floor) || !isfinite(unigram_level) ? "floor" : "unigram";
    return isfinite(entropy_floor) ? entropy_floor : unigram_level;
}
