/* The model's backward pass (model_internal.h). */
#include "model_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* backward                                                                                   */

/* d (n): the gradient at the activation's output in, the one at up's output out (in place:
 * one buffer fewer to write through the cache); dgate (n): at the gate's output (swiglu). */
static void ffn_act_bwd(nl_model *m, float *d, float *dgate, const float *up, const float *gate,
                        int64_t n)
{
    nl_kernels *k = m->k;
    if (m->cfg.model.ffn == NL_FFN_SWIGLU)
        k->swiglu_backward(k, dgate, d, gate, up, d, n);
    else if (k->gelu_forward_grad)
        k->mul(k, d, up, n); /* up holds gelu'(up) (ffn_act_fwd) */
    else
        k->gelu_backward(k, d, up, d, n);
}

/* d (N,F) (overwrites) = dout (N,C) W (C,F), the gradient at the activation's output, then
 * through the activation (ffn_act_bwd): in one pass through the backend's matmul_ep where it
 * has one and up holds gelu'(up) (ffn_up_act_fwd). */
static void ffn_down_act_bwd(nl_model *m, float *d, float *dgate, const float *dout, int64_t w,
                             float *up, const float *gate, int N, int F, int C)
{
    nl_kernels *k = m->k;
    if (gelu_in_product(m)) {
        k->matmul_ep(k, d, dout, PP(w), N, F, C, 0, 0, C, F, F, NL_EP_MUL, up, F);
        return;
    }
    linear_bwd_x(m, d, dout, w, N, F, C, 0.0f);
    ffn_act_bwd(m, d, dgate, up, gate, (int64_t)N * F);
}

/* dqf, dkf, dvf (BH,T,D) (overwritten) from dyh, through datt (BH,T,T), by the batched
 * matmul and softmax pieces (a backend without the attn_probs ops). */
static void attn_pieces_bwd(nl_model *m, layer_act *a, int BH, int T, int D, float scale)
{
    nl_kernels *k = m->k;
    int64_t BHT = (int64_t)BH * T, sTD = (int64_t)T * D, sTT = (int64_t)T * T;
    /* yh = att @ v, by blocks of query rows as in the forward; dv and dk gather
     * contributions from every block at or below their rows, so they start from zero. */
    int cs = attn_chunk(T);
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

/* dqkv (B,T,3C) (overwrites) from dy (B,T,C) through the per-head q, k, v of the forward
 * (split, then normed or rotated where the plan says). */
static void attn_heads_bwd(nl_model *m, int l, int B, float scale)
{
    nl_kernels *k = m->k;
    layer_params *p = &m->lp[l];
    layer_act *a = &m->la[l];
    const nl_sublayer_flags *f = &m->plan.attn[l];
    int T = m->T, H = m->H, D = m->D, C = m->C, BH = B * H;
    int64_t BHT = (int64_t)BH * T;
    nl_attn_layout in = {(int64_t)H * T * D, (int64_t)T * D, D}, out = {(int64_t)T * C, D, C};
    if (m->fused_attn && k->attn_flash_backward) {
        k->attn_flash_backward(k, m->dqf, m->dkf, m->dvf, m->dy, a->qf, a->kf, a->vf, a->y, a->lse,
                               B, H, T, D, &in, &out, scale);
    } else if (k->attn_probs_backward && !m->fused_attn) {
        k->attn_probs_backward(k, m->dqf, m->dkf, m->dvf, m->datt, m->dy, a->qf, a->kf, a->vf,
                               a->att, B, H, T, D, &in, &out, scale, attn_chunk(T));
    } else {
        k->attn_merge_backward(k, m->dyh, m->dy, B, T, H, D);
        if (m->fused_attn)
            k->attention_backward(k, m->dqf, m->dkf, m->dvf, m->dyh, a->qf, a->kf, a->vf, a->yh,
                                  a->lse, BH, T, D, scale);
        else
            attn_pieces_bwd(m, a, BH, T, D, scale);
    }
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
}

/* dh (B,T,C) (overwrites) from do (B,T,C) */
static void attn_bwd(nl_model *m, int l, int B, const float *dout, float *dh)
{
    nl_kernels *k = m->k;
    layer_params *p = &m->lp[l];
    layer_act *a = &m->la[l];
    int T = m->T, C = m->C, H = m->H, D = m->D;
    int64_t BT = (int64_t)B * T;
    float scale = 1.0f / sqrtf((float)D);
    /* out projection */
    linear_bwd_w(m, p->out, dout, a->y, (int)BT, C, C);
    linear_bwd_x(m, m->dy, dout, p->out, (int)BT, C, C, 0.0f);
    if (attn_direct(m, l)) {
        nl_attn_layout in = {(int64_t)T * 3 * C, D, 3 * C}, out = {(int64_t)T * C, D, C};
        if (m->fused_attn)
            k->attn_flash_backward(k, m->dqkv, m->dqkv + C, m->dqkv + 2 * C, m->dy, a->qkv,
                                   a->qkv + C, a->qkv + 2 * C, a->y, a->lse, B, H, T, D, &in, &out,
                                   scale);
        else
            k->attn_probs_backward(k, m->dqkv, m->dqkv + C, m->dqkv + 2 * C, m->datt, m->dy, a->qkv,
                                   a->qkv + C, a->qkv + 2 * C, a->att, B, H, T, D, &in, &out, scale,
                                   attn_chunk(T));
    } else {
        attn_heads_bwd(m, l, B, scale);
    }
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
        ffn_down_act_bwd(m, m->dact + sF, swiglu ? m->dgate + sF : NULL, m->deout + sC,
                         p->e_down[e], ma->up + sF, swiglu ? ma->gate + sF : NULL, Me, F, C);
        linear_bwd_w(m, p->e_up[e], m->dact + sF, ma->xin + sC, Me, C, F);
        linear_bwd_x(m, m->dxin + sC, m->dact + sF, p->e_up[e], Me, C, F, 0.0f);
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
    ffn_down_act_bwd(m, m->dact, m->dgate, dout, p->down, a->up, a->gate, (int)BT, F, C);
    linear_bwd_w(m, p->up, m->dact, a->sf.h, (int)BT, C, F);
    linear_bwd_x(m, dh, m->dact, p->up, (int)BT, C, F, 0.0f);
    if (p->gate >= 0) {
        linear_bwd_w(m, p->gate, m->dgate, a->sf.h, (int)BT, C, F);
        linear_bwd_x(m, dh, m->dgate, p->gate, (int)BT, C, F, 1.0f);
    }
}

/* dout: gradient w.r.t. the sublayer output; din (overwritten): w.r.t. its input. Returns 1,
 * or 0 where the gradient w.r.t. the input was written over dout instead (a pre-norm with the
 * plain residual: the norm's gradient adds itself to dout, which nothing reads again, where
 * it would add to a copy of it in din). */
static int sublayer_bwd(nl_model *m, int l, int is_ffn, int B, float *dout, float *din)
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
        /* din = alpha dy (the residual) + the norm's gradient, which adds itself in; with
         * the plain residual straight from dout, dout itself is that residual */
        if (!f->res_from_normed && f->alpha == 1.0f && dy == dout) {
            din = dout;
        } else if (f->res_from_normed) {
            k->zero(k, din, bytes);
        } else if (f->alpha == 1.0f) {
            k->copy(k, din, dy, bytes);
        } else {
            k->zero(k, din, bytes);
            k->axpy(k, din, f->alpha, dy, n);
        }
        norm_bwd(m, np->pre, &s->pre, din, m->dh, s->in, BT, C);
        return din != dout;
    } else {
        k->copy(k, din, m->dh, bytes);
        if (!f->res_from_normed)
            k->axpy(k, din, f->alpha, dy, n);
    }
    return 1;
}

/* Zeros over the gradients of the tensors that are not matrices (matrices 0), or of the
 * matrices no product wrote in this backward (matrices 1), a run of adjacent tensors at a time. */
static void clear_grads(nl_model *m, int matrices)
{
    int64_t from = 0, to = 0; /* the run being gathered: [from, to) */
    for (int i = 0; i <= m->n_tensors; i++) {
        const nl_tensor *t = i < m->n_tensors ? &m->tensors[i] : NULL;
        bool clear = t && (matrices ? t->kind == NL_TK_MATRIX && !m->grad_set[i]
                                    : t->kind != NL_TK_MATRIX);
        if (clear && t->offset == to) {
            to += t->numel;
            continue;
        }
        if (to > from)
            m->k->zero(m->k, GG(from), sizeof(float) * (size_t)(to - from));
        from = to = clear ? t->offset : 0;
        to += clear ? t->numel : 0;
    }
}

int nl_model_backward(nl_model *m, nl_error *err)
{
    nl_kernels *k = m->k;
    if (!m->have_targets)
        return nl_fail(err, NL_ERR_USAGE, "backward: the last forward had no targets");
    int B = m->last_B, T = m->T, C = m->C, V = m->V, L = m->L;
    int64_t BT = (int64_t)B * T, BTC = BT * C;
    size_t bytes = sizeof(float) * (size_t)BTC;
    /* A matrix's gradient is written by its product (beta 0, linear_bwd_w); the others add
     * themselves in (norms, embeddings) and start from zero. clear_grads(m, 1) at the end
     * clears any matrix no product reached (an expert given no tokens). */
    memset(m->grad_set, 0, sizeof(bool) * (size_t)m->n_tensors);
    clear_grads(m, 0);
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
        cur ^= sublayer_bwd(m, l, 1, B, m->dres[cur], m->dres[1 - cur]);
        cur ^= sublayer_bwd(m, l, 0, B, m->dres[cur], m->dres[1 - cur]);
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
    clear_grads(m, 1);
    const char *e = k->last_error ? k->last_error(k) : "";
    if (e && *e)
        return nl_fail(err, NL_ERR_RUN, "%s backend: %s", k->name, e);
    return 0;
}
