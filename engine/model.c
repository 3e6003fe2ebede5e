/* The transformer: parameter layout, initialisation, forward and backward of the general
 * sublayer (DESIGN.md section 2), dense and Mixture-of-Experts FFNs. Every op goes through
 * the nl_kernels table; every buffer a step needs is allocated in nl_model_create. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memest.h"
#include "xalloc.h"
#include "rng.h"

/* ---------------------------------------------------------------------------------------- */
/* layout                                                                                     */

typedef struct {
    int64_t w, b; /* offsets into the flat buffers (floats); -1 when absent */
} normp;

typedef struct {
    normp pre, peri, post;
} subnorms;

typedef struct {
    subnorms an, fn;
    normp qn, kn, vn;
    int64_t qkv, out;                /* (3C,C), (C,C) */
    int64_t up, gate, down;          /* dense FFN: (F,C), (F,C) or -1, (C,F) */
    int moe;                         /* index among MoE layers, -1 for dense */
    int64_t router;                  /* (E,C) */
    int64_t *e_up, *e_gate, *e_down; /* [E] */
    int64_t seg_attn[2], seg_ffn[2], seg_router[2], seg_experts[2];
} layer_params;

typedef struct {
    float *out, *mean, *rstd;
} norm_act;

/* What one sublayer keeps from forward for backward. */
typedef struct {
    float *in; /* s_in (not owned) */
    norm_act pre, peri, post;
    float *h;    /* N_pre(in), or in */
    float *o;    /* S(h), before the peri norm */
    float *ypre; /* alpha*r + o, before the post norm (only with post) */
    float *out;  /* s_out (not owned) */
} sub_act;

typedef struct {
    float *logits, *probs, *gates, *wsorted, *xin, *up, *gate, *act, *eout;
    int32_t *idx, *offsets, *rows, *slots;
    int32_t host_offsets[1]; /* flexible: E+1 ints follow (allocated with the struct) */
} moe_act;

typedef struct {
    sub_act sa, sf;
    /* attention */
    float *qkv, *q, *k, *v, *qf, *kf, *vf, *att, *yh, *y;
    float *lse; /* (B,H,T) row log-sum-exps of the fused attention, which needs no att */
    norm_act qn, kn, vn;
    /* dense ffn */
    float *up, *gate, *act;
    moe_act *moe;
} layer_act;

struct nl_model {
    nl_config cfg;
    nl_plan plan;
    nl_kernels *k;
    int B, T, C, H, D, V, L, F, E, K;
    int moe_layers;

    int n_tensors, cap_tensors;
    nl_tensor *tensors;
    int64_t n_params;
    float *params, *grads;

    int64_t wte, wpe, lm_head;
    normp embed_norm, final_norm;
    layer_params *lp;

    /* activations */
    int32_t *tokens, *targets; /* (B,T) */
    float *emb;                /* (B,T,C) embedding before embed_norm */
    norm_act embn;
    float *x;   /* (L+1,B,T,C) residual stream at block boundaries */
    float *mid; /* (L,B,T,C) residual stream between attn and ffn */
    layer_act *la;
    norm_act fin;
    float *xf;               /* final features (fin.out or x[L]) */
    float *logits;           /* (B,T,V); overwritten by dlogits in backward */
    float *losses, *scalars; /* (B*T); [loss_sum, aux_l.., z_l..] */
    int32_t *iota;           /* (B*T*K) 0,1,2,... */

    /* backward scratch */
    float *dres[2], *dypre, *dperi, *dh, *dqkv, *dq, *dk, *dv, *dqf, *dkf, *dvf, *datt, *dyh, *dy,
        *dup, *dgate, *dact, *deout, *dg, *dxin, *dw, *dgates, *drl;

    /* stats */
    int64_t *grad_segs;
    int n_grad_segs, n_global_segs;
    float *grad_sumsq; /* (n_grad_segs) */
    int64_t *rms_segs;
    float *rms_sumsq; /* (L) */
    int last_B;
    bool have_targets;
    float last_aux, last_z;
    float *host_stats, *host_probs; /* host scratch for nl_model_stats */
    int attn_chunk;                 /* query rows per block of the causal attention products */
    bool fused_attn;                /* the backend's attention_forward/backward, not the pieces */

    /* owned allocations */
    void **allocs;
    int n_allocs, cap_allocs;
    int64_t act_bytes;
    bool oom; /* a host allocation of the layout failed: creation fails */
};

static int attn_chunk_rows(const nl_kernels *k, const nl_config *c, int T);
static bool attn_fused(const nl_kernels *k, const nl_config *c);

static void *balloc(nl_model *m, size_t bytes, int count_act)
{
    if (bytes == 0)
        bytes = 4;
    if (m->n_allocs == m->cap_allocs) {
        int cap = m->cap_allocs ? 2 * m->cap_allocs : 64;
        void **grown = nl_realloc(m->allocs, sizeof(void *) * (size_t)cap);
        if (!grown)
            return NULL;
        m->allocs = grown;
        m->cap_allocs = cap;
    }
    void *p = m->k->alloc(m->k, bytes);
    if (!p)
        return NULL;
    m->allocs[m->n_allocs++] = p;
    if (count_act)
        m->act_bytes += (int64_t)bytes;
    return p;
}

static int64_t add_tensor(nl_model *m, const char *name, int ndim, int d0, int d1,
                          nl_tensor_kind kind, nl_tensor_group group, int layer)
{
    if (m->n_tensors == m->cap_tensors) {
        int cap = m->cap_tensors ? 2 * m->cap_tensors : 64;
        nl_tensor *grown = nl_realloc(m->tensors, sizeof(nl_tensor) * (size_t)cap);
        if (!grown) { /* the layout goes on counting; nl_model_create fails on m->oom */
            m->oom = true;
            int64_t off = m->n_params;
            m->n_params += (int64_t)d0 * (ndim > 1 ? d1 : 1);
            return off;
        }
        m->tensors = grown;
        m->cap_tensors = cap;
    }
    nl_tensor *t = &m->tensors[m->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim > 1 ? d1 : 0;
    t->numel = (int64_t)d0 * (ndim > 1 ? d1 : 1);
    t->offset = m->n_params;
    t->kind = kind;
    t->group = group;
    t->layer = layer;
    t->decay = kind == NL_TK_MATRIX || m->cfg.train.decay_all;
    m->n_params += t->numel;
    return t->offset;
}

static normp add_norm(nl_model *m, const char *prefix, int n, nl_tensor_group g, int layer)
{
    char name[96];
    normp p = {-1, -1};
    snprintf(name, sizeof name, "%s.weight", prefix);
    p.w = add_tensor(m, name, 1, n, 0, NL_TK_NORM_GAIN, g, layer);
    if (m->cfg.model.norm == NL_NORM_LAYERNORM) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        p.b = add_tensor(m, name, 1, n, 0, NL_TK_NORM_BIAS, g, layer);
    }
    return p;
}

static const normp NO_NORM = {-1, -1};

static bool is_moe_layer(const nl_model_config *mc, int l)
{
    return mc->moe_experts > 0 && mc->moe_every > 0 && l % mc->moe_every == mc->moe_every - 1;
}

static void build_layout(nl_model *m)
{
    const nl_model_config *mc = &m->cfg.model;
    char name[96];
    int C = m->C, F = m->F, D = m->D;
    m->wte = add_tensor(m, "wte.weight", 2, m->V, C, NL_TK_EMBED, NL_GROUP_EMBED, -1);
    m->wpe = mc->pos == NL_POS_LEARNED
                 ? add_tensor(m, "wpe.weight", 2, m->T, C, NL_TK_EMBED, NL_GROUP_EMBED, -1)
                 : -1;
    m->embed_norm = m->plan.embed_norm ? add_norm(m, "embed_norm", C, NL_GROUP_EMBED, -1) : NO_NORM;
    for (int l = 0; l < m->L; l++) {
        layer_params *p = &m->lp[l];
        const nl_sublayer_flags *a = &m->plan.attn[l], *f = &m->plan.ffn[l];
        char pre[64];
        p->seg_attn[0] = m->n_params;
        snprintf(pre, sizeof pre, "blocks.%d.attn", l);
#define NORM(flag, field, what)                                                                    \
    do {                                                                                           \
        snprintf(name, sizeof name, "%s." what, pre);                                              \
        field = (flag) ? add_norm(m, name, C, grp, l) : NO_NORM;                                   \
    } while (0)
        nl_tensor_group grp = NL_GROUP_ATTN;
        NORM(a->pre, p->an.pre, "pre_norm");
        snprintf(name, sizeof name, "%s.qkv.weight", pre);
        p->qkv = add_tensor(m, name, 2, 3 * C, C, NL_TK_MATRIX, grp, l);
        snprintf(name, sizeof name, "%s.q_norm", pre);
        p->qn = a->qk ? add_norm(m, name, D, grp, l) : NO_NORM;
        snprintf(name, sizeof name, "%s.k_norm", pre);
        p->kn = a->qk ? add_norm(m, name, D, grp, l) : NO_NORM;
        snprintf(name, sizeof name, "%s.v_norm", pre);
        p->vn = a->v ? add_norm(m, name, D, grp, l) : NO_NORM;
        snprintf(name, sizeof name, "%s.out.weight", pre);
        p->out = add_tensor(m, name, 2, C, C, NL_TK_MATRIX, grp, l);
        NORM(a->peri, p->an.peri, "peri_norm");
        NORM(a->post, p->an.post, "post_norm");
        p->seg_attn[1] = m->n_params;

        p->seg_ffn[0] = m->n_params;
        snprintf(pre, sizeof pre, "blocks.%d.ffn", l);
        grp = NL_GROUP_FFN;
        NORM(f->pre, p->fn.pre, "pre_norm");
        p->up = p->gate = p->down = p->router = -1;
        p->moe = -1;
        if (is_moe_layer(mc, l)) {
            p->moe = m->moe_layers++;
            p->seg_router[0] = m->n_params;
            snprintf(name, sizeof name, "%s.router.weight", pre);
            p->router = add_tensor(m, name, 2, m->E, C, NL_TK_MATRIX, grp, l);
            p->seg_router[1] = m->n_params;
            p->e_up = nl_calloc((size_t)m->E, sizeof(int64_t));   /* (E) */
            p->e_gate = nl_calloc((size_t)m->E, sizeof(int64_t)); /* (E) */
            p->e_down = nl_calloc((size_t)m->E, sizeof(int64_t)); /* (E) */
            p->seg_experts[0] = m->n_params;
            if (!p->e_up || !p->e_gate || !p->e_down)
                m->oom = true;
            for (int e = 0; e < m->E && !m->oom; e++) {
                snprintf(name, sizeof name, "%s.experts.%d.up.weight", pre, e);
                p->e_up[e] = add_tensor(m, name, 2, F, C, NL_TK_MATRIX, grp, l);
                p->e_gate[e] = -1;
                if (mc->ffn == NL_FFN_SWIGLU) {
                    snprintf(name, sizeof name, "%s.experts.%d.gate.weight", pre, e);
                    p->e_gate[e] = add_tensor(m, name, 2, F, C, NL_TK_MATRIX, grp, l);
                }
                snprintf(name, sizeof name, "%s.experts.%d.down.weight", pre, e);
                p->e_down[e] = add_tensor(m, name, 2, C, F, NL_TK_MATRIX, grp, l);
            }
            p->seg_experts[1] = m->n_params;
        } else {
            snprintf(name, sizeof name, "%s.up.weight", pre);
            p->up = add_tensor(m, name, 2, F, C, NL_TK_MATRIX, grp, l);
            if (mc->ffn == NL_FFN_SWIGLU) {
                snprintf(name, sizeof name, "%s.gate.weight", pre);
                p->gate = add_tensor(m, name, 2, F, C, NL_TK_MATRIX, grp, l);
            }
            snprintf(name, sizeof name, "%s.down.weight", pre);
            p->down = add_tensor(m, name, 2, C, F, NL_TK_MATRIX, grp, l);
        }
        NORM(f->peri, p->fn.peri, "peri_norm");
        NORM(f->post, p->fn.post, "post_norm");
#undef NORM
        p->seg_ffn[1] = m->n_params;
    }
    m->final_norm = m->plan.final_norm ? add_norm(m, "final_norm", C, NL_GROUP_HEAD, -1) : NO_NORM;
    m->lm_head = mc->tied
                     ? m->wte
                     : add_tensor(m, "lm_head.weight", 2, m->V, C, NL_TK_MATRIX, NL_GROUP_HEAD, -1);
}

/* ---------------------------------------------------------------------------------------- */
/* initialisation (host, in tensor order, from train.seed)                                   */

static void fill_normal(nl_rng *r, float *p, int64_t n, double std)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(std * nl_rng_normal(r));
}

static void fill_trunc_normal(nl_rng *r, float *p, int64_t n, double std)
{
    for (int64_t i = 0; i < n; i++) {
        double z;
        do {
            z = nl_rng_normal(r);
        } while (z < -3.0 || z > 3.0);
        p[i] = (float)(std * z);
    }
}

static bool name_has(const char *name, const char *suffix)
{
    size_t a = strlen(name), b = strlen(suffix);
    return a >= b && !strcmp(name + a - b, suffix);
}

static void init_params(nl_model *m, float *host)
{
    nl_rng r;
    nl_rng_seed(&r, m->cfg.train.seed * 0x9e3779b97f4a7c15ULL + 17);
    int L = m->L, C = m->C;
    double beta = pow(8.0 * L, -0.25);
    for (int i = 0; i < m->n_tensors; i++) {
        const nl_tensor *t = &m->tensors[i];
        float *p = host + t->offset;
        if (t->kind == NL_TK_NORM_GAIN) {
            for (int64_t j = 0; j < t->numel; j++)
                p[j] = 1.0f;
            continue;
        }
        if (t->kind == NL_TK_NORM_BIAS) {
            memset(p, 0, sizeof(float) * (size_t)t->numel);
            continue;
        }
        bool out_proj = name_has(t->name, "attn.out.weight") || name_has(t->name, "down.weight");
        switch (m->cfg.model.init) {
        case NL_INIT_MEGATRON: {
            double std = sqrt(2.0 / (5.0 * C));
            if (out_proj)
                std /= sqrt(2.0 * L);
            fill_trunc_normal(&r, p, t->numel, std);
            break;
        }
        case NL_INIT_DEEPNORM: {
            int rows = t->shape[0], cols = t->shape[1];
            if (name_has(t->name, "attn.qkv.weight")) {
                /* q and k rows gain 1, v rows gain beta; each a (C,C) projection */
                double s = sqrt(2.0 / (C + C));
                fill_normal(&r, p, (int64_t)2 * C * C, s);
                fill_normal(&r, p + (int64_t)2 * C * C, (int64_t)C * C, beta * s);
            } else if (out_proj || name_has(t->name, "up.weight") ||
                       name_has(t->name, "gate.weight")) {
                fill_normal(&r, p, t->numel, beta * sqrt(2.0 / (rows + cols)));
            } else {
                fill_normal(&r, p, t->numel, 0.02);
            }
            break;
        }
        case NL_INIT_NORMAL:
        default:
            fill_normal(&r, p, t->numel, 0.02);
            break;
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* creation                                                                                   */

static int alloc_norm_act(nl_model *m, norm_act *a, int64_t rows, int cols, bool want)
{
    memset(a, 0, sizeof *a);
    if (!want)
        return 0;
    a->out = balloc(m, sizeof(float) * (size_t)(rows * cols), 1);
    a->mean = balloc(m, sizeof(float) * (size_t)rows, 1);
    a->rstd = balloc(m, sizeof(float) * (size_t)rows, 1);
    return a->out && a->mean && a->rstd ? 0 : -1;
}

#define FA(n) ((float *)balloc(m, sizeof(float) * (size_t)(n), 1))
#define IA(n) ((int32_t *)balloc(m, sizeof(int32_t) * (size_t)(n), 1))
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
    m->params = balloc(m, sizeof(float) * (size_t)m->n_params, 0);
    m->grads = balloc(m, sizeof(float) * (size_t)m->n_params, 0);
    B_(m->params && m->grads);
    {
        float *host = nl_calloc((size_t)m->n_params, sizeof(float));
        H_(host);
        init_params(m, host);
        k->to_device(k, m->params, host, sizeof(float) * (size_t)m->n_params);
        free(host);
    }

    return 0;
}

/* What layer l keeps from forward for backward. */
static int alloc_layer_act(nl_model *m, int l)
{
    nl_kernels *k = m->k;
    const nl_model_config *mc = &m->cfg.model;
    int B = m->B, T = m->T, C = m->C, H = m->H, L = m->L, F = m->F, V = m->V, E = m->E, K = m->K;
    int64_t BT = (int64_t)B * T, BTC = BT * C, NK = BT * K;
    (void)k, (void)mc, (void)T, (void)H, (void)L, (void)F, (void)V, (void)E, (void)NK, (void)BTC;
    layer_act *a = &m->la[l];
    const nl_sublayer_flags *fa = &m->plan.attn[l], *ff = &m->plan.ffn[l];
    B_(!alloc_norm_act(m, &a->sa.pre, BT, C, fa->pre));
    B_(!alloc_norm_act(m, &a->sa.peri, BT, C, fa->peri));
    B_(!alloc_norm_act(m, &a->sf.pre, BT, C, ff->pre));
    B_(!alloc_norm_act(m, &a->sf.peri, BT, C, ff->peri));
    /* post norms write straight into the sublayer output; they only need stats */
    if (fa->post) {
        B_(a->sa.post.mean = FA(BT));
        B_(a->sa.post.rstd = FA(BT));
        B_(a->sa.ypre = FA(BTC));
    }
    if (ff->post) {
        B_(a->sf.post.mean = FA(BT));
        B_(a->sf.post.rstd = FA(BT));
        B_(a->sf.ypre = FA(BTC));
    }
    B_(a->sa.o = FA(BTC));
    B_(a->sf.o = FA(BTC));
    B_(a->qkv = FA(3 * BTC));
    B_(a->q = FA(BTC));
    B_(a->k = FA(BTC));
    B_(a->v = FA(BTC));
    bool rope = mc->pos == NL_POS_ROPE;
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
    if (m->lp[l].moe < 0) {
        B_(a->up = FA(BT * F));
        if (mc->ffn == NL_FFN_SWIGLU)
            B_(a->gate = FA(BT * F));
        B_(a->act = FA(BT * F));
    } else {
        moe_act *ma = nl_calloc(1, sizeof(moe_act) + sizeof(int32_t) * (size_t)(E + 1));
        H_(ma);
        a->moe = ma;
        B_(ma->logits = FA(BT * E));
        B_(ma->probs = FA(BT * E));
        B_(ma->gates = FA(NK));
        B_(ma->wsorted = FA(NK));
        B_(ma->xin = FA(NK * C));
        B_(ma->up = FA(NK * F));
        if (mc->ffn == NL_FFN_SWIGLU)
            B_(ma->gate = FA(NK * F));
        B_(ma->act = FA(NK * F));
        B_(ma->eout = FA(NK * C));
        B_(ma->idx = IA(NK));
        B_(ma->offsets = IA(E + 1));
        B_(ma->rows = IA(NK));
        B_(ma->slots = IA(NK));
    }
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
    B_(m->dup = FA(NK * F));
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
    build_layout(m);
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

/* ---------------------------------------------------------------------------------------- */
/* forward                                                                                    */

#define PP(off) (m->params + (off))
#define GG(off) (m->grads + (off))

/* y (N,out) = x (N,in) @ W^T, W (out,in) */
static void linear_fwd(nl_model *m, float *y, const float *x, int64_t w, int N, int in, int out)
{
    m->k->matmul(m->k, y, x, PP(w), N, out, in, 0, 1, in, in, out, 0, 0, 0, 1, 1.0f, 0.0f);
}
/* dx (N,in) (= or +=) dy (N,out) @ W (out,in) */
static void linear_bwd_x(nl_model *m, float *dx, const float *dy, int64_t w, int N, int in, int out,
                         float beta)
{
    m->k->matmul(m->k, dx, dy, PP(w), N, in, out, 0, 0, out, in, in, 0, 0, 0, 1, 1.0f, beta);
}
/* dW (out,in) += dy^T (out,N) @ x (N,in) */
static void linear_bwd_w(nl_model *m, int64_t w, const float *dy, const float *x, int N, int in,
                         int out)
{
    m->k->matmul(m->k, GG(w), dy, x, out, in, N, 1, 0, out, in, in, 0, 0, 0, 1, 1.0f, 1.0f);
}

static void norm_fwd(nl_model *m, normp p, norm_act *a, float *out, const float *in, int64_t rows,
                     int cols)
{
    float eps = m->cfg.model.norm_eps;
    if (m->cfg.model.norm == NL_NORM_LAYERNORM)
        m->k->layernorm_forward(m->k, out, a->mean, a->rstd, in, PP(p.w), PP(p.b), (int)rows, cols,
                                eps);
    else
        m->k->rmsnorm_forward(m->k, out, a->rstd, in, PP(p.w), (int)rows, cols, eps);
}

/* dinp += N'(in)^T dout */
static void norm_bwd(nl_model *m, normp p, const norm_act *a, float *dinp, const float *dout,
                     const float *in, int64_t rows, int cols)
{
    if (m->cfg.model.norm == NL_NORM_LAYERNORM)
        m->k->layernorm_backward(m->k, dinp, GG(p.w), GG(p.b), dout, in, PP(p.w), a->mean, a->rstd,
                                 (int)rows, cols);
    else
        m->k->rmsnorm_backward(m->k, dinp, GG(p.w), dout, in, PP(p.w), a->rstd, (int)rows, cols);
}

/* Rows per block of the causal attention products: train.attn_chunk when set (at least T:
 * one block, the full product), else the backend's preferred block from the sequence length
 * it names (kernels.h). */
static int attn_chunk_rows(const nl_kernels *k, const nl_config *c, int T)
{
    int n = c->train.attn_chunk;
    if (n <= 0)
        n = k->attn_block_rows > 0 && T >= k->attn_block_from_T ? k->attn_block_rows : T;
    return n >= T ? T : n;
}
#define attn_chunk(T) (m->attn_chunk)

/* Attention through the backend's fused op (kernels.h attention_forward/backward) instead of
 * the pieces: where the backend has one, and under train.attention = auto only in tf32 and
 * bf16. Under fp32 the pieces stay, as the CUDA backend's fused op is then fp32 SIMT code,
 * slower than cuBLAS's fp32 products (GPT-2 small on an H100: 46.0k tok/s fused, 52.7k with
 * the pieces; bf16: 239.7k fused, 184.7k). */
static bool attn_fused(const nl_kernels *k, const nl_config *c)
{
    if (!k->attention_forward || !k->attention_backward)
        return false;
    switch (c->train.attention) {
    case NL_ATTN_FUSED:
        return true;
    case NL_ATTN_PIECES:
        return false;
    case NL_ATTN_AUTO:
    default:
        return c->train.precision != NL_TRAIN_FP32;
    }
}

/* yh (BH,T,D) = causal softmax(scale * qf @ kf^T) @ vf, through att (BH,T,T). */
static void attn_pieces_fwd(nl_model *m, layer_act *a, int BH, int T, int D, float scale)
{
    nl_kernels *k = m->k;
    int64_t sTD = (int64_t)T * D, sTT = (int64_t)T * T;
    /* Causal attention by blocks of query rows: block [q0,q1) only needs keys [0,q1), so the
     * products skip most of the masked upper triangle. Entries of att right of the diagonal
     * inside a block are computed and then zeroed by the softmax, which reads columns <= t. */
    int cs = attn_chunk(T);
    if (k->attn_probs_forward) {
        k->attn_probs_forward(k, a->att, a->yh, a->qf, a->kf, a->vf, BH, T, D, scale, cs);
        return;
    }
    for (int q0 = 0; q0 < T; q0 += cs) {
        int q1 = q0 + cs < T ? q0 + cs : T, rows = q1 - q0;
        k->matmul(k, a->att + (int64_t)q0 * T, a->qf + (int64_t)q0 * D, a->kf, rows, q1, D, 0, 1, D,
                  D, T, sTD, sTD, sTT, BH, scale, 0.0f);
    }
    k->softmax_causal_forward(k, a->att, BH, T);
    for (int q0 = 0; q0 < T; q0 += cs) {
        int q1 = q0 + cs < T ? q0 + cs : T, rows = q1 - q0;
        k->matmul(k, a->yh + (int64_t)q0 * D, a->att + (int64_t)q0 * T, a->vf, rows, D, q1, 0, 0, T,
                  D, D, sTT, sTD, sTD, BH, 1.0f, 0.0f);
    }
}

static void attn_fwd(nl_model *m, int l, int B)
{
    nl_kernels *k = m->k;
    layer_params *p = &m->lp[l];
    layer_act *a = &m->la[l];
    const nl_sublayer_flags *f = &m->plan.attn[l];
    int T = m->T, C = m->C, H = m->H, D = m->D, BH = B * H;
    int64_t BT = (int64_t)B * T, BHT = (int64_t)BH * T;
    linear_fwd(m, a->qkv, a->sa.h, p->qkv, (int)BT, C, 3 * C);
    k->attn_split(k, a->q, a->k, a->v, a->qkv, B, T, H, D);
    if (f->qk) {
        norm_act qa = {a->qf, a->qn.mean, a->qn.rstd}, ka = {a->kf, a->kn.mean, a->kn.rstd};
        norm_fwd(m, p->qn, &qa, a->qf, a->q, BHT, D);
        norm_fwd(m, p->kn, &ka, a->kf, a->k, BHT, D);
    }
    if (f->v) {
        norm_act va = {a->vf, a->vn.mean, a->vn.rstd};
        norm_fwd(m, p->vn, &va, a->vf, a->v, BHT, D);
    }
    if (m->cfg.model.pos == NL_POS_ROPE) {
        float th = m->cfg.model.rope_theta;
        k->rope_forward(k, a->qf, f->qk ? a->qf : a->q, BH, T, D, th);
        k->rope_forward(k, a->kf, f->qk ? a->kf : a->k, BH, T, D, th);
    }
    float scale = 1.0f / sqrtf((float)D);
    if (m->fused_attn)
        k->attention_forward(k, a->yh, a->lse, a->qf, a->kf, a->vf, BH, T, D, scale);
    else
        attn_pieces_fwd(m, a, BH, T, D, scale);
    k->attn_merge(k, a->y, a->yh, B, T, H, D);
    linear_fwd(m, a->sa.o, a->y, p->out, (int)BT, C, C);
}

static void ffn_act_fwd(nl_model *m, float *act, const float *up, const float *gate, int64_t n)
{
    if (m->cfg.model.ffn == NL_FFN_SWIGLU)
        m->k->swiglu_forward(m->k, act, gate, up, n);
    else
        m->k->gelu_forward(m->k, act, up, n);
}

static void moe_fwd(nl_model *m, int l, int B, float *o)
{
    nl_kernels *k = m->k;
    layer_params *p = &m->lp[l];
    moe_act *ma = m->la[l].moe;
    const float *h = m->la[l].sf.h;
    int C = m->C, F = m->F, E = m->E, K = m->K;
    int N = B * m->T, NK = N * K;
    bool swiglu = m->cfg.model.ffn == NL_FFN_SWIGLU;
    linear_fwd(m, ma->logits, h, p->router, N, C, E);
    k->router_topk(k, ma->probs, ma->idx, ma->gates, ma->logits, N, E, K, m->cfg.model.moe_renorm);
    k->moe_dispatch(k, ma->offsets, ma->rows, ma->slots, ma->idx, N, E, K);
    k->to_host(k, ma->host_offsets, ma->offsets, sizeof(int32_t) * (size_t)(E + 1));
    k->gather_rows(k, ma->xin, h, ma->rows, NK, C);
    /* the gate of each sorted position: gates viewed as (N*K, 1) rows picked by slot */
    k->gather_rows(k, ma->wsorted, ma->gates, ma->slots, NK, 1);
    for (int e = 0; e < E; e++) {
        int s = ma->host_offsets[e], Me = ma->host_offsets[e + 1] - s;
        if (Me <= 0)
            continue;
        linear_fwd(m, ma->up + (int64_t)s * F, ma->xin + (int64_t)s * C, p->e_up[e], Me, C, F);
        if (swiglu)
            linear_fwd(m, ma->gate + (int64_t)s * F, ma->xin + (int64_t)s * C, p->e_gate[e], Me, C,
                       F);
        ffn_act_fwd(m, ma->act + (int64_t)s * F, ma->up + (int64_t)s * F,
                    swiglu ? ma->gate + (int64_t)s * F : NULL, (int64_t)Me * F);
        linear_fwd(m, ma->eout + (int64_t)s * C, ma->act + (int64_t)s * F, p->e_down[e], Me, F, C);
    }
    k->zero(k, o, sizeof(float) * (size_t)N * (size_t)C);
    k->scatter_add_rows(k, o, ma->eout, ma->rows, ma->wsorted, NK, C);
    k->router_losses(k, m->scalars + 1 + 2 * p->moe, ma->probs, ma->logits, ma->idx, N, E, K);
}

static void ffn_fwd(nl_model *m, int l, int B)
{
    layer_params *p = &m->lp[l];
    layer_act *a = &m->la[l];
    int C = m->C, F = m->F;
    int64_t BT = (int64_t)B * m->T;
    if (p->moe >= 0) {
        moe_fwd(m, l, B, a->sf.o);
        return;
    }
    linear_fwd(m, a->up, a->sf.h, p->up, (int)BT, C, F);
    if (p->gate >= 0)
        linear_fwd(m, a->gate, a->sf.h, p->gate, (int)BT, C, F);
    ffn_act_fwd(m, a->act, a->up, a->gate, BT * F);
    linear_fwd(m, a->sf.o, a->act, p->down, (int)BT, F, C);
}

/* The general sublayer: in -> out (both (B,T,C)). */
static void sublayer_fwd(nl_model *m, int l, int is_ffn, int B, float *in, float *out)
{
    layer_act *a = &m->la[l];
    sub_act *s = is_ffn ? &a->sf : &a->sa;
    const subnorms *np = is_ffn ? &m->lp[l].fn : &m->lp[l].an;
    const nl_sublayer_flags *f = is_ffn ? &m->plan.ffn[l] : &m->plan.attn[l];
    int C = m->C;
    int64_t BT = (int64_t)B * m->T, n = BT * C;
    s->in = in;
    s->out = out;
    if (f->pre) {
        norm_fwd(m, np->pre, &s->pre, s->pre.out, in, BT, C);
        s->h = s->pre.out;
    } else {
        s->h = in;
    }
    if (is_ffn)
        ffn_fwd(m, l, B);
    else
        attn_fwd(m, l, B);
    float *o = s->o;
    if (f->peri) {
        norm_fwd(m, np->peri, &s->peri, s->peri.out, s->o, BT, C);
        o = s->peri.out;
    }
    const float *r = f->res_from_normed ? s->h : in;
    float *y = f->post ? s->ypre : out;
    m->k->add_scaled(m->k, y, f->alpha, r, o, n);
    if (f->post)
        norm_fwd(m, np->post, &s->post, out, s->ypre, BT, C);
}

int nl_model_forward(nl_model *m, const int32_t *tokens, const int32_t *targets, int B, float *loss,
                     float *aux, float *z, nl_error *err)
{
    nl_kernels *k = m->k;
    if (B < 1 || B > m->B)
        return nl_fail(err, NL_ERR_USAGE, "forward: batch %d outside [1, %d]", B, m->B);
    int T = m->T, C = m->C, V = m->V, L = m->L;
    int64_t BT = (int64_t)B * T, BTC = BT * C;
    for (int64_t i = 0; i < BT; i++) {
        if (tokens[i] < 0 || tokens[i] >= V || (targets && (targets[i] < 0 || targets[i] >= V)))
            return nl_fail(err, NL_ERR_USAGE, "forward: token %d at position %lld outside [0, %d)",
                           tokens[i] < 0 || tokens[i] >= V ? tokens[i] : targets[i], (long long)i,
                           V);
    }
    m->last_B = B;
    k->to_device(k, m->tokens, tokens, sizeof(int32_t) * (size_t)BT);
    if (targets)
        k->to_device(k, m->targets, targets, sizeof(int32_t) * (size_t)BT);
    m->have_targets = targets != NULL;

    k->embed_forward(k, m->emb, m->tokens, PP(m->wte), m->wpe >= 0 ? PP(m->wpe) : NULL, B, T, C);
    float *x0 = m->x;
    if (m->plan.embed_norm)
        norm_fwd(m, m->embed_norm, &m->embn, x0, m->emb, BT, C);
    else
        k->copy(k, x0, m->emb, sizeof(float) * (size_t)BTC);
    /* the residual stream of batch B uses the first B*T*C floats of each (B,T,C) slot */
    int64_t slot = (int64_t)m->B * T * C;
    for (int l = 0; l < L; l++) {
        float *xin = m->x + l * slot, *xmid = m->mid + l * slot, *xout = m->x + (l + 1) * slot;
        sublayer_fwd(m, l, 0, B, xin, xmid);
        sublayer_fwd(m, l, 1, B, xmid, xout);
    }
    float *xl = m->x + (int64_t)L * slot;
    if (m->plan.final_norm)
        norm_fwd(m, m->final_norm, &m->fin, m->fin.out, xl, BT, C);
    m->xf = m->plan.final_norm ? m->fin.out : xl;
    linear_fwd(m, m->logits, m->xf, m->lm_head, (int)BT, C, V);
    float host[1 + 2 * (NL_MAX_LAYERS + 1)];
    int ns = 1 + 2 * m->moe_layers;
    if (targets)
        k->cross_entropy_forward(k, m->losses, m->scalars, m->logits, m->targets, (int)BT, V);
    else
        k->zero(k, m->scalars, sizeof(float));
    k->to_host(k, host, m->scalars, sizeof(float) * (size_t)ns);
    float a_sum = 0, z_sum = 0;
    for (int i = 0; i < m->moe_layers; i++) {
        a_sum += host[1 + 2 * i];
        z_sum += host[2 + 2 * i];
    }
    m->last_aux = a_sum;
    m->last_z = z_sum;
    if (loss)
        *loss = host[0] / (float)BT;
    if (aux)
        *aux = m->moe_layers ? a_sum : NAN;
    if (z)
        *z = m->moe_layers ? z_sum : NAN;
    const char *e = k->last_error ? k->last_error(k) : "";
    if (e && *e)
        return nl_fail(err, NL_ERR_RUN, "%s backend: %s", k->name, e);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* backward                                                                                   */

static void ffn_act_bwd(nl_model *m, float *dup, float *dgate, const float *up, const float *gate,
                        const float *dact, int64_t n)
{
    if (m->cfg.model.ffn == NL_FFN_SWIGLU)
        m->k->swiglu_backward(m->k, dgate, dup, gate, up, dact, n);
    else
        m->k->gelu_backward(m->k, dup, up, dact, n);
}

/* dqf, dkf, dvf (BH,T,D) (overwritten) from dyh, through datt (BH,T,T). */
static void attn_pieces_bwd(nl_model *m, layer_act *a, int BH, int T, int D, float scale)
{
    nl_kernels *k = m->k;
    int64_t BHT = (int64_t)BH * T, sTD = (int64_t)T * D, sTT = (int64_t)T * T;
    /* yh = att @ v, by blocks of query rows as in the forward; dv and dk gather
     * contributions from every block at or below their rows, so they start from zero. */
    int cs = attn_chunk(T);
    if (k->attn_probs_backward) {
        k->attn_probs_backward(k, m->dqf, m->dkf, m->dvf, m->datt, m->dyh, a->qf, a->kf, a->vf,
                               a->att, BH, T, D, scale, cs);
        return;
    }
    size_t qbytes = sizeof(float) * (size_t)BHT * (size_t)D;
    k->zero(k, m->dvf, qbytes);
    k->zero(k, m->dkf, qbytes);
    for (int q0 = 0; q0 < T; q0 += cs) {
        int q1 = q0 + cs < T ? q0 + cs : T, rows = q1 - q0;
        k->matmul(k, m->datt + (int64_t)q0 * T, m->dyh + (int64_t)q0 * D, a->vf, rows, q1, D, 0, 1,
                  D, D, T, sTD, sTD, sTT, BH, 1.0f, 0.0f);
        k->matmul(k, m->dvf, a->att + (int64_t)q0 * T, m->dyh + (int64_t)q0 * D, q1, D, rows, 1, 0,
                  T, D, D, sTT, sTD, sTD, BH, 1.0f, 1.0f);
    }
    k->softmax_causal_backward(k, m->datt, m->datt, a->att, BH, T);
    /* preatt = scale * q @ k^T */
    for (int q0 = 0; q0 < T; q0 += cs) {
        int q1 = q0 + cs < T ? q0 + cs : T, rows = q1 - q0;
        k->matmul(k, m->dqf + (int64_t)q0 * D, m->datt + (int64_t)q0 * T, a->kf, rows, D, q1, 0, 0,
                  T, D, D, sTT, sTD, sTD, BH, scale, 0.0f);
        k->matmul(k, m->dkf, m->datt + (int64_t)q0 * T, a->qf + (int64_t)q0 * D, q1, D, rows, 1, 0,
                  T, D, D, sTT, sTD, sTD, BH, scale, 1.0f);
    }
}

/* dh (B,T,C) (overwrites) from do (B,T,C) */
static void attn_bwd(nl_model *m, int l, int B, const float *dout, float *dh)
{
    nl_kernels *k = m->k;
    layer_params *p = &m->lp[l];
    layer_act *a = &m->la[l];
    const nl_sublayer_flags *f = &m->plan.attn[l];
    int T = m->T, C = m->C, H = m->H, D = m->D, BH = B * H;
    int64_t BT = (int64_t)B * T, BHT = (int64_t)BH * T;
    float scale = 1.0f / sqrtf((float)D);
    /* out projection */
    linear_bwd_w(m, p->out, dout, a->y, (int)BT, C, C);
    linear_bwd_x(m, m->dy, dout, p->out, (int)BT, C, C, 0.0f);
    k->attn_merge_backward(k, m->dyh, m->dy, B, T, H, D);
    if (m->fused_attn)
        k->attention_backward(k, m->dqf, m->dkf, m->dvf, m->dyh, a->qf, a->kf, a->vf, a->yh, a->lse,
                              BH, T, D, scale);
    else
        attn_pieces_bwd(m, a, BH, T, D, scale);
    if (m->cfg.model.pos == NL_POS_ROPE) {
        float th = m->cfg.model.rope_theta;
        k->rope_backward(k, m->dqf, m->dqf, BH, T, D, th);
        k->rope_backward(k, m->dkf, m->dkf, BH, T, D, th);
    }
    const float *dq = m->dqf, *dk = m->dkf, *dv = m->dvf;
    if (f->qk) {
        norm_act qa = {NULL, a->qn.mean, a->qn.rstd}, ka = {NULL, a->kn.mean, a->kn.rstd};
        k->zero(k, m->dq, sizeof(float) * (size_t)(BHT * D));
        k->zero(k, m->dk, sizeof(float) * (size_t)(BHT * D));
        norm_bwd(m, p->qn, &qa, m->dq, m->dqf, a->q, BHT, D);
        norm_bwd(m, p->kn, &ka, m->dk, m->dkf, a->k, BHT, D);
        dq = m->dq;
        dk = m->dk;
    }
    if (f->v) {
        norm_act va = {NULL, a->vn.mean, a->vn.rstd};
        k->zero(k, m->dv, sizeof(float) * (size_t)(BHT * D));
        norm_bwd(m, p->vn, &va, m->dv, m->dvf, a->v, BHT, D);
        dv = m->dv;
    }
    k->attn_split_backward(k, m->dqkv, dq, dk, dv, B, T, H, D);
    linear_bwd_w(m, p->qkv, m->dqkv, a->sa.h, (int)BT, C, 3 * C);
    linear_bwd_x(m, dh, m->dqkv, p->qkv, (int)BT, C, 3 * C, 0.0f);
}

static void moe_bwd(nl_model *m, int l, int B, const float *dout, float *dh)
{
    nl_kernels *k = m->k;
    layer_params *p = &m->lp[l];
    moe_act *ma = m->la[l].moe;
    const float *h = m->la[l].sf.h;
    int C = m->C, F = m->F, E = m->E, K = m->K;
    int N = B * m->T, NK = N * K;
    bool swiglu = m->cfg.model.ffn == NL_FFN_SWIGLU;
    /* o = sum_pos w[pos] * eout[pos] scattered to rows[pos] */
    k->gather_rows(k, m->dg, dout, ma->rows, NK, C);
    k->row_dot(k, m->dw, m->dg, ma->eout, NK, C);
    k->zero(k, m->deout, sizeof(float) * (size_t)NK * (size_t)C);
    k->scatter_add_rows(k, m->deout, m->dg, m->iota, ma->wsorted, NK, C);
    k->zero(k, m->dgates, sizeof(float) * (size_t)NK);
    k->scatter_add_rows(k, m->dgates, m->dw, ma->slots, NULL, NK, 1);
    for (int e = 0; e < E; e++) {
        int s = ma->host_offsets[e], Me = ma->host_offsets[e + 1] - s;
        if (Me <= 0)
            continue;
        int64_t sF = (int64_t)s * F, sC = (int64_t)s * C;
        linear_bwd_w(m, p->e_down[e], m->deout + sC, ma->act + sF, Me, F, C);
        linear_bwd_x(m, m->dact + sF, m->deout + sC, p->e_down[e], Me, F, C, 0.0f);
        ffn_act_bwd(m, m->dup + sF, m->dgate + sF, ma->up + sF, swiglu ? ma->gate + sF : NULL,
                    m->dact + sF, (int64_t)Me * F);
        linear_bwd_w(m, p->e_up[e], m->dup + sF, ma->xin + sC, Me, C, F);
        linear_bwd_x(m, m->dxin + sC, m->dup + sF, p->e_up[e], Me, C, F, 0.0f);
        if (swiglu) {
            linear_bwd_w(m, p->e_gate[e], m->dgate + sF, ma->xin + sC, Me, C, F);
            linear_bwd_x(m, m->dxin + sC, m->dgate + sF, p->e_gate[e], Me, C, F, 1.0f);
        }
    }
    k->zero(k, dh, sizeof(float) * (size_t)N * (size_t)C);
    k->scatter_add_rows(k, dh, m->dxin, ma->rows, NULL, NK, C);
    k->router_backward(k, m->drl, m->dgates, ma->probs, ma->logits, ma->idx, ma->gates, N, E, K,
                       m->cfg.model.moe_renorm, m->cfg.model.moe_aux_loss, m->cfg.model.moe_z_loss);
    linear_bwd_w(m, p->router, m->drl, h, N, C, E);
    linear_bwd_x(m, dh, m->drl, p->router, N, C, E, 1.0f);
}

static void ffn_bwd(nl_model *m, int l, int B, const float *dout, float *dh)
{
    layer_params *p = &m->lp[l];
    layer_act *a = &m->la[l];
    int C = m->C, F = m->F;
    int64_t BT = (int64_t)B * m->T;
    if (p->moe >= 0) {
        moe_bwd(m, l, B, dout, dh);
        return;
    }
    linear_bwd_w(m, p->down, dout, a->act, (int)BT, F, C);
    linear_bwd_x(m, m->dact, dout, p->down, (int)BT, F, C, 0.0f);
    ffn_act_bwd(m, m->dup, m->dgate, a->up, a->gate, m->dact, BT * F);
    linear_bwd_w(m, p->up, m->dup, a->sf.h, (int)BT, C, F);
    linear_bwd_x(m, dh, m->dup, p->up, (int)BT, C, F, 0.0f);
    if (p->gate >= 0) {
        linear_bwd_w(m, p->gate, m->dgate, a->sf.h, (int)BT, C, F);
        linear_bwd_x(m, dh, m->dgate, p->gate, (int)BT, C, F, 1.0f);
    }
}

/* dout: gradient w.r.t. the sublayer output; din (overwritten): w.r.t. its input. */
static void sublayer_bwd(nl_model *m, int l, int is_ffn, int B, const float *dout, float *din)
{
    nl_kernels *k = m->k;
    layer_act *a = &m->la[l];
    sub_act *s = is_ffn ? &a->sf : &a->sa;
    const subnorms *np = is_ffn ? &m->lp[l].fn : &m->lp[l].an;
    const nl_sublayer_flags *f = is_ffn ? &m->plan.ffn[l] : &m->plan.attn[l];
    int C = m->C;
    int64_t BT = (int64_t)B * m->T, n = BT * C;
    size_t bytes = sizeof(float) * (size_t)n;
    const float *dy = dout;
    if (f->post) {
        k->zero(k, m->dypre, bytes);
        norm_bwd(m, np->post, &s->post, m->dypre, dout, s->ypre, BT, C);
        dy = m->dypre;
    }
    /* y = alpha * r + o */
    const float *dor = dy;
    if (f->peri) {
        k->zero(k, m->dperi, bytes);
        norm_bwd(m, np->peri, &s->peri, m->dperi, dy, s->o, BT, C);
        dor = m->dperi;
    }
    if (is_ffn)
        ffn_bwd(m, l, B, dor, m->dh);
    else
        attn_bwd(m, l, B, dor, m->dh);
    if (f->res_from_normed)
        k->axpy(k, m->dh, f->alpha, dy, n);
    if (f->pre) {
        k->zero(k, din, bytes);
        norm_bwd(m, np->pre, &s->pre, din, m->dh, s->in, BT, C);
    } else {
        k->copy(k, din, m->dh, bytes);
    }
    if (!f->res_from_normed)
        k->axpy(k, din, f->alpha, dy, n);
}

int nl_model_backward(nl_model *m, nl_error *err)
{
    nl_kernels *k = m->k;
    if (!m->have_targets)
        return nl_fail(err, NL_ERR_USAGE, "backward: the last forward had no targets");
    int B = m->last_B, T = m->T, C = m->C, V = m->V, L = m->L;
    int64_t BT = (int64_t)B * T, BTC = BT * C;
    size_t bytes = sizeof(float) * (size_t)BTC;
    k->zero(k, m->grads, sizeof(float) * (size_t)m->n_params);
    /* logits -> dlogits in place */
    k->cross_entropy_backward(k, m->logits, m->logits, m->targets, 1.0f / (float)BT, (int)BT, V);
    float *dx = m->dres[0];
    linear_bwd_w(m, m->lm_head, m->logits, m->xf, (int)BT, C, V);
    int64_t slot = (int64_t)m->B * T * C;
    float *xl = m->x + (int64_t)L * slot;
    if (m->plan.final_norm) {
        linear_bwd_x(m, m->dh, m->logits, m->lm_head, (int)BT, C, V, 0.0f);
        k->zero(k, dx, bytes);
        norm_bwd(m, m->final_norm, &m->fin, dx, m->dh, xl, BT, C);
    } else {
        linear_bwd_x(m, dx, m->logits, m->lm_head, (int)BT, C, V, 0.0f);
    }
    int cur = 0;
    for (int l = L - 1; l >= 0; l--) {
        sublayer_bwd(m, l, 1, B, m->dres[cur], m->dres[1 - cur]);
        cur = 1 - cur;
        sublayer_bwd(m, l, 0, B, m->dres[cur], m->dres[1 - cur]);
        cur = 1 - cur;
    }
    float *dx0 = m->dres[cur];
    const float *demb = dx0;
    if (m->plan.embed_norm) {
        float *other = m->dres[1 - cur];
        k->zero(k, other, bytes);
        norm_bwd(m, m->embed_norm, &m->embn, other, dx0, m->emb, BT, C);
        demb = other;
    }
    k->embed_backward(k, GG(m->wte), m->wpe >= 0 ? GG(m->wpe) : NULL, demb, m->tokens, B, T, C);
    const char *e = k->last_error ? k->last_error(k) : "";
    if (e && *e)
        return nl_fail(err, NL_ERR_RUN, "%s backend: %s", k->name, e);
    return 0;
}

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

int nl_model_stats(nl_model *m, float *grad_norm, float *gn_attn, float *gn_ffn, float *rms,
                   nl_moe_stats *moe)
{
    nl_kernels *k = m->k;
    int L = m->L;
    nl_model_grad_sumsq(m, NULL);
    int64_t BTC = (int64_t)m->last_B * m->T * m->C;
    int64_t slot = (int64_t)m->B * m->T * m->C;
    int64_t segs[2];
    for (int l = 0; l < L; l++) {
        segs[0] = (l + 1) * slot;
        segs[1] = segs[0] + BTC;
        k->sumsq_segments(k, m->rms_sumsq + l, m->x, segs, 1);
    }
    int n = m->n_grad_segs;
    float *h = m->host_stats;
    k->to_host(k, h, m->grad_sumsq, sizeof(float) * (size_t)n);
    k->to_host(k, h + n, m->rms_sumsq, sizeof(float) * (size_t)L);
    double tot = 0;
    for (int i = 0; i < m->n_global_segs; i++)
        tot += h[i];
    if (grad_norm)
        *grad_norm = (float)sqrt(tot);
    for (int l = 0; l < L; l++) {
        if (gn_attn)
            gn_attn[l] = sqrtf(h[1 + 2 * l]);
        if (gn_ffn)
            gn_ffn[l] = sqrtf(h[2 + 2 * l]);
        if (rms)
            rms[l] = sqrtf(h[n + l] / (float)BTC);
    }
    if (moe && m->moe_layers) {
        int E = m->E, K = m->K, N = m->last_B * m->T;
        moe->moe_layers = m->moe_layers;
        moe->experts = E;
        float *probs = m->host_probs;
        int j = 0;
        for (int l = 0; l < L; l++) {
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
