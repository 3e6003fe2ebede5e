/* The teaching panel and the widgets it leans on never mislead: the exact statements of
 * "What this run shows" for constructed runs (a deep Post-Norm run whose bottom layers'
 * gradients are exactly 0, a residual RMS ratio of 0.165, a Post-Norm run with and without
 * warmup), symmetric trend words, vanished cells in the heatmap (distinct from missing
 * data), and bar strips on a zero-based scale (a 7% spread draws as a 7% spread). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/config.h"
#include "t.h"
#include "ui/bars.h"
#include "ui/dash.h"
#include "ui/grid.h"
#include "ui/heatmap.h"
#include "ui/runview.h"
#include "ui/teach.h"

#include "grid_t.h"

/* The observation line that contains `key` (NULL when none). */
static const char *line_with(char obs[][TEACH_LINE], int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strstr(obs[i], key))
            return obs[i];
    return NULL;
}

static int any_line_has(char obs[][TEACH_LINE], int n, const char *key)
{
    return line_with(obs, n, key) != NULL;
}

/* A run of `layers` layers whose rows, steps 1..steps, come from fill(). */
typedef void (*fill_fn)(int step, int layers, float *ga, float *gf, float *rms);

static void make_run(ui_run *r, int layers, int steps, fill_fn fill, const nl_config *cfg)
{
    runview_init(r, "run", 0);
    runview_set_layers(r, layers);
    if (cfg)
        runview_set_config(r, cfg);
    float ga[64], gf[64], rms[64];
    for (int s = 1; s <= steps; s++) {
        fill(s, layers, ga, gf, rms);
        nl_metrics_row row = {.step = s,
                              .tokens = s * 512,
                              .time_s = s,
                              .lr = 1e-2f,
                              .loss = 4.1f,
                              .val_loss = NAN,
                              .grad_norm = 0.4f,
                              .tok_s = 100,
                              .aux_loss = NAN,
                              .z_loss = NAN,
                              .gn_attn = ga,
                              .gn_ffn = gf,
                              .rms = rms};
        runview_ingest(r, &row);
    }
    r->st.state = NL_RUN_RUNNING;
}

/* postnorm-deep as metrics.csv had it at step 60: level at step 1, top-heavy at step 10,
 * then layers 0-7 exactly 0 and layer 23 the largest (0.00106). */
static const float deep_step60[24] = {0,        0,        0,        0,        0,        0,
                                      0,        0,        1.98e-22, 3.26e-21, 9.57e-20, 1.17e-18,
                                      9.07e-18, 1.35e-16, 1.97e-15, 1.99e-14, 1.63e-13, 3.27e-13,
                                      2.76e-12, 1.02e-10, 2.79e-09, 1.36e-07, 8.67e-06, 0.00106f};

static void fill_deep(int step, int L, float *ga, float *gf, float *rms)
{
    for (int l = 0; l < L; l++) {
        if (step == 1)
            ga[l] = 0.028f;
        else if (step < 20)
            ga[l] = 0.001f * powf(1.3f, (float)l); /* top-heavy: 418x */
        else
            ga[l] = deep_step60[l];
        gf[l] = 2 * ga[l];
        rms[l] = l == L - 1 ? 0.594f : 1.03f;
    }
}

static void post_cfg(nl_config *c, int layers, int warmup)
{
    nl_config_defaults(c);
    c->model.placement = NL_PLACE_POST;
    c->model.layers = layers;
    c->model.d_model = 128;
    c->train.lr = 1e-2f;
    c->train.warmup = warmup;
    snprintf(c->data.source, sizeof c->data.source, "markov");
}

/* The reported defect: layers 0-7 at exactly 0 must not make layer 0 "the largest". */
static void test_observe_vanished_origin(void)
{
    static nl_config c;
    post_cfg(&c, 24, 0);
    ui_run r;
    make_run(&r, 24, 60, fill_deep, &c);
    char obs[TEACH_MAX_LINES][TEACH_LINE];
    int n = teach_observe(&r, 0, obs, TEACH_MAX_LINES);
    for (int i = 0; getenv("NL_TEST_DUMP") && i < n; i++)
        fprintf(stderr, "  %s\n", obs[i]);
    T_CHECK(n >= 4 && !strcmp(obs[0], "Step 60: the attention gradient norm is largest in layer "
                                      "23 (0.00106) and smallest in layer 0 (0)."),
            "origin line: '%s'", n > 0 ? obs[0] : "");
    T_CHECK(n >= 2 && !strcmp(obs[1], "Vanished (0, or under 1e-6 of the largest): layers 0-19 "
                                      "of 24; exactly 0 in layers 0-7."),
            "vanished line: '%s'", n > 1 ? obs[1] : "");
    T_CHECK(!any_line_has(obs, n, "layer 0 has the largest"), "layer 0 named the largest");
    const char *now = line_with(obs, n, "Last over first layer now");
    T_CHECK(now && strstr(now, "unbounded (over 0)") && strstr(now, "grows toward the output"),
            "now: '%s'", now ? now : "");
    const char *s1 = line_with(obs, n, "Step 1:");
    T_CHECK(s1 && strstr(s1, "last/first 1\xc3\x97 - it is about level across depth, as this "
                             "lab measured."),
            "step 1: '%s'", s1 ? s1 : "");
    const char *s10 = line_with(obs, n, "Step 10:");
    T_CHECK(s10 && strstr(s10, "it grows toward the output, as this lab measured."),
            "step 10: '%s'", s10 ? s10 : "");
    /* the RMS falls to 0.576x: shrinks, against an expectation of flat, with reasons */
    const char *rms = line_with(obs, n, "Residual RMS");
    T_CHECK(rms &&
                strstr(rms, "(0.577\xc3\x97 = 1/1.73): it shrinks with depth, unlike what to "
                            "expect: it is about flat across depth") &&
                strstr(rms, "likely reason: scale: lr 0.01") && strstr(rms, "data markov"),
            "rms: '%s'", rms ? rms : "");
    /* the FFN kind says the same of its own norms */
    n = teach_observe(&r, 1, obs, TEACH_MAX_LINES);
    T_CHECK(n > 1 && strstr(obs[0], "FFN gradient norm is largest in layer 23 (0.00212)") &&
                strstr(obs[1], "layers 0-19 of 24; exactly 0 in layers 0-7"),
            "ffn: '%s' / '%s'", n > 0 ? obs[0] : "", n > 1 ? obs[1] : "");
    runview_free(&r);
}

static void test_layer_list(void)
{
    const float v[10] = {0, 0, 1e-9f, 1, 0, 1e-12f, 2, 2, NAN, 0};
    char buf[64];
    T_CHECK(!strcmp(teach_layer_list(v, 10, 0, buf, sizeof buf), "0-2, 4-5, 9"), "vanished '%s'",
            buf);
    T_CHECK(!strcmp(teach_layer_list(v, 10, 1, buf, sizeof buf), "0-1, 4, 9"), "zeros '%s'", buf);
    teach_profile p;
    teach_profile_of(v, 10, &p);
    T_CHECK(p.imax == 6 && p.imin == 0 && p.nvanished == 6 && p.nzero == 4 && isnan(p.ratio),
            "profile max %d min %d vanished %d zero %d ratio %g", p.imax, p.imin, p.nvanished,
            p.nzero, p.ratio);
}

/* r and 1/r get mirrored words at the same threshold; the ratio 0.165 is not flat. */
static void test_judge_symmetric(void)
{
    static const double rs[] = {1,   1.01, 1.2,  1.49, 1.4999, 1.5,     1.5001,
                                1.7, 2,    6.06, 64,   1e20,   INFINITY};
    for (size_t i = 0; i < sizeof rs / sizeof *rs; i++) {
        teach_trend a = teach_judge(rs[i]), b = teach_judge(1 / rs[i]);
        teach_trend mirror = a == TEACH_GROWS     ? TEACH_SHRINKS
                             : a == TEACH_SHRINKS ? TEACH_GROWS
                                                  : a;
        T_CHECK(b == mirror, "r=%g gives %d but 1/r gives %d", rs[i], a, b);
    }
    T_CHECK(teach_judge(1.5) == TEACH_GROWS && teach_judge(1 / 1.5) == TEACH_SHRINKS &&
                teach_judge(1.49) == TEACH_LEVEL && teach_judge(1 / 1.49) == TEACH_LEVEL,
            "the thresholds are 1.5 and 1/1.5");
    T_CHECK(teach_judge(0.165) == TEACH_SHRINKS && teach_judge(1 / 0.165) == TEACH_GROWS,
            "0.165 shrinks, 6.06 grows");
    T_CHECK(teach_judge(NAN) == TEACH_UNKNOWN && teach_judge(-1) == TEACH_UNKNOWN, "no ratio");
}

static void fill_rms_0165(int step, int L, float *ga, float *gf, float *rms)
{
    for (int l = 0; l < L; l++) {
        ga[l] = gf[l] = 0.05f;
        rms[l] = 1.0f - 0.835f * (float)l / (float)(L - 1); /* 1 ... 0.165 */
    }
}

static void fill_rms_606(int step, int L, float *ga, float *gf, float *rms)
{
    for (int l = 0; l < L; l++) {
        ga[l] = gf[l] = 0.05f;
        rms[l] = 0.165f + 0.835f * (float)l / (float)(L - 1); /* 0.165 ... 1 */
    }
}

/* "About flat" was printed for 0.165x; now it shrinks, and 6.06x (its mirror) grows. */
static void test_observe_rms_ratio(void)
{
    ui_run r;
    make_run(&r, 4, 3, fill_rms_0165, NULL);
    char obs[TEACH_MAX_LINES][TEACH_LINE];
    int n = teach_observe(&r, 0, obs, TEACH_MAX_LINES);
    const char *rms = line_with(obs, n, "Residual RMS");
    T_CHECK(rms && !strcmp(rms, "Residual RMS: 1 after layer 0, 0.165 after layer 3 (0.165\xc3\x97 "
                                "= 1/6.06): it shrinks with depth."),
            "rms: '%s'", rms ? rms : "");
    T_CHECK(!any_line_has(obs, n, "flat"), "0.165x called flat");
    const char *lvl = line_with(obs, n, "Step 1:");
    T_CHECK(lvl && strstr(lvl, "last/first 1\xc3\x97 - it is about level across depth."),
            "level gradients without a config: no verdict: '%s'", lvl ? lvl : "");
    runview_free(&r);
    make_run(&r, 4, 3, fill_rms_606, NULL);
    n = teach_observe(&r, 0, obs, TEACH_MAX_LINES);
    rms = line_with(obs, n, "Residual RMS");
    T_CHECK(rms && strstr(rms, "(6.06\xc3\x97): it grows with depth."), "mirror: '%s'",
            rms ? rms : "");
    runview_free(&r);
}

/* A stalled run on prose (loss 4.1 from make_run, at or above a unigram level of 4.05) is
 * named as sitting at the unigram level; one below it by more than the margin is not. */
static void test_observe_unigram(void)
{
    ui_run r;
    make_run(&r, 4, 12, fill_rms_0165, NULL);
    r.st.unigram_level = 4.05;
    char obs[TEACH_MAX_LINES][TEACH_LINE];
    int n = teach_observe(&r, 0, obs, TEACH_MAX_LINES);
    const char *l = line_with(obs, n, "unigram");
    T_CHECK(l && strstr(l, "Train loss 4.1 sits at the unigram level (4.05)"), "stalled: '%s'",
            l ? l : "");
    r.st.unigram_level = 4.3;
    n = teach_observe(&r, 0, obs, TEACH_MAX_LINES);
    l = line_with(obs, n, "unigram");
    T_CHECK(l && strstr(l, "Train loss 4.1, 0.2 nats below the unigram level (4.3)"),
            "learning: '%s'", l ? l : "");
    r.st.unigram_level = 3.12; /* the first steps: above it, never "below" by a negative amount */
    n = teach_observe(&r, 0, obs, TEACH_MAX_LINES);
    l = line_with(obs, n, "unigram");
    T_CHECK(l && strstr(l, "Train loss 4.1, above the unigram level (3.12)"), "early: '%s'",
            l ? l : "");
    runview_free(&r);
}

static void fill_level(int step, int L, float *ga, float *gf, float *rms)
{
    for (int l = 0; l < L; l++) {
        ga[l] = gf[l] = 0.02f;
        rms[l] = 1.0f;
    }
}

/* Post-Norm level at step 10: with warmup that is what this lab measured (and the panel says
 * warmup is why it is not top-heavy); without warmup it contradicts what to expect, and the
 * panel names the settings that differ from the measured one. */
static void test_observe_expectation(void)
{
    static nl_config c;
    ui_run r;
    char obs[TEACH_MAX_LINES][TEACH_LINE];
    post_cfg(&c, 12, 100);
    c.train.lr = 1e-3f;
    snprintf(c.data.source, sizeof c.data.source, "text:corpus.txt");
    make_run(&r, 12, 12, fill_level, &c);
    int n = teach_observe(&r, 0, obs, TEACH_MAX_LINES);
    const char *s10 = line_with(obs, n, "Step 10:");
    T_CHECK(s10 && !strcmp(s10, "Step 10: last/first 1\xc3\x97 - it is about level across depth, "
                                "as this lab measured with warmup (without, it grows toward the "
                                "output: warmup is the difference)."),
            "warmup: '%s'", s10 ? s10 : "");
    runview_free(&r);

    post_cfg(&c, 4, 0);
    c.model.d_model = 64;
    make_run(&r, 4, 12, fill_level, &c);
    n = teach_observe(&r, 0, obs, TEACH_MAX_LINES);
    s10 = line_with(obs, n, "Step 10:");
    T_CHECK(s10 && strstr(s10, "it is about level across depth, unlike what to expect: it grows "
                               "toward the output (attn 4.2-33, FFN 8.8-82); likely reason: "
                               "scale: lr 0.01 (measured 0.001), width d_model 64 (measured "
                               "128-256), depth 4 layers (measured 6-24)."),
            "contradiction: '%s'", s10 ? s10 : "");
    runview_free(&r);

    /* Pre-Norm with level gradients at step 1: this lab measured the first layer largest */
    c.model.placement = NL_PLACE_PRE;
    c.model.init = NL_INIT_MEGATRON;
    make_run(&r, 4, 1, fill_level, &c);
    n = teach_observe(&r, 0, obs, TEACH_MAX_LINES);
    const char *s1 = line_with(obs, n, "Step 1: last/first");
    T_CHECK(s1 && strstr(s1, "unlike what to expect: it shrinks toward the output (0.33-0.40); "
                             "likely reason: init megatron (measured normal)"),
            "step 1: '%s'", s1 ? s1 : "");
    T_CHECK(!any_line_has(obs, n, "Last over first layer now"), "step 1 said twice");
    runview_free(&r);

    /* where the seeds disagree there is no verdict: HybridNorm*'s attention with warmup */
    c.model.placement = NL_PLACE_HYBRID_STAR;
    c.model.init = NL_INIT_NORMAL;
    c.train.warmup = 100;
    make_run(&r, 4, 12, fill_level, &c);
    n = teach_observe(&r, 0, obs, TEACH_MAX_LINES);
    s10 = line_with(obs, n, "Step 10:");
    T_CHECK(s10 && !strcmp(s10, "Step 10: last/first 1\xc3\x97 - it is about level across depth."),
            "no verdict: '%s'", s10 ? s10 : "");
    runview_free(&r);

    /* the residual RMS is judged from step 10 on: Mix-LN's is still flat at step 1 */
    c.model.placement = NL_PLACE_MIXLN;
    make_run(&r, 4, 1, fill_level, &c);
    n = teach_observe(&r, 0, obs, TEACH_MAX_LINES);
    const char *rms = line_with(obs, n, "Residual RMS");
    T_CHECK(rms &&
                strstr(rms, "it is about flat across depth (what to expect is for step 10 on).") &&
                !strstr(rms, "unlike"),
            "rms at step 1: '%s'", rms ? rms : "");
    runview_free(&r);
}

/* Every placement's "What to expect" names its sources, and the measured profile it
 * states is the one the comparison uses. */
static void test_expect_texts(void)
{
    char buf[2048], want[256];
    for (int p = 0; p < NL_PLACE_COUNT; p++) {
        const teach_text *t = teach_placement((nl_placement)p);
        teach_expect_text((nl_placement)p, buf, sizeof buf);
        T_CHECK(t->title && t->equations && strstr(buf, "Sources: "), "%s: no sources", t->title);
        T_CHECK(p == NL_PLACE_CUSTOM || strstr(t->sources, "measured in this lab"),
                "%s: not checked against this lab", t->title);
        const teach_expect *x = &t->data;
        if (x->grad_step1[0] == TEACH_UNKNOWN)
            continue;
        if (x->grad_step1[0] == x->grad_step1[1]) {
            snprintf(want, sizeof want, "at step 1: it %s (%s)",
                     teach_trend_words(x->grad_step1[0], 0), x->fig_step1);
            T_CHECK(strstr(buf, want), "%s: '%s' not in the text", t->title, want);
        }
        if (x->rms != TEACH_UNKNOWN) {
            snprintf(want, sizeof want, "the residual RMS %s", teach_trend_words(x->rms, 1));
            T_CHECK(strstr(buf, want), "%s: '%s' not in the text", t->title, want);
        }
    }
    /* the claims of the issue: Post-Norm is level at step 1, Pre-Norm is not level */
    const teach_expect *post = &teach_placement(NL_PLACE_POST)->data;
    const teach_expect *pre = &teach_placement(NL_PLACE_PRE)->data;
    T_CHECK(post->grad_step1[0] == TEACH_LEVEL && post->grad_later[1] == TEACH_GROWS &&
                post->grad_later_warm[1] == TEACH_LEVEL && post->rms == TEACH_LEVEL,
            "Post-Norm's measured profile");
    T_CHECK(pre->grad_step1[0] == TEACH_SHRINKS && pre->rms == TEACH_GROWS,
            "Pre-Norm's measured profile");
}

/* Zeros and ~0 draw as a cross in ROLE_VANISHED, NAN stays blank, and the colour range
 * leaves the vanished values out. */
static void test_heatmap_vanished(void)
{
    enum { R = 4, C = 6 };
    float v[R * C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            v[r * C + c] = 0.01f * (float)(r + 1);
    v[0 * C + 0] = v[0 * C + 1] = 0; /* layer 0 at exactly 0 in columns 0-1 */
    v[1 * C + 2] = 1e-12f;           /* layer 1 under 1e-6 of its column's 0.04 */
    v[2 * C + 3] = NAN;              /* layer 2 has no data in column 3 */
    for (int mono = 0; mono <= 1; mono++) {
        /* 7 cells per column: column c is x0 + 7c .. x0 + 7c + 6 */
        ui_grid g;
        grid_init(&g, 3 + 7 * C, R + 1);
        heatmap_spec s = {R, C, v, UI_GLYPH_BLOCK, mono, "L", 1, 0, 1};
        heatmap_draw(&g, (ui_rect){0, 0, 3 + 7 * C, R + 1}, &s);
        dump(__func__, &g);
        int x0 = 3;
        ui_cell *z = grid_at(&g, x0 + 7, 0), *tiny = grid_at(&g, x0 + 14, 1);
        ui_cell *none = grid_at(&g, x0 + 21, 2), *live = grid_at(&g, x0 + 14, 0);
        T_CHECK(z->ch == 0xd7 && z->role == ROLE_VANISHED, "mono=%d zero cell '%lc' role %d", mono,
                (wint_t)z->ch, z->role);
        T_CHECK(tiny->ch == 0xd7 && tiny->role == ROLE_VANISHED, "mono=%d ~0 cell '%lc'", mono,
                (wint_t)tiny->ch);
        T_CHECK(none->ch == L' ', "mono=%d missing cell drawn '%lc'", mono, (wint_t)none->ch);
        T_CHECK(live->role == ROLE_HEAT0, "mono=%d the smallest live value is level 0 (role %d)",
                mono, live->role);
        T_CHECK(row_has(&g, R, "0.01") && row_has(&g, R, "vanished"),
                "mono=%d scale row names the vanished glyph", mono);
        grid_free(&g);
    }
    double lo, hi;
    heatmap_spec s = {R, C, v, UI_GLYPH_BLOCK, 0, "L", 1, 0, 1};
    T_CHECK(heatmap_range(&s, &lo, &hi) && lo == 0.01f && hi == 0.04f, "range %g..%g", lo, hi);
    T_CHECK(heat_vanished(0, 1) && heat_vanished(9e-7, 1) && !heat_vanished(2e-6, 1) &&
                !heat_vanished(NAN, 1) && heat_vanished(0, 0),
            "heat_vanished");
}

/* Height of bar x in eighths (rows y0..y0+H-1 from the bottom up). */
static int bar_eighths(ui_grid *g, int x, int base, int H)
{
    int e = 0;
    for (int row = 0; row < H; row++) {
        wchar_t ch = grid_at(g, x, base - 1 - row)->ch;
        if (ch == 0x2588)
            e += 8;
        else if (ch >= 0x2581 && ch <= 0x2587)
            e += (int)(ch - 0x2580);
    }
    return e;
}

/* race's post-L4: 0.0205/0.0197/0.0194/0.0192 must not draw as a full bar and a tenth. */
static void test_bars_zero_based(void)
{
    float v[4] = {0.0205f, 0.0197f, 0.0194f, 0.0192f};
    ui_grid g;
    grid_init(&g, 24, 8);
    bars_spec s = {4, v, UI_GLYPH_BLOCK, 0, ROLE_SERIES0, 0, 0, 0, 0, 1};
    bars_draw(&g, (ui_rect){0, 0, 24, 8}, &s);
    dump(__func__, &g);
    int H = 6, base = 7, e[4];
    for (int i = 0; i < 4; i++)
        e[i] = bar_eighths(&g, i * 6, base, H);
    T_CHECK(e[0] == 48 && e[3] >= 44 && e[3] <= 46,
            "heights %d %d %d %d eighths: not within 7%% of each other", e[0], e[1], e[2], e[3]);
    T_CHECK(row_has(&g, 0, "0..0.0205") && row_has(&g, 0, "max/min 1.07\xc3\x97"),
            "the top row gives the scale from 0 and the ratio");
    /* a vanished layer: a cross at its foot, counted on the top row; NAN stays blank */
    float w[4] = {0, 1e-9f, NAN, 0.02f};
    grid_clear(&g);
    bars_spec sw = {4, w, UI_GLYPH_BLOCK, 0, ROLE_SERIES0, 0, 0, 0, 0, 1};
    bars_draw(&g, (ui_rect){0, 0, 24, 8}, &sw);
    dump(__func__, &g);
    T_CHECK(grid_at(&g, 0, base - 1)->ch == 0xd7 && grid_at(&g, 6, base - 1)->ch == 0xd7 &&
                grid_at(&g, 0, base - 1)->role == ROLE_VANISHED,
            "vanished bars show a cross");
    T_CHECK(grid_at(&g, 12, base - 1)->ch == L' ', "a missing value stays blank");
    T_CHECK(row_has(&g, 0, "2 vanished"), "the top row counts the vanished");
    grid_free(&g);
}

static void fill_race_post(int step, int L, float *ga, float *gf, float *rms)
{
    static const float v[4] = {0.0205f, 0.0197f, 0.0194f, 0.0192f};
    for (int l = 0; l < L; l++) {
        ga[l] = v[l];
        gf[l] = 2 * v[l];
        rms[l] = 1;
    }
}

/* The dashboard's "Latest grad norm" strip draws the same values on a zero-based scale. */
static void test_dashboard_bars(void)
{
    ui_run r;
    make_run(&r, 4, 30, fill_race_post, NULL);
    dash_view v;
    dash_view_init(&v);
    ui_grid g;
    grid_init(&g, 100, 30);
    dash_draw(&g, &v, &r, 1);
    dump(__func__, &g);
    int top = -1;
    for (int y = 0; y < g.h && top < 0; y++)
        if (row_has(&g, y, "Latest grad norm (attn)"))
            top = y;
    T_CHECK(top > 0 && row_has(&g, top + 1, "0..0.0205") &&
                row_has(&g, top + 1, "max/min 1.07\xc3\x97"),
            "bar strip header (title row %d)", top);
    /* the strip's body starts one cell right of the panel's left edge; index labels under */
    int x0 = -1, base = -1;
    for (int x = 0; top > 0 && x < g.w && x0 < 0; x++)
        if (grid_at(&g, x, top + 1)->ch == L'0' && grid_at(&g, x + 1, top + 1)->ch == L'.')
            x0 = x;
    for (int y = top + 2; x0 >= 0 && y < g.h && base < 0; y++)
        if (grid_at(&g, x0, y)->ch == L'0')
            base = y;
    int lo = 1 << 20, hi = 0, bars = 0;
    for (int x = x0; base > 0 && x < g.w; x++) {
        int e = bar_eighths(&g, x, base, base - top - 2);
        bars += e > 0;
        if (e > 0 && e < lo)
            lo = e;
        if (e > hi)
            hi = e;
    }
    T_CHECK(bars >= 4 && hi > 0 && (double)lo / hi >= 0.9,
            "bars from %d to %d eighths (body at x %d, index row %d)", lo, hi, x0, base);
    grid_free(&g);
    runview_free(&r);
}

int main(void)
{
    (void)t_skip;
    T_RUN(test_observe_vanished_origin);
    T_RUN(test_layer_list);
    T_RUN(test_judge_symmetric);
    T_RUN(test_observe_rms_ratio);
    T_RUN(test_observe_unigram);
    T_RUN(test_observe_expectation);
    T_RUN(test_expect_texts);
    T_RUN(test_heatmap_vanished);
    T_RUN(test_bars_zero_based);
    T_RUN(test_dashboard_bars);
    T_END();
}
