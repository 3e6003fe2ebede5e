/* The report's sections in reading order: the title (what was compared), notes (what was
 * skipped), the runs at a glance, the loss, the gradient-norm heatmaps, the residual-stream
 * RMS per layer, the config diff; for a sweep its tables are report_sweep.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"
#include "report_internal.h"

#define MAX_HEATMAPS 16 /* runs (a sweep: cells) that get their heatmaps drawn */

/* ---- helpers ---- */

static void fmt_time(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, n, "&#8211;");
    else if (s < 60)
        snprintf(buf, n, "%.1f s", s);
    else if (s < 3600)
        snprintf(buf, n, "%d:%02d", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
}

/* A small svg with the run's line and marker, for tables. */
void rp_key_sample(rp_buf *b, int style)
{
    rp_printf(b,
              "<svg class=\"key\" width=\"38\" height=\"14\" viewBox=\"0 0 38 14\">"
              "<line x1=\"1\" y1=\"7\" x2=\"37\" y2=\"7\" stroke=\"%s\" stroke-width=\"2.5\"",
              rp_colour(style));
    if (rp_dash(style)[0])
        rp_printf(b, " stroke-dasharray=\"%s\"", rp_dash(style));
    rp_puts(b, "/>");
    rp_marker(b, style, 19, 7, 7);
    rp_puts(b, "</svg>");
}

/* ---- sections ---- */

void rp_put_title(rp_buf *b, const report *rp, char *title, size_t tn)
{
    if (rp->title) {
        snprintf(title, tn, "%s", rp->title);
    } else if (rp->is_sweep) {
        const char *base = strrchr(rp->sweep_dir, '/');
        int k = snprintf(title, tn, "Sweep %s: ", base ? base + 1 : rp->sweep_dir);
        for (int a = 0; a < rp->def.n_axes && k < (int)tn; a++)
            k += snprintf(title + k, tn - (size_t)k, "%s%s", a ? " \xC3\x97 " : "",
                          rp->def.axes[a].key);
        if (rp->def.n_axes == 0 && k < (int)tn)
            k += snprintf(title + k, tn - (size_t)k, "one setting");
        if (k < (int)tn)
            snprintf(title + k, tn - (size_t)k, ", %d seed%s", rp->def.seeds,
                     rp->def.seeds == 1 ? "" : "s");
    } else {
        int k = 0;
        for (int i = 0; i < rp->n && i < 4 && k < (int)tn; i++)
            k += snprintf(title + k, tn - (size_t)k, "%s%s", i ? " vs " : "", rp->runs[i].name);
        if (rp->n > 4 && k < (int)tn)
            snprintf(title + k, tn - (size_t)k, " and %d more", rp->n - 4);
    }
    rp_puts(b, "<header>\n<h1>");
    rp_html(b, title);
    rp_puts(b, "</h1>\n<p class=\"sub\">");
    if (rp->n_diff > 0) {
        rp_puts(b, "Differing settings: ");
        for (int i = 0; i < rp->n_diff && i < 6; i++) {
            rp_puts(b, i ? ", <code>" : "<code>");
            rp_html(b, rp->diff_keys[i]);
            rp_puts(b, "</code>");
        }
        if (rp->n_diff > 6)
            rp_printf(b, " and %d more", rp->n_diff - 6);
        rp_puts(b, ". ");
    } else if (rp->n > 1) {
        rp_puts(b, "The runs' configs do not differ (apart from their names). ");
    }
    int with_data = 0;
    for (int i = 0; i < rp->n; i++)
        with_data += rp_has_data(&rp->runs[i]);
    rp_printf(b, "%d run%s, %d with metrics.", rp->n, rp->n == 1 ? "" : "s", with_data);
    time_t t = time(NULL);
    struct tm tm;
    char stamp[64] = "";
    if (localtime_r(&t, &tm))
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M", &tm);
    rp_printf(b, "</p>\n<p class=\"sub\">Made by <code>normlab report</code> on %s from <code>",
              stamp);
    if (rp->is_sweep) {
        rp_html(b, rp->sweep_dir);
    } else {
        for (int i = 0; i < rp->n && i < 8; i++) {
            rp_puts(b, i ? "</code>, <code>" : "");
            rp_html(b, rp->runs[i].dir);
        }
        if (rp->n > 8)
            rp_printf(b, "</code> and %d more<code>", rp->n - 8);
    }
    rp_puts(b, "</code>.</p>\n</header>\n");
}

void rp_put_notes(rp_buf *b, const report *rp)
{
    if (rp->notes.n == 0)
        return;
    rp_printf(b,
              "<section class=\"notes\" id=\"notes\"><strong>Notes: %d thing%s could not be "
              "shown as is</strong>\n<ul>\n",
              rp->notes.n + rp->notes.dropped, rp->notes.n + rp->notes.dropped == 1 ? "" : "s");
    for (int i = 0; i < rp->notes.n; i++) {
        rp_puts(b, "<li>");
        rp_html(b, rp->notes.text[i]);
        rp_puts(b, "</li>\n");
    }
    if (rp->notes.dropped)
        rp_printf(b, "<li>and %d more notes</li>\n", rp->notes.dropped);
    rp_puts(b, "</ul></section>\n");
}

void rp_put_summary(rp_buf *b, const report *rp)
{
    rp_puts(b, "<section id=\"runs\">\n<h2>Runs</h2>\n<div class=\"scroll\"><table>\n"
               "<tr><th>run</th><th>placement</th><th class=\"n\">layers</th><th>state</th>"
               "<th class=\"n\">steps</th><th class=\"n\">last loss</th>"
               "<th class=\"n\">best loss</th><th class=\"n\">last val loss</th>"
               "<th class=\"n\">time</th><th class=\"n\">tokens/s</th></tr>\n");
    for (int i = 0; i < rp->n; i++) {
        const rp_run *r = &rp->runs[i];
        rp_puts(b, "<tr><td>");
        rp_key_sample(b, r->style);
        rp_html(b, r->name);
        rp_puts(b, "</td><td>");
        rp_html(b, r->cfg ? nl_placement_name(r->cfg->model.placement) : "?");
        rp_printf(b, "</td><td class=\"n\">%d</td>", r->cfg ? r->cfg->model.layers : r->layers);
        const char *cls = r->state == RP_DIVERGED      ? "state-diverged"
                          : r->state == RP_FAILED      ? "state-failed"
                          : r->state == RP_IN_PROGRESS ? "state-in"
                                                       : "state";
        rp_printf(b, "<td class=\"%s\">%s", cls, rp_state_name(r->state));
        if (r->state == RP_DIVERGED && r->diverged_step > 0)
            rp_printf(b, " at step %lld", (long long)r->diverged_step);
        rp_puts(b, "</td>");
        long long total = r->cfg ? (long long)r->cfg->train.steps : 0;
        if (total > 0)
            rp_printf(b, "<td class=\"n\">%lld / %lld</td>", (long long)rp_last_step(r), total);
        else
            rp_printf(b, "<td class=\"n\">%lld</td>", (long long)rp_last_step(r));
        double last = r->n ? r->loss[r->n - 1] : NAN, best = NAN, val = NAN, toks = 0;
        int64_t val_step = 0, nt = 0;
        for (int64_t k = 0; k < r->n; k++) {
            if (isfinite(r->loss[k]) && !(best <= r->loss[k]))
                best = r->loss[k];
            if (isfinite(r->val_loss[k])) {
                val = r->val_loss[k];
                val_step = r->step[k];
            }
            if (k >= 8 && isfinite(r->tok_s[k])) { /* the first steps are slow */
                toks += r->tok_s[k];
                nt++;
            }
        }
        if (nt == 0)
            for (int64_t k = 0; k < r->n; k++)
                if (isfinite(r->tok_s[k])) {
                    toks += r->tok_s[k];
                    nt++;
                }
        rp_puts(b, "<td class=\"n\">");
        rp_num(b, last);
        rp_puts(b, "</td><td class=\"n\">");
        rp_num(b, best);
        rp_puts(b, "</td><td class=\"n\">");
        rp_num(b, val);
        if (val_step)
            rp_printf(b, " <small>(step %lld)</small>", (long long)val_step);
        char tb[48];
        fmt_time(tb, sizeof tb, r->n ? r->time_s[r->n - 1] : NAN);
        rp_printf(b, "</td><td class=\"n\">%s</td><td class=\"n\">", tb);
        if (nt)
            rp_printf(b, "%.0f", toks / (double)nt);
        else
            rp_puts(b, "&#8211;");
        rp_puts(b, "</td></tr>\n");
    }
    rp_puts(b, "</table></div>\n</section>\n");
}

/* The top of the loss axis: a run that blew up would squeeze every other curve flat, so
 * values far above every run's first loss are clamped (the caption says so). */
static double loss_clip(const report *rp, int *clipped)
{
    double first_max = -INFINITY, all_max = -INFINITY;
    for (int i = 0; i < rp->n; i++) {
        const rp_run *r = &rp->runs[i];
        for (int64_t k = 0; k < r->n; k++) {
            if (isfinite(r->loss[k])) {
                if (k < 3)
                    first_max = fmax(first_max, r->loss[k]);
                all_max = fmax(all_max, r->loss[k]);
            } else if (isinf(r->loss[k])) {
                all_max = INFINITY;
            }
            if (isfinite(r->val_loss[k]))
                all_max = fmax(all_max, r->val_loss[k]);
        }
    }
    *clipped = 0;
    if (isfinite(first_max) && all_max > 1.5 * first_max) {
        *clipped = 1;
        return 1.5 * first_max;
    }
    return INFINITY;
}

/* Each run's train loss (xs, ys) and validation loss (vs) as series into se (a run without
 * data has none); returns how many, or -1 when out of memory. *any_val: some run has a
 * validation point. */
static int loss_series(const report *rp, rp_series *se, double **xs, double **ys, double **vs,
                       int *any_val)
{
    int ns = 0;
    *any_val = 0;
    for (int i = 0; i < rp->n; i++) {
        const rp_run *r = &rp->runs[i];
        size_t m = (size_t)r->n + 1;
        xs[i] = malloc(m * sizeof **xs);
        ys[i] = malloc(m * sizeof **ys);
        vs[i] = malloc(m * sizeof **vs);
        if (!xs[i] || !ys[i] || !vs[i])
            return -1;
        int has_val = 0;
        for (int64_t k = 0; k < r->n; k++) {
            xs[i][k] = (double)r->step[k];
            ys[i][k] = r->loss[k];
            vs[i][k] = r->val_loss[k];
            has_val |= isfinite(r->val_loss[k]) != 0;
        }
        *any_val |= has_val;
        if (r->n == 0)
            continue; /* no curve; the legend says "no data yet" */
        se[ns++] = (rp_series){xs[i], ys[i], r->n, r->style, 0};
        if (has_val)
            se[ns++] = (rp_series){xs[i], vs[i], r->n, r->style, 1};
    }
    return ns;
}

/* The loss plot's legend: a run each (labels[i] its text), or for a sweep a cell each. */
static int loss_legend(const report *rp, rp_legend *lg, char (*labels)[200], int any_val)
{
    int nl = 0, n = rp->n;
    if (rp->is_sweep) {
        for (int c = 0; c < rp->cells; c++) {
            int seeds = 0;
            for (int i = 0; i < n; i++)
                seeds += rp->runs[i].cell == c;
            if (seeds)
                lg[nl++] = (rp_legend){rp->cell_names[c], c, 1, any_val};
        }
        return nl;
    }
    for (int i = 0; i < n; i++) {
        snprintf(labels[i], sizeof labels[i], "%s%s", rp->runs[i].name,
                 rp->runs[i].n ? "" : " (no data yet)");
        lg[nl++] = (rp_legend){labels[i], rp->runs[i].style, 1, any_val};
    }
    return nl;
}

/* The reference line the dashboard draws (ui/runview.h): the first run's that has one;
 * NULL when none has. *y gets its value. */
static const char *loss_reference(const report *rp, double *y)
{
    for (int i = 0; i < rp->n; i++)
        if (isfinite(rp->runs[i].ref_y)) {
            *y = rp->runs[i].ref_y;
            return strcmp(rp->runs[i].ref_label, "floor") ? "unigram level" : "entropy floor";
        }
    return NULL;
}

static void loss_caption(rp_buf *b, const report *rp, int any_val, double clip, const char *ref)
{
    rp_puts(b, "<figcaption>Mean cross-entropy of each step's training batch, one line per "
               "run");
    if (rp->is_sweep)
        rp_puts(b, " (the seeds of a cell share its colour and dash)");
    if (any_val)
        rp_puts(b, "; markers: the held-out validation loss where it was evaluated");
    if (ref && !strcmp(ref, "entropy floor"))
        rp_puts(b, "; the dashed grey line: the entropy floor of the data, the lowest loss any "
                   "model can reach on it");
    else if (ref)
        rp_puts(b, "; the dashed grey line: the unigram level of the data, the loss of "
                   "predicting each byte by its frequency alone");
    rp_puts(b, ". Runs longer than 1200 steps are drawn as averages over consecutive steps");
    if (isfinite(clip))
        rp_printf(b,
                  "; values above %.4g (1.5 times the highest starting loss) are drawn at "
                  "the top edge",
                  clip);
    rp_puts(b, ".</figcaption>\n");
}

void rp_put_loss(rp_buf *b, const report *rp)
{
    rp_puts(b, "<section id=\"loss\">\n<h2>Loss</h2>\n<figure>\n");
    int n = rp->n;
    rp_series *se = calloc((size_t)2 * n + 1, sizeof *se);
    rp_legend *lg = calloc((size_t)n + 1, sizeof *lg);
    double **xs = calloc((size_t)n + 1, sizeof *xs), **ys = calloc((size_t)n + 1, sizeof *ys),
           **vs = calloc((size_t)n + 1, sizeof *vs);
    char(*labels)[200] = calloc((size_t)n + 1, sizeof *labels);
    int any_val = 0, ns = -1;
    if (se && lg && xs && ys && vs && labels)
        ns = loss_series(rp, se, xs, ys, vs, &any_val);
    if (ns >= 0) {
        int clipped = 0;
        double clip = loss_clip(rp, &clipped), ref_y = NAN;
        const char *ref = loss_reference(rp, &ref_y);
        rp_plot p = {.id = "loss-plot",
                     .title = any_val ? "Train loss (lines) and validation loss (markers)"
                                      : "Train loss",
                     .xlabel = "step",
                     .ylabel = "loss (nats per token)",
                     .width = 900,
                     .height = 440,
                     .x_integer = 1,
                     .ymax_clip = clip,
                     .ref_label = ref,
                     .ref_y = ref_y,
                     .series = se,
                     .n_series = ns,
                     .legend = lg,
                     .n_legend = loss_legend(rp, lg, labels, any_val)};
        rp_svg_plot(b, &p);
        loss_caption(b, rp, any_val, clipped ? clip : NAN, ref);
    }
    for (int i = 0; i < n && xs && ys && vs; i++) {
        free(xs[i]);
        free(ys[i]);
        free(vs[i]);
    }
    free(xs);
    free(ys);
    free(vs);
    free(se);
    free(lg);
    free(labels);
    rp_puts(b, "</figure>\n</section>\n");
}

void rp_put_heatmaps(rp_buf *b, report *rp)
{
    rp_run *rep[REPORT_MAX_RUNS];
    int k = rp_representatives(rp, rep, REPORT_MAX_RUNS), shown = 0;
    rp_run *with[REPORT_MAX_RUNS];
    int nw = 0;
    for (int i = 0; i < k; i++)
        if (rp_has_data(rep[i]) && rep[i]->layers > 0)
            with[nw++] = rep[i];
    rp_puts(b, "<section id=\"grad\">\n<h2>Gradient norm per layer</h2>\n");
    double lo, hi;
    if (nw == 0 || !rp_heat_range(with, nw, &lo, &hi)) {
        rp_puts(b, "<p>No per-layer gradient norms recorded yet.</p>\n</section>\n");
        return;
    }
    rp_puts(b, "<p>The L2 norm of each block's attention and FFN parameter gradients at every "
               "step: layers down (L0, next to the embeddings, on top), steps across, each "
               "column the largest value of its steps. One log colour scale for every run, so "
               "colours compare across runs. A hatched cell is a gradient that has vanished "
               "(0, or under a millionth of the largest at that step).</p>\n");
    rp_svg_heat_scale(b, lo, hi);
    for (int i = 0; i < nw && shown < MAX_HEATMAPS; i++, shown++) {
        rp_run *r = with[i];
        rp_puts(b, "<figure>\n<h3>");
        rp_key_sample(b, r->style);
        rp_html(b, rp->is_sweep && r->cell >= 0 ? rp->cell_names[r->cell] : r->name);
        if (rp->is_sweep)
            rp_printf(b, " <small>(seed %d)</small>", r->seed);
        rp_puts(b, "</h3>\n");
        char id[32];
        snprintf(id, sizeof id, "heat-%d", shown);
        rp_svg_heatmaps(b, r, lo, hi, id);
        rp_puts(b, "</figure>\n");
    }
    if (nw > shown)
        rp_printf(b, "<p>%d more %s not drawn here.</p>\n", nw - shown,
                  rp->is_sweep ? "cells" : "runs");
    rp_puts(b, "</section>\n");
}

void rp_put_rms(rp_buf *b, const report *rp)
{
    int n = rp->n, ns = 0, nl = 0;
    rp_series *se = calloc((size_t)n + 1, sizeof *se);
    rp_legend *lg = calloc((size_t)n + 1, sizeof *lg);
    double *xy = malloc(((size_t)n + 1) * 2 * 257 * sizeof *xy);
    rp_puts(b, "<section id=\"rms\">\n<h2>Residual stream RMS</h2>\n<figure>\n");
    if (!se || !lg || !xy)
        goto done;
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < n; i++) {
        const rp_run *r = &rp->runs[i];
        if (!rp_has_data(r) || r->layers < 1)
            continue;
        int L = r->layers > 256 ? 256 : r->layers;
        double *x = xy + (size_t)i * 2 * 257, *y = x + 257;
        const float *last = r->rms + (size_t)(r->n - 1) * (size_t)r->layers;
        for (int l = 0; l < L; l++) {
            x[l] = l;
            y[l] = last[l];
            if (isfinite(y[l]) && y[l] > 0) {
                lo = fmin(lo, y[l]);
                hi = fmax(hi, y[l]);
            }
        }
        se[ns++] = (rp_series){x, y, L, r->style, 0};
    }
    if (rp->is_sweep) {
        for (int c = 0; c < rp->cells; c++)
            for (int i = 0; i < n; i++)
                if (rp->runs[i].cell == c && rp_has_data(&rp->runs[i])) {
                    lg[nl++] = (rp_legend){rp->cell_names[c], c, 1, 0};
                    break;
                }
    } else {
        for (int i = 0; i < n; i++)
            if (rp_has_data(&rp->runs[i]))
                lg[nl++] = (rp_legend){rp->runs[i].name, rp->runs[i].style, 1, 0};
    }
    int logy = hi > 0 && lo > 0 && hi / lo > 20;
    rp_plot p = {.id = "rms-plot",
                 .title = "RMS of the residual stream after each block, at each run's last step",
                 .xlabel = "block (layer)",
                 .ylabel = logy ? "RMS (log scale)" : "RMS",
                 .width = 900,
                 .height = 360,
                 .logy = logy,
                 .x_integer = 1,
                 .ymax_clip = INFINITY,
                 .series = se,
                 .n_series = ns,
                 .legend = lg,
                 .n_legend = nl};
    rp_svg_plot(b, &p);
    rp_puts(b, "<figcaption>How large the residual stream is after each block. A block that "
               "ends in a norm (Post-Norm, DeepNorm) holds it near 1; where nothing normalises "
               "the sum (Pre-Norm) it can grow with depth.</figcaption>\n");
done:
    free(se);
    free(lg);
    free(xy);
    rp_puts(b, "</figure>\n</section>\n");
}

void rp_put_config(rp_buf *b, const report *rp)
{
    rp_run *cols[REPORT_MAX_RUNS];
    int nc = rp_representatives(rp, cols, REPORT_MAX_RUNS), with_cfg = 0;
    for (int i = 0; i < nc; i++)
        with_cfg += cols[i]->cfg != NULL;
    rp_puts(b, "<section id=\"config\">\n<h2>Configuration</h2>\n");
    if (with_cfg == 0) {
        rp_puts(b, "<p>No run has a readable config.yaml.</p>\n</section>\n");
        return;
    }
    if (rp->is_sweep)
        rp_printf(b, "<p>One column per cell (its first seed; seed <i>s</i> trains with "
                     "<code>train.seed</code> + <i>s</i>).</p>\n");
    if (rp->n_diff == 0) {
        rp_puts(b, "<p id=\"config-diff\">No setting differs between the runs.</p>\n");
    } else {
        rp_puts(b, "<div class=\"scroll\"><table id=\"config-diff\">\n<tr><th>setting</th>");
        for (int i = 0; i < nc; i++) {
            rp_puts(b, "<th>");
            rp_key_sample(b, cols[i]->style);
            rp_html(b, rp->is_sweep && cols[i]->cell >= 0 ? rp->cell_names[cols[i]->cell]
                                                          : cols[i]->name);
            rp_puts(b, "</th>");
        }
        rp_puts(b, "</tr>\n");
        for (int k = 0; k < rp->n_diff; k++) {
            rp_puts(b, "<tr><td><code>");
            rp_html(b, rp->diff_keys[k]);
            rp_puts(b, "</code></td>");
            for (int i = 0; i < nc; i++) {
                char v[512];
                nl_error err = {0};
                rp_puts(b, "<td>");
                if (cols[i]->cfg &&
                    !nl_config_get(cols[i]->cfg, rp->diff_keys[k], v, sizeof v, &err))
                    rp_html(b, v);
                else
                    rp_puts(b, "&#8211;");
                rp_puts(b, "</td>");
            }
            rp_puts(b, "</tr>\n");
        }
        rp_puts(b, "</table></div>\n");
    }
    /* what every run shares, folded */
    int count = 0;
    const nl_config_key_info *keys = nl_config_keys(&count);
    const nl_config *c0 = NULL;
    for (int i = 0; i < nc && !c0; i++)
        c0 = cols[i]->cfg;
    rp_buf rows = {0};
    int shared = 0;
    for (int k = 0; k < count; k++) {
        int differs = 0;
        for (int d = 0; d < rp->n_diff; d++)
            differs |= !strcmp(rp->diff_keys[d], keys[k].key);
        char v[512];
        nl_error err = {0};
        if (differs || !strcmp(keys[k].key, "name") ||
            nl_config_get(c0, keys[k].key, v, sizeof v, &err))
            continue;
        rp_puts(&rows, "<tr class=\"same\"><td><code>");
        rp_html(&rows, keys[k].key);
        rp_puts(&rows, "</code></td><td>");
        rp_html(&rows, v);
        rp_puts(&rows, "</td></tr>\n");
        shared++;
    }
    rp_printf(b,
              "<details><summary>The %d settings every run shares</summary>\n"
              "<table id=\"config-same\">\n%s",
              shared, rows.p ? rows.p : "");
    b->oom |= rows.oom;
    rp_buf_free(&rows);
    rp_puts(b, "</table></details>\n</section>\n");
}
