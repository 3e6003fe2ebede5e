/* The dashboard, drawn into the off-screen grid: the history's bucketing (a spike a million
 * steps back still shows), the dashboard of a race and of an MoE run, a slowed run's status
 * line, and what `normlab watch` skipped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ncursesw/curses.h>

#include "engine/config.h"
#include "engine/memest.h"
#include "t.h"
#include "ui/bars.h"
#include "ui/dash.h"
#include "ui/grid.h"
#include "ui/heatmap.h"
#include "ui/history.h"
#include "ui/keys.h"
#include "ui/loadmap.h"
#include "ui/plot.h"
#include "ui/runview.h"
#include "ui/setup.h"
#include "ui/sweepgrid.h"
#include "ui/tail.h"
#include "ui/teach.h"
#include "ui/term.h"
#include "ui/widgets.h"

#include "grid_t.h"

/* A million steps in a history sized for ~2 MB: memory stays bounded, every step is counted
 * once, recent steps are exact, and a spike 900,000 steps back is still a bucket's max. */
/* The entries of a history of n steps: each step counted once, in order, the spike at step
 * spike in one bucket, recent steps exact. */
static void check_history_entries(history *h, long N, long SPIKE)
{
    int len = history_len(h);
    T_CHECK(len < 8192, "entries %d", len);
    long covered = 0, spike_entries = 0;
    double prev_end = 0;
    int vals = 0;
    for (int i = 0; i < len; i++) {
        hist_entry e;
        history_entry(h, i, &e);
        covered += e.n;
        T_CHECK(e.step0 == prev_end + 1, "entry %d starts at %g after %g", i, e.step0, prev_end);
        prev_end = e.step1;
        T_CHECK(e.tok1 == e.step1 * 64, "tokens follow steps");
        if (history_max(h, i, 2) == 1000.0f) {
            spike_entries++;
            T_CHECK(e.step0 <= SPIKE && e.step1 >= SPIKE, "spike in entry %g..%g", e.step0,
                    e.step1);
            T_CHECK(history_min(h, i, 2) == 1.0f, "bucket min beside the spike");
            T_CHECK(history_mean(h, i, 2) < 1000.0f / 2, "bucket mean is not the max");
        }
        vals += !isnan(history_max(h, i, 1));
        if (i < len - 1 && isnan(history_mean(h, i, 1)) == 0)
            T_CHECK(history_mean(h, i, 1) == 2.5f, "val mean %g", history_mean(h, i, 1));
    }
    T_CHECK(covered == N, "entries cover %ld steps", covered);
    T_CHECK(spike_entries == 1, "spike in %ld entries", spike_entries);
    T_CHECK(vals >= 100, "validation values kept in %d entries", vals);
    hist_entry e;
    history_entry(h, len - 1, &e);
    T_CHECK(e.n == 1 && e.step0 == N && history_mean(h, len - 1, 3) == (float)N,
            "newest step exact");
    history_entry(h, len - 2, &e);
    T_CHECK(e.n == 1 && e.step0 == N - 1, "recent steps at full resolution");
    T_CHECK(history_last(h, 1) == 2.5f, "last validation value");
}

/* Drawn from the history, the spike still reaches the top row of a 60-column plot. */
static void check_spike_plot(history *h, const char *name)
{
    int len = history_len(h);
    hist_entry e;
    double *x = malloc(sizeof(double) * (size_t)len), *y = malloc(sizeof(double) * (size_t)len);
    double *lo = malloc(sizeof(double) * (size_t)len), *hi = malloc(sizeof(double) * (size_t)len);
    for (int i = 0; i < len; i++) {
        history_entry(h, i, &e);
        x[i] = (e.step0 + e.step1) / 2;
        y[i] = history_mean(h, i, 2);
        lo[i] = history_min(h, i, 2);
        hi[i] = history_max(h, i, 2);
    }
    ui_grid g;
    grid_init(&g, 60, 10);
    plot_series s = {NULL, ROLE_SERIES0, 0, len, x, y, lo, hi, 0};
    plot_spec p = {UI_GLYPH_BRAILLE, 1, NULL, NAN, NAN, NAN, NULL, 0, 1, &s, 0, .mono = 0};
    plot_layout L;
    plot_draw(&g, (ui_rect){0, 0, 60, 10}, &p, &L);
    dump(name, &g);
    int top = -1;
    for (int xx = L.area.x; xx < L.area.x + L.area.w; xx++)
        if (cell_dotted(&g, xx, L.area.y))
            top = xx - L.area.x;
    T_CHECK(top >= 0 && abs(top - L.area.w / 10) <= 1, "spike at column %d of %d", top, L.area.w);
    grid_free(&g);
    free(x);
    free(y);
    free(lo);
    free(hi);
}

static void test_history_bucketing(void)
{
    enum { CH = 4 };
    history *h = history_create_budget(CH, 2u << 20);
    T_CHECK(h != NULL, "created");
    if (!h)
        return;
    size_t bytes = history_bytes(h);
    float row[CH];
    const long N = 1000000, SPIKE = 100000;
    for (long s = 1; s <= N; s++) {
        row[0] = 3.0f - (float)s * 1e-6f;
        row[1] = s % 1000 == 0 ? 2.5f : NAN;  /* validation every 1000 steps */
        row[2] = s == SPIKE ? 1000.0f : 1.0f; /* one spike */
        row[3] = (float)s;
        history_push(h, (double)s, (double)s * 64, row);
    }
    T_CHECK(history_bytes(h) == bytes, "memory grew from %zu to %zu", bytes, history_bytes(h));
    T_CHECK(bytes < (3u << 20), "history of a million steps takes %zu bytes", bytes);
    T_CHECK(history_pushed(h) == N, "pushed %lld", (long long)history_pushed(h));
    check_history_entries(h, N, SPIKE);
    check_spike_plot(h, __func__);
    history_free(h);
}

static void test_history_small(void)
{
    history *h = history_create(1, 4, 4);
    float v;
    for (int s = 1; s <= 20; s++) {
        v = (float)s;
        history_push(h, s, s, &v);
    }
    /* 4 recent + buckets of growing width covering 1..16 */
    int len = history_len(h);
    hist_entry e;
    history_entry(h, len - 4, &e);
    T_CHECK(e.step0 == 17 && e.n == 1, "oldest recent is step %g", e.step0);
    history_entry(h, 0, &e);
    T_CHECK(e.step0 == 1, "first bucket starts at step 1");
    T_CHECK(history_min(h, 0, 0) == 1 && history_max(h, 0, 0) == (float)e.step1,
            "bucket 0 range %g..%g", history_min(h, 0, 0), history_max(h, 0, 0));
    T_CHECK(len <= 8, "entries %d", len);
    history_reset(h);
    T_CHECK(history_len(h) == 0 && history_pushed(h) == 0 && isnan(history_last(h, 0)), "reset");
    history_free(h);
}

/* Two runs of a race, made up: "post" whose gradient norms grow with depth (and which
 * diverged), "pre" whose norms are level. */
static void fake_run(ui_run *r, const char *name, int colour, int grow)
{
    runview_init(r, name, colour);
    runview_set_layers(r, 4);
    float ga[4], gf[4], rms[4];
    for (int s = 1; s <= 120; s++) {
        for (int l = 0; l < 4; l++) {
            ga[l] = grow ? 0.01f * powf(4.0f, (float)l) : 0.05f;
            gf[l] = ga[l] * 2;
            rms[l] = grow ? 1.0f : 1.0f + l;
        }
        nl_metrics_row row = {s,
                              s * 512,
                              s * 0.1,
                              1e-3f,
                              4.0f - s * 0.01f,
                              s % 50 ? NAN : 3.5f,
                              1.0f,
                              5000,
                              NAN,
                              NAN,
                              ga,
                              gf,
                              rms,
                              NULL,
                              NULL,
                              NULL,
                              NULL};
        runview_ingest(r, &row);
    }
    r->st.state = NL_RUN_RUNNING;
    r->st.step = 120;
    r->st.total = 300;
    r->st.entropy_floor = 2.0;
}

/* The dashboard of fake_run's two runs: a legend with both and the floor, and a heatmap in
 * which post's layer 3 is hotter than its layer 0. */
static void check_dash_heatmap(ui_grid *g)
{
    int legend = -1, heat0 = -1;
    for (int y = 0; y < 24; y++) {
        char buf[1024];
        grid_row_utf8(g, y, buf, sizeof buf);
        if (legend < 0 && strstr(buf, "\xe2\x94\x81 post") && strstr(buf, "\xe2\x94\x81 pre"))
            legend = y;
        if (heat0 < 0 && !strncmp(buf, "L0 ", 3))
            heat0 = y;
    }
    T_CHECK(legend > 0 && row_has(g, legend, "floor 2"),
            "legend with both runs and the floor (row %d)", legend);
    T_CHECK(heat0 > 0, "a heatmap row for layer 0");
    if (heat0 > 0) {
        /* post's norms grow with depth: layer 3's cells are hotter than layer 0's */
        int l0 = grid_at(g, 10, heat0)->role - ROLE_HEAT0;
        int l3 = -1;
        for (int y = heat0 + 1; y < 24 && l3 < 0; y++) {
            char buf[256];
            grid_row_utf8(g, y, buf, sizeof buf);
            if (!strncmp(buf, "L3 ", 3))
                l3 = grid_at(g, 10, y)->role - ROLE_HEAT0;
        }
        T_CHECK(l0 >= 0 && l3 > l0 && l3 < UI_HEAT_LEVELS, "layer 0 at level %d, layer 3 at %d", l0,
                l3);
    }
}

/* The teaching panel's observation of post: layer 3 is 64x layer 0; of pre: level gradients
 * and a growing RMS. */
static void check_teach_observations(ui_run *runs)
{
    char obs[TEACH_MAX_LINES][TEACH_LINE];
    int n = teach_observe(&runs[0], 0, obs, TEACH_MAX_LINES);
    int ratio = 0, grows = 0;
    for (int i = 0; i < n; i++) {
        ratio |= strstr(obs[i], "Step 120: the attention gradient norm is largest in layer 3 "
                                "(0.64) and smallest in layer 0 (0.01).") != NULL;
        grows |= strstr(obs[i], "Last over first layer now: 64\xc3\x97 - the attention gradient "
                                "grows toward the output") != NULL;
    }
    T_CHECK(ratio && grows, "observations: '%s' / '%s'", n > 0 ? obs[0] : "", n > 1 ? obs[1] : "");
    n = teach_observe(&runs[1], 0, obs, TEACH_MAX_LINES);
    int level = 0, rms = 0;
    for (int i = 0; i < n; i++) {
        level |= strstr(obs[i], "about level across depth") != NULL;
        rms |= strstr(obs[i], "grows with depth") != NULL;
    }
    T_CHECK(level && rms, "pre: level gradients and growing RMS");
}

/* Help in watch mode marks the live-only keys (the whole help: it scrolls where the screen
 * is shorter). */
static void check_help_live(void)
{
    ui_grid g;
    grid_init(&g, 100, 90);
    ui_draw_help(&g, CTX_DASH, 1, 0, UI_GLYPH_BRAILLE, NULL);
    int live = 0;
    for (int y = 0; y < g.h; y++)
        live += row_has(&g, y, "(live runs only)");
    T_CHECK(live >= 5, "%d live-only keys marked", live);
    grid_free(&g);
}

static void test_dashboard(void)
{
    ui_run runs[2];
    fake_run(&runs[0], "post", 0, 1);
    fake_run(&runs[1], "pre", 1, 0);
    runs[0].st.state = NL_RUN_DIVERGED;
    runs[0].st.diverged_step = 77;
    dash_view v;
    dash_view_init(&v);
    ui_grid g;
    grid_init(&g, 80, 24);
    dash_draw(&g, &v, runs, 2);
    dump(__func__, &g);
    check_dash_heatmap(&g);
    T_CHECK(row_has(&g, 0, "normlab lab") && row_has(&g, 0, "2 runs"), "top bar");
    int y_post = 21, y_pre = 22;
    T_CHECK(row_has(&g, y_post, "post") && row_has(&g, y_post, "120/300") &&
                row_has(&g, y_post, "DIVERGED at step 77"),
            "status line of the diverged run");
    T_CHECK(grid_at(&g, 79, y_post)->role == ROLE_DIVERGED, "diverged in its colour");
    T_CHECK(row_has(&g, y_pre, "running") && row_has(&g, y_pre, "loss 2.8"),
            "status line of the running run");
    T_CHECK(row_has(&g, 23, "q quit") && row_has(&g, 23, "? help"), "footer");
    T_CHECK(row_has(&g, 12, "Grad norm (attn)") || row_has(&g, 11, "Grad norm (attn)") ||
                row_has(&g, 13, "Grad norm (attn)"),
            "heatmap title");

    /* ASCII: after folding, nothing outside ASCII */
    v.glyphs = UI_GLYPH_ASCII;
    dash_draw(&g, &v, runs, 2);
    int bad = 0;
    for (int i = 0; i < g.w * g.h; i++)
        bad += grid_ascii_fold(g.cells[i].ch) == L'?' && g.cells[i].ch != L'?';
    T_CHECK(bad == 0, "%d cells without an ASCII look-alike", bad);

    check_teach_observations(runs);
    grid_free(&g);
    check_help_live();
    runview_free(&runs[0]);
    runview_free(&runs[1]);
}

/* One made-up step at tok_s tokens/s. */
static void ingest_speed(ui_run *r, int step, float tok_s)
{
    float g[4] = {0.1f, 0.1f, 0.1f, 0.1f};
    nl_metrics_row row = {.step = step,
                          .tokens = step * 512,
                          .time_s = step * 0.1,
                          .lr = 1e-3f,
                          .loss = 3.0f,
                          .val_loss = NAN,
                          .grad_norm = 1.0f,
                          .tok_s = tok_s,
                          .aux_loss = NAN,
                          .z_loss = NAN,
                          .gn_attn = g,
                          .gn_ffn = g,
                          .rms = g};
    runview_ingest(r, &row);
}

/* A run slowed by the machine says so on its status line: its tokens/s fell to a fraction of
 * its best (another program took the cores), or the load average is a task above the cores
 * (it started on a busy machine). A steady run on a quiet machine, a run whose speed only
 * wobbles, and a paused run say nothing. */
static void test_status_slowed(void)
{
    ui_run r;
    runview_init(&r, "pre", 0);
    runview_set_layers(&r, 4);
    r.st.state = NL_RUN_RUNNING;
    r.st.total = 1000;
    char why[64];
    int s = 1;
    ingest_speed(&r, s++, 2000); /* the first step: start-up */
    for (; s <= 40; s++)
        ingest_speed(&r, s, s % 2 ? 50000 : 40000);
    T_CHECK(!runview_slowed(&r, 1.9, 2, why, sizeof why), "a steady run slowed: %s", why);
    T_CHECK(!runview_slowed(&r, 2.9, 2, why, sizeof why), "load 2.9 on 2 cores: %s", why);
    T_CHECK(runview_slowed(&r, 3.2, 2, why, sizeof why) && strstr(why, "load 3.2/2 cores"),
            "load 3.2 on 2 cores: '%s'", why);
    T_CHECK(!runview_slowed(&r, 3.2, 0, why, sizeof why), "cores unknown: %s", why);
    for (; s <= 60; s++)
        ingest_speed(&r, s, 600);
    T_CHECK(runview_slowed(&r, 0, 0, why, sizeof why) && strstr(why, "slowed 0.0"),
            "600 tok/s after 45000: '%s'", why);

    dash_view v;
    dash_view_init(&v);
    v.load1 = 3.5;
    v.cores = 2;
    ui_grid g;
    grid_init(&g, 100, 24);
    dash_draw(&g, &v, &r, 1);
    dump(__func__, &g);
    int y = 22, x = -1;
    char line[1024];
    grid_row_utf8(&g, y, line, sizeof line);
    const char *at = strstr(line, "slowed 0.0");
    if (at)
        for (int i = 0; i < g.w && x < 0; i++)
            x = grid_at(&g, i, y)->ch == L's' && grid_at(&g, i + 1, y)->ch == L'l' ? i : -1;
    T_CHECK(at && strstr(line, "load 3.5/2 cores"), "status line '%s'", line);
    T_CHECK(x >= 0 && grid_at(&g, x, y)->role == ROLE_ERROR, "not in the error colour");

    r.st.state = NL_RUN_PAUSED;
    T_CHECK(!runview_slowed(&r, 3.5, 2, why, sizeof why), "a paused run slowed: %s", why);
    r.st.state = NL_RUN_RUNNING;
    for (; s <= 100; s++) /* back to full speed */
        ingest_speed(&r, s, 45000);
    T_CHECK(!runview_slowed(&r, 1.0, 2, why, sizeof why), "back to speed: %s", why);
    grid_free(&g);
    runview_free(&r);
}

/* An MoE run (4 layers, 2 MoE layers of 4 experts) on the dashboard: the expert-load panel
 * takes the bar strips' place with the latest routing, aux and z losses in its title; e
 * (experts_off) brings the bars back; Tab skips the panels that are not on screen. */
static void test_dashboard_moe(void)
{
    ui_run r;
    fake_run(&r, "moe", 0, 0);
    T_CHECK(runview_set_moe(&r, 2, 4) == 0, "routing arrays");
    float ga[4] = {0.1f, 0.1f, 0.1f, 0.1f}, rms[4] = {1, 1, 1, 1};
    float frac[8] = {0.25f, 0.25f, 0.25f, 0.25f, 0.7f, 0.1f, 0.1f, 0.1f}, ent[2] = {1.38f, 0.62f};
    nl_metrics_row row = {121,   121 * 512, 12.1, 1e-3f, 2.5f, NAN, 1.0f, 5000, 2.25f,
                          3.75f, ga,        ga,   rms,   frac, ent, NULL, NULL};
    runview_ingest(&r, &row);
    dash_view v;
    dash_view_init(&v);
    ui_grid g;
    grid_init(&g, 80, 24);
    dash_draw(&g, &v, &r, 1);
    dump(__func__, &g);
    int title = -1, m1 = -1, rms_panel = 0;
    for (int y = 0; y < 24; y++) {
        char buf[1024];
        grid_row_utf8(&g, y, buf, sizeof buf);
        if (strstr(buf, "Expert load") && strstr(buf, "aux 2.25") && strstr(buf, "z 3.75"))
            title = y;
        if (strstr(buf, " M1 "))
            m1 = y;
        rms_panel |= strstr(buf, "Residual RMS") != NULL;
    }
    T_CHECK(title > 0 && m1 > title && !rms_panel, "expert panel (title row %d, M1 row %d)", title,
            m1);
    T_CHECK(row_has(&g, 0, "MoE 4 experts"), "top bar names the experts");
    if (m1 > 0) {
        char buf[1024];
        grid_row_utf8(&g, m1, buf, sizeof buf);
        char *p = strstr(buf, " M1 ");
        T_CHECK(p && strstr(p, "70") && strstr(p, "10") && strstr(p, "0.62"), "M1 row: '%s'", p);
        /* expert 0 of MoE layer 1 takes 70% > 2/E: the hottest colour */
        int hot = 0;
        for (int x = 40; x < 80; x++)
            hot |= grid_at(&g, x, m1)->role == ROLE_HEATBG0 + UI_HEAT_LEVELS - 1;
        T_CHECK(hot, "the busy expert in the hottest colour");
    }
    T_CHECK(row_has(&g, 23, "e experts"), "footer names e for an MoE run");
    v.focus = PANEL_HEAT;
    T_CHECK(dash_next_panel(&v, &r) == PANEL_MOE, "Tab from the heatmap goes to the experts");
    v.experts_off = 1;
    T_CHECK(dash_next_panel(&v, &r) == PANEL_GRAD, "with e, to the bars");
    dash_draw(&g, &v, &r, 1);
    int back = 0, gone = 1;
    for (int y = 0; y < 24; y++) {
        back |= row_has(&g, y, "Residual RMS");
        gone &= !row_has(&g, y, "Expert load");
    }
    T_CHECK(back && gone, "e brings the bars back");
    /* a dense run has no expert panel, and its footer no e */
    ui_run d;
    fake_run(&d, "dense", 0, 0);
    v.experts_off = 0;
    T_CHECK(!dash_panel_shown(&v, &d, PANEL_MOE) && dash_panel_shown(&v, &d, PANEL_RMS),
            "dense: bars");
    dash_draw(&g, &v, &d, 1);
    T_CHECK(!row_has(&g, 23, "experts"), "dense footer");
    grid_free(&g);
    runview_free(&r);
    runview_free(&d);
}

/* `normlab watch` says what it skipped (issue 11): metrics.csv rows that do not parse, a header
 * that does not parse (no row can be read under it) and one that disagrees with config.yaml
 * are counted and named in the run's status line, in the error colour; the good rows are
 * still shown. */
static void write_watch_dir(const char *dir, int cfg_layers, int csv_layers, const char *extra,
                            const char *header)
{
    char path[512];
    nl_config c;
    nl_config_defaults(&c);
    char v[16];
    snprintf(v, sizeof v, "%d", cfg_layers);
    nl_config_set(&c, "model.layers", v, NULL);
    snprintf(path, sizeof path, "mkdir -p %s", dir);
    T_CHECK(system(path) == 0, "mkdir");
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    T_CHECK(nl_config_save_file(&c, path, NULL) == 0, "config.yaml");
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    FILE *f = fopen(path, "w");
    if (header)
        fputs(header, f);
    else
        nl_metrics_csv_header(f, csv_layers, 0, 0);
    float a[3 * 8] = {0};
    nl_metrics_row row = {1,   64, 0.1,   1e-3f,  3.5f, NAN,  1.0f, 1000, NAN,
                          NAN, a,  a + 8, a + 16, NULL, NULL, NULL, NULL};
    nl_metrics_csv_row(f, &row, csv_layers, 0, 0);
    fputs(extra, f);
    fclose(f);
}

static void test_watch_reports_skipped(void)
{
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/normlab-test-watch-%d", (int)getpid());
    run_tail t;
    ui_run r;
    char msg[256];

    /* two bad rows among good ones */
    write_watch_dir(dir, 4, 4, "2,128,0.2,oops\n3,1\n", NULL);
    T_CHECK(tail_open(&t, dir, &r, msg, sizeof msg) == 0, "tail_open: %s", msg);
    tail_poll(&t, &r);
    T_CHECK(r.last_step == 1, "the good row was not shown (last step %lld)",
            (long long)r.last_step);
    T_CHECK(strstr(r.warn, "2 bad lines skipped (line 3:"), "warning '%s'", r.warn);
    ui_grid g;
    grid_init(&g, 120, 24);
    dash_view v;
    dash_view_init(&v);
    v.watch = 1;
    dash_draw(&g, &v, &r, 1);
    dump(__func__, &g);
    int shown = 0;
    for (int y = 0; y < g.h; y++)
        if (row_has(&g, y, "metrics.csv: 2 bad lines"))
            shown = 1;
    T_CHECK(shown, "the skipped lines are not on screen");
    tail_close(&t);
    runview_free(&r);

    /* a header of 2 layers under a config of 4 */
    write_watch_dir(dir, 4, 2, "", NULL);
    tail_open(&t, dir, &r, msg, sizeof msg);
    tail_poll(&t, &r);
    T_CHECK(strstr(r.warn, "header has 2 layers, config.yaml 4"), "mismatch warning '%s'", r.warn);
    tail_close(&t);
    runview_free(&r);

    /* a header that does not parse: nothing under it is read, and that is said */
    write_watch_dir(dir, 4, 4, "2,128,0.2\n", "step,garbage\n");
    tail_open(&t, dir, &r, msg, sizeof msg);
    tail_poll(&t, &r);
    T_CHECK(strstr(r.warn, "bad header (line 1:") && strstr(r.warn, "2 rows not shown"),
            "bad header warning '%s'", r.warn);
    tail_close(&t);
    runview_free(&r);
    grid_free(&g);
    snprintf(msg, sizeof msg, "rm -rf %s", dir);
    T_CHECK(system(msg) == 0, "cleanup");
}

int main(void)
{
    (void)t_skip; /* every case here runs everywhere */
    T_RUN(test_watch_reports_skipped);
    T_RUN(test_history_bucketing);
    T_RUN(test_history_small);
    T_RUN(test_dashboard);
    T_RUN(test_dashboard_moe);
    T_RUN(test_status_slowed);
    T_END();
}
