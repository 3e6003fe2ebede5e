/* The teaching panel's text: a placement's equations in plain text, what to expect of it
 * (the gradient and residual-RMS profiles this lab measured, as data, with their sources),
 * and observations computed from the run's own data, compared with that expectation. */
#ifndef UI_TEACH_H
#define UI_TEACH_H

#include "runview.h"

/* A profile across depth, from the last layer's value over the first layer's. */
typedef enum {
    TEACH_UNKNOWN = 0, /* not measured, or no ratio */
    TEACH_LEVEL,
    TEACH_GROWS,   /* larger toward the output (top-heavy) */
    TEACH_SHRINKS, /* smaller toward the output (bottom-heavy) */
} teach_trend;

/* A ratio r is "grows" at r >= TEACH_TREND_FACTOR, "shrinks" at r <= 1/TEACH_TREND_FACTOR,
 * else "level": r and 1/r always get mirrored words. */
#define TEACH_TREND_FACTOR 1.5
/* The step "after a few steps" is judged at (where this lab's runs agree on the profile). */
#define TEACH_LATER_STEP 10
/* A loss within this many nats of the data's unigram level (or above it) is "at" it: the
 * step-to-step noise of prose at batch 8 x 128 is a few hundredths. */
#define TEACH_UNIGRAM_MARGIN 0.08

/* What to expect of a placement, as data: the last/first layer gradient norm ([0] attention,
 * [1] FFN) at step 1, at step TEACH_LATER_STEP without warmup and with warmup, and the
 * residual RMS of the last block over the first once training runs. TEACH_UNKNOWN where
 * this lab's runs do not agree on a trend (or nothing was measured). */
typedef struct teach_expect {
    teach_trend grad_step1[2], grad_later[2], grad_later_warm[2], rms;
    /* the measured ratios behind each, e.g. "0.96-1.04"; NULL when none */
    const char *fig_step1, *fig_later, *fig_later_warm, *fig_rms;
} teach_expect;

typedef struct teach_text {
    const char *title;     /* "Post-Norm (Vaswani et al. 2017)" */
    const char *equations; /* lines separated by '\n' */
    const char *expect;    /* the mechanism, a paragraph */
    const char *sources;   /* "Xiong et al. 2020; measured in this lab" */
    teach_expect data;
} teach_text;

const teach_text *teach_placement(nl_placement p);

/* The setting the expectations were measured at (docs/TUI.md, the teaching panel). A run
 * that differs from it in a way that matters is the likely reason it shows something else. */
typedef struct teach_setting {
    nl_norm_kind norm;
    nl_ffn_kind ffn;
    nl_pos_kind pos;
    nl_init_kind init;
    int d_min, d_max, layers_min, layers_max;
    float lr;
    int warmup;       /* the warmup of the "with warmup" figures (the others: none) */
    const char *data; /* a data.source prefix: "text:" */
    const char *what; /* the setting in words, for "What to expect" */
} teach_setting;
const teach_setting *teach_measured_setting(void);

/* "What to expect", whole: the measured profile in words (from the data), the mechanism and
 * the sources. Returns buf. */
const char *teach_expect_text(nl_placement p, char *buf, int len);

/* The word for a ratio (TEACH_UNKNOWN for NAN or negative; 0 shrinks, +inf grows). */
teach_trend teach_judge(double last_over_first);
/* What a profile does, to follow "it": "grows toward the output", "is about level across
 * depth" (grad), or "grows with depth", "is about flat across depth" (rms). */
const char *teach_trend_words(teach_trend t, int rms);

/* One layer profile (gradient norms or residual RMS) at one step. Vanished: exactly 0, or
 * under UI_VANISHED_REL of the largest (heat_vanished). */
typedef struct teach_profile {
    int layers;
    int imax, imin; /* largest, smallest finite value, zeros included; -1 when none */
    int nvanished, nzero;
    double ratio; /* last layer over first; NAN when either is missing, inf when first is 0 */
} teach_profile;
void teach_profile_of(const float *v, int layers, teach_profile *p);
/* The layers of v that vanished (zero_only: that are exactly 0) as ranges: "0-7, 9".
 * Returns buf. */
const char *teach_layer_list(const float *v, int layers, int zero_only, char *buf, int len);

#define TEACH_LINE 320
#define TEACH_MAX_LINES 12

/* Observations from the run's latest metrics and its history, one per line (at most
 * max_lines of out), each followed, where the placement has an expectation, by whether the
 * run agrees with it and, when not, the likely reason. heat_ffn picks the FFN gradient
 * norms instead of attention's. Returns the number of lines. */
int teach_observe(const ui_run *r, int heat_ffn, char out[][TEACH_LINE], int max_lines);

#endif
