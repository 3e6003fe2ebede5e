#include "dash.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bars.h"
#include "heatmap.h"
#include "loadmap.h"
#include "plot.h"
#include "teach.h"

/* EMA weights of a new step, from none to heavy smoothing. */
static const double smooth_alpha[] = {1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005};

int dash_smooth_levels(void)
{
    return (int)(sizeof smooth_alpha / sizeof *smooth_alpha);
}

double dash_smooth_alpha(int k)
{
    if (k < 0)
        k = 0;
    if (k >= dash_smooth_levels())
        k = dash_smooth_levels() - 1;
    return smooth_alpha[k];
}

void dash_view_init(dash_view *v)
{
    memset(v, 0, sizeof *v);
    v->logy = 1;
    v->smooth = 4;
    v->title = "lab";
    v->xv0 = v->xv1 = NAN;
}

int draw_wrapped(ui_grid *g, ui_rect r, int role, const char *text)
{
    int row = 0;
    const char *p = text;
    while (*p && row < r.h) {
        /* one line: up to r.w cells, broken at the last space, or at a newline */
        int cells = 0, brk = -1, i = 0;
        const unsigned char *s = (const unsigned char *)p;
        while (s[i] && s[i] != '\n' && cells < r.w) {
            if (s[i] == ' ')
                brk = i;
            i++;
            while ((s[i] & 0xc0) == 0x80)
                i++;
            cells++;
        }
        int len = i;
        if (s[i] && s[i] != '\n' && cells >= r.w && brk > 0)
            len = brk;
        char line[1024];
        int k = len < (int)sizeof line - 1 ? len : (int)sizeof line - 1;
        memcpy(line, p, (size_t)k);
        line[k] = '\0';
        grid_text(g, r.x, r.y + row, r.w, role, 0, line);
        row++;
        p += len;
        if (*p == '\n' || *p == ' ')
            p++;
    }
    return row;
}

static void panel_title(ui_grid *g, ui_rect r, const char *text, int focused, ui_glyphs glyphs)
{
    wchar_t hz = glyphs == UI_GLYPH_ASCII ? L'-' : L'─';
    for (int x = r.x; x < r.x + r.w; x++)
        grid_put(g, x, r.y, hz, ROLE_AXIS, 0);
    grid_put(g, r.x + 1, r.y, L' ', ROLE_NORMAL, 0);
    int n = grid_text(g, r.x + 2, r.y, r.w - 4, focused ? ROLE_FOCUS : ROLE_TITLE, UI_A_BOLD, text);
    grid_put(g, r.x + 2 + n, r.y, L' ', ROLE_NORMAL, 0);
}

static void fmt_eta(double s, char *buf, int len)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, (size_t)len, "-");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, (size_t)len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, (size_t)len, "%ld:%02ld", t / 60, t % 60);
}

void dash_series_free(dash_series *s)
{
    free(s->x);
    free(s->y);
    free(s->lo);
    free(s->hi);
    free(s->ema);
    free(s->vx);
    free(s->vy);
    memset(s, 0, sizeof *s);
}

const char *dash_series_name(int ds)
{
    static const char *names[DS_COUNT] = {"Loss", "Val loss", "Learning rate", "Grad norm",
                                          "Tokens/s"};
    return ds >= 0 && ds < DS_COUNT ? names[ds] : "?";
}

int dash_smooth_steps(int k)
{
    return (int)lround(1 / dash_smooth_alpha(k));
}

/* The x of history entry e (the middle of what it covers) in v's units. */
static double entry_x(const dash_view *v, const ui_run *r, int i, const hist_entry *e)
{
    if (v->x_time)
        return history_mean(r->hist, i, CH_TIME);
    return v->x_tokens ? (e->tok0 + e->tok1) / 2 : (e->step0 + e->step1) / 2;
}

int dash_series_build_ch(dash_series *s, const ui_run *r, int ch, const dash_view *v)
{
    memset(s, 0, sizeof *s);
    if (!r->hist)
        return 0;
    int n = history_len(r->hist);
    if (n == 0)
        return 0;
    size_t sz = (size_t)n * sizeof(double);
    s->x = malloc(sz), s->y = malloc(sz), s->lo = malloc(sz), s->hi = malloc(sz);
    s->ema = malloc(sz), s->vx = malloc(sz), s->vy = malloc(sz);
    double *steps = malloc(sz);
    if (!s->x || !s->y || !s->lo || !s->hi || !s->ema || !s->vx || !s->vy || !steps) {
        free(steps);
        dash_series_free(s);
        return 0;
    }
    double a = dash_smooth_alpha(v->smooth), ema = NAN, acc = 0, wsum = 0;
    int win = dash_smooth_steps(v->smooth), j0 = 0;
    double wacc = 0, wn = 0; /* the trailing window: sum of means x steps, steps */
    for (int i = 0; i < n; i++) {
        hist_entry e;
        history_entry(r->hist, i, &e);
        s->x[i] = entry_x(v, r, i, &e);
        steps[i] = e.step1;
        double m = history_mean(r->hist, i, ch);
        s->y[i] = m;
        s->lo[i] = history_min(r->hist, i, ch);
        s->hi[i] = history_max(r->hist, i, ch);
        if (v->smooth_window) {
            /* the mean of the steps in (step1 - win, step1], entries weighted by their steps */
            if (isfinite(m)) {
                wacc += m * e.n;
                wn += e.n;
            }
            while (j0 < i && steps[j0] <= e.step1 - win) {
                hist_entry f;
                history_entry(r->hist, j0, &f);
                double fm = history_mean(r->hist, j0, ch);
                if (isfinite(fm)) {
                    wacc -= fm * f.n;
                    wn -= f.n;
                }
                j0++;
            }
            s->ema[i] = wn > 0 ? wacc / wn : NAN;
        } else if (v->debias) {
            /* from zero, divided by the weight given so far: early steps are not pulled
             * toward the first value */
            if (isfinite(m)) {
                double keep = pow(1 - a, e.n);
                acc = m + (acc - m) * keep;
                wsum = 1 + (wsum - 1) * keep;
            }
            s->ema[i] = wsum > 0 ? acc / wsum : NAN;
        } else {
            /* a bucket of n steps at mean m moves the EMA as n steps of m would */
            if (isfinite(m))
                ema = isfinite(ema) ? m + (ema - m) * pow(1 - a, e.n) : m;
            s->ema[i] = ema;
        }
        double val = ch == CH_LOSS ? history_mean(r->hist, i, CH_VAL) : NAN;
        if (isfinite(val)) {
            s->vx[s->nv] = s->x[i];
            s->vy[s->nv] = val;
            s->nv++;
        }
    }
    free(steps);
    s->n = n;
    return 1;
}

int dash_series_build(dash_series *s, const ui_run *r, int smooth, int x_tokens)
{
    dash_view v;
    dash_view_init(&v);
    v.smooth = smooth;
    v.x_tokens = x_tokens;
    return dash_series_build_ch(s, r, CH_LOSS, &v);
}

int dash_x_extent(const dash_view *v, const ui_run *runs, int n, double *lo, double *hi)
{
    double a = INFINITY, b = -INFINITY;
    for (int k = 0; k < n; k++) {
        const ui_run *r = &runs[k];
        int len = r->hist ? history_len(r->hist) : 0;
        if (r->hidden || len == 0)
            continue;
        hist_entry e;
        history_entry(r->hist, 0, &e);
        double x = entry_x(v, r, 0, &e);
        if (x < a)
            a = x;
        history_entry(r->hist, len - 1, &e);
        x = entry_x(v, r, len - 1, &e);
        if (x > b)
            b = x;
    }
    if (!isfinite(a) || !isfinite(b))
        return 0;
    *lo = a;
    *hi = b > a ? b : a + 1;
    return 1;
}

int dash_entry_at(const dash_view *v, const ui_run *r, double x)
{
    int n = r->hist ? history_len(r->hist) : 0, best = -1;
    double bd = INFINITY;
    for (int i = 0; i < n; i++) {
        hist_entry e;
        history_entry(r->hist, i, &e);
        double d = fabs(entry_x(v, r, i, &e) - x);
        if (d < bd) {
            bd = d;
            best = i;
        }
    }
    return best;
}

static const char *x_caption(const dash_view *v)
{
    return v->x_time ? "seconds" : v->x_tokens ? "tokens" : "step";
}

static void draw_loss(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *runs, int n,
                      int focused, int sel)
{
    static const int chans[DS_COUNT] = {CH_LOSS, CH_VAL, CH_LR, CH_GN, CH_TOKS};
    int ds = v->series >= 0 && v->series < DS_COUNT ? v->series : DS_LOSS;
    int ch = chans[ds];
    /* smoothing applies to the noisy series: train loss, grad norm, tokens/s */
    int smoothed = ds == DS_LOSS || ds == DS_GN || ds == DS_TOKS;
    double a = smoothed ? dash_smooth_alpha(v->smooth) : 1;
    char title[200], sm[64] = "";
    if (a < 1 && v->smooth_window)
        snprintf(sm, sizeof sm, " · mean of %d steps", dash_smooth_steps(v->smooth));
    else if (a < 1)
        snprintf(sm, sizeof sm, " · EMA %.3g%s", 1 - a, v->debias ? " debiased" : "");
    int hidden = 0, shown_runs = 0;
    for (int i = 0; i < n; i++)
        hidden += runs[i].hidden;
    shown_runs = n - hidden;
    char extra[96] = "";
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
    snprintf(title, sizeof title, "%s%s · %s · by %s%s", dash_series_name(ds), sm,
             v->logy && ds != DS_LR ? "log y" : "linear y", x_caption(v), extra);
    panel_title(g, (ui_rect){r.x, r.y, r.w, 1}, title, focused, v->glyphs);
    dash_series *rs = calloc((size_t)(n > 0 ? n : 1), sizeof *rs);
    plot_series *ps = calloc((size_t)(3 * n + 1), sizeof *ps);
    if (!rs || !ps) {
        free(rs);
        free(ps);
        return;
    }
    int k = 0, single = shown_runs == 1;
    double floor_ = NAN;
    const char *floor_name = "floor";
    for (int i = 0; i < n; i++) {
        if (!runs[i].hidden)
            dash_series_build_ch(&rs[i], &runs[i], ch, v);
        double line = runs[i].st.entropy_floor;
        if (!isfinite(line))
            line = runs[i].st.unigram_level;
        if (isfinite(line) && (i == sel || !isfinite(floor_))) {
            floor_ = line;
            floor_name = isfinite(runs[i].st.entropy_floor) ? "floor" : "unigram";
        }
    }
    if (ds != DS_LOSS && ds != DS_VAL)
        floor_ = NAN;
    /* raw values (faint): every run when alone, else only the selected one */
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
    for (int i = 0; i < n; i++) {
        if (!rs[i].n)
            continue;
        ps[k++] = (plot_series){single ? (a < 1 ? (v->smooth_window ? "mean" : "EMA") : "value")
                                       : runs[i].name,
                                ROLE_SERIES0 + runs[i].colour % UI_SERIES_COLOURS,
                                runs[i].colour,
                                rs[i].n,
                                rs[i].x,
                                a < 1 ? rs[i].ema : rs[i].y,
                                NULL,
                                NULL,
                                0};
        if (single && ds == DS_LOSS)
            ps[k - 1].label = a < 1 ? (v->smooth_window ? "mean" : "EMA") : "loss";
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
    plot_spec spec = {
        v->glyphs, v->logy && ds != DS_LR, x_caption(v),   v->xv0, v->xv1, floor_, floor_name, 1, k,
        ps,        !isfinite(v->xv0),      .mono = v->mono};
    spec.mono = v->mono;
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
static void draw_layer_curves(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *run,
                              int focused)
{
    char title[160];
    snprintf(title, sizeof title, "Grad norm per layer (%s) · %s · p: heatmap",
             v->heat_ffn ? "FFN" : "attn", run ? run->name : "-");
    panel_title(g, (ui_rect){r.x, r.y, r.w, 1}, title, focused, v->glyphs);
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
        x[i] = entry_x(v, run, i, &e);
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

static void draw_heat(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *run, int focused,
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
    panel_title(g, (ui_rect){r.x, r.y, r.w, 1}, title, focused, v->glyphs);
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

static void draw_bars_panel(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *run, int rms,
                            int focused, double lo, double hi)
{
    char title[160];
    if (rms)
        snprintf(title, sizeof title, "Residual RMS per layer");
    else
        snprintf(title, sizeof title, "Latest grad norm (%s)", v->heat_ffn ? "FFN" : "attn");
    panel_title(g, (ui_rect){r.x, r.y, r.w, 1}, title, focused, v->glyphs);
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

static void draw_experts(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *run, int focused)
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
    panel_title(g, (ui_rect){r.x, r.y, r.w, 1}, title, focused, v->glyphs);
    ui_rect body = {r.x + 1, r.y + 1, r.w - 1, r.h - 1};
    if (!run || run->moe_layers < 1 || run->moe_step == 0) {
        grid_text(g, body.x, body.y, body.w, ROLE_DIM, 0, "waiting for data");
        return;
    }
    loadmap_spec s = {run->moe_layers,     run->experts, run->expert_frac,
                      run->router_entropy, v->glyphs,    v->mono};
    loadmap_draw(g, body, &s);
}

/* One run's line at (x0, y), w cells: its mark, name, then as many of its figures as fit
 * and its state at the right. With the cursor shown the figures are those of the step
 * under it ("@120"); a failed run's state carries the reason, as far as it fits. */
static void draw_status(ui_grid *g, int x0, int y, int w, const dash_view *v, const ui_run *r,
                        int selected, int namew)
{
    const nl_run_status *st = &r->st;
    int x = x0, end = x0 + w;
    int ascii = v->glyphs == UI_GLYPH_ASCII;
    int role = ROLE_SERIES0 + r->colour % UI_SERIES_COLOURS;
    grid_put(g, x, y, selected ? (ascii ? L'>' : L'▶') : L' ', role, UI_A_BOLD);
    grid_put(g, x + 1, y,
             r->hidden ? (ascii ? L'.' : L'·') : plot_marker_glyph(v->glyphs, v->mono, r->colour),
             role, UI_A_BOLD);
    x += 3;
    int nrole = r->hidden ? ROLE_DIM : selected ? ROLE_SELECT : ROLE_NORMAL;
    grid_text(g, x, y, namew, nrole, 0, r->name);
    for (int k = text_cells(r->name); k < namew; k++)
        grid_put(g, x + k, y, L' ', nrole, 0);
    x += namew + 1;

    /* the state, right-aligned; a failure says why, as far as half the line allows */
    char state[200];
    nl_run_state s = st->state;
    if (s == NL_RUN_DIVERGED)
        snprintf(state, sizeof state, "DIVERGED at step %lld", (long long)st->diverged_step);
    else if (s == NL_RUN_FAILED && st->message[0])
        snprintf(state, sizeof state, "FAILED: %.180s", st->message);
    else if (s == NL_RUN_FAILED)
        snprintf(state, sizeof state, "FAILED");
    else
        snprintf(state, sizeof state, "%s", runview_state_name(s));
    int sw = text_cells(state), maxsw = (end - x) * 2 / 3;
    if (sw > maxsw && maxsw > 8) {
        grid_text(g, end - maxsw, y, maxsw - 1, runview_state_role(s), 0, state);
        grid_put(g, end - 1, y, ascii ? L'>' : L'…', runview_state_role(s), 0);
        sw = maxsw;
    } else {
        grid_text(g, end - sw, y, sw, runview_state_role(s), s == NL_RUN_DIVERGED ? UI_A_BOLD : 0,
                  state);
    }
    int room = end - sw - 1;

    /* the latest row is fresher than the status snapshot for the per-step numbers */
    float loss = st->loss, gn = st->grad_norm, lr = st->lr, toks = st->tok_s, val = NAN;
    int64_t step = st->step > r->last_step ? st->step : r->last_step;
    int at = v->cursor ? dash_entry_at(v, r, v->cursor_x) : -1;
    char f[9][48], tok[24], eta_s[24];
    int nf = 0, slowed = -1, warned = -1;
    if (at >= 0) {
        hist_entry e;
        history_entry(r->hist, at, &e);
        loss = history_mean(r->hist, at, CH_LOSS);
        gn = history_mean(r->hist, at, CH_GN);
        lr = history_mean(r->hist, at, CH_LR);
        toks = history_mean(r->hist, at, CH_TOKS);
        val = history_mean(r->hist, at, CH_VAL);
        if (e.n > 1)
            snprintf(f[nf++], 48, "@%.0f-%.0f", e.step0, e.step1);
        else
            snprintf(f[nf++], 48, "@%.0f", e.step1);
        snprintf(f[nf++], 48, w < 60 ? "loss %.3f" : "loss %.4f", loss);
        if (isfinite(val))
            snprintf(f[nf++], 48, "val %.4f", val);
        snprintf(f[nf++], 48, "gn %.3g", gn);
        snprintf(f[nf++], 48, "lr %.2g", lr);
        plot_fmt_count(toks, tok, sizeof tok);
        snprintf(f[nf++], 48, "%s tok/s", isfinite(toks) ? tok : "-");
    } else {
        if (r->hist && history_len(r->hist) > 0) {
            loss = history_last(r->hist, CH_LOSS);
            gn = history_last(r->hist, CH_GN);
            lr = history_last(r->hist, CH_LR);
            toks = history_last(r->hist, CH_TOKS);
            val = history_last(r->hist, CH_VAL);
        }
        /* one ETA for every run, from its own training time (pauses left out), shown only
         * while it runs */
        double eta = NAN;
        if (st->total > step && r->last_step > 0 && r->last_time_s > 0)
            eta = r->last_time_s / (double)r->last_step * (double)(st->total - step);
        if (w < 60 && step > 0) /* half a line (two runs a row): the loss first */
            snprintf(f[nf++], 48, "loss %.3f", loss);
        if (st->total > 0)
            snprintf(f[nf++], 48, "%lld/%lld", (long long)step, (long long)st->total);
        else
            snprintf(f[nf++], 48, "step %lld", (long long)step);
        if (r->warn[0]) { /* skipped metrics lines: right after the step, where it is seen */
            snprintf(f[nf], 48, "%.47s", r->warn);
            warned = nf++;
        }
        if (step > 0 && w >= 60) /* a run that has not stepped has no loss yet */
            snprintf(f[nf++], 48, "loss %.4f", loss);
        /* the ETA early, so every running run shows it however narrow the line */
        fmt_eta(eta, eta_s, sizeof eta_s);
        if (s == NL_RUN_RUNNING)
            snprintf(f[nf++], 48, "eta %s", eta_s);
        plot_fmt_count(toks, tok, sizeof tok);
        snprintf(f[nf++], 48, "%s tok/s", isfinite(toks) ? tok : "-");
        if (runview_slowed(r, v->load1, v->cores, f[nf], 48))
            slowed = nf++;
        if (step > 0)
            snprintf(f[nf++], 48, "gn %.3g", gn);
        snprintf(f[nf++], 48, "lr %.2g", lr);
        if (isfinite(val))
            snprintf(f[nf++], 48, "val %.4f", val);
    }
    for (int i = 0; i < nf; i++) {
        int fw = text_cells(f[i]);
        if (x + fw > room)
            break;
        grid_text(g, x, y, fw, i == slowed || i == warned ? ROLE_ERROR : ROLE_NORMAL,
                  i == 0 ? UI_A_BOLD : 0, f[i]);
        x += fw + 2;
    }
}

void dash_status_layout(int W, int H, int n, int *rows, int *per_row)
{
    /* the run lines take at most a third of the screen below the top bar; two runs a row
     * where one a row would take more and the width allows */
    int cap = (H - 2) / 3;
    if (cap < 1)
        cap = 1;
    *per_row = n > cap && W >= 100 ? 2 : 1;
    if (n > cap && W >= 80 && n <= 2 * cap)
        *per_row = 2;
    int need = (n + *per_row - 1) / *per_row;
    *rows = need < cap ? need : cap;
    if (*rows < 1)
        *rows = n > 0 ? 1 : 0;
}

void draw_footer(ui_grid *g, int y, unsigned ctx, int watch, int shown)
{
    int n, x = 0, W = g->w;
    const ui_binding *t = keys_table(&n);
    for (int i = 0; i < W; i++)
        grid_put(g, i, y, L' ', ROLE_NORMAL, UI_A_REVERSE);
    /* help and quit always show, at the right */
    int tail = 0;
    for (int i = 0; i < n; i++)
        if (t[i].act == ACT_HELP || t[i].act == ACT_QUIT)
            tail += text_cells(t[i].label) -
                    (int)(strchr(t[i].label, ' ') ? strlen(strchr(t[i].label, ' ')) : 0) + 1 +
                    text_cells(t[i].footer) + 2;
    int limit = W - tail;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++) {
            const ui_binding *b = &t[i];
            if (!b->footer || !(b->ctx & ctx))
                continue;
            int is_tail = b->act == ACT_HELP || b->act == ACT_QUIT;
            if (is_tail != pass)
                continue;
            if ((watch && b->live) || (!(shown & FOOTER_MOE) && b->act == ACT_EXPERTS) ||
                (!(shown & FOOTER_LESSON) && b->act == ACT_LESSON))
                continue;
            char key[24];
            snprintf(key, sizeof key, "%s", b->label);
            char *sp = strchr(key, ' ');
            if (sp)
                *sp = '\0';
            int w = text_cells(key) + 1 + text_cells(b->footer);
            if (!pass && x + w > limit)
                continue;
            if (pass && x + w > W)
                break;
            x += grid_text(g, x, y, w, ROLE_KEY, UI_A_REVERSE, key);
            x++;
            x += grid_text(g, x, y, W - x, ROLE_NORMAL, UI_A_REVERSE, b->footer);
            x += 2;
        }
        if (!pass && x < limit)
            x = limit;
    }
}

void dash_draw(ui_grid *g, const dash_view *v, const ui_run *runs, int n)
{
    grid_clear(g);
    int W = g->w, H = g->h;
    if (W < 60 || H < 16) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "Terminal %dx%d is too small: the dashboard needs 60x16. "
                 "Enlarge the window (q quits).",
                 W, H);
        draw_wrapped(g, (ui_rect){0, 0, W, H > 1 ? H - 1 : H}, ROLE_ERROR, msg);
        if (H > 1)
            draw_footer(g, H - 1, CTX_DASH, v->watch, 0);
        return;
    }
    int sel = v->sel < 0 ? 0 : v->sel >= n ? n - 1 : v->sel;
    const ui_run *run = n > 0 ? &runs[sel] : NULL;

    /* top bar */
    for (int x = 0; x < W; x++)
        grid_put(g, x, 0, L' ', ROLE_NORMAL, UI_A_REVERSE);
    int x = grid_textf(g, 0, 0, W, ROLE_TITLE, UI_A_REVERSE | UI_A_BOLD, " normlab %s ",
                       v->title ? v->title : "");
    int title_end = x;
    if (run) {
        char floor_[48] = "";
        if (isfinite(run->st.entropy_floor))
            snprintf(floor_, sizeof floor_, " · floor %.4g", run->st.entropy_floor);
        else if (isfinite(run->st.unigram_level))
            snprintf(floor_, sizeof floor_, " · unigram %.4g", run->st.unigram_level);
        char moe[48] = "";
        if (run->moe_layers > 0)
            snprintf(moe, sizeof moe, " · MoE %d experts", run->experts);
        x += grid_textf(g, x, 0, W - x, ROLE_NORMAL, UI_A_REVERSE,
                        "· %d run%s · %s · %d layers%s%s ", n, n == 1 ? "" : "s", run->name,
                        run->layers, moe, floor_);
    }
    /* a message, else a standing alert while a run has diverged or failed */
    char alert[160] = "";
    int alert_role = ROLE_DIVERGED, ndiv = 0, nfail = 0, first_bad = -1;
    for (int i = 0; i < n; i++) {
        ndiv += runs[i].st.state == NL_RUN_DIVERGED;
        nfail += runs[i].st.state == NL_RUN_FAILED;
        if (first_bad < 0 &&
            (runs[i].st.state == NL_RUN_DIVERGED || runs[i].st.state == NL_RUN_FAILED))
            first_bad = i;
    }
    const char *warn = v->glyphs == UI_GLYPH_ASCII ? "!" : "⚠";
    if (ndiv + nfail == 1 && first_bad >= 0 && ndiv)
        snprintf(alert, sizeof alert, "%s %s DIVERGED at step %lld", warn, runs[first_bad].name,
                 (long long)runs[first_bad].st.diverged_step);
    else if (ndiv + nfail == 1 && first_bad >= 0)
        snprintf(alert, sizeof alert, "%s %s FAILED (m: why)", warn, runs[first_bad].name);
    else if (ndiv + nfail > 1)
        snprintf(alert, sizeof alert, "%s %d diverged, %d failed", warn, ndiv, nfail);
    const char *msg = v->msg && *v->msg ? v->msg : alert[0] ? alert : NULL;
    int mrole = v->msg && *v->msg ? v->msg_role : alert_role;
    if (msg) {
        int mw = text_cells(msg);
        /* a message wins over the run summary; one too long for the bar ends in "…" and
         * stays whole in the message pane (m) */
        int room = W - title_end - 1;
        int mx = W - mw - 1 > title_end ? W - mw - 1 : title_end;
        if (mx < x)
            grid_put(g, mx - 1, 0, L' ', ROLE_NORMAL, UI_A_REVERSE);
        for (int k = mx; k < W; k++)
            grid_put(g, k, 0, L' ', ROLE_NORMAL, UI_A_REVERSE);
        grid_text(g, mx, 0, room, mrole, UI_A_REVERSE | UI_A_BOLD, msg);
        if (mw > room && room > 1)
            grid_put(g, W - 2, 0, v->glyphs == UI_GLYPH_ASCII ? L'>' : L'…', mrole,
                     UI_A_REVERSE | UI_A_BOLD);
    }
    draw_footer(g, H - 1, CTX_DASH, v->watch,
                (run && run->moe_layers > 0 ? FOOTER_MOE : 0) | (v->lesson ? FOOTER_LESSON : 0));

    /* the run lines: all of them when they fit (two a row on a short screen), else a
     * window that keeps the selected run in view, and "+N" for the rest */
    int rows, per;
    dash_status_layout(W, H, n, &rows, &per);
    int slots = rows * per, first = 0;
    if (n > slots) {
        slots--; /* the last slot says how many more */
        first = sel - slots / 2;
        if (first > n - slots)
            first = n - slots;
        if (first < 0)
            first = 0;
    }
    int y_status = H - 1 - rows;
    int cw = per == 2 ? (W - 1) / 2 : W;
    int namew = 4;
    for (int i = 0; i < n; i++) {
        int w = text_cells(runs[i].name);
        if (w > namew)
            namew = w;
    }
    int maxname = per == 2 ? 10 : 16;
    if (namew > maxname)
        namew = maxname;
    for (int k = 0; k < slots && first + k < n; k++) {
        int i = first + k, row = per == 2 ? k % rows : k, col = per == 2 ? k / rows : 0;
        draw_status(g, col * (cw + 1), y_status + row, cw, v, &runs[i], i == sel && n > 1, namew);
    }
    if (n > rows * per) {
        int k = rows * per - 1, row = per == 2 ? k % rows : k, col = per == 2 ? k / rows : 0;
        grid_textf(g, col * (cw + 1) + 3, y_status + row, cw - 3, ROLE_DIM, 0,
                   "+%d more runs (Up/Down selects; runs %d-%d of %d shown)", n - slots, first + 1,
                   first + slots, n);
    }

    int P = y_status - 1;
    ui_rect rect[PANEL_COUNT];
    memset(rect, 0, sizeof rect);
    int focus = v->focus;
    if (!dash_panel_shown(v, run, focus)) /* the run changed under the focus */
        focus = focus == PANEL_MOE ? PANEL_GRAD : focus >= PANEL_GRAD ? PANEL_MOE : PANEL_LOSS;
    if (v->zoom) {
        rect[focus] = (ui_rect){0, 1, W, P};
    } else {
        int top = P - P / 2;
        int bottom = P - top;
        int hw = W * 58 / 100;
        rect[PANEL_LOSS] = (ui_rect){0, 1, W, top};
        rect[PANEL_HEAT] = (ui_rect){0, 1 + top, hw, bottom};
        if (dash_panel_shown(v, run, PANEL_MOE)) {
            rect[PANEL_MOE] = (ui_rect){hw + 1, 1 + top, W - hw - 1, bottom};
        } else if (bottom < 8) {
            /* too short for two bar strips with bars in them: the focused one alone */
            int p = focus == PANEL_RMS ? PANEL_RMS : PANEL_GRAD;
            rect[p] = (ui_rect){hw + 1, 1 + top, W - hw - 1, bottom};
        } else {
            rect[PANEL_GRAD] = (ui_rect){hw + 1, 1 + top, W - hw - 1, bottom / 2};
            rect[PANEL_RMS] =
                (ui_rect){hw + 1, 1 + top + bottom / 2, W - hw - 1, bottom - bottom / 2};
        }
    }
    double lo = NAN, hi = NAN;
    if (rect[PANEL_LOSS].h > 0)
        draw_loss(g, rect[PANEL_LOSS], v, runs, n, focus == PANEL_LOSS, sel);
    if (rect[PANEL_HEAT].h > 0 && v->perlayer)
        draw_layer_curves(g, rect[PANEL_HEAT], v, run, focus == PANEL_HEAT);
    else if (rect[PANEL_HEAT].h > 0)
        draw_heat(g, rect[PANEL_HEAT], v, run, focus == PANEL_HEAT, &lo, &hi);
    if (rect[PANEL_MOE].h > 0)
        draw_experts(g, rect[PANEL_MOE], v, run, focus == PANEL_MOE);
    if (run && !isfinite(lo) && run->layers > 0 && run->last_step > 0) {
        /* the bars share the heatmap's colour range; without the heatmap, their own */
        const float *gv = v->heat_ffn ? run->gn_ffn : run->gn_attn;
        if (!heat_range_live(gv, run->layers, &lo, &hi))
            lo = hi = NAN;
    }
    if (rect[PANEL_GRAD].h > 0)
        draw_bars_panel(g, rect[PANEL_GRAD], v, run, 0, focus == PANEL_GRAD, lo, hi);
    if (rect[PANEL_RMS].h > 0)
        draw_bars_panel(g, rect[PANEL_RMS], v, run, 1, focus == PANEL_RMS, lo, hi);
    if (v->msgs && v->log) {
        /* the message pane over the lower panels (the whole plot area when short) */
        int top = v->zoom ? 1 : 1 + (P - P / 2);
        if (P - top + 1 < 6)
            top = 1;
        int scroll = v->msg_scroll;
        msglog_draw(g, (ui_rect){0, top, W, y_status - top}, v->log, &scroll, v->glyphs);
    }
}

int dash_panel_shown(const dash_view *v, const ui_run *run, int p)
{
    int moe = run && run->moe_layers > 0 && !v->experts_off;
    if (p == PANEL_MOE)
        return moe;
    if (p == PANEL_GRAD || p == PANEL_RMS)
        return !moe;
    return p >= 0 && p < PANEL_COUNT;
}

int dash_next_panel(const dash_view *v, const ui_run *run)
{
    int p = v->focus;
    for (int k = 0; k < PANEL_COUNT; k++) {
        p = (p + 1) % PANEL_COUNT;
        if (dash_panel_shown(v, run, p))
            return p;
    }
    return PANEL_LOSS;
}

void draw_dialog(ui_grid *g, const char *title, const char *text, ui_glyphs glyphs)
{
    int tw = text_cells(text), w = tw + 6;
    if (w < text_cells(title) + 8)
        w = text_cells(title) + 8;
    if (w > g->w - 2)
        w = g->w - 2;
    int lines = (tw + (w - 4) - 1) / (w - 4);
    int h = lines + 4;
    ui_rect r = {(g->w - w) / 2, (g->h - h) / 2, w, h};
    grid_fill(g, r, L' ', ROLE_NORMAL, 0);
    grid_box(g, r, title, ROLE_TITLE, glyphs);
    draw_wrapped(g, (ui_rect){r.x + 2, r.y + 2, r.w - 4, lines}, ROLE_NORMAL, text);
}

void draw_help(ui_grid *g, unsigned ctx, int watch, int shown, ui_glyphs glyphs, int *scroll)
{
    grid_clear(g);
    ui_rect r = {0, 0, g->w, g->h};
    const char *note =
        ctx == CTX_SETUP
            ? "Typing a number starts editing it; Esc cancels an edit. Any other key closes this "
              "help."
        : ctx == CTX_SWEEP
            ? "Cells: mean final val loss (* best in column, ! diverged, - not run). Any other "
              "key closes this help."
            : "The setup screen has its own keys (? there). Any other key closes this help.";
    /* every row into a tall grid first, then the rows that fit, from *scroll */
    ui_grid all;
    int tw = g->w - 17;
    if (tw < 10 || grid_init(&all, g->w, 400))
        return;
    int n, y = 0;
    const ui_binding *t = keys_table(&n);
    for (int i = 0; i < n && y < 390; i++) {
        const ui_binding *b = &t[i];
        if (!(b->ctx & ctx) || (!(shown & FOOTER_MOE) && b->act == ACT_EXPERTS) ||
            (!(shown & FOOTER_LESSON) && (b->act == ACT_LESSON || b->act == ACT_LESSON_PAGE)))
            continue;
        int off = watch && b->live;
        grid_text(&all, 2, y, 12, off ? ROLE_DIM : ROLE_KEY, 0, b->label);
        char text[256];
        const char *help = b->help;
        if (watch && b->act == ACT_QUIT)
            help = "quit; the runs are another program's and go on (this only stops watching)";
        snprintf(text, sizeof text, "%s%s", help, off ? " (live runs only)" : "");
        y += draw_wrapped(&all, (ui_rect){15, y, tw, 400 - y}, off ? ROLE_DIM : ROLE_NORMAL, text);
    }
    y++;
    y += draw_wrapped(&all, (ui_rect){2, y, g->w - 4, 400 - y}, ROLE_DIM, note);
    int total = y, inner = g->h - 2, top = scroll ? *scroll : 0;
    if (top > total - inner)
        top = total - inner;
    if (top < 0)
        top = 0;
    if (scroll)
        *scroll = top;
    for (int row = 0; row < inner && top + row < total; row++)
        for (int x = 0; x < g->w; x++)
            g->cells[(size_t)(1 + row) * g->w + x] = all.cells[(size_t)(top + row) * all.w + x];
    grid_free(&all);
    grid_box(g, r,
             ctx == CTX_SETUP   ? "Keys: setup screen"
             : ctx == CTX_SWEEP ? "Keys: sweep grid (watching a sweep directory)"
             : watch            ? "Keys: dashboard (watching run files)"
                                : "Keys: dashboard",
             ROLE_TITLE, glyphs);
    if (total > inner) {
        char more[96];
        snprintf(more, sizeof more, " rows %d-%d of %d%s · Up/Down PgUp/PgDn scroll ", top + 1,
                 top + inner < total ? top + inner : total, total,
                 top + inner < total ? ", more below" : "");
        int mw = text_cells(more);
        grid_text(g, g->w - 2 - mw, g->h - 1, mw, ROLE_DIM, 0, more);
    }
}

int draw_config_diff(ui_grid *g, const ui_run *runs, int n, ui_glyphs glyphs, int *scroll)
{
    int W = g->w, H = g->h;
    ui_rect box = {0, 1, W, H - 2};
    grid_fill(g, box, L' ', ROLE_NORMAL, 0);
    int nk, ncfg = 0, first = -1;
    const nl_config_key_info *keys = nl_config_keys(&nk);
    for (int i = 0; i < n; i++)
        if (runs[i].has_cfg) {
            ncfg++;
            if (first < 0)
                first = i;
        }
    char title[96];
    if (ncfg < 2) {
        grid_box(g, box, "Config diff · D closes", ROLE_TITLE, glyphs);
        grid_text(g, 2, 2, W - 4, ROLE_DIM, 0,
                  ncfg ? "one run has a config: nothing to compare"
                       : "no run has a config (no config.yaml)");
        return ncfg ? 0 : -1;
    }
    ui_grid all;
    if (grid_init(&all, W, 600))
        return -1;
    /* key column, then one column per run with a config */
    int keyw = 22, colw = (W - 4 - keyw) / ncfg;
    if (colw < 8)
        colw = 8;
    int y = 0, ndiff = 0, x = 2 + keyw;
    grid_text(&all, 2, y, keyw, ROLE_TITLE, UI_A_BOLD, "key");
    for (int i = 0; i < n; i++)
        if (runs[i].has_cfg) {
            grid_text(&all, x, y, colw - 1, ROLE_SERIES0 + runs[i].colour % UI_SERIES_COLOURS,
                      UI_A_BOLD, runs[i].name);
            x += colw;
        }
    y++;
    for (int k = 0; k < nk && y < 598; k++) {
        char ref[256];
        nl_error err = {0};
        if (!strcmp(keys[k].key, "name") ||
            nl_config_get(runs[first].cfg, keys[k].key, ref, sizeof ref, &err))
            continue;
        int differs = 0;
        for (int i = 0; i < n; i++) {
            char val[256];
            if (runs[i].has_cfg && !nl_config_get(runs[i].cfg, keys[k].key, val, sizeof val, &err))
                differs |= strcmp(val, ref) != 0;
        }
        if (!differs)
            continue;
        ndiff++;
        grid_text(&all, 2, y, keyw - 1, ROLE_NORMAL, 0, keys[k].key);
        x = 2 + keyw;
        for (int i = 0; i < n; i++) {
            char val[256];
            if (!runs[i].has_cfg)
                continue;
            if (!nl_config_get(runs[i].cfg, keys[k].key, val, sizeof val, &err))
                grid_text(&all, x, y, colw - 1, strcmp(val, ref) ? ROLE_SELECT : ROLE_NORMAL, 0,
                          val);
            x += colw;
        }
        y++;
    }
    if (!ndiff)
        grid_text(&all, 2, y++, W - 4, ROLE_OK, 0,
                  "the runs' configs are the same (but their names)");
    int inner = box.h - 2, top = scroll ? *scroll : 0;
    if (top > y - inner)
        top = y - inner;
    if (top < 0)
        top = 0;
    if (scroll)
        *scroll = top;
    for (int row = 0; row < inner && top + row < y; row++)
        for (int c = 1; c < W - 1; c++)
            g->cells[(size_t)(box.y + 1 + row) * W + c] = all.cells[(size_t)(top + row) * W + c];
    grid_free(&all);
    snprintf(title, sizeof title, "Config diff · %d key%s differ%s · D closes", ndiff,
             ndiff == 1 ? "" : "s", ndiff == 1 ? "s" : "");
    grid_box(g, box, title, ROLE_TITLE, glyphs);
    if (y > inner) {
        char more[64];
        snprintf(more, sizeof more, " rows %d-%d of %d · Up/Down ", top + 1,
                 top + inner < y ? top + inner : y, y);
        grid_text(g, W - 2 - text_cells(more), box.y + box.h - 1, text_cells(more), ROLE_DIM, 0,
                  more);
    }
    return ndiff;
}

/* Rows text takes when wrapped to width w. */
static int wrapped_rows(const char *text, int w)
{
    ui_grid tmp;
    if (w < 1 || grid_init(&tmp, w, 64))
        return 1;
    int n = draw_wrapped(&tmp, (ui_rect){0, 0, w, 64}, ROLE_NORMAL, text);
    grid_free(&tmp);
    return n;
}

void draw_teach(ui_grid *g, const dash_view *v, const ui_run *r)
{
    /* small screens get every row; the observations are never the part that is cut */
    ui_rect box = {0, 0, g->w, g->h};
    if (g->w > 100)
        box = (ui_rect){(g->w - 98) / 2, 1, 98, g->h - 2};
    grid_fill(g, box, L' ', ROLE_NORMAL, 0);
    nl_placement p = r && r->has_cfg ? r->cfg->model.placement : NL_PLACE_COUNT;
    const teach_text *t = teach_placement(p);
    char title[160];
    if (p == NL_PLACE_COUNT)
        snprintf(title, sizeof title, "Placement unknown (no config.yaml)");
    else
        snprintf(title, sizeof title, "%s · %s", t->title, r->name);
    grid_box(g, box, title, ROLE_TITLE, v->glyphs);
    ui_rect in = {box.x + 2, box.y + 1, box.w - 4, box.h - 2};
    int y = in.y, bottom = in.y + in.h, tw = in.w - 2;
    char obs[TEACH_MAX_LINES][TEACH_LINE], expect[2048];
    const char *cut = NULL; /* a section that did not fit */
    int n = r ? teach_observe(r, v->heat_ffn, obs, TEACH_MAX_LINES) : 0;
    teach_expect_text(p, expect, sizeof expect);
    int obs_rows = 1;
    for (int i = 0; i < n; i++)
        obs_rows += wrapped_rows(obs[i], tw);
    if (p != NL_PLACE_COUNT) {
        grid_text(g, in.x, y++, in.w, ROLE_TITLE, UI_A_BOLD, "Equations");
        y += draw_wrapped(g, (ui_rect){in.x + 2, y, tw, bottom - y}, ROLE_NORMAL, t->equations);
        int room = bottom - y - obs_rows - 1; /* rows left for the expectation */
        int want = wrapped_rows(expect, tw);
        int spaced = room >= want + 3;
        y += spaced;
        if (room >= 2) {
            grid_text(g, in.x, y++, in.w, ROLE_TITLE, UI_A_BOLD, "What to expect");
            y +=
                draw_wrapped(g, (ui_rect){in.x + 2, y, tw, room - 1 - spaced}, ROLE_NORMAL, expect);
            if (want > room - 1 - spaced)
                cut = "What to expect";
        } else {
            cut = "What to expect";
        }
        y += spaced;
    }
    if (y < bottom)
        grid_text(g, in.x, y++, in.w, ROLE_TITLE, UI_A_BOLD, "What this run shows");
    else
        cut = "What this run shows";
    for (int i = 0; i < n; i++) {
        int need = wrapped_rows(obs[i], tw);
        if (y + need > bottom) {
            cut = "What this run shows";
            break;
        }
        y += draw_wrapped(g, (ui_rect){in.x + 2, y, tw, bottom - y}, ROLE_OK, obs[i]);
    }
    if (cut) {
        /* say so on the bottom edge, with what would show it all */
        char note[120];
        snprintf(note, sizeof note, " %s cut, enlarge ", cut);
        grid_text(g, box.x + 1, box.y + box.h - 1, box.w - 17, ROLE_ERROR, 0, note);
    }
    grid_text(g, box.x + box.w - 16, box.y + box.h - 1, 14, ROLE_DIM, 0, " i/Esc closes ");
}
