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

/* A norm over rows of cols features (for a sublayer: rows B*T, cols C; the q/k/v norms:
 * rows B*H*T, cols D, writing into qf/kf/vf). */
typedef struct {
    float *out;  /* (rows, cols) normalised; NULL for a post norm, which writes s_out */
    float *mean; /* (rows); layernorm only */
    float *rstd; /* (rows) */
} norm_act;

/* What one sublayer keeps from forward for backward. */
typedef struct {
    float *in;                /* (B,T,C) s_in (not owned) */
    norm_act pre, peri, post; /* rows B*T, cols C; post has mean and rstd only */
    float *h;                 /* (B,T,C) N_pre(in), or in */
    float *o;                 /* (B,T,C) S(h), before the peri norm */
    float *ypre;              /* (B,T,C) alpha*r + o, before the post norm (only with post) */
    float *out;               /* (B,T,C) s_out (not owned) */
    /* During the forward, where the sublayer's last product adds the residual itself
     * (sublayer_last_fwd): the residual r, and y (out or ypre) that r + o goes to; o is then
     * never written. NULL otherwise. */
    const float *res;
    float *res_to;
} sub_act;

/* One MoE layer's routing and experts. N = B*T tokens, each routed to K experts: N*K slots
 * (slot n*K + j), sorted by expert into N*K positions (kernels.h moe_dispatch). */
typedef struct {
    float *logits;           /* (N,E) router logits */
    float *probs;            /* (N,E) softmax of the logits */
    float *gates;            /* (N,K) gate of each slot */
    float *wsorted;          /* (N*K) gate of each sorted position */
    float *xin;              /* (N*K,C) the input row of each sorted position */
    float *up;               /* (N*K,F); may hold gelu'(up) after the forward (ffn_act_fwd) */
    float *gate;             /* (N*K,F) swiglu only, else NULL */
    float *act;              /* (N*K,F) */
    float *eout;             /* (N*K,C) expert output of each sorted position */
    int32_t *idx;            /* (N,K) the experts of each token */
    int32_t *offsets;        /* (E+1) expert e owns sorted positions [offsets[e], offsets[e+1]) */
    int32_t *rows;           /* (N*K) the token of each sorted position */
    int32_t *slots;          /* (N*K) the slot of each sorted position */
    int32_t host_offsets[1]; /* flexible: E+1 ints follow (allocated with the struct) */
} moe_act;

typedef struct {
    sub_act sa, sf;
    /* attention */
    float *qkv;          /* (B,T,3C) */
    float *q, *k, *v;    /* (B,H,T,D) heads split out of qkv */
    float *qf, *kf, *vf; /* (B,H,T,D) normed and/or rotated q, k, v; alias q, k, v otherwise */
    float *att;          /* (B,H,T,T) causal attention probabilities; NULL when fused */
    float *lse;          /* (B,H,T) row log-sum-exps of the fused attention, which needs no att */
    float *yh;           /* (B,H,T,D) attention output per head */
    float *y;            /* (B,T,C) heads merged, before the out projection */
    norm_act qn, kn, vn; /* mean and rstd (B*H*T) only; the output is qf, kf, vf */
    /* dense ffn */
    float *up;    /* (B,T,F); may hold gelu'(up) after the forward (ffn_act_fwd) */
    float *gate;  /* (B,T,F) swiglu only, else NULL */
    float *act;   /* (B,T,F) */
    moe_act *moe; /* MoE layers only, else NULL */
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
    norm_act embn;             /* rows B*T, cols C */
    float *x;                  /* (L+1,B,T,C) residual stream at block boundaries */
    float *mid;                /* (L,B,T,C) residual stream between attn and ffn */
    layer_act *la;
    norm_act fin;   /* rows B*T, cols C */
    float *xf;      /* (B,T,C) final features (fin.out or x[L]) */
    float *logits;  /* (B,T,V); overwritten by dlogits in backward */
    float *losses;  /* (B*T) */
    float *scalars; /* (1 + 2*(moe_layers+1)): [loss_sum, aux_l.., z_l..] */
    int32_t *iota;  /* (B*T*K) 0,1,2,... */

    /* backward scratch, shared by every layer; N = B*T, K = 1 without MoE */
    float *dres[2];            /* (B,T,C) each: the residual gradient, ping-ponged */
    float *dypre, *dperi, *dh; /* (B,T,C) */
    float *dqkv;               /* (B,T,3C) */
    float *dq, *dk, *dv;       /* (B,H,T,D) */
    float *dqf, *dkf, *dvf;    /* (B,H,T,D) */
    float *datt;               /* (B,H,T,T); NULL when the attention is fused */
    float *dyh;                /* (B,H,T,D) */
    float *dy;                 /* (B,T,C) */
    /* (N*K,F); a dense layer uses the first (N,F). dact: the gradient at the activation's
     * output, overwritten in place by the one at up's output; dgate: swiglu only. */
    float *dgate, *dact;
    float *deout, *dg, *dxin; /* (N*K,C) MoE only */
    float *dw;                /* (N*K) MoE only: per sorted position */
    float *dgates;            /* (N,K) MoE only: per slot */
    float *drl;               /* (N,E) MoE only: router logits */

    /* stats */
    int64_t *grad_segs; /* (n_grad_segs + 1) host: offsets into the gradients */
    int n_grad_segs, n_global_segs;
    float *grad_sumsq; /* (n_grad_segs) sum of squares per gradient segment */
    int64_t *rms_segs; /* (L+1) host: offsets of the blocks of x (B*T*C apart) */
    float *rms_sumsq;  /* (L) sum of squares of x after each block (x[1..L]) */
    int last_B;
    bool have_targets;
    float last_aux, last_z;
    float *host_stats; /* (n_grad_segs + L + 1) host scratch for nl_model_stats */
    float *host_probs; /* (B*T,E) host scratch; MoE only */
    bool *grad_set;    /* (n_tensors) host: a product has written the tensor's gradient in this
                          backward (linear_bwd_w) */
    int attn_chunk;    /* query rows per block of the causal attention products */
    bool fused_attn;   /* the backend's attention_forward/backward, not the pieces */

    /* owned allocations */
    void **allocs;
    int n_allocs, cap_allocs;
    int64_t act_bytes;
    bool oom; /* a host allocation of the layout failed: creation fails */
};

/* model_layout.c */
void *nl_model_balloc(nl_model *m, size_t bytes, int count_act);
void nl_model_build_layout(nl_model *m);
/* The index of the tensor that starts at offset off, or -1. */
int nl_model_tensor_at(const nl_model *m, int64_t off);
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
/* dW (out,in) = dy^T (out,N) @ x (N,in) where this is the backward's first product into the
 * gradient of W (it is not cleared first: nl_model_backward), else += */
static inline void linear_bwd_w(nl_model *m, int64_t w, const float *dy, const float *x, int N,
                                int in, int out)
{
    int t = nl_model_tensor_at(m, w);
    float beta = t < 0 || m->grad_set[t] ? 1.0f : 0.0f;
    if (t >= 0)
        m->grad_set[t] = true;
    m->k->matmul(m->k, GG(w), dy, x, out, in, N, 1, 0, out, in, in, 0, 0, 0, 1, 1.0f, beta);
}

/* The sublayer's last product, S(h) = x (N,in) @ W^T (N,C): into s->o, or, where the sublayer
 * adds its residual in the product (s->res), r + S(h) into s->res_to (kernels.h NL_EP_ADD,
 * the same bits as add_scaled with alpha 1). */
static inline void sublayer_last_fwd(nl_model *m, sub_act *s, const float *x, int64_t w, int N,
                                     int in)
{
    int C = m->C;
    if (s->res)
        m->k->matmul_ep(m->k, s->res_to, x, PP(w), N, C, in, 0, 1, in, in, C, NL_EP_ADD,
                        (float *)s->res, C); /* e is only read by NL_EP_ADD */
    else
        linear_fwd(m, s->o, x, w, N, in, C);
}

/* The GELU step runs inside the products beside it (kernels.h matmul_ep): a GELU FFN on a
 * backend with matmul_ep and gelu_forward_grad (the forward keeps gelu'(up) in up). */
static inline bool gelu_in_product(const nl_model *m)
{
    return m->cfg.model.ffn != NL_FFN_SWIGLU && m->k->gelu_forward_grad && m->k->matmul_ep;
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
 * the pieces: where the backend has one, and under train.attention = auto in tf32 and bf16,
 * and in fp32 from the sequence length the backend names (attn_fused_from_T). The CUDA
 * backend names none: its fused op is then fp32 SIMT code, slower than cuBLAS's fp32
 * products (GPT-2 small on an H100: 46.0k tok/s fused, 52.7k with the pieces; bf16: 239.7k
 * fused, 184.7k). The CPU's (kernels/cpu/ops_attn_flash.inc) gains once the stored
 * probabilities outgrow the caches (cpu.c). */
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
        return c->train.precision != NL_TRAIN_FP32 ||
               (k->attn_fused_from_T > 0 && c->model.seq_len >= k->attn_fused_from_T);
    }
}

/* The backend's attention ops that take strided operands (kernels.h nl_attn_layout): the
 * flash ops under fused attention, else the attn_probs ops; false where it has none. */
static inline bool attn_strided(const nl_model *m)
{
    return m->fused_attn ? m->k->attn_flash_forward != NULL : m->k->attn_probs_forward != NULL;
}

/* Layer l's attention reads q, k and v straight out of qkv (B,T,3C), with no split, where
 * nothing transforms them on the way (no q, k or v norm, no RoPE) and the backend's ops take
 * strided operands. */
static inline bool attn_direct(const nl_model *m, int l)
{
    const nl_sublayer_flags *f = &m->plan.attn[l];
    return attn_strided(m) && !f->qk && !f->v && m->cfg.model.pos != NL_POS_ROPE;
}

#endif
