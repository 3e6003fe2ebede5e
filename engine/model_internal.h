/* Internal to the model (model.c, model_layout.c, model_forward.c, model_backward.c,
 * model_stats.c): the layout types, struct nl_model, and the helpers the pieces share. */
#ifndef NL_MODEL_INTERNAL_H
#define NL_MODEL_INTERNAL_H

#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memest.h"
#include "rng.h"
#include "xalloc.h"

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

/* model_layout.c */
void *nl_model_balloc(nl_model *m, size_t bytes, int count_act);
void nl_model_build_layout(nl_model *m);
void nl_model_init_params(nl_model *m, float *host);

/* ---------------------------------------------------------------------------------------- */
/* helpers shared by forward and backward                                                     */

#define PP(off) (m->params + (off))
#define GG(off) (m->grads + (off))

/* y (N,out) = x (N,in) @ W^T, W (out,in) */
static inline void linear_fwd(nl_model *m, float *y, const float *x, int64_t w, int N, int in,
                              int out)
{
    m->k->matmul(m->k, y, x, PP(w), N, out, in, 0, 1, in, in, out, 0, 0, 0, 1, 1.0f, 0.0f);
}
/* dx (N,in) (= or +=) dy (N,out) @ W (out,in) */
static inline void linear_bwd_x(nl_model *m, float *dx, const float *dy, int64_t w, int N, int in,
                                int out, float beta)
{
    m->k->matmul(m->k, dx, dy, PP(w), N, in, out, 0, 0, out, in, in, 0, 0, 0, 1, 1.0f, beta);
}
/* dW (out,in) += dy^T (out,N) @ x (N,in) */
static inline void linear_bwd_w(nl_model *m, int64_t w, const float *dy, const float *x, int N,
                                int in, int out)
{
    m->k->matmul(m->k, GG(w), dy, x, out, in, N, 1, 0, out, in, in, 0, 0, 0, 1, 1.0f, 1.0f);
}

static inline void norm_fwd(nl_model *m, normp p, norm_act *a, float *out, const float *in,
                            int64_t rows, int cols)
{
    float eps = m->cfg.model.norm_eps;
    if (m->cfg.model.norm == NL_NORM_LAYERNORM)
        m->k->layernorm_forward(m->k, out, a->mean, a->rstd, in, PP(p.w), PP(p.b), (int)rows, cols,
                                eps);
    else
        m->k->rmsnorm_forward(m->k, out, a->rstd, in, PP(p.w), (int)rows, cols, eps);
}

/* dinp += N'(in)^T dout */
static inline void norm_bwd(nl_model *m, normp p, const norm_act *a, float *dinp, const float *dout,
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
static inline int attn_chunk_rows(const nl_kernels *k, const nl_config *c, int T)
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
static inline bool attn_fused(const nl_kernels *k, const nl_config *c)
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

#endif
