/* The model's forward pass (model_internal.h). */
#include "model_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* forward                                                                                    */

/* yh (BH,T,D) = causal softmax(scale * qf @ kf^T) @ vf, through att (BH,T,T), by the
 * batched matmul and softmax pieces (a backend without the attn_probs ops). */
static void attn_pieces_fwd(nl_model *m, layer_act *a, int BH, int T, int D, float scale)
{
    nl_kernels *k = m->k;
    int64_t sTD = (int64_t)T * D, sTT = (int64_t)T * T;
    /* Causal attention by blocks of query rows: block [q0,q1) only needs keys [0,q1), so the
     * products skip most of the masked upper triangle. Entries of att right of the diagonal
     * inside a block are computed and then zeroed by the softmax, which reads columns <= t. */
    int cs = attn_chunk(T);
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

/* y (B,T,C) from qkv (B,T,3C): through q, k, v split per head and normed or rotated where
 * the plan says, or (attn_direct) straight out of qkv. */
static void attn_fwd(nl_model *m, int l, int B)
{
    nl_kernels *k = m->k;
    layer_params *p = &m->lp[l];
    layer_act *a = &m->la[l];
    const nl_sublayer_flags *f = &m->plan.attn[l];
    int T = m->T, C = m->C, H = m->H, D = m->D, BH = B * H;
    int64_t BT = (int64_t)B * T, BHT = (int64_t)BH * T;
    float scale = 1.0f / sqrtf((float)D);
    linear_fwd(m, a->qkv, a->sa.h, p->qkv, (int)BT, C, 3 * C);
    nl_attn_layout in = {(int64_t)T * 3 * C, D, 3 * C}, out = {(int64_t)T * C, D, C};
    if (attn_direct(m, l)) {
        if (m->fused_attn)
            k->attn_flash_forward(k, a->y, a->lse, a->qkv, a->qkv + C, a->qkv + 2 * C, B, H, T, D,
                                  &in, &out, scale);
        else
            k->attn_probs_forward(k, a->att, a->y, a->qkv, a->qkv + C, a->qkv + 2 * C, B, H, T, D,
                                  &in, &out, scale, attn_chunk(T));
        sublayer_last_fwd(m, &a->sa, a->y, p->out, (int)BT, C);
        return;
    }
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
    in = (nl_attn_layout){(int64_t)H * T * D, (int64_t)T * D, D};
    if (m->fused_attn && k->attn_flash_forward)
        k->attn_flash_forward(k, a->y, a->lse, a->qf, a->kf, a->vf, B, H, T, D, &in, &out, scale);
    else if (m->fused_attn)
        k->attention_forward(k, a->yh, a->lse, a->qf, a->kf, a->vf, BH, T, D, scale);
    else if (k->attn_probs_forward)
        k->attn_probs_forward(k, a->att, a->y, a->qf, a->kf, a->vf, B, H, T, D, &in, &out, scale,
                              attn_chunk(T));
    else
        attn_pieces_fwd(m, a, BH, T, D, scale);
    if (!attn_strided(m))
        k->attn_merge(k, a->y, a->yh, B, T, H, D);
    sublayer_last_fwd(m, &a->sa, a->y, p->out, (int)BT, C);
}

/* With the backend's gelu_forward_grad, up is overwritten by gelu'(up): only the backward
 * reads it again (ffn_act_bwd). */
static void ffn_act_fwd(nl_model *m, float *act, float *up, const float *gate, int64_t n)
{
    nl_kernels *k = m->k;
    if (m->cfg.model.ffn == NL_FFN_SWIGLU)
        k->swiglu_forward(k, act, gate, up, n);
    else if (k->gelu_forward_grad)
        k->gelu_forward_grad(k, act, up, up, n);
    else
        k->gelu_forward(k, act, up, n);
}

/* up (N,F) = x (N,in) W^T, then the activation (ffn_act_fwd): in one pass through the
 * backend's matmul_ep where it has one and the FFN is GELU. */
static void ffn_up_act_fwd(nl_model *m, float *act, float *up, const float *gate, const float *x,
                           int64_t w, int N, int in, int F)
{
    nl_kernels *k = m->k;
    if (gelu_in_product(m)) {
        k->matmul_ep(k, act, x, PP(w), N, F, in, 0, 1, in, in, F, NL_EP_GELU, up, F);
        return;
    }
    linear_fwd(m, up, x, w, N, in, F);
    ffn_act_fwd(m, act, up, gate, (int64_t)N * F);
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
        if (swiglu)
            linear_fwd(m, ma->gate + (int64_t)s * F, ma->xin + (int64_t)s * C, p->e_gate[e], Me, C,
                       F);
        ffn_up_act_fwd(m, ma->act + (int64_t)s * F, ma->up + (int64_t)s * F,
                       swiglu ? ma->gate + (int64_t)s * F : NULL, ma->xin + (int64_t)s * C,
                       p->e_up[e], Me, C, F);
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
    if (p->gate >= 0)
        linear_fwd(m, a->gate, a->sf.h, p->gate, (int)BT, C, F);
    ffn_up_act_fwd(m, a->act, a->up, a->gate, a->sf.h, p->up, (int)BT, C, F);
    sublayer_last_fwd(m, &a->sf, a->act, p->down, (int)BT, F);
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
    const float *r = f->res_from_normed ? s->h : in;
    float *y = f->post ? s->ypre : out;
    /* the residual goes into the last product where nothing needs o alone: no peri norm, a
     * residual of weight 1, a dense sublayer, a backend with matmul_ep */
    bool in_product = !f->peri && f->alpha == 1.0f && m->k->matmul_ep &&
                      !(is_ffn && m->lp[l].moe >= 0);
    s->res = in_product ? r : NULL;
    s->res_to = in_product ? y : NULL;
    if (is_ffn)
        ffn_fwd(m, l, B);
    else
        attn_fwd(m, l, B);
    s->res = NULL;
    s->res_to = NULL;
    float *o = s->o;
    if (f->peri) {
        norm_fwd(m, np->peri, &s->peri, s->peri.out, s->o, BT, C);
        o = s->peri.out;
    }
    if (!in_product)
        m->k->add_scaled(m->k, y, f->alpha, r, o, n);
    if (f->post)
        norm_fwd(m, np->post, &s->post, out, s->ypre, BT, C);
}

int nl_model_forward_load(nl_model *m, const int32_t *tokens, const int32_t *targets, int B,
                          nl_error *err)
{
    nl_kernels *k = m->k;
    if (B < 1 || B > m->B)
        return nl_fail(err, NL_ERR_USAGE, "forward: batch %d outside [1, %d]", B, m->B);
    int V = m->V;
    int64_t BT = (int64_t)B * m->T;
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
    return 0;
}

void nl_model_forward_ops(nl_model *m)
{
    nl_kernels *k = m->k;
    int B = m->last_B, T = m->T, C = m->C, V = m->V, L = m->L;
    int64_t BT = (int64_t)B * T, BTC = BT * C;
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
    if (m->have_targets)
        k->cross_entropy_forward(k, m->losses, m->scalars, m->logits, m->targets, (int)BT, V);
    else
        k->zero(k, m->scalars, sizeof(float));
}

int nl_model_forward(nl_model *m, const int32_t *tokens, const int32_t *targets, int B, float *loss,
                     float *aux, float *z, nl_error *err)
{
    nl_kernels *k = m->k;
    if (nl_model_forward_load(m, tokens, targets, B, err))
        return err ? err->code : NL_ERR_USAGE;
    nl_model_forward_ops(m);
    int64_t BT = (int64_t)B * m->T;
    float host[1 + 2 * (NL_MAX_LAYERS + 1)];
    int ns = 1 + 2 * m->moe_layers;
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
