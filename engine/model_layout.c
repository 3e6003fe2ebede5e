/* The model's parameter layout (tensors, norms, offsets) and the initialisation of the
 * parameters (model_internal.h). */
#include "model_internal.h"

void *nl_model_balloc(nl_model *m, size_t bytes, int count_act)
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

int nl_model_tensor_at(const nl_model *m, int64_t off)
{
    int lo = 0, hi = m->n_tensors - 1; /* tensors lie in the order of their offsets */
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int64_t o = m->tensors[mid].offset;
        if (o == off)
            return mid;
        if (o < off)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
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

/* The norm "PRE.WHAT" over n features when flag is set, else none. */
static normp add_flag_norm(nl_model *m, bool flag, const char *pre, const char *what, int n,
                           nl_tensor_group g, int l)
{
    char name[96];
    snprintf(name, sizeof name, "%s.%s", pre, what);
    return flag ? add_norm(m, name, n, g, l) : NO_NORM;
}

/* A matrix "PRE.WHAT.weight" of (d0, d1). */
static int64_t add_matrix(nl_model *m, const char *pre, const char *what, int d0, int d1,
                          nl_tensor_group g, int l)
{
    char name[96];
    snprintf(name, sizeof name, "%s.%s.weight", pre, what);
    return add_tensor(m, name, 2, d0, d1, NL_TK_MATRIX, g, l);
}

/* Layer l's attention sublayer, in tensor order. */
static void layout_attn(nl_model *m, int l)
{
    layer_params *p = &m->lp[l];
    const nl_sublayer_flags *a = &m->plan.attn[l];
    const nl_tensor_group g = NL_GROUP_ATTN;
    int C = m->C, D = m->D;
    char pre[64];
    p->seg_attn[0] = m->n_params;
    snprintf(pre, sizeof pre, "blocks.%d.attn", l);
    p->an.pre = add_flag_norm(m, a->pre, pre, "pre_norm", C, g, l);
    p->qkv = add_matrix(m, pre, "qkv", 3 * C, C, g, l);
    p->qn = add_flag_norm(m, a->qk, pre, "q_norm", D, g, l);
    p->kn = add_flag_norm(m, a->qk, pre, "k_norm", D, g, l);
    p->vn = add_flag_norm(m, a->v, pre, "v_norm", D, g, l);
    p->out = add_matrix(m, pre, "out", C, C, g, l);
    p->an.peri = add_flag_norm(m, a->peri, pre, "peri_norm", C, g, l);
    p->an.post = add_flag_norm(m, a->post, pre, "post_norm", C, g, l);
    p->seg_attn[1] = m->n_params;
}

/* Layer l's router and experts (pre: "blocks.L.ffn"). */
static void layout_moe(nl_model *m, int l, const char *pre)
{
    layer_params *p = &m->lp[l];
    const nl_tensor_group g = NL_GROUP_FFN;
    int C = m->C, F = m->F;
    char name[96];
    p->moe = m->moe_layers++;
    p->seg_router[0] = m->n_params;
    p->router = add_matrix(m, pre, "router", m->E, C, g, l);
    p->seg_router[1] = m->n_params;
    p->e_up = nl_calloc((size_t)m->E, sizeof(int64_t));   /* (E) */
    p->e_gate = nl_calloc((size_t)m->E, sizeof(int64_t)); /* (E) */
    p->e_down = nl_calloc((size_t)m->E, sizeof(int64_t)); /* (E) */
    p->seg_experts[0] = m->n_params;
    if (!p->e_up || !p->e_gate || !p->e_down)
        m->oom = true;
    for (int e = 0; e < m->E && !m->oom; e++) {
        snprintf(name, sizeof name, "%s.experts.%d", pre, e);
        p->e_up[e] = add_matrix(m, name, "up", F, C, g, l);
        p->e_gate[e] = -1;
        if (m->cfg.model.ffn == NL_FFN_SWIGLU)
            p->e_gate[e] = add_matrix(m, name, "gate", F, C, g, l);
        p->e_down[e] = add_matrix(m, name, "down", C, F, g, l);
    }
    p->seg_experts[1] = m->n_params;
}

/* Layer l's FFN sublayer (dense or MoE), in tensor order. */
static void layout_ffn(nl_model *m, int l)
{
    layer_params *p = &m->lp[l];
    const nl_sublayer_flags *f = &m->plan.ffn[l];
    const nl_tensor_group g = NL_GROUP_FFN;
    int C = m->C, F = m->F;
    char pre[64];
    p->seg_ffn[0] = m->n_params;
    snprintf(pre, sizeof pre, "blocks.%d.ffn", l);
    p->fn.pre = add_flag_norm(m, f->pre, pre, "pre_norm", C, g, l);
    p->up = p->gate = p->down = p->router = -1;
    p->moe = -1;
    if (is_moe_layer(&m->cfg.model, l)) {
        layout_moe(m, l, pre);
    } else {
        p->up = add_matrix(m, pre, "up", F, C, g, l);
        if (m->cfg.model.ffn == NL_FFN_SWIGLU)
            p->gate = add_matrix(m, pre, "gate", F, C, g, l);
        p->down = add_matrix(m, pre, "down", C, F, g, l);
    }
    p->fn.peri = add_flag_norm(m, f->peri, pre, "peri_norm", C, g, l);
    p->fn.post = add_flag_norm(m, f->post, pre, "post_norm", C, g, l);
    p->seg_ffn[1] = m->n_params;
}

void nl_model_build_layout(nl_model *m)
{
    const nl_model_config *mc = &m->cfg.model;
    int C = m->C;
    m->wte = add_tensor(m, "wte.weight", 2, m->V, C, NL_TK_EMBED, NL_GROUP_EMBED, -1);
    m->wpe = mc->pos == NL_POS_LEARNED
                 ? add_tensor(m, "wpe.weight", 2, m->T, C, NL_TK_EMBED, NL_GROUP_EMBED, -1)
                 : -1;
    m->embed_norm = m->plan.embed_norm ? add_norm(m, "embed_norm", C, NL_GROUP_EMBED, -1) : NO_NORM;
    for (int l = 0; l < m->L; l++) {
        layout_attn(m, l);
        layout_ffn(m, l);
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

void nl_model_init_params(nl_model *m, float *host)
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
