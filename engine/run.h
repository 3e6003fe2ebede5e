/* A run: one model being trained — model, optimizer state, data, schedule, metrics store,
 * run directory files (config.yaml, metrics.csv, events.log, checkpoints). The worker thread
 * (session.h) or the CLI steps it; nothing here is thread-safe on its own. */
#ifndef NL_RUN_H
#define NL_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "ckpt.h"
#include "config.h"
#include "error.h"
#include "metrics.h"
#include "model.h"

typedef enum {
    NL_RUN_READY = 0, /* created, no step taken */
    NL_RUN_RUNNING,
    NL_RUN_PAUSED,
    NL_RUN_FINISHED,  /* reached train.steps */
    NL_RUN_DIVERGED,  /* NaN/Inf or loss blow-up; the last good checkpoint is kept */
    NL_RUN_STOPPED,   /* stopped by the user */
    NL_RUN_FAILED     /* an error (message in nl_run_message) */
} nl_run_state;

const char *nl_run_state_name(nl_run_state s);

typedef struct nl_run nl_run;

typedef struct nl_run_opts {
    const char *out_dir; /* run directory (created); NULL = no files (tests, bench) */
    nl_kernels *kernels; /* backend to use (not owned); NULL = a CPU backend owned by the run */
    int metrics_capacity; /* ring rows; 0 = 4096; negative = no ring (nl_run_metrics is
                             NULL: the rows go to metrics.csv and nl_run_last_row only) */
    const char *resume;   /* checkpoint to resume from (metrics.csv in out_dir is cut back to
                             the checkpoint's step and continued); NULL = a fresh run */
} nl_run_opts;

/* Create a run from a validated config: opens the data, builds the model, allocates every
 * buffer a step needs (none is allocated inside the step loop), writes config.yaml and the
 * metrics.csv header when out_dir is set. */
nl_run *nl_run_create(const nl_config *c, const nl_run_opts *opts, nl_error *err);
void nl_run_free(nl_run *r);

/* Restore model, optimizer, RNG, data position and counters from a checkpoint written by
 * nl_run_save (the config must describe the same model). The metrics after resuming are
 * byte-identical to an uninterrupted run's (time columns aside). */
int nl_run_resume(nl_run *r, const char *ckpt_path, nl_error *err);

/* The weights of model m from checkpoint ck (read from path) into host (num_params floats,
 * in the model's layout); nothing is set on m. Every tensor of m must be in ck with its
 * shape; the error names the file and the tensor. */
int nl_model_weights_from_ckpt(const nl_model *m, const nl_ckpt *ck, const char *path, float *host,
                               nl_error *err);

/* One training step: batch, forward, backward, clip, AdamW, metrics (row pushed to the
 * store and csv), validation every eval_every steps, periodic checkpoint, divergence check.
 * Returns the state after the step (FINISHED after the last step, DIVERGED, FAILED with err
 * set). Stepping a finished/diverged/failed run does nothing and returns its state. */
nl_run_state nl_run_step(nl_run *r, nl_error *err);

/* Write ckpt-STEP.nlck into the run directory now (and prune to keep_ckpts). path_out
 * (may be NULL) receives the file name. */
int nl_run_save(nl_run *r, char *path_out, int path_len, nl_error *err);

/* Mean LM loss over `batches` validation batches. */
int nl_run_eval(nl_run *r, int batches, float *loss, nl_error *err);

void nl_run_set_state(nl_run *r, nl_run_state s); /* pause / resume / stop bookkeeping */
nl_run_state nl_run_get_state(const nl_run *r);
int64_t nl_run_step_index(const nl_run *r); /* steps done */
int64_t nl_run_total_steps(const nl_run *r);
float nl_run_lr(const nl_run *r);           /* lr of the next step */
void nl_run_set_lr_scale(nl_run *r, float scale); /* multiplies the schedule from now on */
double nl_run_entropy_floor(const nl_run *r);     /* NAN when unknown */
/* The loss of a model that knows only the byte frequencies (text, prose); NAN otherwise. */
double nl_run_unigram_level(const nl_run *r);
const char *nl_run_message(const nl_run *r);       /* last event / error, one line */
const char *nl_run_step_way(const nl_run *r);      /* how steps run: "CUDA graph", "plain (...)" */
const char *nl_run_dir(const nl_run *r);           /* NULL when no files */
const nl_config *nl_run_config(const nl_run *r);
nl_model *nl_run_model(nl_run *r);
nl_metrics_store *nl_run_metrics(nl_run *r); /* the ring's consumer side; NULL without one */
/* The row of the latest step taken in this process (arrays owned by the run, valid until the
 * next step); NULL before the first. */
const nl_metrics_row *nl_run_last_row(const nl_run *r);
/* Append a line "time step message" to events.log (no-op without a run directory). */
void nl_run_log_event(nl_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The learning rate of step `step` (0-based) under cfg's schedule. */
float nl_lr_at(const nl_train_config *t, int64_t step);

#endif
