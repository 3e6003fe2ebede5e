/* The transformer and its norm plan (DESIGN.md sections 2 and 3).
 *
 * Parameters live in one flat backend buffer; a tensor table names each tensor (the
 * safetensors / checkpoint names of DESIGN.md section 3) and gives its offset. Gradients and
 * AdamW moments use the same layout. The tensors are ordered so that each "group" is
 * contiguous: [embedding group] [block 0 attn] [block 0 ffn] [block 1 attn] ... [head group],
 * which makes per-layer gradient norms one sumsq_segments call.
 */
#ifndef NL_MODEL_H
#define NL_MODEL_H

#include <stdint.h>

#include "../kernels/kernels.h"
#include "config.h"
#include "error.h"

/* The resolved flags of every sublayer. */
typedef struct nl_plan {
    int layers;
    bool embed_norm, final_norm;
    nl_sublayer_flags attn[NL_MAX_LAYERS], ffn[NL_MAX_LAYERS];
} nl_plan;

/* Fill the plan from the config's placement table (and custom overrides). */
void nl_plan_resolve(const nl_model_config *m, nl_plan *plan);

typedef enum { NL_TK_MATRIX = 0, NL_TK_NORM_GAIN, NL_TK_NORM_BIAS, NL_TK_EMBED } nl_tensor_kind;
typedef enum { NL_GROUP_EMBED = 0, NL_GROUP_ATTN, NL_GROUP_FFN, NL_GROUP_HEAD } nl_tensor_group;

typedef struct nl_tensor {
    char name[96];      /* e.g. "blocks.3.attn.qkv.weight" */
    int64_t offset;     /* in floats, into the flat parameter buffer */
    int64_t numel;
    int ndim;
    int shape[2];       /* [out_features, in_features] for matrices; [n] for vectors */
    nl_tensor_kind kind;
    nl_tensor_group group;
    int layer;          /* block index, -1 for embedding / head tensors */
    bool decay;         /* weight decay applies (matrices; all when train.decay_all) */
} nl_tensor;

typedef struct nl_model nl_model;

/* Build the model for config c on backend k, allocate parameters, gradients and every
 * activation buffer for (batch, seq_len) up front, and initialise the parameters from
 * seed (train.seed) with the config's init. */
nl_model *nl_model_create(const nl_config *c, nl_kernels *k, nl_error *err);
void nl_model_free(nl_model *m);

/* Tensor table. */
int nl_model_num_tensors(const nl_model *m);
const nl_tensor *nl_model_tensor(const nl_model *m, int i);
const nl_tensor *nl_model_find_tensor(const nl_model *m, const char *name);
int64_t nl_model_num_params(const nl_model *m);
const nl_plan *nl_model_plan(const nl_model *m);
const nl_config *nl_model_get_config(const nl_model *m);
nl_kernels *nl_model_kernels(const nl_model *m);

/* Backend pointers to the flat buffers (num_params floats each). */
float *nl_model_params(nl_model *m);
float *nl_model_grads(nl_model *m);

/* Host copies of the parameters / gradients (num_params floats). */
void nl_model_get_params(nl_model *m, float *host);
void nl_model_set_params(nl_model *m, const float *host);
void nl_model_get_grads(nl_model *m, float *host);

/* Forward on tokens (B,T) and targets (B,T) (host int32 arrays, B <= train.batch,
 * T == seq_len). Returns 0; the mean LM loss is in *loss (host), and with MoE the aux and
 * z losses (unweighted) in *aux, *z (may be NULL). When targets is NULL no loss is computed
 * (logits only). */
int nl_model_forward(nl_model *m, const int32_t *tokens, const int32_t *targets, int B,
                     float *loss, float *aux, float *z, nl_error *err);
/* Backward of the last forward: zeroes the gradients and fills them with d(total loss)/dparam,
 * total = LM loss + aux_loss*aux + z_loss*z. */
int nl_model_backward(nl_model *m, nl_error *err);
/* Logits of the last forward, copied to host (B,T,V). */
void nl_model_get_logits(nl_model *m, float *host);

/* Per-step statistics after backward, all host arrays sized by the caller:
 * gn_attn, gn_ffn (layers): L2 norm of that block's attention / FFN parameter gradients;
 * rms (layers): RMS of the residual stream after each block (from the last forward);
 * *grad_norm: global gradient L2 norm. With MoE (moe may be NULL): see nl_moe_stats. */
typedef struct nl_moe_stats {
    int moe_layers, experts;
    float *expert_frac;   /* (moe_layers, experts): fraction of routed slots per expert */
    float *router_entropy;/* (moe_layers): mean entropy of the router distribution, nats */
    float *gn_router;     /* (moe_layers) */
    float *gn_experts;    /* (moe_layers) */
} nl_moe_stats;
int nl_model_stats(nl_model *m, float *grad_norm, float *gn_attn, float *gn_ffn, float *rms,
                   nl_moe_stats *moe);

/* Sums of squares of gradient segments into backend memory (returned): the first
 * *n_global entries partition the whole gradient ([embed] [attn 0] [ffn 0] ... [head]), so
 * their sum is the squared global norm; MoE router/expert segments follow. */
float *nl_model_grad_sumsq(nl_model *m, int *n_global);

/* The pieces of a training step that a captured step (engine/step.c) queues without reading
 * anything back on the host:
 * - nl_model_forward_load: checks the tokens, copies them and the targets (both required) to
 *   the model's fixed backend buffers, and sets the batch size of the ops that follow;
 * - nl_model_forward_ops: queues the forward (embedding to the loss sum), nothing read back;
 * - nl_model_stats_ops: queues the gradient and residual sums of squares of nl_model_stats;
 * - nl_model_stat_buffers: the backend buffers these write: loss (1) the LM loss sum,
 *   grad (*n_grad) the segment sums of nl_model_grad_sumsq (the first *n_global the global
 *   norm's), rms (L) the residual stream's after each block;
 * - nl_model_stats_from: the figures of nl_model_stats from host copies of grad then rms
 *   (*n_grad + L floats), dense models only (no MoE figures).
 * nl_model_forward is load, ops and one read of the loss; nl_model_stats is stats_ops, one
 * read and stats_from (plus the MoE figures). */
int nl_model_forward_load(nl_model *m, const int32_t *tokens, const int32_t *targets, int B,
                          nl_error *err);
void nl_model_forward_ops(nl_model *m);
void nl_model_stats_ops(nl_model *m);
void nl_model_stat_buffers(nl_model *m, float **loss, float **grad, int *n_grad, int *n_global,
                           float **rms);
void nl_model_stats_from(nl_model *m, const float *host, float *grad_norm, float *gn_attn,
                         float *gn_ffn, float *rms);

/* Number of MoE layers (0 for dense). */
int nl_model_moe_layers(const nl_model *m);

/* FLOPs of one training step (forward + backward) per token, counting matmuls as 2*M*N*K
 * including attention's, for model-FLOP utilisation. */
double nl_model_flops_per_token(const nl_model *m);
/* How attention runs, in words: "fused (...)" (no stored probabilities: train.attention and
 * the backend decide, engine/model_internal.h attn_fused) or "stored probabilities". */
const char *nl_model_attention_way(const nl_model *m);
/* Bytes the model holds on its backend: parameters, gradients, activations (no optimizer). */
int64_t nl_model_bytes(const nl_model *m, int64_t *param_bytes, int64_t *grad_bytes,
                       int64_t *act_bytes);

#endif
