/* Per-step metrics: one record per step, published by the worker thread into a bounded
 * single-producer / single-consumer ring (read by the UI) and appended to metrics.csv.
 * `normlab watch` fills the same store by tailing a run directory's metrics.csv.
 *
 * metrics.csv columns (docs/FORMATS.md): step,tokens,time_s,lr,loss,val_loss,grad_norm,tok_s,
 * then for each layer L: gn_attn_L,gn_ffn_L,rms_L; then with MoE: aux_loss,z_loss and for each
 * MoE layer M: load_M_E (per expert E), entropy_M, gn_router_M, gn_experts_M.
 * Missing values (val_loss between evaluations) are written as empty fields. */
#ifndef NL_METRICS_H
#define NL_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef struct nl_metrics_row {
    int64_t step;   /* 1-based: the step that produced this row */
    int64_t tokens; /* tokens trained on so far */
    double time_s;  /* seconds of training so far (excludes pauses) */
    float lr, loss, val_loss, grad_norm, tok_s; /* val_loss NAN when not evaluated */
    float aux_loss, z_loss;                      /* NAN for dense models */
    /* per layer (layers) */
    float *gn_attn, *gn_ffn, *rms;
    /* MoE (moe_layers * experts, moe_layers x3); NULL for dense models */
    float *expert_frac, *router_entropy, *gn_router, *gn_experts;
} nl_metrics_row;

typedef struct nl_metrics_store nl_metrics_store;

/* A store for a model of `layers` blocks and `moe_layers` MoE layers of `experts` experts.
 * capacity: ring size in rows (rounded up to a power of two). */
nl_metrics_store *nl_metrics_create(int layers, int moe_layers, int experts, int capacity);
void nl_metrics_free(nl_metrics_store *s);
int nl_metrics_layers(const nl_metrics_store *s);
int nl_metrics_moe_layers(const nl_metrics_store *s);
int nl_metrics_experts(const nl_metrics_store *s);

/* Producer side (one thread). Copies row's arrays. When the ring is full the row is
 * dropped from the ring (counted) — metrics.csv still has it. */
void nl_metrics_push(nl_metrics_store *s, const nl_metrics_row *row);
/* Consumer side (one thread): pops the oldest unread row into *out, whose arrays point to
 * storage owned by the store and valid until the next pop. Returns 1 when a row was read,
 * 0 when the ring is empty. */
int nl_metrics_pop(nl_metrics_store *s, nl_metrics_row *out);
int64_t nl_metrics_dropped(const nl_metrics_store *s);

/* metrics.csv */
void nl_metrics_csv_header(FILE *f, int layers, int moe_layers, int experts);
void nl_metrics_csv_row(FILE *f, const nl_metrics_row *row, int layers, int moe_layers,
                        int experts);
/* Parse one data line of metrics.csv whose header gave (layers, moe_layers, experts) into
 * row (arrays must be sized by the caller). Returns 0 or NL_ERR_USAGE. */
int nl_metrics_csv_parse(const char *line, nl_metrics_row *row, int layers, int moe_layers,
                         int experts, nl_error *err);
/* Parse the header line: recovers layers, moe_layers and experts. */
int nl_metrics_csv_parse_header(const char *line, int *layers, int *moe_layers, int *experts,
                                nl_error *err);

/* The message of an events.log line "TIME step N message" (the whole line when it is not in
 * that form), with N in *step (-1 then). */
const char *nl_event_message(const char *line, long long *step);

/* What an events.log message says of the run's state, by the message's first words as the
 * run writes them (run_step.c, run.c, run_ckpt.c, driver.c): "created: ...", "resumed from
 * ...", "finished: ...", "stopped ...", "diverged at step N: ..." (N in *diverged_step),
 * "failed: ..."; anything else (checkpoints, thread changes, "removed ..., an unfinished
 * checkpoint") is NL_EVENT_OTHER. */
typedef enum {
    NL_EVENT_OTHER,
    NL_EVENT_CREATED,
    NL_EVENT_RESUMED,
    NL_EVENT_FINISHED,
    NL_EVENT_STOPPED,
    NL_EVENT_DIVERGED,
    NL_EVENT_FAILED,
} nl_event_kind;
nl_event_kind nl_event_kind_of(const char *msg, long long *diverged_step);

#endif
