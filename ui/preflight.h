/* Checks made before the lab starts a race, so a start that cannot work is refused on the
 * setup screen with its reason instead of failing on the worker thread: the run directory
 * can be created and written, each run's data file can be read, and the runs' estimated
 * memory fits in what the machine has available. */
#ifndef UI_PREFLIGHT_H
#define UI_PREFLIGHT_H

#include <stdint.h>

#include "engine/config.h"

/* A rough estimate of the bytes one run takes on a CPU: weights, gradients and the two AdamW
 * moments (4 floats a parameter), plus activations for a (batch, seq_len) step; and its
 * parameter count into *params (may be NULL). */
int64_t preflight_run_bytes(const nl_config *c, int64_t *params);
/* Bytes available for new allocations (MemAvailable), 0 when unknown. */
int64_t preflight_mem_available(void);
/* 0 when the n runs can start with their files under base_dir (created here), else -1 with
 * msg saying which run, what failed, and what to change. */
int preflight_check(const nl_config *cfgs, int n, const char *base_dir, char *msg, int len);

#endif
