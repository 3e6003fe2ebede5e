/* The sweep's section of a report: the table of cells (each cell's mean validation loss over
 * its seeds, the best of each column in bold) and sweep.csv, a row per finished run. */
#include <math.h>
#include <stdlib.h>

#include "report_internal.h"

/* A <th> per axis, named by its key. */
static void axis_headers(rp_buf *b, const nl_sweep_def *d)
{
    for (int a = 0; a < d->n_axes; a++) {
        rp_puts(b, "<th>");
        rp_html(b, d->axes[a].key);
        rp_puts(b, "</th>");
    }
}

/* A <td> per axis: cell's value of it (idx: room for NL_SWEEP_MAX_AXES). */
static void axis_values(rp_buf *b, const nl_sweep_def *d, int cell, int *idx)
{
    nl_sweep_cell_index(d, cell, idx);
    for (int a = 0; a < d->n_axes; a++) {
        rp_puts(b, "<td>");
        rp_html(b, d->axes[a].values[idx[a]]);
        rp_puts(b, "</td>");
    }
}

/* The table of cells: each cell's settings, runs, divergences, mean val loss. */
static void sweep_cells(rp_buf *b, const report *rp, const nl_sweep_cell_stats *st, int *idx)
{
    const nl_sweep_def *d = &rp->def;
    rp_printf(b,
              "<h3>Validation loss per cell</h3>\n<p>Mean &#177; sd over the seeds that did not "
              "diverge (%d seed%s per cell); bold: the best of its column (fewest diverged, "
              "then lowest mean) among cells that share every setting but <code>",
              d->seeds, d->seeds == 1 ? "" : "s");
    rp_html(b, d->n_axes ? d->axes[0].key : "-");
    rp_puts(b, "</code>.</p>\n<div class=\"scroll\"><table id=\"sweep-cells\">\n<tr><th></th>");
    axis_headers(b, d);
    rp_puts(b, "<th class=\"n\">runs</th><th class=\"n\">diverged</th>"
               "<th class=\"n\">val loss</th></tr>\n");
    for (int c = 0; c < rp->cells; c++) {
        int best = nl_sweep_is_best(d, st, c);
        rp_puts(b, best ? "<tr class=\"best\"><td>" : "<tr><td>");
        rp_key_sample(b, c);
        rp_puts(b, "</td>");
        axis_values(b, d, c, idx);
        rp_printf(b, "<td class=\"n\">%d / %d</td><td class=\"n\">%d</td><td class=\"n\">",
                  st[c].runs, d->seeds, st[c].diverged);
        if (st[c].runs == 0)
            rp_puts(b, "not run");
        else if (isnan(st[c].mean))
            rp_puts(b, "&#8211;");
        else
            rp_printf(b, "%.4f &#177; %.4f", st[c].mean, st[c].sd);
        rp_puts(b, "</td></tr>\n");
    }
    rp_puts(b, "</table></div>\n");
}

/* sweep.csv as a table, a row per finished run. */
static void sweep_rows(rp_buf *b, const report *rp, int *idx)
{
    const nl_sweep_def *d = &rp->def;
    rp_printf(b, "<h3>sweep.csv</h3>\n<p>%d finished run%s, in the order they finished.</p>\n",
              rp->n_rows, rp->n_rows == 1 ? "" : "s");
    rp_puts(b, "<div class=\"scroll\"><table id=\"sweep-rows\">\n<tr>");
    axis_headers(b, d);
    rp_puts(b, "<th class=\"n\">seed</th><th class=\"n\">train loss</th>"
               "<th class=\"n\">val loss</th><th class=\"n\">best loss</th><th>diverged</th>"
               "<th class=\"n\">steps</th><th class=\"n\">tokens/s</th><th>run</th></tr>\n");
    for (int i = 0; i < rp->n_rows; i++) {
        const nl_sweep_result *r = &rp->rows[i];
        rp_puts(b, "<tr>");
        axis_values(b, d, r->cell, idx);
        rp_printf(b, "<td class=\"n\">%d</td><td class=\"n\">", r->seed);
        rp_num(b, r->train_loss);
        rp_puts(b, "</td><td class=\"n\">");
        rp_num(b, r->val_loss);
        rp_puts(b, "</td><td class=\"n\">");
        rp_num(b, r->best_loss);
        if (r->diverged)
            rp_printf(b, "</td><td class=\"state-diverged\">at step %lld",
                      (long long)r->diverged_step);
        else
            rp_puts(b, "</td><td>no");
        rp_printf(b, "</td><td class=\"n\">%lld</td><td class=\"n\">%.0f</td><td><code>",
                  (long long)r->steps, r->tok_s);
        rp_html(b, r->run_dir);
        rp_puts(b, "</code></td></tr>\n");
    }
    rp_puts(b, "</table></div>\n");
}

void rp_put_sweep(rp_buf *b, const report *rp)
{
    rp_puts(b, "<section id=\"sweep\">\n<h2>Sweep</h2>\n");
    if (!rp->have_rows) {
        rp_puts(b, "<p>sweep.csv could not be read (see the notes).</p>\n</section>\n");
        return;
    }
    nl_sweep_cell_stats *st = calloc((size_t)rp->cells + 1, sizeof *st);
    int *idx = calloc(NL_SWEEP_MAX_AXES, sizeof *idx);
    if (!st || !idx) {
        free(st);
        free(idx);
        rp_puts(b, "</section>\n");
        return;
    }
    nl_sweep_summarise(&rp->def, rp->rows, rp->n_rows, st);
    sweep_cells(b, rp, st, idx);
    sweep_rows(b, rp, idx);
    rp_puts(b, "</section>\n");
    free(st);
    free(idx);
}
