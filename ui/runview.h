/* What the UI knows of one run: its name, status snapshot, config (when known), the latest
 * per-layer values and its bounded history. Filled from a live session (nl_session_status,
 * nl_metrics_pop) or from a run directory's files (tail.c); the dashboard draws either. */
#ifndef UI_RUNVIEW_H
#define UI_RUNVIEW_H

#include "engine/config.h"
#include "engine/metrics.h"
#include "engine/session.h"
#include "history.h"

/* History channels: a few scalars, then three per layer. */
enum { CH_LOSS = 0, CH_VAL, CH_GN, CH_LR, CH_TOKS, CH_TIME, CH_LAYER0 };
#define CH_ATTN(l) (CH_LAYER0 + 3 * (l))
#define CH_FFN(l) (CH_LAYER0 + 3 * (l) + 1)
#define CH_RMS(l) (CH_LAYER0 + 3 * (l) + 2)

/* Memory a run's history may take. */
#define RUNVIEW_HISTORY_BYTES (2u << 20)
/* Steps before a run's tokens/s average counts as its speed (the first steps are slow). */
#define RUNVIEW_SETTLE_STEPS 8

typedef struct ui_run {
    char name[64];
    int layers;                    /* 0 until the first metrics are known */
    history *hist;                 /* NULL until layers are known */
    float *gn_attn, *gn_ffn, *rms; /* latest row (layers) */
    int64_t last_step;
    double last_time_s;
    float first_loss;
    nl_run_status st; /* latest status */
    int has_cfg;
    nl_config *cfg;       /* owned; valid when has_cfg */
    int colour;           /* series colour index */
    char last_event[256]; /* the last run message shown in the top bar */
    char warn[200]; /* what a watched run's files could not show (ui/tail.c), in its status line */
    /* Mixture-of-Experts: the latest row's routing (moe_layers = 0 for a dense model) */
    int moe_layers, experts;
    float *expert_frac;     /* (moe_layers, experts): fraction of the routed slots per expert */
    float *router_entropy;  /* (moe_layers): mean router entropy, nats */
    float aux_loss, z_loss; /* unweighted, summed over MoE layers; NAN when unknown */
    int64_t moe_step;       /* the step the routing figures are from */
    size_t hist_bytes;      /* history budget; 0 = RUNVIEW_HISTORY_BYTES */
    /* tokens/s: a moving average over the last steps, the best it has been, and the steps
     * seen (runview_slowed) */
    float toks_avg, toks_best;
    int toks_steps;
    int hidden; /* left out of the loss plot (v toggles) */
} ui_run;

void runview_init(ui_run *r, const char *name, int colour);
/* Allocate the history and per-layer arrays for `layers` blocks (drops what was there). */
int runview_set_layers(ui_run *r, int layers);
/* Allocate the routing arrays for moe_layers MoE layers of `experts` experts (0, 0 for a
 * dense model). */
int runview_set_moe(ui_run *r, int moe_layers, int experts);
void runview_set_config(ui_run *r, const nl_config *c);
void runview_free(ui_run *r);
/* Forget the metrics (a restart). */
void runview_reset(ui_run *r);
/* One metrics row into the history and the latest values. */
void runview_ingest(ui_run *r, const nl_metrics_row *row);

/* Whether a running run is slowed by the machine, and why, in a few words into why: its
 * recent tokens/s under half the best it has had (another program took cores after it
 * started), or the load average (load1; 0 = unknown) a whole task above the cores (it started
 * on a busy machine). cores 0 = unknown. Paused and finished runs are never slowed. */
int runview_slowed(const ui_run *r, double load1, int cores, char *why, size_t n);

/* The reference levels of a run's data (config c), the loss a model cannot beat or should
 * beat: the entropy floor of markov data, the unigram level of text and prose (each NAN when
 * the data has none, or cannot be opened; tokens: files have neither). */
void runview_reference_levels(const nl_config *c, double *entropy_floor, double *unigram_level);
/* The one reference line the loss plots draw from those: the entropy floor, else the
 * unigram level; NAN when neither. *label gets "floor" or "unigram". */
double runview_reference_line(double entropy_floor, double unigram_level, const char **label);

/* The name and colour role of a state. */
const char *runview_state_name(nl_run_state s);
int runview_state_role(nl_run_state s);

#endif
