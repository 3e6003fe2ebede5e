/* What to expect of each placement: its equations, the mechanism with its sources, and the
 * profiles this lab measured as data (teach_expect), which teach.c compares a run with.
 *
 * The figures are last/first layer ratios from runs of this lab at the measured setting
 * (`measured` below; docs/TUI.md, "The teaching panel"): every placement at 12 layers,
 * d_model 128, on about 5 MB of byte-level English and Python text, AdamW lr 1e-3, seeds 0
 * and 1, at steps 1 and 10 without warmup and with warmup 100; Post- and Pre-Norm also at 6
 * and 24 layers and d_model 256. Where the seeds do not agree on a trend the data says
 * TEACH_UNKNOWN and the text gives the range. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "teach.h"

#define L_ TEACH_LEVEL
#define G_ TEACH_GROWS
#define S_ TEACH_SHRINKS
#define U_ TEACH_UNKNOWN

static const teach_setting measured = {
    NL_NORM_LAYERNORM,
    NL_FFN_GELU,
    NL_POS_LEARNED,
    NL_INIT_NORMAL,
    128,
    256,
    6,
    24,
    1e-3f,
    100,
    "text:",
    "LayerNorm, GELU, learned positions, normal(0.02) init, 12 layers of d_model 128 (Post- "
    "and Pre-Norm also 6-24 layers, d_model 256), byte-level text, AdamW lr 1e-3, 2 seeds"};

const teach_setting *teach_measured_setting(void)
{
    return &measured;
}

static const teach_text texts[NL_PLACE_COUNT] = {
    [NL_PLACE_POST] =
        {"Post-Norm (Vaswani et al. 2017)",
         "x' = N(x + Attn(x))\n"
         "y  = N(x' + FFN(x'))          no final norm: the output is already normalised",
         "Every sublayer ends in a norm, so the stream is reset to RMS ~1 and stays flat across "
         "depth. Xiong et al. (2020) derive gradients that grow toward the output already at "
         "initialisation (with Xavier init); with this lab's normal(0.02) init they are level "
         "at step 1 and turn top-heavy within a few Adam steps without warmup. Each norm "
         "divides the gradient passing down through it by the RMS of its input x + F(x); once "
         "the first updates grow the sublayer outputs F, that factor falls below 1 and "
         "compounds layer by layer. At 24 layers without warmup the bottom layers' gradients "
         "vanish and the loss stalls at the unigram level; warmup (100 steps) keeps the "
         "profile level and the run trains (Liu et al. 2020, RAdam, on why Adam needs "
         "warmup).",
         "Vaswani et al. 2017; Xiong et al. 2020; Liu et al. 2020; measured in this lab",
         {{L_, L_},
          {G_, G_},
          {L_, L_},
          L_,
          "0.98-1.04",
          "attn 4.2-33, FFN 8.8-82",
          "0.98-1.10",
          "1.00-1.05 at steps 10-30"}},
    [NL_PLACE_PRE] =
        {"Pre-Norm (Wang et al. 2019, Xiong et al. 2020)",
         "x' = x + Attn(N(x))\n"
         "y  = x' + FFN(N(x'))\n"
         "out = N_final(y)",
         "The norm sits on the sublayer input and the residual path is the identity, so every "
         "layer gets a direct gradient path and training starts without warmup (Xiong et al. "
         "2020). The gradients are not level: the first layer's are the largest, at step 1 "
         "and, without warmup, after (with warmup they level out). The stream is never normalised, "
         "so its RMS grows with depth as each "
         "block adds to it, and deep layers change the stream less and less (Li et al. 2025).",
         "Wang et al. 2019; Xiong et al. 2020; Li et al. 2025; measured in this lab",
         {{S_, S_},
          {S_, S_},
          {L_, L_},
          G_,
          "0.33-0.40",
          "0.40-0.58",
          "0.74-1.00",
          "19-22 at step 10, 10-12 at step 30"}},
    [NL_PLACE_SANDWICH] =
        {"Sandwich / Peri-LN (Ding et al. 2021, Gemma 2 2024, Kim et al. 2025)",
         "x' = x + N_peri(Attn(N_pre(x)))\n"
         "y  = x' + N_peri(FFN(N_pre(x')))\n"
         "out = N_final(y)",
         "Pre-Norm plus a norm on each sublayer's output before it is added, so each block "
         "adds a bounded amount (RMS ~1) to the stream and no single block can blow it up "
         "(Kim et al. 2025). The stream still grows with depth, about evenly, block by block: "
         "here by a ratio like Pre-Norm's, from a larger start (RMS ~1.5 after block 0). The "
         "first layer's gradients are the largest at step 1; after a few steps they are "
         "about level.",
         "Ding et al. 2021 (CogView); Gemma Team 2024; Kim et al. 2025 (Peri-LN); measured in "
         "this lab",
         {{S_, S_},
          {L_, L_},
          {S_, L_},
          G_,
          "0.18-0.32",
          "0.76-0.81",
          "attn 0.48-0.59, FFN 0.68-0.87",
          "10 at step 10, 3.1-3.7 at step 1"}},
    [NL_PLACE_PREQK] =
        {"Pre-Norm + QK-Norm (Henry et al. 2020, Dehghani et al. 2023)",
         "x' = x + Attn(N(x)),  q = N_q(W_q h), k = N_k(W_k h) per head\n"
         "y  = x' + FFN(N(x'))\n"
         "out = N_final(y)",
         "Pre-Norm's profile: the first layer's gradients largest, the residual RMS growing "
         "with depth. Normalising q and k bounds the attention logits, which prevents "
         "attention-entropy collapse and the loss spikes it causes at high learning rates "
         "(Dehghani et al. 2023; Wortsman et al. 2023); at lr 1e-3 and 12 layers its profiles "
         "here match Pre-Norm's.",
         "Henry et al. 2020; Dehghani et al. 2023; Wortsman et al. 2023; measured in this lab",
         {{S_, S_},
          {S_, S_},
          {L_, L_},
          G_,
          "0.34-0.39",
          "0.24-0.57",
          "0.74-0.91",
          "17-21 at step 10"}},
    [NL_PLACE_HYBRID] =
        {"HybridNorm (Zhuo et al. 2025)",
         "Y  = X + MHA_qkv(X)           q, k, v normalised per head, no input norm\n"
         "X' = N(Y) + FFN(N(Y))         the residual carries the normalised N(Y)\n"
         "out = N_final(X')",
         "The paper claims Pre-Norm's stability with Post-Norm's quality, with its block "
         "(RMSNorm, SwiGLU, RoPE, its own init). With this lab's LayerNorm/GELU/learned-"
         "position block it behaves like Post-Norm: the FFN renormalises the stream once per "
         "block, so the residual RMS stays flat; at step 1 the first layer's attention "
         "gradient is the largest, and within a few steps the gradients grow toward the "
         "output, by 10^3-10^4 over 100-300 steps. At 24 layers it stalls at the unigram "
         "level with or without warmup (100 steps), at 12 layers on one seed of two. With "
         "the paper's block (norm rmsnorm, ffn swiglu, pos rope, init megatron, warmup 100) "
         "it trains, level with Pre- and Post-Norm on one seed.",
         "Zhuo et al. 2025; measured in this lab",
         {{S_, L_},
          {G_, G_},
          {S_, G_},
          L_,
          "attn 0.15-0.20, FFN 0.94-0.98",
          "attn 5.0-5.8, FFN 36-40",
          "attn 0.43-0.47, FFN 2.1",
          "1.04-1.20 at steps 5-30"}},
    [NL_PLACE_HYBRID_STAR] =
        {"HybridNorm* (Zhuo et al. 2025)",
         "block 0: x' = x + MHA_qkv(N(x)), y = x' + FFN(N(x'))   (Pre-Norm, QKV norm kept)\n"
         "blocks 1..: Y = X + MHA_qkv(X), X' = N(Y) + FFN(N(Y))\n"
         "out = N_final(X')",
         "HybridNorm with a Pre-Norm first block, which the paper adds to steady early "
         "training. Here the first block's output is small (RMS ~0.1 at step 1) and the next "
         "block's norm lifts it to ~1, so the residual RMS jumps from block 0 to block 1 and "
         "is flat after (the last/first ratio says grows). At step 1 the first two layers' "
         "attention gradients are the largest; within a few steps the gradients grow toward "
         "the output as in HybridNorm, and at 24 layers it stalls the same way.",
         "Zhuo et al. 2025; measured in this lab",
         {{S_, S_},
          {G_, G_},
          {U_, S_},
          G_,
          "attn 0.13-0.19, FFN 0.09-0.11",
          "attn 14-37, FFN 29-76",
          "attn 0.59-0.72, FFN 0.36-0.46",
          "3.2-3.9 at step 10, 9.1-9.9 at step 1"}},
    [NL_PLACE_MIXLN] =
        {"Mix-LN (Li et al. 2025)",
         "layers < floor(L/4): Post-Norm   x' = N(x + S(x))\n"
         "the rest:            Pre-Norm    x' = x + S(N(x))\n"
         "out = N_final(y)",
         "Post-Norm in the first quarter of the layers, Pre-Norm in the rest: the paper aims "
         "at deep layers that still learn (Pre-Norm's deep layers change the stream little) "
         "and gradients more even across depth than either alone. Here, at 12 layers, the "
         "seeds do not agree on a gradient trend (last/first 0.6-1.3 over the first 10 "
         "steps): more even than Pre-Norm's at step 1, without Post-Norm's growth toward the "
         "output. The residual RMS is flat through the Post-Norm layers and grows through "
         "the Pre-Norm ones.",
         "Li et al. 2025 (ICLR); measured in this lab",
         {{U_, L_},
          {U_, U_},
          {L_, L_},
          G_,
          "attn 0.63-0.75, FFN 0.84",
          "0.59-1.31",
          "0.68-0.89",
          "5.8-7.1 at step 10, 1.01-1.02 at step 1"}},
    [NL_PLACE_DEEPNORM] =
        {"DeepNorm (Wang et al. 2022, DeepNet)",
         "x' = N(alpha * x + Attn(x)),  alpha = (2L)^(1/4)\n"
         "y  = N(alpha * x' + FFN(x'))\n"
         "init: v, out, ffn weights scaled by beta = (8L)^(-1/4)",
         "Post-Norm whose residual is up-weighted and whose sublayer updates start small, "
         "which bounds how far one update moves the model; the paper trains 1,000 layers "
         "with it. The residual RMS stays flat like Post-Norm's. At 12 layers its gradients "
         "are level at step 1 and grow toward the output within a few steps, as Post-Norm's "
         "do.",
         "Wang et al. 2022; measured in this lab",
         {{L_, L_},
          {G_, G_},
          {L_, L_},
          L_,
          "0.99-1.01",
          "attn 8.7-25, FFN 33-71",
          "0.97-1.03",
          "1.01 at step 10, 1.05 at step 30"}},
    [NL_PLACE_CUSTOM] =
        {"Custom flags",
         "h = pre ? N(x) : x;  o = S(h);  o = peri ? N(o) : o\n"
         "r = res_from_normed ? h : x;  y = alpha * r + o;  y = post ? N(y) : y",
         "Whatever the flags make of it: a post flag resets the residual RMS, pre flags let "
         "it grow, peri flags bound each block's contribution. Compare against the named "
         "placements in a race.",
         "not measured in this lab",
         {{U_, U_}, {U_, U_}, {U_, U_}, U_, NULL, NULL, NULL, NULL}},
};

const teach_text *teach_placement(nl_placement p)
{
    if ((int)p < 0 || p >= NL_PLACE_COUNT)
        p = NL_PLACE_CUSTOM;
    return &texts[p];
}

/* "it is about level across depth (0.98-1.04)", "attention's shrinks ..., the FFN's ..."
 * into buf; a kind without a trend the seeds agree on says so. */
static void trend_pair(const teach_trend t[2], const char *fig, char *buf, int len)
{
    const char *w0 =
        t[0] == TEACH_UNKNOWN ? "has no trend the seeds agree on" : teach_trend_words(t[0], 0);
    const char *w1 =
        t[1] == TEACH_UNKNOWN ? "has no trend the seeds agree on" : teach_trend_words(t[1], 0);
    if (t[0] == t[1])
        snprintf(buf, (size_t)len, "it %s", w0);
    else
        snprintf(buf, (size_t)len, "attention's %s, the FFN's %s", w0, w1);
    if (fig)
        snprintf(buf + strlen(buf), (size_t)len - strlen(buf), " (%s)", fig);
}

/* Appends to buf (len bytes), truncating. */
__attribute__((format(printf, 3, 4))) static void append(char *buf, int len, const char *fmt, ...)
{
    size_t n = strlen(buf);
    if (n + 1 >= (size_t)len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, (size_t)len - n, fmt, ap);
    va_end(ap);
}

const char *teach_expect_text(nl_placement p, char *buf, int len)
{
    const teach_text *t = teach_placement(p);
    const teach_expect *x = &t->data;
    if (len < 1)
        return buf;
    buf[0] = '\0';
    if (x->grad_step1[0] != TEACH_UNKNOWN || x->grad_step1[1] != TEACH_UNKNOWN ||
        x->rms != TEACH_UNKNOWN) {
        char a[192];
        append(buf, len, "Measured in this lab (%s): ", measured.what);
        trend_pair(x->grad_step1, x->fig_step1, a, sizeof a);
        append(buf, len, "the last/first layer gradient norm at step 1: %s", a);
        if (x->fig_later) {
            trend_pair(x->grad_later, x->fig_later, a, sizeof a);
            append(buf, len, "; at step %d without warmup: %s", TEACH_LATER_STEP, a);
        }
        if (x->fig_later_warm) {
            trend_pair(x->grad_later_warm, x->fig_later_warm, a, sizeof a);
            append(buf, len, "; at step %d with warmup %d: %s", TEACH_LATER_STEP, measured.warmup,
                   a);
        }
        if (x->rms != TEACH_UNKNOWN)
            append(buf, len, "; the residual RMS %s (%s)", teach_trend_words(x->rms, 1),
                   x->fig_rms ? x->fig_rms : "-");
        append(buf, len, ".\n");
    }
    append(buf, len, "%s\nSources: %s.", t->expect, t->sources);
    return buf;
}
