/* One training step of a model and its optimizer: forward, backward, the statistics of a
 * metrics row, and the AdamW update, made one of three ways with the same bits:
 *
 * - plain: op by op, the loss and the statistics read back on the host between the pieces,
 *   the update skipped by the host when the step is bad (loss or gradient norm not finite);
 * - queued: every op queued at once with the update's scalars in backend memory and the
 *   bad-step test made on the backend (kernels.h adamw_dev, step_guard), then one copy of the
 *   figures back and one synchronisation (the CPU tests run this way);
 * - graph: the queued ops captured once as a CUDA graph and replayed each step (kernels.h
 *   graph_*); the host only copies the batch and [lr, bc1, bc2] in before the launch.
 *
 * train.cuda_graphs picks graph or plain (auto: graph where allowed, i.e. a backend that can
 * capture and a model without MoE layers, whose expert products are sized from routing counts
 * read back in the middle of the forward). The first step of a graph is plain (it sizes the
 * backend's buffers); the capture is made again when the backend has replaced a buffer
 * (graph_epoch). Under auto a capture that fails makes every later step plain; under on it
 * fails the step. */
#ifndef NL_STEP_H
#define NL_STEP_H

#include "config.h"
#include "error.h"
#include "model.h"
#include "optim.h"

typedef struct nl_step nl_step;

typedef enum { NL_STEP_PLAIN = 0, NL_STEP_QUEUED, NL_STEP_GRAPH } nl_step_way;

typedef struct {
    float loss;      /* mean LM loss of the batch */
    float aux, z;    /* MoE losses (NAN for dense models) */
    float grad_norm; /* global gradient norm before clipping */
    bool bad;        /* loss or grad_norm not finite: no update was made */
} nl_step_out;

/* Why model m with optimizer o cannot be captured (NULL when it can). */
const char *nl_step_graph_obstacle(nl_model *m, nl_optim *o);

/* mode = train.cuda_graphs. Fails (naming the key) when mode is on and the step cannot be
 * captured. */
nl_step *nl_step_create(nl_model *m, nl_optim *o, nl_cuda_graphs mode, nl_error *err);
/* A given way (tests); NULL with the reason when the backend cannot make it. */
nl_step *nl_step_create_way(nl_model *m, nl_optim *o, nl_step_way way, nl_error *err);
void nl_step_free(nl_step *s);

/* One step on tokens and targets (B,T) (host) at learning rate lr. gn_attn, gn_ffn, rms (L)
 * and moe as nl_model_stats (any may be NULL; MoE figures come from plain steps only, as MoE
 * is never queued). Returns 0, or an error code with the message in err. */
int nl_step_run(nl_step *s, const int32_t *tok, const int32_t *tgt, int B, float lr, float *gn_attn,
                float *gn_ffn, float *rms, nl_moe_stats *moe, nl_step_out *out, nl_error *err);

nl_step_way nl_step_get_way(const nl_step *s);
/* The way in words, with the reason when it is plain under auto ("plain (MoE layers ...)"). */
const char *nl_step_describe(const nl_step *s);
/* A line for the run's events.log when the last nl_step_run captured or gave up a graph,
 * else ""; cleared by the call. */
const char *nl_step_take_note(nl_step *s);

#endif
