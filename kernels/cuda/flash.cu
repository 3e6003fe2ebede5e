/* Fused causal attention (kernels.h attention_forward / attention_backward).
 *
 * Tiles of queries meet tiles of keys and values in shared memory and the softmax is taken
 * online (a running row max m and sum l, the output rescaled when m grows), so the (T,T)
 * scores never reach device memory. The forward saves each row's log-sum-exp; the backward
 * recomputes the probabilities from q, k and it:
 *   p = exp(scale q.k - lse),  dv += p dout,  ds = p (dout.v - Di),  dq += scale ds k,
 *   dk += scale ds q,  with Di = dout_i . out_i.
 * The backward is two kernels and no atomics, so it is deterministic: one block per query
 * tile computes Di and dq, then one block per key tile computes dk and dv. Each recomputes
 * the probabilities it needs (7 tile products per tile pair instead of 5).
 *
 * Two ways, picked per call:
 * - Tensor cores, when the precision is bf16 or tf32, head_dim is 32, 64 or 128 and the tensors
 *   are 16-byte aligned: blocks of 4 or 8 warps (NORMLAB_CUDA_FA_WARPS), each warp 16 query
 *   rows (or 16 keys) against tiles of 64 keys (or queries), mma.sync m16n8k16 with bf16
 *   operands and fp32 accumulation. q, k, v and dout are rounded to bf16 as a tile is loaded;
 *   probabilities and score gradients are rounded before their products; the softmax
 *   statistics, Di and every accumulator stay fp32.
 * - SIMT fp32 otherwise (fp32 precision, other head sizes up to 256): tiles of 32 x 32, 4 warps
 *   of 8 rows, a lane per key (or per query in the dk/dv kernel), every product an fp32 FMA.
 *
 * Causality by tiles: a query tile needs the key tiles up to its last row, and only tiles that
 * cross the diagonal are masked inside (a warp skips a tile wholly past its rows). Blocks with
 * the most tiles are launched first.
 *
 * Files: flash.cu (this: the choice of way, the ops' entry points), flash_tc.cu (the
 * tensor-core kernels), flash_simt.cu (the SIMT kernels), flash.cuh (what they share). */
#include <stdlib.h>
#include <string.h>

#include "flash.cuh"

static bool use_tensor_cores(nl_kernels *k, int D, bool aligned)
{
    return cu_ctx(k)->prec != NL_PREC_FP32 && (D == 32 || D == 64 || D == 128) && aligned;
}

static void cu_attention_forward(nl_kernels *k, float *out, float *lse, const float *q,
                                 const float *kk, const float *v, int BH, int T, int D, float scale)
{
    if (BH <= 0 || T <= 0 || D <= 0)
        return;
    if (D > FA_SIMT_MAX_D) {
        cu_set_error(k, "cuda: attention_forward: head_dim %d > %d", D, FA_SIMT_MAX_D);
        return;
    }
    if (use_tensor_cores(k, D, cu_aligned16(out, q, kk, v))) {
        cu_flash_fwd_tc(k, cu_ctx(k)->fa_warps_f, out, lse, q, kk, v, BH, T, D, scale);
    } else {
        cu_flash_fwd_simt(k, out, lse, q, kk, v, BH, T, D, scale);
    }
    cu_check_launch(k, "attention_forward");
}

static void cu_attention_backward(nl_kernels *k, float *dq, float *dk, float *dv, const float *dout,
                                  const float *q, const float *kk, const float *v, const float *out,
                                  const float *lse, int BH, int T, int D, float scale)
{
    if (BH <= 0 || T <= 0 || D <= 0)
        return;
    if (D > FA_SIMT_MAX_D) {
        cu_set_error(k, "cuda: attention_backward: head_dim %d > %d", D, FA_SIMT_MAX_D);
        return;
    }
    /* Di (BH,T), from the first kernel to the second */
    float *Dg = (float *)cu_scratch(k, sizeof(float) * (size_t)BH * (size_t)T);
    if (!Dg)
        return;
    bool aligned = cu_aligned16(dq, dk, dv, dout, q) && cu_aligned16(kk, v, out);
    if (use_tensor_cores(k, D, aligned)) {
        nl_cu_ctx *c = cu_ctx(k);
        cu_flash_bwd_tc(k, c->fa_warps_q, c->fa_warps_kv, dq, dk, dv, Dg, dout, q, kk, v, out,
                        lse, BH, T, D, scale);
    } else {
        cu_flash_bwd_simt(k, dq, dk, dv, Dg, dout, q, kk, v, out, lse, BH, T, D, scale);
    }
    cu_check_launch(k, "attention_backward");
}

void cu_fill_flash(nl_kernels *k)
{
    k->attention_forward = cu_attention_forward;
    k->attention_backward = cu_attention_backward;
    /* Warps per block of the tensor-core kernels, 4 or 8: NORMLAB_CUDA_FA_WARPS=F,Q,KV for the
     * forward, the dq kernel and the dk/dv kernel. Default 8,4,4: at the GPT-2-small shape the
     * forward took 0.220 ms with 8 (0.253 with 4), the backward 0.785 ms with 4,4 (0.999 with
     * 8,8). */
    nl_cu_ctx *c = cu_ctx(k);
    int w[3] = {8, 4, 4};
    const char *e = getenv("NORMLAB_CUDA_FA_WARPS");
    for (int i = 0; e && *e && i < 3; i++) {
        char *end;
        long n = strtol(e, &end, 10);
        w[i] = n == 8 ? 8 : 4;
        e = *end == ',' ? end + 1 : NULL;
    }
    c->fa_warps_f = w[0];
    c->fa_warps_q = w[1];
    c->fa_warps_kv = w[2];
}
