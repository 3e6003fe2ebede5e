#include "teach.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const teach_text texts[NL_PLACE_COUNT] = {
    [NL_PLACE_POST] =
        {"Post-Norm (Vaswani et al. 2017)",
         "x' = N(x + Attn(x))\n"
         "y  = N(x' + FFN(x'))          no final norm: the output is already normalised",
         "Every block ends in a norm, so the residual stream is reset to RMS ~1 after each "
         "sublayer and the residual RMS stays flat across depth. The price is in the gradient: "
         "at initialisation the gradient norm grows toward the output layers (Xiong et al. "
         "2020), so the last layers get the largest updates and the first the smallest. Deep "
         "Post-Norm needs warmup and a modest learning rate, or it diverges early."},
    [NL_PLACE_PRE] =
        {"Pre-Norm",
         "x' = x + Attn(N(x))\n"
         "y  = x' + FFN(N(x'))\n"
         "out = N_final(y)",
         "The norm sits on the sublayer input and the residual path is the identity, so "
         "gradients reach every layer undiminished: at initialisation the gradient norms are "
         "about level across depth and training is stable without warmup. The stream itself "
         "is never normalised, so its RMS grows with depth (each block adds to it), and deep "
         "layers change the stream less and less."},
    [NL_PLACE_SANDWICH] =
        {"Sandwich / Peri-LN (CogView, Gemma 2, Peri-LN)",
         "x' = x + N_peri(Attn(N_pre(x)))\n"
         "y  = x' + N_peri(FFN(N_pre(x')))\n"
         "out = N_final(y)",
         "Pre-Norm plus a norm on each sublayer's output before it is added. Each block adds "
         "a bounded amount to the stream, so the residual RMS grows slowly and evenly instead "
         "of in jumps, and large activations are damped. Gradient norms stay level across "
         "depth, like Pre-Norm."},
    [NL_PLACE_PREQK] =
        {"Pre-Norm + QK-Norm",
         "x' = x + Attn(N(x)),  q = N_q(W_q h), k = N_k(W_k h) per head\n"
         "y  = x' + FFN(N(x'))\n"
         "out = N_final(y)",
         "Pre-Norm's profile (level gradients, residual RMS growing with depth). Normalising "
         "q and k bounds the attention logits, which prevents attention-entropy collapse and "
         "the loss spikes it causes at high learning rates."},
    [NL_PLACE_HYBRID] =
        {"HybridNorm",
         "Y  = X + MHA_qkv(X)           q, k, v normalised per head, no input norm\n"
         "X' = N(Y) + FFN(N(Y))         the residual carries the normalised N(Y)\n"
         "out = N_final(X')",
         "Attention gets its stability from QKV normalisation instead of an input norm, and "
         "the FFN sublayer renormalises the stream once per block, so the residual RMS stays "
         "bounded (unlike Pre-Norm) while gradients flow more evenly than in Post-Norm. Expect "
         "a flatter RMS profile than Pre-Norm and no growth of gradients toward the output."},
    [NL_PLACE_HYBRID_STAR] =
        {"HybridNorm*",
         "block 0: x' = x + MHA_qkv(N(x)), y = x' + FFN(N(x'))   (Pre-Norm, QKV norm kept)\n"
         "blocks 1..: Y = X + MHA_qkv(X), X' = N(Y) + FFN(N(Y))\n"
         "out = N_final(X')",
         "HybridNorm with a Pre-Norm first block, which normalises the raw embeddings before "
         "the first attention and steadies early training. The rest behaves like HybridNorm: "
         "bounded residual RMS, even gradients."},
    [NL_PLACE_MIXLN] =
        {"Mix-LN (ICLR 2025)",
         "layers < floor(L/4): Post-Norm   x' = N(x + S(x))\n"
         "the rest:            Pre-Norm    x' = x + S(N(x))\n"
         "out = N_final(y)",
         "Post-Norm in the first quarter of the layers gives them the larger gradients that "
         "Pre-Norm would starve them of; Pre-Norm in the deeper layers keeps them trainable. "
         "The aim is gradient norms more uniform across depth than either alone, with a "
         "residual RMS that is reset early and grows only in the Pre-Norm part."},
    [NL_PLACE_DEEPNORM] =
        {"DeepNorm (DeepNet)",
         "x' = N(alpha * x + Attn(x)),  alpha = (2L)^(1/4)\n"
         "y  = N(alpha * x' + FFN(x'))\n"
         "init: v, out, ffn weights scaled by beta = (8L)^(-1/4)",
         "Post-Norm whose residual is up-weighted and whose sublayer updates start small, "
         "which bounds how far one update moves the model. It trains stably at depths where "
         "plain Post-Norm diverges; the residual RMS stays flat like Post-Norm, and the "
         "gradient profile sits between Post-Norm's and Pre-Norm's."},
    [NL_PLACE_CUSTOM] =
        {"Custom flags",
         "h = pre ? N(x) : x;  o = S(h);  o = peri ? N(o) : o\n"
         "r = res_from_normed ? h : x;  y = alpha * r + o;  y = post ? N(y) : y",
         "Whatever the flags make of it: a post flag resets the residual RMS, pre flags let "
         "it grow, peri flags bound each block's contribution. Compare against the named "
         "placements in a race."},
};

const teach_text *teach_placement(nl_placement p)
{
    if ((int)p < 0 || p >= NL_PLACE_COUNT)
        p = NL_PLACE_CUSTOM;
    return &texts[p];
}

/* Largest and smallest finite positive values of v and where they are. */
static int extremes(const float *v, int n, int *imax, int *imin)
{
    *imax = *imin = -1;
    for (int i = 0; i < n; i++) {
        if (!(v[i] > 0) || !isfinite(v[i]))
            continue;
        if (*imax < 0 || v[i] > v[*imax])
            *imax = i;
        if (*imin < 0 || v[i] < v[*imin])
            *imin = i;
    }
    return *imax >= 0;
}

static const char *trend_short(double last_over_first)
{
    if (last_over_first > 1.5)
        return "growing toward the output";
    if (last_over_first < 1 / 1.5)
        return "shrinking toward the output";
    return "about level";
}

static const char *trend(double last_over_first)
{
    if (last_over_first > 1.5)
        return "grows toward the output";
    if (last_over_first < 1 / 1.5)
        return "shrinks toward the output";
    return "is about level across depth";
}

int teach_observe(const ui_run *r, int heat_ffn, char out[][200], int max_lines)
{
    int n = 0;
    if (max_lines <= 0)
        return 0;
    if (!r->hist || history_len(r->hist) == 0 || r->layers < 1) {
        snprintf(out[n++], 200, "No metrics yet: observations appear after the first step.");
        return n;
    }
    const char *kind = heat_ffn ? "FFN" : "attention";
    const float *gn = heat_ffn ? r->gn_ffn : r->gn_attn;
    int L = r->layers, imax, imin;
    if (n < max_lines && extremes(gn, L, &imax, &imin)) {
        if (imax != 0 && gn[0] > 0)
            snprintf(
                out[n++], 200,
                "Step %lld: layer %d %s gradient norm is %.3g\xc3\x97 layer 0's (%.3g vs %.3g).",
                (long long)r->last_step, imax, kind, gn[imax] / gn[0], gn[imax], gn[0]);
        else
            snprintf(
                out[n++], 200,
                "Step %lld: layer 0 has the largest %s gradient norm, %.3g\xc3\x97 layer %d's.",
                (long long)r->last_step, kind, gn[imin] > 0 ? gn[0] / gn[imin] : NAN, imin);
        if (n < max_lines && L > 1 && gn[0] > 0 && gn[L - 1] > 0)
            snprintf(out[n++], 200, "Last over first layer: %.3g\xc3\x97 - the %s gradient %s.",
                     gn[L - 1] / gn[0], kind, trend(gn[L - 1] / gn[0]));
    }
    /* the same ratio at the first recorded step, from the history */
    int ch0 = heat_ffn ? CH_FFN(0) : CH_ATTN(0), chL = heat_ffn ? CH_FFN(L - 1) : CH_ATTN(L - 1);
    float a0 = history_mean(r->hist, 0, ch0), aL = history_mean(r->hist, 0, chL);
    hist_entry e;
    history_entry(r->hist, 0, &e);
    if (n < max_lines && L > 1 && a0 > 0 && aL > 0 && e.step0 < (double)r->last_step)
        snprintf(out[n++], 200, "At step %.0f the last/first ratio was %.3g\xc3\x97 (%s).", e.step0,
                 aL / a0, trend_short(aL / a0));
    int rmax, rmin;
    if (n < max_lines && extremes(r->rms, L, &rmax, &rmin)) {
        if (L > 1 && r->rms[0] > 0 && r->rms[L - 1] > 0)
            snprintf(out[n++], 200,
                     "Residual RMS: %.3g after layer 0, %.3g after layer %d (%.3g\xc3\x97)%s.",
                     r->rms[0], r->rms[L - 1], L - 1, r->rms[L - 1] / r->rms[0],
                     r->rms[L - 1] / r->rms[0] > 1.5 ? " - it grows with depth" : " - about flat");
        else
            snprintf(out[n++], 200, "Residual RMS peaks at layer %d (%.3g).", rmax, r->rms[rmax]);
    }
    float loss = history_last(r->hist, CH_LOSS);
    if (n < max_lines && isfinite(loss)) {
        double floor_ = r->st.entropy_floor;
        if (isfinite(floor_))
            snprintf(out[n++], 200, "Train loss %.4g; the entropy floor is %.4g, %.3g nats below.",
                     loss, floor_, loss - floor_);
        else
            snprintf(out[n++], 200, "Train loss %.4g (started at %.4g).", loss, r->first_loss);
    }
    if (n < max_lines && r->moe_layers > 0 && r->moe_step > 0) {
        /* the busiest expert of any MoE layer, against the even share */
        int M = r->moe_layers, E = r->experts, bm = -1, be = 0;
        float hmin = INFINITY, hmax = -INFINITY;
        for (int m = 0; m < M; m++) {
            for (int x = 0; x < E; x++) {
                float f = r->expert_frac[m * E + x];
                if (isfinite(f) && (bm < 0 || f > r->expert_frac[bm * E + be]))
                    bm = m, be = x;
            }
            if (isfinite(r->router_entropy[m])) {
                hmin = fminf(hmin, r->router_entropy[m]);
                hmax = fmaxf(hmax, r->router_entropy[m]);
            }
        }
        if (bm >= 0)
            snprintf(out[n++], 200,
                     "Experts at step %lld: the busiest, MoE layer %d expert %d, takes %.0f%% of "
                     "the routed slots (even: %.0f%%); router entropy %.2f-%.2f nats of ln %d = "
                     "%.2f.",
                     (long long)r->moe_step, bm, be, 100 * r->expert_frac[bm * E + be], 100.0 / E,
                     hmin, hmax, E, log((double)E));
    }
    if (n < max_lines && r->st.state == NL_RUN_DIVERGED) {
        if (!strncmp(r->st.message, "diverged", 8))
            snprintf(out[n++], 200, "D%.190s", r->st.message + 1);
        else
            snprintf(out[n++], 200, "Diverged at step %lld: %.150s", (long long)r->st.diverged_step,
                     r->st.message);
    }
    return n;
}
