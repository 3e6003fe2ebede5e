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

int dash_series_build(dash_series *s, const ui_run *r, int smooth, int x_tokens)
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
    if (!s->x || !s->y || !s->lo || !s->hi || !s->ema || !s->vx || !s->vy) {
        dash_series_free(s);
        return 0;
    }
    double a = dash_smooth_alpha(smooth), ema = NAN;
    for (int i = 0; i < n; i++) {
        hist_entry e;
        history_entry(r->hist, i, &e);
        s->x[i] = x_tokens ? (e.tok0 + e.tok1) / 2 : (e.step0 + e.step1) / 2;
        double m = history_mean(r->hist, i, CH_LOSS);
        s->y[i] = m;
        s->lo[i] = history_min(r->hist, i, CH_LOSS);
        s->hi[i] = history_max(r->hist, i, CH_LOSS);
        /* a bucket of n steps at mean m moves the EMA as n steps of m would */
        if (isfinite(m))
            ema = isfinite(ema) ? m + (ema - m) * pow(1 - a, e.n) : m;
        s->ema[i] = ema;
        double val = history_mean(r->hist, i, CH_VAL);
        if (isfinite(val)) {
            s->vx[s->nv] = s->x[i];
            s->vy[s->nv] = val;
            s->nv++;
        }
    }
    s->n = n;
    return 1;
}

static void draw_loss(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *runs, int n,
                      int focused)
{
    char title[160];
    double a = dash_smooth_alpha(v->smooth);
    snprintf(title, sizeof title, "Loss %s%s%s %s by %s", a < 1 ? "EMA " : "", a < 1 ? "" : "raw",
             "", v->logy ? "· log y ·" : "· linear ·", v->x_tokens ? "tokens" : "step");
    if (a < 1) {
        char tmp[160];
        snprintf(tmp, sizeof tmp, "Loss · EMA %.3g · %s · by %s", 1 - a,
                 v->logy ? "log y" : "linear y", v->x_tokens ? "tokens" : "step");
        snprintf(title, sizeof title, "%s", tmp);
    }
    panel_title(g, (ui_rect){r.x, r.y, r.w, 1}, title, focused, v->glyphs);
    dash_series *rs = calloc((size_t)(n > 0 ? n : 1), sizeof *rs);
    plot_series *ps = calloc((size_t)(3 * n + 1), sizeof *ps);
    if (!rs || !ps) {
        free(rs);
        free(ps);
        return;
    }
    int k = 0, single = n == 1;
    double floor_ = NAN;
    const char *floor_name = "floor";
    for (int i = 0; i < n; i++) {
        dash_series_build(&rs[i], &runs[i], v->smooth, v->x_tokens);
        double line = runs[i].st.entropy_floor;
        if (!isfinite(line))
            line = runs[i].st.unigram_level;
        if (isfinite(line) && (i == v->sel || !isfinite(floor_))) {
            floor_ = line;
            floor_name = isfinite(runs[i].st.entropy_floor) ? "floor" : "unigram";
        }
    }
    /* raw loss (faint): every run when alone, else only the selected one */
    for (int i = 0; i < n; i++) {
        if (!rs[i].n || a >= 1 || (!single && i != v->sel))
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
        ps[k++] = (plot_series){single ? (a < 1 ? "EMA" : "loss") : runs[i].name,
                                ROLE_SERIES0 + runs[i].colour % UI_SERIES_COLOURS,
                                runs[i].colour,
                                rs[i].n,
                                rs[i].x,
                                a < 1 ? rs[i].ema : rs[i].y,
                                NULL,
                                NULL,
                                0};
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
        v->glyphs, v->logy, v->x_tokens ? "tokens" : "step", NAN, NAN, floor_, floor_name, 1, k,
        ps,        1};
    plot_draw(g, (ui_rect){r.x, r.y + 1, r.w, r.h - 1}, &spec, NULL);
    for (int i = 0; i < n; i++)
        dash_series_free(&rs[i]);
    free(rs);
    free(ps);
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

static void draw_status(ui_grid *g, int y, const dash_view *v, const ui_run *r, int selected,
                        int namew)
{
    const nl_run_status *st = &r->st;
    int W = g->w, x = 0;
    int ascii = v->glyphs == UI_GLYPH_ASCII;
    grid_put(g, x, y, selected ? (ascii ? L'>' : L'▶') : L' ',
             ROLE_SERIES0 + r->colour % UI_SERIES_COLOURS, UI_A_BOLD);
    grid_put(g, x + 1, y, ascii ? L'*' : L'━', ROLE_SERIES0 + r->colour % UI_SERIES_COLOURS,
             UI_A_BOLD);
    x += 3;
    grid_text(g, x, y, namew, selected ? ROLE_SELECT : ROLE_NORMAL, 0, r->name);
    for (int k = text_cells(r->name); k < namew; k++)
        grid_put(g, x + k, y, L' ', selected ? ROLE_SELECT : ROLE_NORMAL, 0);
    x += namew + 1;

    /* the state, right-aligned */
    char state[96];
    nl_run_state s = st->state;
    if (s == NL_RUN_DIVERGED)
        snprintf(state, sizeof state, "DIVERGED at step %lld", (long long)st->diverged_step);
    else if (s == NL_RUN_FAILED)
        snprintf(state, sizeof state, "FAILED");
    else
        snprintf(state, sizeof state, "%s", runview_state_name(s));
    int sw = text_cells(state);
    grid_text(g, W - sw, y, sw, runview_state_role(s), s == NL_RUN_DIVERGED ? UI_A_BOLD : 0, state);
    int room = W - sw - 1;

    /* the latest row is fresher than the status snapshot for the per-step numbers */
    float loss = st->loss, gn = st->grad_norm, lr = st->lr, toks = st->tok_s, val = NAN;
    if (r->hist && history_len(r->hist) > 0) {
        loss = history_last(r->hist, CH_LOSS);
        gn = history_last(r->hist, CH_GN);
        lr = history_last(r->hist, CH_LR);
        toks = history_last(r->hist, CH_TOKS);
        val = history_last(r->hist, CH_VAL);
    }
    int64_t step = st->step > r->last_step ? st->step : r->last_step;
    double eta = st->eta_s;
    if (!isfinite(eta) && st->total > step && r->last_step > 0 && r->last_time_s > 0)
        eta = r->last_time_s / (double)r->last_step * (double)(st->total - step);
    char f[9][48], tok[24], eta_s[24];
    int nf = 0;
    if (st->total > 0)
        snprintf(f[nf++], 48, "%lld/%lld", (long long)step, (long long)st->total);
    else
        snprintf(f[nf++], 48, "step %lld", (long long)step);
    int warned = -1;
    if (r->warn[0]) { /* skipped metrics lines: right after the step, where it is seen */
        snprintf(f[nf], 48, "%.47s", r->warn);
        warned = nf++;
    }
    if (step > 0) { /* a run that has not stepped has no loss yet */
        snprintf(f[nf++], 48, "loss %.4f", loss);
        snprintf(f[nf++], 48, "gn %.3g", gn);
    }
    snprintf(f[nf++], 48, "lr %.2g", lr);
    plot_fmt_count(toks, tok, sizeof tok);
    snprintf(f[nf++], 48, "%s tok/s", isfinite(toks) ? tok : "-");
    int slowed = -1;
    if (runview_slowed(r, v->load1, v->cores, f[nf], 48))
        slowed = nf++;
    fmt_eta(eta, eta_s, sizeof eta_s);
    if (s == NL_RUN_RUNNING || s == NL_RUN_PAUSED)
        snprintf(f[nf++], 48, "eta %s", eta_s);
    if (isfinite(val))
        snprintf(f[nf++], 48, "val %.4f", val);
    for (int i = 0; i < nf; i++) {
        int w = text_cells(f[i]);
        if (x + w > room)
            break;
        grid_text(g, x, y, w, i == slowed || i == warned ? ROLE_ERROR : ROLE_NORMAL,
                  i == 0 ? UI_A_BOLD : 0, f[i]);
        x += w + 2;
    }
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
        grid_textf(g, 0, 0, W, ROLE_ERROR, 0,
                   "terminal %dx%d is too small: the dashboard needs 60x16", W, H);
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
    if (v->msg && *v->msg) {
        int mw = text_cells(v->msg);
        /* a message wins over the run summary */
        int mx = W - mw - 1 > title_end ? W - mw - 1 : title_end;
        if (mx < x)
            grid_put(g, mx - 1, 0, L' ', ROLE_NORMAL, UI_A_REVERSE);
        for (int k = mx; k < W; k++)
            grid_put(g, k, 0, L' ', ROLE_NORMAL, UI_A_REVERSE);
        grid_text(g, mx, 0, W - mx, v->msg_role, UI_A_REVERSE | UI_A_BOLD, v->msg);
    }
    draw_footer(g, H - 1, CTX_DASH, v->watch,
                (run && run->moe_layers > 0 ? FOOTER_MOE : 0) | (v->lesson ? FOOTER_LESSON : 0));

    int ns = n > 8 ? 8 : n;
    int y_status = H - 1 - ns;
    int namew = 4;
    for (int i = 0; i < ns; i++) {
        int w = text_cells(runs[i].name);
        if (w > namew)
            namew = w;
    }
    if (namew > 16)
        namew = 16;
    for (int i = 0; i < ns; i++)
        draw_status(g, y_status + i, v, &runs[i], i == sel && n > 1, namew);

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
        } else {
            rect[PANEL_GRAD] = (ui_rect){hw + 1, 1 + top, W - hw - 1, bottom / 2};
            rect[PANEL_RMS] =
                (ui_rect){hw + 1, 1 + top + bottom / 2, W - hw - 1, bottom - bottom / 2};
        }
    }
    double lo = NAN, hi = NAN;
    if (rect[PANEL_LOSS].h > 0)
        draw_loss(g, rect[PANEL_LOSS], v, runs, n, focus == PANEL_LOSS);
    if (rect[PANEL_HEAT].h > 0)
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

void draw_help(ui_grid *g, unsigned ctx, int watch, int shown, ui_glyphs glyphs)
{
    grid_clear(g);
    ui_rect r = {0, 0, g->w, g->h};
    grid_box(g, r,
             ctx == CTX_SETUP   ? "Keys: setup screen"
             : ctx == CTX_SWEEP ? "Keys: sweep grid (watching a sweep directory)"
             : watch            ? "Keys: dashboard (watching run files)"
                                : "Keys: dashboard",
             ROLE_TITLE, glyphs);
    int n, y = 1;
    const ui_binding *t = keys_table(&n);
    for (int i = 0; i < n && y < g->h - 2; i++) {
        const ui_binding *b = &t[i];
        if (!(b->ctx & ctx) || (!(shown & FOOTER_MOE) && b->act == ACT_EXPERTS) ||
            (!(shown & FOOTER_LESSON) && (b->act == ACT_LESSON || b->act == ACT_LESSON_PAGE)))
            continue;
        int off = watch && b->live;
        grid_text(g, 2, y, 12, off ? ROLE_DIM : ROLE_KEY, 0, b->label);
        char text[256];
        snprintf(text, sizeof text, "%s%s", b->help, off ? " (live runs only)" : "");
        y += draw_wrapped(g, (ui_rect){15, y, g->w - 17, g->h - 2 - y},
                          off ? ROLE_DIM : ROLE_NORMAL, text);
    }
    grid_text(
        g, 2, g->h - 2, g->w - 4, ROLE_DIM, 0,
        ctx == CTX_SETUP
            ? "Typing a number starts editing it; Esc cancels an edit. Any key closes this help."
        : ctx == CTX_SWEEP
            ? "Cells: mean final val loss (* best in column, ! diverged, - not run)."
            : "The setup screen has its own keys (? there). Any key closes this help.");
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
    int n = r ? teach_observe(r, v->heat_ffn, obs, TEACH_MAX_LINES) : 0;
    teach_expect_text(p, expect, sizeof expect);
    int obs_rows = 1;
    for (int i = 0; i < n; i++)
        obs_rows += wrapped_rows(obs[i], tw);
    if (p != NL_PLACE_COUNT) {
        grid_text(g, in.x, y++, in.w, ROLE_TITLE, UI_A_BOLD, "Equations");
        y += draw_wrapped(g, (ui_rect){in.x + 2, y, tw, bottom - y}, ROLE_NORMAL, t->equations);
        int room = bottom - y - obs_rows - 1; /* rows left for the expectation */
        int spaced = room >= wrapped_rows(expect, tw) + 3;
        y += spaced;
        if (room >= 2) {
            grid_text(g, in.x, y++, in.w, ROLE_TITLE, UI_A_BOLD, "What to expect");
            y +=
                draw_wrapped(g, (ui_rect){in.x + 2, y, tw, room - 1 - spaced}, ROLE_NORMAL, expect);
        }
        y += spaced;
    }
    if (y < bottom)
        grid_text(g, in.x, y++, in.w, ROLE_TITLE, UI_A_BOLD, "What this run shows");
    for (int i = 0; i < n && y < bottom; i++)
        y += draw_wrapped(g, (ui_rect){in.x + 2, y, tw, bottom - y}, ROLE_OK, obs[i]);
    grid_text(g, box.x + box.w - 22, box.y + box.h - 1, 20, ROLE_DIM, 0, " i or Esc closes ");
}
