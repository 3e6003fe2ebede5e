/* Internal to the run (run.c, run_ckpt.c, run_step.c): struct nl_run and the helpers the
 * pieces share. */
#ifndef NL_RUN_INTERNAL_H
#define NL_RUN_INTERNAL_H

#include "run.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "clock.h"
#include "fsutil.h"
#include "ckpt.h"
#include "data.h"
#include "dist.h"
#include "optim.h"
#include "step.h"
#include "xalloc.h"

struct nl_run {
    nl_config cfg;
    char *config_yaml;
    nl_kernels *k;
    bool own_k;
    nl_model *model;
    nl_optim *optim;
    nl_step *stepper; /* forward, backward, statistics and update: plain or a CUDA graph */
    nl_data *data;
    nl_metrics_store *store;
    char dir[512];
    FILE *csv, *events;
    nl_run_state state;
    int64_t step, tokens;
    double time_s;
    float lr_scale;
    float initial_loss;
    int bad_steps;
    double floor;
    double unigram; /* the data's unigram level (text, prose), NAN otherwise */
    char message[256];
    nl_metrics_row last; /* the latest step's row (arrays: the buffers below) */
    bool has_last;
    int L, moe_layers, E;
    int32_t *tok, *tgt;
    float *gn_attn, *gn_ffn, *rms, *frac, *ent, *gnr, *gne;
    /* data parallel (dist.h): this rank steps rows [dp_rank*B/dp_size, (dp_rank+1)*B/dp_size)
     * of every global batch of B rows; dp_buf packs the batch averages the ranks share */
    int dp_rank, dp_size;
    float *dp_buf; /* (3 + L + M*E + M): loss, aux, z, rms^2 (L), expert frac (M,E), entropy (M) */
};

/* run.c */
int nl_run_csv_truncate_to(const char *path, int64_t keep_step, nl_error *err);
int nl_run_csv_flush(nl_run *r, nl_error *err);

#endif
