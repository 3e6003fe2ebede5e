#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dash_internal.h"

/* EMA weights of a new step, from none to heavy smoothing. */
static const double smooth_alpha[] = {1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005};

void dash_view_init(dash_view *v)
{
    memset(v, 0, sizeof *v);
    v->logy = 1;
    v->smooth = 4;
    v->title = "lab";
    v->xv0 = v->xv1 = NAN;
}

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

int dash_smooth_steps(int k)
{
    return (int)lround(1 / dash_smooth_alpha(k));
}

const char *dash_series_name(int ds)
{
    static const char *names[DS_COUNT] = {"Loss", "Val loss", "Learning rate", "Grad norm",
                                          "Tokens/s"};
    return ds >= 0 && ds < DS_COUNT ? names[ds] : "?";
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

/* The x of history entry e (the middle of what it covers) in v's units. */
double dash_entry_x(const dash_view *v, const ui_run *r, int i, const hist_entry *e)
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
        s->x[i] = dash_entry_x(v, r, i, &e);
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
        double x = dash_entry_x(v, r, 0, &e);
        if (x < a)
            a = x;
        history_entry(r->hist, len - 1, &e);
        x = dash_entry_x(v, r, len - 1, &e);
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
        double d = fabs(dash_entry_x(v, r, i, &e) - x);
        if (d < bd) {
            bd = d;
            best = i;
        }
    }
    return best;
}
