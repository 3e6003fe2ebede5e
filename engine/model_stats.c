/* The model's statistics: gradient sums of squares and norms, activation RMS, FLOPs and
 * bytes (model_internal.h). */
#include "model_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* statistics                                                                                 */

float *nl_model_grad_sumsq(nl_model *m, int *n_global)
{
    nl_kernels *k = m->k;
    k->sumsq_segments(k, m->grad_sumsq, m->grads, m->grad_segs, m->n_global_segs);
    int j = m->n_global_segs;
    for (int l = 0; l < m->L; l++) {
        if (m->lp[l].moe < 0)
            continue;
        k->sumsq_segments(k, m->grad_sumsq + j, m->grads, m->lp[l].seg_router, 1);
        k->sumsq_segments(k, m->grad_sumsq + j + 1, m->grads, m->lp[l].seg_experts, 1);
        j += 2;
    }
    if (n_global)
        *n_global = m->n_global_segs;
    return m->grad_sumsq;
}

void nl_model_stats_ops(nl_model *m)
{
    nl_kernels *k = m->k;
    nl_model_grad_sumsq(m, NULL);
    int64_t BTC = (int64_t)m->last_B * m->T * m->C;
    int64_t slot = (int64_t)m->B * m->T * m->C;
    int64_t segs[2];
    for (int l = 0; l < m->L; l++) {
        segs[0] = (l + 1) * slot;
        segs[1] = segs[0] + BTC;
        k->sumsq_segments(k, m->rms_sumsq + l, m->x, segs, 1);
    }
}

void nl_model_stat_buffers(nl_model *m, float **loss, float **grad, int *n_grad, int *n_global,
                           float **rms)
{
    *loss = m->scalars;
    *grad = m->grad_sumsq;
    *n_grad = m->n_grad_segs;
    *n_global = m->n_global_segs;
    *rms = m->rms_sumsq;
}

void nl_model_stats_from(nl_model *m, const float *h, float *grad_norm, float *gn_attn,
                         float *gn_ffn, float *rms)
{
    int n = m->n_grad_segs;
    int64_t BTC = (int64_t)m->last_B * m->T * m->C;
    double tot = 0;
    for (int i = 0; i < m->n_global_segs; i++)
        tot += h[i];
    if (grad_norm)
        *grad_norm = (float)sqrt(tot);
    for (int l = 0; l < m->L; l++) {
        if (gn_attn)
            gn_attn[l] = sqrtf(h[1 + 2 * l]);
        if (gn_ffn)
            gn_ffn[l] = sqrtf(h[2 + 2 * l]);
        if (rms)
            rms[l] = sqrtf(h[n + l] / (float)BTC);
    }
}

/* The MoE figures: expert shares from the routing counts the forward read back, router
 * entropy from the probabilities (copied here), router and expert gradient norms from h. */
static void moe_stats(nl_model *m, const float *h, nl_moe_stats *moe)
{
    nl_kernels *k = m->k;
    int E = m->E, K = m->K, N = m->last_B * m->T;
    moe->moe_layers = m->moe_layers;
    moe->experts = E;
    float *probs = m->host_probs;
    int j = 0;
    for (int l = 0; l < m->L; l++) {
        moe_act *ma = m->la[l].moe;
        if (!ma)
            continue;
        for (int e = 0; e < E; e++)
            if (moe->expert_frac)
                moe->expert_frac[j * E + e] =
                    (float)(ma->host_offsets[e + 1] - ma->host_offsets[e]) / (float)(N * K);
        if (moe->router_entropy) {
            k->to_host(k, probs, ma->probs, sizeof(float) * (size_t)N * (size_t)E);
            double ent = 0;
            for (int64_t i = 0; i < (int64_t)N * E; i++)
                if (probs[i] > 0)
                    ent -= probs[i] * log(probs[i]);
            moe->router_entropy[j] = (float)(ent / N);
        }
        if (moe->gn_router)
            moe->gn_router[j] = sqrtf(h[m->n_global_segs + 2 * j]);
        if (moe->gn_experts)
            moe->gn_experts[j] = sqrtf(h[m->n_global_segs + 2 * j + 1]);
        j++;
    }
}

int nl_model_stats(nl_model *m, float *grad_norm, float *gn_attn, float *gn_ffn, float *rms,
                   nl_moe_stats *moe)
{
    nl_kernels *k = m->k;
    nl_model_stats_ops(m);
    int n = m->n_grad_segs;
    float *h = m->host_stats;
    k->to_host(k, h, m->grad_sumsq, sizeof(float) * (size_t)n);
    k->to_host(k, h + n, m->rms_sumsq, sizeof(float) * (size_t)m->L);
    nl_model_stats_from(m, h, grad_norm, gn_attn, gn_ffn, rms);
    if (moe && m->moe_layers)
        moe_stats(m, h, moe);
    return 0;
}

double nl_model_flops_per_token(const nl_model *m)
{
    /* forward: 2 flops per multiply-add of every matmul; backward: twice forward */
    double C = m->C, F = m->F, T = m->T, V = m->V;
    double per_layer = 2.0 * (3 * C * C + C * C); /* qkv, out */
    per_layer += 2.0 * 2.0 * T * C;               /* q k^T and att v, full T x T */
    double total = 0;
    for (int l = 0; l < m->L; l++) {
        double ffn = 2.0 * ((m->cfg.model.ffn == NL_FFN_SWIGLU ? 3.0 : 2.0) * C * F);
        if (m->lp[l].moe >= 0)
            ffn = ffn * m->K + 2.0 * C * m->E;
        total += per_layer + ffn;
    }
    total += 2.0 * C * V; /* lm head */
    return 3.0 * total;
}

const char *nl_model_attention_way(const nl_model *m)
{
    if (!m->fused_attn)
        return "stored probabilities (B x H x T x T)";
    return m->k->attn_flash_forward ? "fused, flash (row log-sum-exps kept, probabilities "
                                      "computed again in the backward)"
                                    : "fused (row log-sum-exps kept)";
}

int64_t nl_model_bytes(const nl_model *m, int64_t *param_bytes, int64_t *grad_bytes,
                       int64_t *act_bytes)
{
    int64_t p = (int64_t)sizeof(float) * m->n_params;
    if (param_bytes)
        *param_bytes = p;
    if (grad_bytes)
        *grad_bytes = p;
    if (act_bytes)
        *act_bytes = m->act_bytes;
    return 2 * p + m->act_bytes;
}
