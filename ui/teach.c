#include "teach.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "heatmap.h"

teach_trend teach_judge(double r)
{
    if (isnan(r) || r < 0)
        return TEACH_UNKNOWN;
    if (r == 0)
        return TEACH_SHRINKS;
    if (isinf(r))
        return TEACH_GROWS;
    /* on |log r| so that r and 1/r meet the same threshold (1e-9: rounding of 1/r) */
    double d = log(r), t = log(TEACH_TREND_FACTOR) - 1e-9;
    return d >= t ? TEACH_GROWS : -d >= t ? TEACH_SHRINKS : TEACH_LEVEL;
}

const char *teach_trend_words(teach_trend t, int rms)
{
    switch (t) {
    case TEACH_LEVEL:
        return rms ? "is about flat across depth" : "is about level across depth";
    case TEACH_GROWS:
        return rms ? "grows with depth" : "grows toward the output";
    case TEACH_SHRINKS:
        return rms ? "shrinks with depth" : "shrinks toward the output";
    case TEACH_UNKNOWN:
        break;
    }
    return "not measured";
}

void teach_profile_of(const float *v, int layers, teach_profile *p)
{
    memset(p, 0, sizeof *p);
    p->layers = layers;
    p->imax = p->imin = -1;
    p->ratio = NAN;
    for (int i = 0; i < layers; i++) {
        if (!isfinite(v[i]))
            continue;
        if (p->imax < 0 || v[i] > v[p->imax])
            p->imax = i;
        if (p->imin < 0 || v[i] < v[p->imin])
            p->imin = i;
    }
    if (p->imax < 0)
        return;
    for (int i = 0; i < layers; i++) {
        p->nvanished += heat_vanished(v[i], v[p->imax]);
        p->nzero += v[i] == 0;
    }
    if (layers > 1 && isfinite(v[0]) && isfinite(v[layers - 1]) && v[0] >= 0 && v[layers - 1] >= 0)
        p->ratio = v[0] > 0 ? (double)v[layers - 1] / v[0] : v[layers - 1] > 0 ? INFINITY : NAN;
}

const char *teach_layer_list(const float *v, int layers, int zero_only, char *buf, int len)
{
    teach_profile p;
    teach_profile_of(v, layers, &p);
    int n = 0;
    buf[0] = '\0';
    for (int i = 0; i < layers && n < len; i++) {
        int in = zero_only ? v[i] == 0 : p.imax >= 0 && heat_vanished(v[i], v[p.imax]);
        if (!in)
            continue;
        int j = i;
        while (j + 1 < layers && (zero_only ? v[j + 1] == 0 : heat_vanished(v[j + 1], v[p.imax])))
            j++;
        n += j > i ? snprintf(buf + n, (size_t)(len - n), "%s%d-%d", n ? ", " : "", i, j)
                   : snprintf(buf + n, (size_t)(len - n), "%s%d", n ? ", " : "", i);
        i = j;
    }
    return buf;
}

/* A ratio for text: "1.07×", "0.165× = 1/6.06", "unbounded (over 0)". */
static const char *fmt_ratio(double r, char *buf, int len)
{
    if (isinf(r))
        snprintf(buf, (size_t)len, "unbounded (over 0)");
    else if (r > 0 && r < 0.995) /* nearer 1, "= 1/1" would say nothing */
        snprintf(buf, (size_t)len, "%.3g\xc3\x97 = 1/%.3g", r, 1 / r);
    else
        snprintf(buf, (size_t)len, "%.3g\xc3\x97", r);
    return buf;
}

/* Appends to a line of TEACH_LINE bytes. */
__attribute__((format(printf, 2, 3))) static void add(char *line, const char *fmt, ...)
{
    size_t n = strlen(line);
    if (n + 1 >= TEACH_LINE)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, TEACH_LINE - n, fmt, ap);
    va_end(ap);
}

enum { STAGE_STEP1, STAGE_LATER, STAGE_RMS };

/* The run's settings that differ from the measured one, those that matter most for the
 * stage first (step 1 is before any update, so lr and warmup cannot change it), at most
 * three, appended to line as "; likely reason: ...". e: the history entry compared (a
 * merged one is a reason); warm_measured: the expectation already is the one with warmup. */
static void add_reasons(char *line, const nl_config *c, int stage, const hist_entry *e,
                        int warm_measured)
{
    const teach_setting *m = teach_measured_setting();
    const nl_model_config *mc = &c->model;
    char why[4][96];
    int n = 0;
    if (e && e->n > 1)
        snprintf(why[n++], 96, "step: a mean over steps %.0f-%.0f (measured at one step)", e->step0,
                 e->step1);
    if (stage != STAGE_STEP1 && c->train.warmup > 0 && !warm_measured)
        snprintf(why[n++], 96, "warmup %d (measured without)", c->train.warmup);
    if (stage != STAGE_STEP1 && warm_measured && c->train.warmup != m->warmup)
        snprintf(why[n++], 96, "warmup %d (measured %d)", c->train.warmup, m->warmup);
    if (stage != STAGE_STEP1 && n < 4 && (c->train.lr > 2 * m->lr || c->train.lr < m->lr / 2))
        snprintf(why[n++], 96, "scale: lr %.3g (measured %.3g)", c->train.lr, m->lr);
    if (n < 4 && mc->init != m->init)
        snprintf(why[n++], 96, "init %s (measured %s)", nl_init_name(mc->init),
                 nl_init_name(m->init));
    if (n < 4 && (mc->d_model < m->d_min || mc->d_model > m->d_max))
        snprintf(why[n++], 96, "width d_model %d (measured %d-%d)", mc->d_model, m->d_min,
                 m->d_max);
    if (n < 4 && (mc->layers < m->layers_min || mc->layers > m->layers_max))
        snprintf(why[n++], 96, "depth %d layers (measured %d-%d)", mc->layers, m->layers_min,
                 m->layers_max);
    if (n < 4 && (mc->norm != m->norm || mc->ffn != m->ffn || mc->pos != m->pos))
        snprintf(why[n++], 96, "block %s/%s/%s (measured %s/%s/%s)", nl_norm_name(mc->norm),
                 nl_ffn_name(mc->ffn), nl_pos_name(mc->pos), nl_norm_name(m->norm),
                 nl_ffn_name(m->ffn), nl_pos_name(m->pos));
    if (n < 4 && strncmp(c->data.source, m->data, strlen(m->data)))
        snprintf(why[n++], 96, "data %.20s (measured: byte-level text)", c->data.source);
    if (n == 0) {
        add(line, "; no setting differs from the measured one: the seed");
        return;
    }
    add(line, "; likely reason: ");
    for (int i = 0; i < n && i < 3; i++)
        add(line, "%s%s", i ? ", " : "", why[i]);
}

/* ", as this lab measured." or ", unlike what to expect: ...; likely reason: ...". warm: want
 * is the expectation with warmup, nowarm the one without (TEACH_UNKNOWN: none). */
static void add_verdict(char *line, const ui_run *r, teach_trend seen, teach_trend want, int stage,
                        const hist_entry *e, int warm, teach_trend nowarm)
{
    if (want == TEACH_UNKNOWN || seen == TEACH_UNKNOWN || !r->has_cfg)
        return;
    const teach_text *t = teach_placement(r->cfg->model.placement);
    int rms = stage == STAGE_RMS;
    if (seen == want) {
        add(line, ", as this lab measured");
        if (warm && nowarm != TEACH_UNKNOWN && nowarm != want)
            add(line, " with warmup (without, it %s: warmup is the difference)",
                teach_trend_words(nowarm, rms));
        add(line, ".");
        return;
    }
    const teach_expect *x = &t->data;
    const char *fig = stage == STAGE_STEP1 ? x->fig_step1
                      : stage == STAGE_RMS ? x->fig_rms
                      : warm               ? x->fig_later_warm
                                           : x->fig_later;
    add(line, ", unlike what to expect: it %s", teach_trend_words(want, rms));
    if (fig)
        add(line, " (%s)", fig);
    add_reasons(line, r->cfg, stage, e, warm);
    add(line, ".");
}

/* The last/first gradient ratio of the history entry covering `step`, compared with want;
 * 0 when no entry covers it. */
static int observe_step(const ui_run *r, int ffn, int64_t step, int stage, char *line)
{
    int L = r->layers, n = history_len(r->hist), i;
    hist_entry e;
    for (i = 0; i < n; i++) {
        history_entry(r->hist, i, &e);
        if (e.step0 <= (double)step && (double)step <= e.step1)
            break;
    }
    if (i == n || L < 2)
        return 0;
    float a = history_mean(r->hist, i, ffn ? CH_FFN(0) : CH_ATTN(0));
    float b = history_mean(r->hist, i, ffn ? CH_FFN(L - 1) : CH_ATTN(L - 1));
    double ratio = a > 0 ? (double)b / a : b > 0 ? INFINITY : NAN;
    teach_trend seen = teach_judge(ratio);
    if (seen == TEACH_UNKNOWN)
        return 0;
    char rs[48];
    line[0] = '\0';
    if (e.n > 1)
        add(line, "Steps %.0f-%.0f (mean)", e.step0, e.step1);
    else
        add(line, "Step %lld", (long long)step);
    add(line, ": last/first %s - it %s", fmt_ratio(ratio, rs, sizeof rs),
        teach_trend_words(seen, 0));
    if (r->has_cfg) {
        const teach_expect *x = &teach_placement(r->cfg->model.placement)->data;
        int k = ffn ? 1 : 0;
        teach_trend want = x->grad_step1[k], nowarm = TEACH_UNKNOWN;
        int warm = 0;
        if (stage == STAGE_LATER) {
            want = x->grad_later[k];
            if (r->cfg->train.warmup > 0 && x->fig_later_warm) {
                /* held to the runs with warmup; no verdict where their seeds disagree */
                want = x->grad_later_warm[k];
                nowarm = x->grad_later[k];
                warm = 1;
            }
        }
        add_verdict(line, r, seen, want, stage, &e, warm, nowarm);
    }
    if (line[strlen(line) - 1] != '.')
        add(line, ".");
    return 1;
}

/* The observations, one line each into o; each returns 1 when it wrote its line, 0 when it
 * has nothing to say. */

/* Where the gradient norm is largest and smallest now. */
static int observe_now(const ui_run *r, const char *kind, const float *gn, const teach_profile *p,
                       char *o)
{
    if (p->imax < 0)
        return 0;
    o[0] = '\0';
    if (p->imax == p->imin)
        add(o, "Step %lld: every layer's %s gradient norm is %.3g.", (long long)r->last_step, kind,
            gn[p->imax]);
    else
        add(o,
            "Step %lld: the %s gradient norm is largest in layer %d (%.3g) and smallest "
            "in layer %d (%.3g).",
            (long long)r->last_step, kind, p->imax, gn[p->imax], p->imin, gn[p->imin]);
    return 1;
}

/* The layers whose gradient has vanished. */
static int observe_vanished(const float *gn, int L, const teach_profile *p, char *o)
{
    if (p->nvanished <= 0)
        return 0;
    char list[128];
    o[0] = '\0';
    add(o, "Vanished (0, or under 1e%d of the largest): %s %s of %d",
        (int)lround(log10(UI_VANISHED_REL)), p->nvanished > 1 ? "layers" : "layer",
        teach_layer_list(gn, L, 0, list, sizeof list), L);
    if (p->nzero > 0)
        add(o, "; exactly 0 in %s %s", p->nzero > 1 ? "layers" : "layer",
            teach_layer_list(gn, L, 1, list, sizeof list));
    add(o, ".");
    return 1;
}

/* The last over first layer ratio now (not at the steps observe_step tells of). */
static int observe_ratio(const ui_run *r, const char *kind, const teach_profile *p, char *o)
{
    if (teach_judge(p->ratio) == TEACH_UNKNOWN || r->last_step == 1 ||
        r->last_step == TEACH_LATER_STEP)
        return 0;
    char rs[48];
    o[0] = '\0';
    add(o, "Last over first layer now: %s - the %s gradient %s", fmt_ratio(p->ratio, rs, 48), kind,
        teach_trend_words(teach_judge(p->ratio), 0));
    if (r->last_step > TEACH_LATER_STEP)
        add(o, " (what to expect is for steps 1 and %d).", TEACH_LATER_STEP);
    else
        add(o, ".");
    return 1;
}

/* The residual RMS across the layers, judged against the placement's expectation. */
static int observe_rms(const ui_run *r, int L, char *o)
{
    teach_profile rp;
    teach_profile_of(r->rms, L, &rp);
    if (rp.imax < 0)
        return 0;
    char rs[48];
    o[0] = '\0';
    teach_trend seen = teach_judge(rp.ratio);
    if (seen == TEACH_UNKNOWN) {
        add(o, "Residual RMS peaks at layer %d (%.3g).", rp.imax, r->rms[rp.imax]);
        return 1;
    }
    add(o, "Residual RMS: %.3g after layer 0, %.3g after layer %d (%s): it %s", r->rms[0],
        r->rms[L - 1], L - 1, fmt_ratio(rp.ratio, rs, sizeof rs), teach_trend_words(seen, 1));
    /* measured from step 10 on (Mix-LN's is still flat at step 1) */
    if (r->has_cfg && r->last_step >= TEACH_LATER_STEP)
        add_verdict(o, r, seen, teach_placement(r->cfg->model.placement)->data.rms, STAGE_RMS, NULL,
                    0, TEACH_UNKNOWN);
    else if (r->has_cfg && teach_placement(r->cfg->model.placement)->data.rms)
        add(o, " (what to expect is for step %d on)", TEACH_LATER_STEP);
    if (o[strlen(o) - 1] != '.')
        add(o, ".");
    return 1;
}

/* The train loss against the data's entropy floor or unigram level. */
static int observe_loss(const ui_run *r, char *o)
{
    float loss = history_last(r->hist, CH_LOSS);
    if (!isfinite(loss))
        return 0;
    double floor_ = r->st.entropy_floor, uni = r->st.unigram_level;
    if (isfinite(floor_))
        snprintf(o, TEACH_LINE, "Train loss %.4g; the entropy floor is %.4g, %.3g nats below.",
                 loss, floor_, loss - floor_);
    else if (isfinite(uni) && loss > uni + TEACH_UNIGRAM_MARGIN)
        snprintf(o, TEACH_LINE,
                 "Train loss %.4g, above the unigram level (%.4g): it has not yet learned how "
                 "often each byte occurs.",
                 loss, uni);
    else if (isfinite(uni) && loss >= uni - TEACH_UNIGRAM_MARGIN &&
             r->last_step >= TEACH_LATER_STEP)
        snprintf(o, TEACH_LINE,
                 "Train loss %.4g sits at the unigram level (%.4g): the model predicts only "
                 "how often each byte occurs. A plateau, not a divergence: the layers below "
                 "the output are not being trained.",
                 loss, uni);
    else if (isfinite(uni) && loss >= uni - TEACH_UNIGRAM_MARGIN)
        snprintf(o, TEACH_LINE, "Train loss %.4g, at the unigram level (%.4g) so far.", loss, uni);
    else if (isfinite(uni))
        snprintf(o, TEACH_LINE,
                 "Train loss %.4g, %.3g nats below the unigram level (%.4g): it has learned "
                 "more than byte frequencies.",
                 loss, uni - loss, uni);
    else
        snprintf(o, TEACH_LINE, "Train loss %.4g (started at %.4g).", loss, r->first_loss);
    return 1;
}

/* The busiest expert of any MoE layer, against the even share. */
static int observe_experts(const ui_run *r, char *o)
{
    if (r->moe_layers <= 0 || r->moe_step <= 0)
        return 0;
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
    if (bm < 0)
        return 0;
    snprintf(o, TEACH_LINE,
             "Experts at step %lld: the busiest, MoE layer %d expert %d, takes %.0f%% of "
             "the routed slots (even: %.0f%%); router entropy %.2f-%.2f nats of ln %d = "
             "%.2f.",
             (long long)r->moe_step, bm, be, 100 * r->expert_frac[bm * E + be], 100.0 / E, hmin,
             hmax, E, log((double)E));
    return 1;
}

static int observe_diverged(const ui_run *r, char *o)
{
    if (r->st.state != NL_RUN_DIVERGED)
        return 0;
    if (!strncmp(r->st.message, "diverged", 8))
        snprintf(o, TEACH_LINE, "D%.200s", r->st.message + 1);
    else
        snprintf(o, TEACH_LINE, "Diverged at step %lld: %.150s", (long long)r->st.diverged_step,
                 r->st.message);
    return 1;
}

int teach_observe(const ui_run *r, int heat_ffn, char out[][TEACH_LINE], int max_lines)
{
    int n = 0;
    if (max_lines <= 0)
        return 0;
    if (!r->hist || history_len(r->hist) == 0 || r->layers < 1) {
        snprintf(out[n++], TEACH_LINE, "No metrics yet: observations appear after the first step.");
        return n;
    }
    const char *kind = heat_ffn ? "FFN" : "attention";
    const float *gn = heat_ffn ? r->gn_ffn : r->gn_attn;
    int L = r->layers;
    teach_profile p;
    teach_profile_of(gn, L, &p);
    if (n < max_lines && observe_now(r, kind, gn, &p, out[n]))
        n++;
    if (n < max_lines && observe_vanished(gn, L, &p, out[n]))
        n++;
    if (n < max_lines && observe_ratio(r, kind, &p, out[n]))
        n++;
    /* the profile when it was measured: step 1, and after a few steps */
    if (n < max_lines && observe_step(r, heat_ffn, 1, STAGE_STEP1, out[n]))
        n++;
    if (n < max_lines && r->last_step >= TEACH_LATER_STEP &&
        observe_step(r, heat_ffn, TEACH_LATER_STEP, STAGE_LATER, out[n]))
        n++;
    if (n < max_lines && observe_rms(r, L, out[n]))
        n++;
    if (n < max_lines && observe_loss(r, out[n]))
        n++;
    if (n < max_lines && observe_experts(r, out[n]))
        n++;
    if (n < max_lines && observe_diverged(r, out[n]))
        n++;
    return n;
}
