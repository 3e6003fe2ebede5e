/* What a config needs in memory, from the config alone (before anything is allocated), and
 * the check of that against the machine. Figures are doubles: a config at the limits of its
 * keys (d_model 8192 x 256 layers, vocab 1M, batch x seq_len 65536^2) needs more bytes than
 * an int64 product of its sizes could be trusted to hold. */
#ifndef NL_MEMEST_H
#define NL_MEMEST_H

#include <stdbool.h>

#include "config.h"
#include "error.h"

typedef struct nl_mem_estimate {
    double params;      /* parameter count (exact) */
    double param_bytes; /* fp32 weights */
    double grad_bytes;  /* their gradients */
    double optim_bytes; /* AdamW's two moments */
    double act_bytes;   /* activations and backward scratch for one step of train.batch */
    double ckpt_bytes;  /* host copies of weights and moments while a checkpoint is written */
    double total;       /* all of the above */
} nl_mem_estimate;

/* The estimate for c with a vocabulary of `vocab` (model.vocab, or the data's when it is 0).
 * fused_attn: attention without the (B, H, T, T) score tensors (the CUDA backend below fp32). */
void nl_mem_estimate_config(const nl_config *c, int vocab, bool fused_attn, nl_mem_estimate *e);

/* Bytes of memory available for a new allocation (MemAvailable), and of physical memory;
 * -1 where unknown. */
double nl_mem_available(double *physical);

/* Refuses (NL_ERR_USAGE) a config whose estimate exceeds the available memory, with the
 * figure, the limit and the keys that set the size. on_host: the whole estimate lives in host
 * memory (CPU backend); otherwise only the checkpoint copies do. */
int nl_mem_check(const nl_config *c, int vocab, bool fused_attn, bool on_host, nl_error *err);

/* "812 MB", "3.2 TB": bytes for people. */
void nl_mem_format(double bytes, char *buf, int len);

#endif
