#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bars.h"
#include "dash_internal.h"
#include "heatmap.h"
#include "loadmap.h"
#include "plot.h"
#include "widgets.h"

static const char *x_caption(const dash_view *v)
{
    return v->x_time ? "seconds" : v->x_tokens ? "tokens" : "step";
}

/* The loss panel's title: the series, its smoothing, the y scale, the x axis, the window. */
static void loss_title(char *title, size_t len, const dash_view *v, int ds, double a, int hidden)
{
    char sm[64] = "", extra[96] = "";
    if (a < 1 && v->smooth_window)
        snprintf(sm, sizeof sm, " · mean of %d steps", dash_smooth_steps(v->smooth));
    else if (a < 1)
        snprintf(sm, sizeof sm, " · EMA %.3g%s", 1 - a, v->debias ? " debiased" : "");
    if (isfinite(v->xv0) && isfinite(v->xv1)) {
        char x0[24], x1[24];
        plot_fmt_count(v->xv0, x0, sizeof x0);
        plot_fmt_count(v->xv1, x1, sizeof x1);
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " · x %s-%s", x0, x1);
    }
    if (v->yzoom > 0)
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " · y low 1/%d",
                 1 << v->yzoom);
    if (hidden)
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " · %d hidden", hidden);
    snprintf(title, len, "%s%s · %s · by %s%s", dash_series_name(ds), sm,
             v->logy && ds != DS_LR ? "log y" : "linear y", x_caption(v), extra);
}

/* The reference line: the entropy floor (or unigram level) of the selected run, else of the
 * first run that has one. */
static double loss_floor(const ui_run *runs, int n, int sel, const char **name)
{
    double floor_ = NAN;
    *name = "floor";
    for (int i = 0; i < n; i++) {
        const char *label;
        double line =
            runview_reference_line(runs[i].st.entropy_floor, runs[i].st.unigram_level, &label);
        if (isfinite(line) && (i == sel || !isfinite(floor_))) {
            floor_ = line;
            *name = label;
        }
    }
    return floor_;
}

/* The plot series of the runs' data rs: raw values (faint; every run when alone, else the
 * selected one), the smoothed curves, the validation points. Returns how many. */
static int loss_series(plot_series *ps, const dash_series *rs, const dash_view *v,
                       const ui_run *runs, int n, int sel, int ds, double a, int single)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!rs[i].n || a >= 1 || (!single && i != sel))
            continue;
        ps[k++] = (plot_series){single ? "raw" : NULL,
                                ROLE_FAINT0 + runs[i].colour % UI_SERIES_COLOURS,
                                runs[i].colour + 1,
                                rs[i].n,
                                rs[i].x,
                                rs[i].y,
                                rs[i].lo,
                                rs[i].hi,
                                0};
    }
    const char *smooth_name = a < 1 ? (v->smooth_window ? "mean" : "EMA") : "value";
    for (int i = 0; i < n; i++) {
        if (!rs[i].n)
            continue;
        ps[k++] = (plot_series){single ? smooth_name : runs[i].name,
                                ROLE_SERIES0 + runs[i].colour % UI_SERIES_COLOURS,
                                runs[i].colour,
                                rs[i].n,
                                rs[i].x,
                                a < 1 ? rs[i].ema : rs[i].y,
                                NULL,
                                NULL,
                                0};
        if (single && ds == DS_LOSS)
            ps[k - 1].label = a < 1 ? smooth_name : "loss";
    }
    int val_labelled = 0;
    for (int i = 0; i < n; i++) {
        if (!rs[i].nv)
            continue;
        ps[k++] =
            (plot_series){val_labelled ? NULL : "val",
                          single ? ROLE_VAL : ROLE_SERIES0 + runs[i].colour % UI_SERIES_COLOURS,
                          0,
                          rs[i].nv,
                          rs[i].vx,
                          rs[i].vy,
                          NULL,
                          NULL,
                          1};
        val_labelled = 1;
    }
    return k;
}

void dash_draw_loss(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *runs, int n,
                    int focused, int sel)
{
    static const int chans[DS_COUNT] = {CH_LOSS, CH_VAL, CH_LR, CH_GN, CH_TOKS};
    int ds = v->series >= 0 && v->series < DS_COUNT ? v->series : DS_LOSS;
    /* smoothing applies to the noisy series: train loss, grad norm, tokens/s */
    int smoothed = ds == DS_LOSS || ds == DS_GN || ds == DS_TOKS;
    double a = smoothed ? dash_smooth_alpha(v->smooth) : 1;
    int hidden = 0;
    for (int i = 0; i < n; i++)
        hidden += runs[i].hidden;
    char title[200];
    loss_title(title, sizeof title, v, ds, a, hidden);
    ui_panel_title(g, (ui_rect){r.x, r.y, r.w, 1}, title, focused, v->glyphs);
    dash_series *rs = calloc((size_t)(n > 0 ? n : 1), sizeof *rs);
    plot_series *ps = calloc((size_t)(3 * n + 1), sizeof *ps);
    if (!rs || !ps) {
        free(rs);
        free(ps);
        return;
    }
    for (int i = 0; i < n; i++)
        if (!runs[i].hidden)
            dash_series_build_ch(&rs[i], &runs[i], chans[ds], v);
    const char *floor_name;
    double floor_ = loss_floor(runs, n, sel, &floor_name);
    if (ds != DS_LOSS && ds != DS_VAL)
        floor_ = NAN;
    int k = loss_series(ps, rs, v, runs, n, sel, ds, a, n - hidden == 1);
    plot_spec spec = {
        v->glyphs, v->logy && ds != DS_LR, x_caption(v),   v->xv0, v->xv1, floor_, floor_name, 1, k,
        ps,        !isfinite(v->xv0),      .mono = v->mono};
    spec.yfrac = v->yzoom > 0 ? 1.0 / (1 << v->yzoom) : 0;
    spec.cursor = v->cursor;
    spec.cursor_x = v->cursor_x;
    plot_layout lay;
    plot_draw(g, (ui_rect){r.x, r.y + 1, r.w, r.h - 1}, &spec, &lay);
    if (v->loss_layout)
        *v->loss_layout = lay;
    if (!lay.has_data && hidden == n && n > 0)
        grid_text(g, r.x + 2, r.y + 2, r.w - 4, ROLE_DIM, 0, "every run is hidden: V shows them");
    for (int i = 0; i < n; i++)
        dash_series_free(&rs[i]);
    free(rs);
    free(ps);
}

/* Per-layer curves of the selected run over time: one line per layer of its gradient norm
 * (attention or FFN), coloured by depth; the first, middle and last layers in the legend. */
void dash_draw_layer_curves(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *run,
                            int focused)
{
    char title[160];
    snprintf(title, sizeof title, "Grad norm per layer (%s) · %s · p: heatmap",
             v->heat_ffn ? "FFN" : "attn", run ? run->name : "-");
    ui_panel_title(g, (ui_rect){r.x, r.y, r.w, 1}, title, focused, v->glyphs);
    int L = run ? run->layers : 0, n = run && run->hist ? history_len(run->hist) : 0;
    if (L < 1 || n < 1) {
        grid_text(g, r.x + 1, r.y + 1, r.w - 1, ROLE_DIM, 0, "waiting for data");
        return;
    }
    double *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * L * sizeof *y);
    plot_series *ps = calloc((size_t)L, sizeof *ps);
    char(*labels)[16] = calloc((size_t)L, sizeof *labels);
    if (!x || !y || !ps || !labels) {
        free(x), free(y), free(ps), free(labels);
        return;
    }
    for (int i = 0; i < n; i++) {
        hist_entry e;
        history_entry(run->hist, i, &e);
        x[i] = dash_entry_x(v, run, i, &e);
        for (int l = 0; l < L; l++)
            y[(size_t)l * n + i] = history_mean(run->hist, i, v->heat_ffn ? CH_FFN(l) : CH_ATTN(l));
    }
    for (int l = 0; l < L; l++) {
        /* shallow layers cold, deep layers hot, as in the heatmap's ramp */
        int level = L > 1 ? l * 15 / (L - 1) : 15;
        int named = l == 0 || l == L - 1 || l == L / 2;
        snprintf(labels[l], sizeof labels[l], "L%d", l);
        ps[l] = (plot_series){named ? labels[l] : NULL,
                              ROLE_HEAT0 + level,
                              l,
                              n,
                              x,
                              y + (size_t)l * n,
                              NULL,
                              NULL,
                              0};
    }
    plot_spec spec = {v->glyphs, 1,  x_caption(v),      v->xv0,         v->xv1, NAN, NULL, 1,
                      L,         ps, !isfinite(v->xv0), .mono = v->mono};
    spec.mono = v->mono;
    spec.cursor = v->cursor;
    spec.cursor_x = v->cursor_x;
    plot_draw(g, (ui_rect){r.x, r.y + 1, r.w, r.h - 1}, &spec, NULL);
    free(x), free(y), free(ps), free(labels);
}

/* The selected run's gradient norms as a (layers, cols) matrix over its history: each
 * column holds the max of the history entries that fall in it; empty columns repeat the
 * one before. */
static float *heat_matrix(const ui_run *r, int ffn, int cols, double *x0, double *x1)
{
    int L = r->layers, n = r->hist ? history_len(r->hist) : 0;
    if (L < 1 || n < 1 || cols < 1)
        return NULL;
    float *m = malloc((size_t)L * (size_t)cols * sizeof *m);
    if (!m)
        return NULL;
    for (size_t i = 0; i < (size_t)L * (size_t)cols; i++)
        m[i] = NAN;
    hist_entry e;
    history_entry(r->hist, 0, &e);
    double a = e.step0;
    history_entry(r->hist, n - 1, &e);
    double last = e.step1;
    double b = a + plot_nice_ceil(last - a); /* columns stay put while the run grows */
    *x0 = a;
    *x1 = last;
    int last_col = 0;
    for (int i = 0; i < n; i++) {
        history_entry(r->hist, i, &e);
        double x = (e.step0 + e.step1) / 2;
        int c = b > a ? (int)((x - a) / (b - a) * (cols - 1) + 0.5) : 0;
        if (c < 0)
            c = 0;
        if (c >= cols)
            c = cols - 1;
        if (c > last_col)
            last_col = c;
        for (int l = 0; l < L; l++) {
            float v = history_max(r->hist, i, ffn ? CH_FFN(l) : CH_ATTN(l));
            float *d = &m[(size_t)l * cols + c];
            if (isfinite(v) && !(*d >= v))
                *d = v;
        }
    }
    /* columns between entries repeat the one before; none past the newest step */
    for (int l = 0; l < L; l++)
        for (int c = 1; c <= last_col; c++)
            if (isnan(m[(size_t)l * cols + c]))
                m[(size_t)l * cols + c] = m[(size_t)l * cols + c - 1];
    return m;
}

void dash_draw_heat(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *run, int focused,
                    double *lo, double *hi)
{
    char title[160];
    const char *kind = v->heat_ffn ? "FFN" : "attn";
    snprintf(title, sizeof title, "Grad norm (%s) · %s", kind, run ? run->name : "-");
    ui_rect body = {r.x, r.y + 1, r.w, r.h - 1};
    int L = run ? run->layers : 0;
    char lab[16];
    snprintf(lab, sizeof lab, "L%d", L > 0 ? L - 1 : 0);
    int cols = body.w - (int)strlen(lab) - 1;
    double x0 = 0, x1 = 0;
    float *m = run ? heat_matrix(run, v->heat_ffn, cols, &x0, &x1) : NULL;
    if (m) {
        char a[24], b[24];
        plot_fmt_count(x0, a, sizeof a);
        plot_fmt_count(x1, b, sizeof b);
        snprintf(title + strlen(title), sizeof title - strlen(title), " · steps %s-%s", a, b);
    }
    ui_panel_title(g, (ui_rect){r.x, r.y, r.w, 1}, title, focused, v->glyphs);
    if (!m) {
        grid_text(g, body.x + 1, body.y, body.w - 1, ROLE_DIM, 0, "waiting for data");
        return;
    }
    heatmap_spec s = {L, cols, m, v->glyphs, v->mono, "L", 1, 1, 1};
    heatmap_draw(g, body, &s);
    if (heatmap_range(&s, lo, hi))
        heat_snap(lo, hi); /* the bars share the heatmap's colours */
    else
        *lo = *hi = NAN;
    free(m);
}

void dash_draw_bars(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *run, int rms,
                    int focused, double lo, double hi)
{
    char title[160];
    if (rms)
        snprintf(title, sizeof title, "Residual RMS per layer");
    else
        snprintf(title, sizeof title, "Latest grad norm (%s)", v->heat_ffn ? "FFN" : "attn");
    ui_panel_title(g, (ui_rect){r.x, r.y, r.w, 1}, title, focused, v->glyphs);
    ui_rect body = {r.x + 1, r.y + 1, r.w - 1, r.h - 1};
    if (!run || run->layers < 1 || run->last_step == 0) {
        grid_text(g, body.x, body.y, body.w, ROLE_DIM, 0, "waiting for data");
        return;
    }
    bars_spec s = {run->layers,
                   rms ? run->rms : (v->heat_ffn ? run->gn_ffn : run->gn_attn),
                   v->glyphs,
                   0, /* zero-based: a 7% spread must look like one */
                   ROLE_SERIES0 + run->colour % UI_SERIES_COLOURS,
                   0,
                   lo,
                   hi,
                   v->mono,
                   !rms};
    s.heat = !rms && isfinite(lo);
    bars_draw(g, body, &s);
}

void dash_draw_experts(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *run, int focused)
{
    char title[160] = "Expert load";
    if (run && run->moe_step > 0 && isfinite(run->aux_loss)) {
        /* the aux and z losses, as briefly as the width needs; none when nothing fits */
        static const char *forms[] = {"Expert load · aux %.3g · z %.3g",
                                      "Expert load · aux %.3g z %.3g", "Experts · aux %.3g z %.3g",
                                      "Experts · aux %.3g"};
        for (int i = 0; i < 4; i++) {
            snprintf(title, sizeof title, forms[i], run->aux_loss, run->z_loss);
            if (text_cells(title) <= r.w - 4)
                break;
            snprintf(title, sizeof title, "Expert load");
        }
    }
    ui_panel_title(g, (ui_rect){r.x, r.y, r.w, 1}, title, focused, v->glyphs);
    ui_rect body = {r.x + 1, r.y + 1, r.w - 1, r.h - 1};
    if (!run || run->moe_layers < 1 || run->moe_step == 0) {
        grid_text(g, body.x, body.y, body.w, ROLE_DIM, 0, "waiting for data");
        return;
    }
    loadmap_spec s = {run->moe_layers,     run->experts, run->expert_frac,
                      run->router_entropy, v->glyphs,    v->mono};
    loadmap_draw(g, body, &s);
}
