/* The numerical ops behind one table of function pointers (a "backend"). The engine calls
 * ops through an nl_kernels table and never calls BLAS or CUDA itself; the CPU backend lives
 * in kernels/cpu/, the CUDA backend in kernels/cuda/ (a shared object loaded with dlopen).
 *
 * Conventions
 * - Every tensor is fp32, row-major and contiguous unless a leading dimension says otherwise.
 *   Pointers are backend memory (host memory for the CPU backend, device memory for CUDA):
 *   get it from alloc(), move it with to_device()/to_host().
 * - Shapes are explicit integers; the comment beside each op gives them as (dim, dim).
 *   N is "rows" (usually B*T), C is "channels".
 * - Backward ops ACCUMULATE into parameter gradients (dweight, dbias: +=) and, where said,
 *   into input gradients; the engine zeroes gradients once per step.
 * - An op never allocates, never synchronises with the host unless its name says so,
 *   and may run asynchronously (CUDA: on the backend's stream).
 * - Scalars that the engine needs back (loss, sums of squares) are written to backend
 *   memory and copied back once per step with to_host().
 */
#ifndef NL_KERNELS_H
#define NL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef struct nl_kernels nl_kernels;

typedef enum { NL_PREC_FP32 = 0, NL_PREC_TF32 = 1, NL_PREC_BF16 = 2 } nl_precision;

/* Where the rows of a (B, H, T, D) attention operand lie, in elements: row t of head h of
 * sequence b starts at b * b + h * h + t * t. {H*T*D, T*D, D} is the contiguous (B,H,T,D)
 * layout; {T*3C, D, 3C} reads q, k or v straight out of a (B,T,3C) qkv activation (from its
 * first, second or third C-wide part), {T*C, D, C} a (B,T,C) activation, with no copy. */
typedef struct {
    int64_t b, h, t;
} nl_attn_layout;

/* The step of matmul_ep. */
enum { NL_EP_GELU = 1, NL_EP_MUL = 2, NL_EP_ADD = 3 };

struct nl_kernels {
    const char *name; /* "cpu" or "cuda": for messages, never for decisions (the fields
                         below say what a backend is and prefers) */
    void *ctx;        /* backend state (threads, stream, cuBLAS handle, workspace) */

    /* ---- capabilities ---- */
    int is_host; /* 1: backend memory is host memory (CPU); 0: device memory */
    /* Causal attention products by blocks of query rows: rows per block, from a sequence
     * length of attn_block_from_T on (shorter sequences take one block: the saving would
     * not beat the extra calls). */
    int attn_block_rows, attn_block_from_T;
    /* Under fp32, the fused attention ops (attention_forward/backward, attn_flash_*) are the
     * faster choice from this sequence length on; 0: only below fp32. */
    int attn_fused_from_T;

    /* ---- memory and lifetime ---- */
    void *(*alloc)(nl_kernels *k, size_t bytes); /* zero-filled; NULL on failure */
    void (*free)(nl_kernels *k, void *p);
    void (*to_device)(nl_kernels *k, void *dst, const void *host_src, size_t bytes);
    void (*to_host)(nl_kernels *k, void *host_dst, const void *src, size_t bytes); /* syncs */
    void (*copy)(nl_kernels *k, void *dst, const void *src, size_t bytes); /* backend to backend */
    void (*zero)(nl_kernels *k, void *p, size_t bytes);
    void (*sync)(nl_kernels *k);
    void (*destroy)(nl_kernels *k); /* frees ctx and the table itself */
    /* Last backend failure (CUDA error, allocation) as text; "" when none. */
    const char *(*last_error)(nl_kernels *k);
    /* Math precision of matmuls (CPU: always fp32, the call is a no-op). */
    void (*set_precision)(nl_kernels *k, nl_precision p);
    void (*set_threads)(nl_kernels *k, int threads); /* CPU: OpenMP + OpenBLAS threads */
    /* What the backend computes with, in words, and a warning when a setting makes it slower
     * than this machine allows (warn "" when none); either may be NULL. May be NULL itself. */
    void (*describe)(nl_kernels *k, const char **what, const char **warn);
    /* ---- data parallel (engine/dist.h; NULL where the backend has no collective library,
     * and MPI reduces host memory instead) ----
     * comm_id: a new communicator id into id (at most cap bytes; rank 0 makes it and MPI
     * hands it out), its length returned, 0 on failure. comm_init: join the communicator of
     * id as rank of nranks, 0 on success. allreduce_mean: buf (n) = its mean over the ranks,
     * in place, stream-ordered; 0 on success. */
    int (*comm_id)(nl_kernels *k, void *id, int cap);
    int (*comm_init)(nl_kernels *k, const void *id, int len, int rank, int nranks);
    int (*allreduce_mean)(nl_kernels *k, float *buf, int64_t n);

    /* ---- matrix products ----
     * Strided batched GEMM, row-major:
     *   for b in [0,batch): C_b(M,N) = alpha * op(A_b) @ op(B_b) + beta * C_b
     * op(A_b) is (M,K): A_b is (M,K) with row stride lda, or (K,M) when trans_a.
     * op(B_b) is (K,N): B_b is (K,N) with row stride ldb, or (N,K) when trans_b.
     * C_b is (M,N) with row stride ldc. X_b = X + b * stride_x (in floats). */
    void (*matmul)(nl_kernels *k, float *c, const float *a, const float *b, int M, int N, int K,
                   int trans_a, int trans_b, int lda, int ldb, int ldc, int64_t stride_a,
                   int64_t stride_b, int64_t stride_c, int batch, float alpha, float beta);

    /* ---- norms over the last dimension (eps given) ----
     * out, inp (N,C); weight, bias (C); mean, rstd (N) saved for backward.
     * bias may be NULL (treated as 0). out may not alias inp. */
    void (*layernorm_forward)(nl_kernels *k, float *out, float *mean, float *rstd, const float *inp,
                              const float *weight, const float *bias, int N, int C, float eps);
    /* dinp (N,C) +=; dweight, dbias (C) += (dbias may be NULL). */
    void (*layernorm_backward)(nl_kernels *k, float *dinp, float *dweight, float *dbias,
                               const float *dout, const float *inp, const float *weight,
                               const float *mean, const float *rstd, int N, int C);
    /* out = inp * rstd * weight, rstd = 1/sqrt(mean(inp^2) + eps); rstd (N) saved. */
    void (*rmsnorm_forward)(nl_kernels *k, float *out, float *rstd, const float *inp,
                            const float *weight, int N, int C, float eps);
    /* dinp (N,C) +=; dweight (C) +=. */
    void (*rmsnorm_backward)(nl_kernels *k, float *dinp, float *dweight, const float *dout,
                             const float *inp, const float *weight, const float *rstd, int N, int C);

    /* ---- embeddings ----
     * out (B,T,C) = wte[tokens[b,t]] + (wpe ? wpe[t] : 0); tokens (B,T) int32; wte (V,C);
     * wpe (T,C) or NULL. */
    void (*embed_forward)(nl_kernels *k, float *out, const int32_t *tokens, const float *wte,
                          const float *wpe, int B, int T, int C);
    /* dwte (V,C) +=, dwpe (T,C) += (dwpe may be NULL). Deterministic order. */
    void (*embed_backward)(nl_kernels *k, float *dwte, float *dwpe, const float *dout,
                           const int32_t *tokens, int B, int T, int C);

    /* ---- attention pieces (H heads, head size D, C = H*D) ----
     * qkv (B,T,3C) with q, k, v in that order along the last axis, each (H,D).
     * split: q, k, v (B,H,T,D). */
    void (*attn_split)(nl_kernels *k, float *q, float *kk, float *v, const float *qkv, int B, int T,
                       int H, int D);
    /* dqkv (B,T,3C) = (dq, dk, dv) permuted back (overwrites). */
    void (*attn_split_backward)(nl_kernels *k, float *dqkv, const float *dq, const float *dk,
                                const float *dv, int B, int T, int H, int D);
    /* y (B,H,T,D) -> out (B,T,C). */
    void (*attn_merge)(nl_kernels *k, float *out, const float *y, int B, int T, int H, int D);
    /* dout (B,T,C) -> dy (B,H,T,D) (overwrites). */
    void (*attn_merge_backward)(nl_kernels *k, float *dy, const float *dout, int B, int T, int H,
                                int D);
    /* RoPE, rotate-half form: for i < D/2, with f = pos * theta^(-2i/D):
     *   out[i] = x[i] cos f - x[i+D/2] sin f;  out[i+D/2] = x[i+D/2] cos f + x[i] sin f.
     * x, out (BH,T,D), pos = t. In place allowed (out == x). */
    void (*rope_forward)(nl_kernels *k, float *out, const float *x, int BH, int T, int D,
                         float theta);
    /* dx (BH,T,D) = R^T dout (overwrites; in place allowed). */
    void (*rope_backward)(nl_kernels *k, float *dx, const float *dout, int BH, int T, int D,
                          float theta);
    /* Causal softmax over the last axis of att (BH,T,T), in place: row t keeps columns <= t
     * and zeroes the rest; it reads only columns <= t (the engine leaves the rest unwritten).
     * The 1/sqrt(D) scale is applied by the matmul before it. */
    void (*softmax_causal_forward)(nl_kernels *k, float *att, int BH, int T);
    /* datt (BH,T,T) -> dpre (BH,T,T) (overwrites; dpre may equal datt); reads only columns
     * <= t of datt and att. */
    void (*softmax_causal_backward)(nl_kernels *k, float *dpre, const float *datt, const float *att,
                                    int BH, int T);
    /* Optional (NULL: the engine calls the pieces): causal attention through stored
     * probabilities, the matmuls and softmaxes above fused head by head, in blocks of cs query
     * rows (block [q0,q1) needs keys [0,q1)); results equal to the pieces'.
     *   att (BH,T,T) = causal softmax(scale * q kk^T); yh = att v.
     * q, kk, v laid out as *in, yh as *out (BH = B*H heads). Row t of block [q0,q1) of att
     * holds zeros on (t, q1); its columns from q1 on are left unwritten (the backward never
     * reads them). */
    void (*attn_probs_forward)(nl_kernels *k, float *att, float *yh, const float *q,
                               const float *kk, const float *v, int B, int H, int T, int D,
                               const nl_attn_layout *in, const nl_attn_layout *out, float scale,
                               int cs);
    /* dq, dk, dv (overwrite; laid out as *in, as q, kk, v are) from dyh (laid out as *out)
     * and the forward's att; datt (BH,T,T) is scratch. */
    void (*attn_probs_backward)(nl_kernels *k, float *dq, float *dk, float *dv, float *datt,
                                const float *dyh, const float *q, const float *kk,
                                const float *v, const float *att, int B, int H, int T, int D,
                                const nl_attn_layout *in, const nl_attn_layout *out, float scale,
                                int cs);
    /* Optional (NULL: the engine uses the fused ops below or the pieces): causal attention
     * that keeps no probabilities, as attention_forward/backward below but with q, kk, v (and
     * dq, dk, dv) laid out as *in and yh (and dyh) as *out:
     *   yh[t] = sum_{j<=t} softmax_j(scale * q[t].kk[j]) v[j];  lse (BH,T) = the log-sum-exp
     * of each row's scaled scores. The backward computes the probabilities again from q, kk
     * and lse; dq, dk, dv overwrite. */
    void (*attn_flash_forward)(nl_kernels *k, float *yh, float *lse, const float *q,
                               const float *kk, const float *v, int B, int H, int T, int D,
                               const nl_attn_layout *in, const nl_attn_layout *out, float scale);
    void (*attn_flash_backward)(nl_kernels *k, float *dq, float *dk, float *dv, const float *dyh,
                                const float *q, const float *kk, const float *v, const float *yh,
                                const float *lse, int B, int H, int T, int D,
                                const nl_attn_layout *in, const nl_attn_layout *out, float scale);

    /* ---- activations ----
     * GELU, tanh approximation. out, x (n). */
    void (*gelu_forward)(nl_kernels *k, float *out, const float *x, int64_t n);
    /* dx (n) = dout * gelu'(x) (overwrites; may alias dout). */
    void (*gelu_backward)(nl_kernels *k, float *dx, const float *x, const float *dout, int64_t n);
    /* Optional (NULL: gelu_forward, and gelu_backward in the backward): out (n) = gelu(x)
     * and grad (n) = gelu'(x) in the same pass (grad may alias x); the backward is then
     * mul(dout, grad), the same bits as gelu_backward, without computing exp again. */
    void (*gelu_forward_grad)(nl_kernels *k, float *out, float *grad, const float *x, int64_t n);
    /* y (n) *= x (n). Optional, with gelu_forward_grad. */
    void (*mul)(nl_kernels *k, float *y, const float *x, int64_t n);
    /* Optional, with gelu_forward_grad (NULL: matmul, then gelu_forward_grad or mul): one
     * product as matmul computes it (alpha 1, beta 0) whose output passes through a step
     * while each block of it is still in cache; e (M,N) has row stride lde.
     *   NL_EP_GELU  c = gelu(op(A) op(B)), e = gelu'(op(A) op(B))  (gelu_forward_grad's bits)
     *   NL_EP_MUL   c = op(A) op(B) * e                             (mul's bits)
     *   NL_EP_ADD   c = op(A) op(B) + e       (add_scaled's bits, alpha 1: a residual) */
    void (*matmul_ep)(nl_kernels *k, float *c, const float *a, const float *b, int M, int N,
                      int K, int trans_a, int trans_b, int lda, int ldb, int ldc, int ep,
                      float *e, int lde);
    /* out (N,H) = silu(gate) * up; gate, up (N,H). */
    void (*swiglu_forward)(nl_kernels *k, float *out, const float *gate, const float *up, int64_t n);
    /* dgate, dup (n) (overwrite; either may alias dout). */
    void (*swiglu_backward)(nl_kernels *k, float *dgate, float *dup, const float *gate,
                            const float *up, const float *dout, int64_t n);

    /* ---- elementwise ----
     * y (n) = alpha * x + y */
    void (*axpy)(nl_kernels *k, float *y, float alpha, const float *x, int64_t n);
    /* out (n) = alpha * a + b (out may alias a or b). */
    void (*add_scaled)(nl_kernels *k, float *out, float alpha, const float *a, const float *b,
                       int64_t n);

    /* ---- loss ----
     * losses (N) = logsumexp(logits[i]) - logits[i][targets[i]]; logits (N,V); targets int32.
     * loss_sum (1) = sum of losses (deterministic order). */
    void (*cross_entropy_forward)(nl_kernels *k, float *losses, float *loss_sum,
                                  const float *logits, const int32_t *targets, int N, int V);
    /* dlogits (N,V) = scale * (softmax(logits) - onehot(targets)) (overwrites; may alias logits). */
    void (*cross_entropy_backward)(nl_kernels *k, float *dlogits, const float *logits,
                                   const int32_t *targets, float scale, int N, int V);

    /* ---- reductions and optimizer ----
     * For s in [0,nseg): out[s] = sum of x[i]^2 over i in [offsets[s], offsets[s+1]).
     * offsets (nseg+1) is HOST memory; out (nseg) backend memory. Deterministic. */
    void (*sumsq_segments)(nl_kernels *k, float *out, const float *x, const int64_t *offsets,
                           int nseg);
    /* scale_out (2): [0] = sqrt(sum(sumsq[0..n))) (the global norm),
     * [1] = max_norm > 0 && norm > max_norm ? max_norm / (norm + 1e-6) : 1. */
    void (*clip_scale)(nl_kernels *k, float *scale_out, const float *sumsq, int n, float max_norm);
    /* AdamW on n elements; g_eff = grad * (*grad_scale) (grad_scale is backend memory, or NULL
     * for 1). m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
     * p -= lr * ( (m / bc1) / (sqrt(v / bc2) + eps) + wd * p ), bc_i = 1 - b_i^t. */
    void (*adamw)(nl_kernels *k, float *p, const float *grad, float *m, float *v, int64_t n,
                  float lr, float b1, float b2, float eps, float wd, float bc1, float bc2,
                  const float *grad_scale);
    /* The same with the step's scalars in backend memory, so that a captured step (below)
     * needs no new launch arguments: hyper (4) = [lr, bc1, bc2, skip]; when skip != 0 nothing
     * changes. Same arithmetic as adamw, so the same bits for the same values. Optional (NULL:
     * the engine updates with adamw and decides on the host). */
    void (*adamw_dev)(nl_kernels *k, float *p, const float *grad, float *m, float *v, int64_t n,
                      float b1, float b2, float eps, float wd, const float *hyper,
                      const float *grad_scale);
    /* flag (1) = 1 when loss_sum[0] / loss_div or (float)sqrt(sum of sumsq[0..n), added in
     * double in index order) is not finite, else 0: the host's test for a bad step, made on the
     * backend. Optional, with adamw_dev. */
    void (*step_guard)(nl_kernels *k, float *flag, const float *loss_sum, float loss_div,
                       const float *sumsq, int n);

    /* ---- Mixture of Experts ----
     * probs (N,E) = softmax(logits (N,E)); idx (N,K) int32 = the K largest probs (ties: lower
     * index first), in descending order; gates (N,K) = probs at idx, divided by their sum when
     * renorm. */
    void (*router_topk)(nl_kernels *k, float *probs, int32_t *idx, float *gates,
                        const float *logits, int N, int E, int K, int renorm);
    /* out (M,C) = inp[rows[m]] ; rows (M) int32 in [0,N). */
    void (*gather_rows)(nl_kernels *k, float *out, const float *inp, const int32_t *rows, int M,
                        int C);
    /* out[rows[m]] += (w ? w[m] : 1) * inp[m] for m in [0,M); out (N,C), inp (M,C).
     * Deterministic: for each output row, contributions are added in increasing m. */
    void (*scatter_add_rows)(nl_kernels *k, float *out, const float *inp, const int32_t *rows,
                             const float *w, int M, int C);
    /* dots (M) = sum_c a[m,c] * b[m,c] (overwrites); a, b (M,C). */
    void (*row_dot)(nl_kernels *k, float *dots, const float *a, const float *b, int M, int C);
    /* Counting sort of the N*K routed slots by expert, stable in slot order (slot s = n*K + j):
     * offsets (E+1) int32, expert e owns sorted positions [offsets[e], offsets[e+1]);
     * rows (N*K) = the token n of each sorted position; slots (N*K) = its slot n*K+j. */
    void (*moe_dispatch)(nl_kernels *k, int32_t *offsets, int32_t *rows, int32_t *slots,
                         const int32_t *idx, int N, int E, int K);
    /* out (2) = [aux, z]: aux = E * sum_e f_e * P_e with f_e = (slots routed to e)/(N*K) and
     * P_e = mean_n probs[n,e]; z = mean_n logsumexp(logits[n])^2. probs, logits (N,E). */
    void (*router_losses)(nl_kernels *k, float *out, const float *probs, const float *logits,
                          const int32_t *idx, int N, int E, int K);
    /* dlogits (N,E) (overwrites) = gradient of  sum_{n,j} dgates[n,j] * gates[n,j]
     * + aux_coef * aux + z_coef * z  with respect to the router logits, f_e held fixed.
     * dgates (N,K); renorm as in router_topk. */
    void (*router_backward)(nl_kernels *k, float *dlogits, const float *dgates, const float *probs,
                            const float *logits, const int32_t *idx, const float *gates, int N,
                            int E, int K, int renorm, float aux_coef, float z_coef);

    /* ---- fused causal attention (optional: NULL in a backend without it, and then the
     * engine uses the matmul and softmax pieces above) ----
     * q, kk, v, out (BH,T,D); lse (BH,T) = the log-sum-exp of each row's scaled, masked
     * scores, saved for backward:
     *   out[t] = sum_{j<=t} softmax_j(scale * q[t].kk[j]) v[j].
     * Products at the backend's precision (CUDA: fp32 under NL_PREC_FP32, bf16 operands with
     * fp32 accumulation under tf32 and bf16). */
    void (*attention_forward)(nl_kernels *k, float *out, float *lse, const float *q,
                              const float *kk, const float *v, int BH, int T, int D, float scale);
    /* dq, dk, dv (BH,T,D) (overwrite) from dout (BH,T,D), the inputs and the forward's out and
     * lse. */
    void (*attention_backward)(nl_kernels *k, float *dq, float *dk, float *dv, const float *dout,
                               const float *q, const float *kk, const float *v, const float *out,
                               const float *lse, int BH, int T, int D, float scale);

    /* ---- captured steps (optional: all NULL in a backend without them, and then the engine
     * queues every op of every step) ----
     * graph_begin starts recording the ops queued from now on instead of running them;
     * graph_end stops and returns a launchable graph, or NULL with the reason in why (a
     * recorded op that cannot be captured, such as a buffer that had to grow): nothing
     * recorded has run, and last_error() is as it was before graph_begin. graph_launch
     * queues the whole recording once. The graph holds the pointers and launch arguments of
     * its recording, so buffers it uses must stay where they are: graph_epoch changes when the
     * backend replaces a buffer of its own (scratch, workspaces), and a graph recorded under
     * another epoch must be recorded again. It also keeps the precision of its recording. */
    int (*graph_begin)(nl_kernels *k);
    void *(*graph_end)(nl_kernels *k, char *why, size_t why_len);
    int (*graph_launch)(nl_kernels *k, void *graph);
    void (*graph_free)(nl_kernels *k, void *graph);
    uint64_t (*graph_epoch)(nl_kernels *k);
    /* Host memory that backend copies reach without staging (CUDA: pinned), and a queued copy
     * into it that is complete after sync(). */
    void *(*host_alloc)(nl_kernels *k, size_t bytes);
    void (*host_free)(nl_kernels *k, void *p);
    void (*to_host_async)(nl_kernels *k, void *host_dst, const void *src, size_t bytes);
    /* Best rate, in GFLOP/s, of n x n x n products with bf16 inputs already in backend memory
     * and fp32 accumulation (the denominator of bf16 model-FLOP utilisation); 0 when it cannot
     * be measured. Optional. */
    double (*bf16_peak_gflops)(nl_kernels *k, int n);
};

/* The CPU backend (always present). */
nl_kernels *nl_kernels_cpu_create(int threads);

/* The OPENBLAS_CORETYPE value ("SkylakeX", "Haswell" or "SandyBridge") that gives OpenBLAS the
 * kernel of this CPU's SIMD level, when OpenBLAS chose an older kernel by itself (a build
 * older than the CPU falls back to Prescott); NULL when it runs the CPU's level, does not
 * name its kernel, or OPENBLAS_CORETYPE is set. *chose: the kernel OpenBLAS chose. */
const char *nl_cpu_native_coretype(const char **chose);

/* The CUDA backend's shared object exports this symbol (kernels/cuda/). */
#define NL_CUDA_ENTRY "nl_kernels_cuda_create"
typedef nl_kernels *(*nl_kernels_cuda_create_fn)(int device, char *errbuf, size_t errlen);

#endif
