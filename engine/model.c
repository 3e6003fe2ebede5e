/* The transformer: parameter layout, initialisation, forward and backward of the general
 * sublayer (DESIGN.md section 2), dense and Mixture-of-Experts FFNs. Every op goes through
 * the nl_kernels table; every buffer a step needs is allocated in nl_model_create.
 * This file: creation and accessors; the layout and initialisation are in model_layout.c, the
 * passes in model_forward.c and model_backward.c, the statistics in model_stats.c. */
#include "model_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* creation                                                                                   */

static int alloc_norm_act(nl_model *m, norm_act *a, int64_t rows, int cols, bool want)
{
    memset(a, 0, sizeof *a);
    if (!want)
        return 0;
    a->out = nl_model_balloc(m, sizeof(float) * (size_t)(rows * cols), 1);
    a->mean = nl_model_balloc(m, sizeof(float) * (size_t)rows, 1);
    a->rstd = nl_model_balloc(m, sizeof(float) * (size_t)rows, 1);
    return a->out && a->mean && a->rstd ? 0 : -1;
}

#define FA(n) ((float *)nl_model_balloc(m, sizeof(float) * (size_t)(n), 1))
#define IA(n) ((int32_t *)nl_model_balloc(m, sizeof(int32_t) * (size_t)(n), 1))
#define CHECK(p)                                                                                   \
    do {                                                                                           \
        if (!(p))                                                                                  \
            goto oom;                                                                              \
    } while (0)
#define CHECK_HOST(p)                                                                              \
    do {                                                                                           \
        if (!(p))                                                                                  \
            goto host_oom;                                                                         \
    } while (0)

#define B_(p)                                                                                      \
    do {                                                                                           \
        if (!(p))                                                                                  \
            return 1;                                                                              \
    } while (0)
#define H_(p)                                                                                      \
    do {                                                                                           \
        if (!(p))                                                                                  \
            return 2;                                                                              \
    } while (0)

/* The helpers below return 0, 1 when a backend allocation failed, 2 when a host one did. */
#define CHECK_STEP(call)                                                                           \
    do {                                                                                           \
        if ((rc = (call)) != 0)                                                                    \
            goto fail;                                                                             \
    } while (0)

/* The flat parameter and gradient buffers, the parameters initialised on the host. */
static int alloc_params(nl_model *m)
{
    nl_kernels *k = m->k;
    const nl_model_config *mc = &m->cfg.model;
    int B = m->B, T = m->T, C = m->C, H = m->H, L = m->L, F = m->F, V = m->V, E = m->E, K = m->K;
    int64_t BT = (int64_t)B * T, BTC = BT * C, NK = BT * K;
    (void)k, (void)mc, (void)T, (void)H, (void)L, (void)F, (void)V, (void)E, (void)NK, (void)BTC;
    m->params = nl_model_balloc(m, sizeof(float) * (size_t)m->n_params, 0);
    m->grads = nl_model_balloc(m, sizeof(float) * (size_t)m->n_params, 0);
    B_(m->params && m->grads);
    {
        float *host = nl_calloc((size_t)m->n_params, sizeof(float));
        H_(host);
        nl_model_init_params(m, host);
        k->to_device(k, m->params, host, sizeof(float) * (size_t)m->n_params);
        free(host);
    }

    return 0;
}

/* What layer l keeps from forward for backward. */
/* A post norm writes straight into the sublayer output: it needs only its stats and ypre. */
static int alloc_post_act(nl_model *m, sub_act *s)
{
    int64_t BT = (int64_t)m->B * m->T;
    B_(s->post.mean = FA(BT));
    B_(s->post.rstd = FA(BT));
    B_(s->ypre = FA(BT * m->C));
    return 0;
}

/* Layer l's two sublayers: their norms and their outputs before the peri norm. */
static int alloc_sub_acts(nl_model *m, int l)
{
    int64_t BT = (int64_t)m->B * m->T, BTC = BT * m->C;
    layer_act *a = &m->la[l];
    const nl_sublayer_flags *fa = &m->plan.attn[l], *ff = &m->plan.ffn[l];
    B_(!alloc_norm_act(m, &a->sa.pre, BT, m->C, fa->pre));
    B_(!alloc_norm_act(m, &a->sa.peri, BT, m->C, fa->peri));
    B_(!alloc_norm_act(m, &a->sf.pre, BT, m->C, ff->pre));
    B_(!alloc_norm_act(m, &a->sf.peri, BT, m->C, ff->peri));
    if (fa->post)
        B_(!alloc_post_act(m, &a->sa));
    if (ff->post)
        B_(!alloc_post_act(m, &a->sf));
    B_(a->sa.o = FA(BTC));
    B_(a->sf.o = FA(BTC));
    return 0;
}

/* Layer l's attention: q, k, v and their normed or rotated copies, the scores (or the fused
 * op's log-sum-exps), the heads' output. */
static int alloc_attn_act(nl_model *m, int l)
{
    int B = m->B, T = m->T, H = m->H;
    int64_t BT = (int64_t)B * T, BTC = BT * m->C;
    layer_act *a = &m->la[l];
    const nl_sublayer_flags *fa = &m->plan.attn[l];
    B_(a->qkv = FA(3 * BTC));
    B_(a->q = FA(BTC));
    B_(a->k = FA(BTC));
    B_(a->v = FA(BTC));
    bool rope = m->cfg.model.pos == NL_POS_ROPE;
    a->qf = a->q;
    a->kf = a->k;
    a->vf = a->v;
    if (fa->qk || rope) {
        B_(a->qf = FA(BTC));
        B_(a->kf = FA(BTC));
    }
    if (fa->v)
        B_(a->vf = FA(BTC));
    if (fa->qk) {
        B_(a->qn.mean = FA(BT * H));
        B_(a->qn.rstd = FA(BT * H));
        B_(a->kn.mean = FA(BT * H));
        B_(a->kn.rstd = FA(BT * H));
    }
    if (fa->v) {
        B_(a->vn.mean = FA(BT * H));
        B_(a->vn.rstd = FA(BT * H));
    }
    if (m->fused_attn)
        B_(a->lse = FA((int64_t)B * H * T));
    else
        B_(a->att = FA((int64_t)B * H * T * T));
    B_(a->yh = FA(BTC));
    B_(a->y = FA(BTC));
    return 0;
}

/* Layer l's Mixture-of-Experts FFN: routing, the dispatched rows, the experts' outputs. */
static int alloc_moe_act(nl_model *m, int l)
{
    int E = m->E, F = m->F, C = m->C;
    int64_t BT = (int64_t)m->B * m->T, NK = BT * m->K;
    moe_act *ma = nl_calloc(1, sizeof(moe_act) + sizeof(int32_t) * (size_t)(E + 1));
    H_(ma);
    m->la[l].moe = ma;
    B_(ma->logits = FA(BT * E));
    B_(ma->probs = FA(BT * E));
    B_(ma->gates = FA(NK));
    B_(ma->wsorted = FA(NK));
    B_(ma->xin = FA(NK * C));
    B_(ma->up = FA(NK * F));
    if (m->cfg.model.ffn == NL_FFN_SWIGLU)
        B_(ma->gate = FA(NK * F));
    B_(ma->act = FA(NK * F));
    B_(ma->eout = FA(NK * C));
    B_(ma->idx = IA(NK));
    B_(ma->offsets = IA(E + 1));
    B_(ma->rows = IA(NK));
    B_(ma->slots = IA(NK));
    return 0;
}

static int alloc_layer_act(nl_model *m, int l)
{
    layer_act *a = &m->la[l];
    int64_t BTF = (int64_t)m->B * m->T * m->F;
    int rc = alloc_sub_acts(m, l);
    if (!rc)
        rc = alloc_attn_act(m, l);
    if (rc)
        return rc;
    if (m->lp[l].moe >= 0)
        return alloc_moe_act(m, l);
    B_(a->up = FA(BTF));
    if (m->cfg.model.ffn == NL_FFN_SWIGLU)
        B_(a->gate = FA(BTF));
    B_(a->act = FA(BTF));
    return 0;
}

/* The forward activations: inputs, the residual stream, every layer's, the head's. */
static int alloc_forward(nl_model *m)
{
    nl_kernels *k = m->k;
    const nl_model_config *mc = &m->cfg.model;
    int B = m->B, T = m->T, C = m->C, H = m->H, L = m->L, F = m->F, V = m->V, E = m->E, K = m->K;
    int64_t BT = (int64_t)B * T, BTC = BT * C, NK = BT * K;
    (void)k, (void)mc, (void)T, (void)H, (void)L, (void)F, (void)V, (void)E, (void)NK, (void)BTC;
    B_(m->tokens = IA(BT));
    B_(m->targets = IA(BT));
    B_(m->emb = FA(BTC));
    B_(!alloc_norm_act(m, &m->embn, BT, C, m->plan.embed_norm));
    B_(m->x = FA(BTC * (L + 1)));
    B_(m->mid = FA(BTC * L));
    for (int l = 0; l < L; l++) {
        int rc = alloc_layer_act(m, l);
        if (rc)
            return rc;
    }
    B_(!alloc_norm_act(m, &m->fin, BT, C, m->plan.final_norm));
    m->xf = m->plan.final_norm ? m->fin.out : m->x + (int64_t)L * BTC;
    B_(m->logits = FA(BT * V));
    B_(m->losses = FA(BT));
    B_(m->scalars = FA(1 + 2 * (m->moe_layers + 1)));
    if (m->moe_layers) {
        B_(m->iota = IA(NK));
        int32_t *h = nl_malloc(sizeof(int32_t) * (size_t)NK);
        H_(h);
        for (int64_t i = 0; i < NK; i++)
            h[i] = (int32_t)i;
        k->to_device(k, m->iota, h, sizeof(int32_t) * (size_t)NK);
        free(h);
    }
    return 0;
}

/* Backward scratch, shared by every layer. */
static int alloc_backward(nl_model *m)
{
    nl_kernels *k = m->k;
    const nl_model_config *mc = &m->cfg.model;
    int B = m->B, T = m->T, C = m->C, H = m->H, L = m->L, F = m->F, V = m->V, E = m->E, K = m->K;
    int64_t BT = (int64_t)B * T, BTC = BT * C, NK = BT * K;
    (void)k, (void)mc, (void)T, (void)H, (void)L, (void)F, (void)V, (void)E, (void)NK, (void)BTC;
    B_(m->dres[0] = FA(BTC));
    B_(m->dres[1] = FA(BTC));
    B_(m->dypre = FA(BTC));
    B_(m->dperi = FA(BTC));
    B_(m->dh = FA(BTC));
    B_(m->dqkv = FA(3 * BTC));
    B_(m->dq = FA(BTC));
    B_(m->dk = FA(BTC));
    B_(m->dv = FA(BTC));
    B_(m->dqf = FA(BTC));
    B_(m->dkf = FA(BTC));
    B_(m->dvf = FA(BTC));
    if (!m->fused_attn)
        B_(m->datt = FA((int64_t)B * H * T * T));
    B_(m->dyh = FA(BTC));
    B_(m->dy = FA(BTC));
    if (mc->ffn == NL_FFN_SWIGLU)
        B_(m->dgate = FA(NK * F));
    B_(m->dact = FA(NK * F));
    if (m->moe_layers) {
        B_(m->deout = FA(NK * C));
        B_(m->dg = FA(NK * C));
        B_(m->dxin = FA(NK * C));
        B_(m->dw = FA(NK));
        B_(m->dgates = FA(NK));
        B_(m->drl = FA(BT * E));
    }

    return 0;
}

/* Gradient segments ([embed][attn 0][ffn 0]...[head], then per MoE layer router and experts)
 * and the host scratch of nl_model_stats. */
static int alloc_stats(nl_model *m)
{
    nl_kernels *k = m->k;
    const nl_model_config *mc = &m->cfg.model;
    int B = m->B, T = m->T, C = m->C, H = m->H, L = m->L, F = m->F, V = m->V, E = m->E, K = m->K;
    int64_t BT = (int64_t)B * T, BTC = BT * C, NK = BT * K;
    (void)k, (void)mc, (void)T, (void)H, (void)L, (void)F, (void)V, (void)E, (void)NK, (void)BTC;
    m->n_global_segs = 2 * L + 2;
    m->n_grad_segs = m->n_global_segs + 2 * m->moe_layers;
    m->grad_segs = nl_calloc((size_t)m->n_grad_segs + 1, sizeof(int64_t));
    H_(m->grad_segs);
    {
        /* segments must be listed as [start,end) pairs; sumsq_segments takes contiguous
         * offsets, so non-contiguous extras are computed as separate calls (see stats). */
        int64_t *s = m->grad_segs;
        s[0] = 0;
        for (int l = 0; l < L; l++) {
            s[1 + 2 * l] = m->lp[l].seg_attn[0];
            s[2 + 2 * l] = m->lp[l].seg_ffn[0];
        }
        s[2 * L + 1] = L > 0 ? m->lp[L - 1].seg_ffn[1] : 0;
        s[2 * L + 2] = m->n_params;
    }
    B_(m->grad_sumsq = FA(m->n_grad_segs + 2));
    m->rms_segs = nl_calloc((size_t)L + 1, sizeof(int64_t));
    H_(m->rms_segs);
    for (int l = 0; l <= L; l++)
        m->rms_segs[l] = (int64_t)l * BTC;
    B_(m->rms_sumsq = FA(L + 1));
    m->host_stats = nl_malloc(sizeof(float) * (size_t)(m->n_grad_segs + L + 1));
    m->host_probs = m->moe_layers ? nl_malloc(sizeof(float) * (size_t)(BT * E)) : NULL;
    H_(m->host_stats && (m->host_probs || !m->moe_layers));
    m->grad_set = nl_calloc((size_t)m->n_tensors + 1, sizeof(bool));
    H_(m->grad_set);
    return 0;
}

nl_model *nl_model_create(const nl_config *c, nl_kernels *k, nl_error *err)
{
    if (nl_config_validate(c, err))
        return NULL;
    /* before the first allocation: a config that cannot fit is refused with the figures, not
     * left to fail half-way or to the kernel's OOM killer */
    if (nl_config_vocab(c) > 0 &&
        nl_mem_check(c, nl_config_vocab(c), attn_fused(k, c), k->is_host != 0, err))
        return NULL;
    int rc = 0;
    nl_model *m = nl_calloc(1, sizeof *m);
    if (!m) {
        nl_fail(err, NL_ERR_RUN, "out of memory for a model");
        return NULL;
    }
    m->cfg = *c;
    m->k = k;
    const nl_model_config *mc = &c->model;
    m->B = c->train.batch;
    m->T = mc->seq_len;
    m->C = mc->d_model;
    m->H = mc->heads;
    m->D = m->C / m->H;
    m->V = nl_config_vocab(c);
    m->L = mc->layers;
    m->F = nl_config_ffn_hidden(c);
    m->E = mc->moe_experts;
    m->K = mc->moe_experts > 0 ? mc->moe_top_k : 1;
    if (m->V <= 0) {
        nl_fail(err, NL_ERR_USAGE, "model.vocab: unknown (set model.vocab for this data source)");
        free(m);
        return NULL;
    }
    nl_plan_resolve(mc, &m->plan);
    m->attn_chunk = attn_chunk_rows(k, c, m->T);
    m->fused_attn = attn_fused(k, c);
    m->lp = nl_calloc((size_t)m->L, sizeof(layer_params)); /* (L) */
    m->la = nl_calloc((size_t)m->L, sizeof(layer_act));    /* (L) */
    CHECK_HOST(m->lp && m->la);
    nl_model_build_layout(m);
    CHECK_HOST(!m->oom);

    CHECK_STEP(alloc_params(m));
    CHECK_STEP(alloc_forward(m));
    CHECK_STEP(alloc_backward(m));

    CHECK_STEP(alloc_stats(m));
    return m;

fail:
    if (rc == 2)
        goto host_oom;
    goto oom;

host_oom:
    nl_fail(err, NL_ERR_RUN, "out of host memory while allocating the model (%lld parameters)",
            (long long)m->n_params);
    nl_model_free(m);
    return NULL;

oom:
    nl_fail(err, NL_ERR_RUN, "out of memory on the %s backend while allocating the model (%s)",
            k->name, k->last_error ? k->last_error(k) : "");
    nl_model_free(m);
    return NULL;
}

void nl_model_free(nl_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_allocs; i++)
        m->k->free(m->k, m->allocs[i]);
    free(m->allocs);
    for (int l = 0; m->lp && l < m->L; l++) {
        free(m->lp[l].e_up);
        free(m->lp[l].e_gate);
        free(m->lp[l].e_down);
    }
    for (int l = 0; m->la && l < m->L; l++)
        free(m->la[l].moe);
    free(m->lp);
    free(m->la);
    free(m->tensors);
    free(m->grad_segs);
    free(m->rms_segs);
    free(m->host_stats);
    free(m->host_probs);
    free(m->grad_set);
    free(m);
}

/* ---------------------------------------------------------------------------------------- */
/* accessors                                                                                  */

int nl_model_num_tensors(const nl_model *m)
{
    return m->n_tensors;
}
const nl_tensor *nl_model_tensor(const nl_model *m, int i)
{
    return &m->tensors[i];
}
const nl_tensor *nl_model_find_tensor(const nl_model *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name))
            return &m->tensors[i];
    return NULL;
}
int64_t nl_model_num_params(const nl_model *m)
{
    return m->n_params;
}
const nl_plan *nl_model_plan(const nl_model *m)
{
    return &m->plan;
}
const nl_config *nl_model_get_config(const nl_model *m)
{
    return &m->cfg;
}
nl_kernels *nl_model_kernels(const nl_model *m)
{
    return m->k;
}
float *nl_model_params(nl_model *m)
{
    return m->params;
}
float *nl_model_grads(nl_model *m)
{
    return m->grads;
}
int nl_model_moe_layers(const nl_model *m)
{
    return m->moe_layers;
}

void nl_model_get_params(nl_model *m, float *host)
{
    m->k->to_host(m->k, host, m->params, sizeof(float) * (size_t)m->n_params);
}
void nl_model_set_params(nl_model *m, const float *host)
{
    m->k->to_device(m->k, m->params, host, sizeof(float) * (size_t)m->n_params);
}
void nl_model_get_grads(nl_model *m, float *host)
{
    m->k->to_host(m->k, host, m->grads, sizeof(float) * (size_t)m->n_params);
}
void nl_model_get_logits(nl_model *m, float *host)
{
    m->k->to_host(m->k, host, m->logits,
                  sizeof(float) * (size_t)m->last_B * (size_t)m->T * (size_t)m->V);
}
