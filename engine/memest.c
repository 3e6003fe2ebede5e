/* The memory a config needs: the model's tensors and allocations of engine/model.c counted
 * from the config (tests/test_model.c holds the two against each other). */
#include "memest.h"

#include <stdio.h>
#include <string.h>

#include "model.h"

static double norm_params(const nl_config *c, bool on, double n)
{
    if (!on)
        return 0;
    return c->model.norm == NL_NORM_LAYERNORM ? 2 * n : n;
}

static bool is_moe_layer(const nl_model_config *mc, int l)
{
    return mc->moe_experts > 0 && mc->moe_every > 0 && l % mc->moe_every == mc->moe_every - 1;
}

void nl_mem_estimate_config(const nl_config *c, int vocab, bool fused_attn, nl_mem_estimate *e)
{
    memset(e, 0, sizeof *e);
    const nl_model_config *mc = &c->model;
    static nl_plan plan; /* large (per-layer flags); estimates are made on one thread */
    nl_plan_resolve(mc, &plan);
    const double V = vocab, C = mc->d_model, T = mc->seq_len, B = c->train.batch;
    const double H = mc->heads > 0 ? mc->heads : 1, D = C / H, F = nl_config_ffn_hidden(c);
    const double E = mc->moe_experts, K = mc->moe_experts > 0 ? mc->moe_top_k : 1;
    const bool swiglu = mc->ffn == NL_FFN_SWIGLU, rope = mc->pos == NL_POS_ROPE;
    const double ffn_mats = swiglu ? 3 : 2;
    const double BT = B * T, BTC = BT * C, NK = BT * K, scores = B * H * T * T;
    const int L = mc->layers;

    double P = V * C + (mc->pos == NL_POS_LEARNED ? T * C : 0) + norm_params(c, plan.embed_norm, C);
    double A = 2 * BT + BTC + (plan.embed_norm ? BTC + 2 * BT : 0) + BTC * (L + 1) + BTC * L;
    int moe_layers = 0;
    for (int l = 0; l < L; l++) {
        const nl_sublayer_flags *a = &plan.attn[l], *f = &plan.ffn[l];
        P += norm_params(c, a->pre, C) + 4 * C * C + norm_params(c, a->qk, D) * 2 +
             norm_params(c, a->v, D) + norm_params(c, a->peri, C) + norm_params(c, a->post, C);
        P += norm_params(c, f->pre, C) + norm_params(c, f->peri, C) + norm_params(c, f->post, C);
        A += (a->pre + a->peri + f->pre + f->peri) * (BTC + 2 * BT);
        A += (a->post + f->post) * (BTC + 2 * BT);
        A += 2 * BTC + 3 * BTC + 3 * BTC + (a->qk || rope ? 2 * BTC : 0) + (a->v ? BTC : 0);
        A += (a->qk ? 4 * BT * H : 0) + (a->v ? 2 * BT * H : 0);
        A += fused_attn ? B * H * T : scores;
        A += 2 * BTC;
        if (is_moe_layer(mc, l)) {
            moe_layers++;
            P += E * C + E * ffn_mats * C * F;
            A += 2 * BT * E + 2 * NK + 2 * NK * C + (swiglu ? 3 : 2) * NK * F + 3 * NK + E + 1;
        } else {
            P += ffn_mats * C * F;
            A += (swiglu ? 3 : 2) * BT * F;
        }
    }
    P += norm_params(c, plan.final_norm, C) + (mc->tied ? 0 : V * C);
    A += (plan.final_norm ? BTC + 2 * BT : 0) + BT * V + BT + (moe_layers ? NK : 0);
    /* backward scratch */
    A += 5 * BTC + 3 * BTC + 6 * BTC + (fused_attn ? 0 : scores) + 2 * BTC +
         (swiglu ? 2 : 1) * NK * F;
    if (moe_layers)
        A += 3 * NK * C + 2 * NK + BT * E;

    e->params = P;
    e->param_bytes = 4 * P;
    e->grad_bytes = 4 * P;
    e->optim_bytes = 8 * P;
    e->act_bytes = 4 * A;
    e->ckpt_bytes = 12 * P;
    e->total = e->param_bytes + e->grad_bytes + e->optim_bytes + e->act_bytes + e->ckpt_bytes;
}

double nl_mem_available(double *physical)
{
    double avail = -1, total = -1;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        double kb;
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1)
                avail = kb * 1024;
            else if (sscanf(line, "MemTotal: %lf kB", &kb) == 1)
                total = kb * 1024;
        }
        fclose(f);
    }
    if (physical)
        *physical = total;
    return avail >= 0 ? avail : total;
}

void nl_mem_format(double bytes, char *buf, int len)
{
    static const char *unit[] = {"bytes", "KB", "MB", "GB", "TB", "PB", "EB"};
    int u = 0;
    while (bytes >= 1000 && u < 6) {
        bytes /= 1000;
        u++;
    }
    snprintf(buf, (size_t)len,
             u == 0       ? "%.0f %s"
             : bytes < 10 ? "%.1f %s"
                          : "%.0f %s",
             bytes, unit[u]);
}

int nl_mem_check(const nl_config *c, int vocab, bool fused_attn, bool on_host, nl_error *err)
{
    nl_mem_estimate e;
    nl_mem_estimate_config(c, vocab, fused_attn, &e);
    double need = on_host ? e.total : e.ckpt_bytes;
    double physical, avail = nl_mem_available(&physical);
    if (avail < 0 || need <= avail)
        return 0;
    char n[32], a[32], p[32], w[32], g[32], m[32], x[32], ck[32];
    nl_mem_format(need, n, sizeof n);
    nl_mem_format(avail, a, sizeof a);
    nl_mem_format(physical, p, sizeof p);
    nl_mem_format(e.param_bytes, w, sizeof w);
    nl_mem_format(e.grad_bytes, g, sizeof g);
    nl_mem_format(e.optim_bytes, m, sizeof m);
    nl_mem_format(e.act_bytes, x, sizeof x);
    nl_mem_format(e.ckpt_bytes, ck, sizeof ck);
    if (!on_host)
        return nl_fail(err, NL_ERR_USAGE,
                       "model too large: %.4g parameters need %s of host memory for a checkpoint, "
                       "%s is available (of %s); lower model.d_model, model.layers or "
                       "model.vocab",
                       e.params, n, a, p);
    return nl_fail(err, NL_ERR_USAGE,
                   "model too large for this machine: needs about %s (%.4g parameters: weights %s, "
                   "gradients %s, AdamW moments %s, checkpoint copies %s; activations %s for "
                   "train.batch %d x model.seq_len %d), but %s of memory is available (of %s); "
                   "lower model.d_model (%d), model.layers (%d), model.vocab (%d), train.batch "
                   "or model.seq_len",
                   n, e.params, w, g, m, ck, x, c->train.batch, c->model.seq_len, a, p,
                   c->model.d_model, c->model.layers, vocab);
}
