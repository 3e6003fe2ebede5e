/* The float build of the CPU ops (ops.inc): the ops every CPU backend table points at. */
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include "cpu.h"
#include "gemm.h"

typedef float real;
#define NL_REAL_FLOAT 1
#define NL_OP(name) f32_##name
#include "ops.inc"

/* The step's scalars in backend memory (kernels.h adamw_dev, step_guard): on the CPU that is
 * host memory, so these only read them; the engine's deferred step (engine/step.c) is then
 * the same sequence of ops as a captured one, which lets the CPU tests check it. */
static void f32_adamw_dev(nl_kernels *k, float *p, const float *grad, float *m, float *v,
                          int64_t n, float b1, float b2, float eps, float wd, const float *hyper,
                          const float *grad_scale)
{
    if (hyper[3] != 0.0f)
        return;
    f32_adamw(k, p, grad, m, v, n, hyper[0], b1, b2, eps, wd, hyper[1], hyper[2], grad_scale);
}

static void f32_step_guard(nl_kernels *k, float *flag, const float *loss_sum, float loss_div,
                           const float *sumsq, int n)
{
    double tot = 0;
    for (int i = 0; i < n; i++)
        tot += (double)sumsq[i];
    float loss = loss_sum[0] / loss_div, norm = (float)sqrt(tot);
    flag[0] = isfinite(loss) && isfinite(norm) ? 0.0f : 1.0f;
}

void nl_cpu_fill_ops_f32(nl_kernels *k)
{
    k->adamw_dev = f32_adamw_dev;
    k->step_guard = f32_step_guard;
    k->matmul = f32_matmul;
    k->layernorm_forward = f32_layernorm_forward;
    k->layernorm_backward = f32_layernorm_backward;
    k->rmsnorm_forward = f32_rmsnorm_forward;
    k->rmsnorm_backward = f32_rmsnorm_backward;
    k->embed_forward = f32_embed_forward;
    k->embed_backward = f32_embed_backward;
    k->attn_split = f32_attn_split;
    k->attn_split_backward = f32_attn_split_backward;
    k->attn_merge = f32_attn_merge;
    k->attn_merge_backward = f32_attn_merge_backward;
    k->rope_forward = f32_rope_forward;
    k->rope_backward = f32_rope_backward;
    k->softmax_causal_forward = f32_softmax_causal_forward;
    k->softmax_causal_backward = f32_softmax_causal_backward;
    k->attn_probs_forward = f32_attn_probs_forward;
    k->attn_probs_backward = f32_attn_probs_backward;
    k->attn_flash_forward = f32_attn_flash_forward;
    k->attn_flash_backward = f32_attn_flash_backward;
    k->attention_forward = f32_attention_forward;
    k->attention_backward = f32_attention_backward;
    k->gelu_forward = f32_gelu_forward;
    k->gelu_backward = f32_gelu_backward;
    k->gelu_forward_grad = f32_gelu_forward_grad;
    k->mul = f32_mul;
    k->matmul_ep = f32_matmul_ep;
    k->swiglu_forward = f32_swiglu_forward;
    k->swiglu_backward = f32_swiglu_backward;
    k->axpy = f32_axpy;
    k->add_scaled = f32_add_scaled;
    k->cross_entropy_forward = f32_cross_entropy_forward;
    k->cross_entropy_backward = f32_cross_entropy_backward;
    k->sumsq_segments = f32_sumsq_segments;
    k->clip_scale = f32_clip_scale;
    k->adamw = f32_adamw;
    k->router_topk = f32_router_topk;
    k->gather_rows = f32_gather_rows;
    k->scatter_add_rows = f32_scatter_add_rows;
    k->row_dot = f32_row_dot;
    k->moe_dispatch = f32_moe_dispatch;
    k->router_losses = f32_router_losses;
    k->router_backward = f32_router_backward;
}
