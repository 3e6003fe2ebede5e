/* A sweep's summary: per-cell statistics, the best cell of a column, and the table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_text.h"
#include "sweep.h"

/* ---- statistics and the table ---- */

void nl_sweep_summarise(const nl_sweep_def *d, const nl_sweep_result *rows, int n,
                        nl_sweep_cell_stats *stats)
{
    int cells = nl_sweep_cells(d), runs = cells * d->seeds;
    int *last = malloc(sizeof(int) * (size_t)runs);
    if (!last) { /* no statistics rather than a crash: every cell reads "not run" */
        memset(stats, 0, sizeof *stats * (size_t)cells);
        for (int c = 0; c < cells; c++)
            stats[c].mean = NAN;
        return;
    }
    for (int i = 0; i < runs; i++)
        last[i] = -1;
    for (int i = 0; i < n; i++)
        if (rows[i].cell >= 0 && rows[i].cell < cells && rows[i].seed >= 0 &&
            rows[i].seed < d->seeds)
            last[rows[i].cell * d->seeds + rows[i].seed] = i;
    for (int c = 0; c < cells; c++) {
        nl_sweep_cell_stats *s = &stats[c];
        memset(s, 0, sizeof *s);
        double sum = 0;
        for (int k = 0; k < d->seeds; k++) {
            int i = last[c * d->seeds + k];
            if (i < 0)
                continue;
            s->runs++;
            if (rows[i].diverged)
                s->diverged++;
            else if (isfinite(rows[i].val_loss)) {
                s->ok++;
                sum += rows[i].val_loss;
            }
        }
        s->mean = s->ok ? sum / s->ok : NAN;
        double ss = 0;
        for (int k = 0; k < d->seeds && s->ok > 1; k++) {
            int i = last[c * d->seeds + k];
            if (i >= 0 && !rows[i].diverged && isfinite(rows[i].val_loss))
                ss += (rows[i].val_loss - s->mean) * (rows[i].val_loss - s->mean);
        }
        s->sd = s->ok > 1 ? sqrt(ss / (s->ok - 1)) : 0.0;
    }
    free(last);
}

/* a before b: fewer diverged (as a fraction of runs), then a lower mean */
static bool better(const nl_sweep_cell_stats *a, const nl_sweep_cell_stats *b)
{
    double fa = (double)a->diverged / a->runs, fb = (double)b->diverged / b->runs;
    if (fa != fb)
        return fa < fb;
    return a->mean < b->mean;
}

bool nl_sweep_is_best(const nl_sweep_def *d, const nl_sweep_cell_stats *stats, int cell)
{
    if (!isfinite(stats[cell].mean))
        return false;
    int idx[NL_SWEEP_MAX_AXES];
    nl_sweep_cell_index(d, cell, idx);
    int rows = d->n_axes ? d->axes[0].n : 1;
    for (int r = 0; r < rows; r++) {
        if (d->n_axes)
            idx[0] = r;
        int c = nl_sweep_cell_of(d, idx);
        if (c == cell || !isfinite(stats[c].mean))
            continue;
        /* an earlier row wins a tie */
        if (better(&stats[c], &stats[cell]) || (c < cell && !better(&stats[cell], &stats[c])))
            return false;
    }
    return true;
}

static void cell_text(const nl_sweep_def *d, const nl_sweep_cell_stats *stats, int cell, bool utf8,
                      char *buf, size_t len)
{
    const nl_sweep_cell_stats *s = &stats[cell];
    if (s->runs == 0) {
        snprintf(buf, len, "not run");
        return;
    }
    size_t n;
    if (!isfinite(s->mean))
        n = (size_t)snprintf(buf, len, "-");
    else if (s->ok == 1)
        n = (size_t)snprintf(buf, len, "%.3f", s->mean);
    else
        n = (size_t)snprintf(buf, len, "%.3f%s%.3f", s->mean, utf8 ? "\xc2\xb1" : "+-", s->sd);
    if (s->diverged && n < len)
        n += (size_t)snprintf(buf + n, len - n, " (%d div)", s->diverged);
    if (s->runs < d->seeds && n < len)
        n += (size_t)snprintf(buf + n, len - n, " [%d/%d]", s->runs, d->seeds);
    if (nl_sweep_is_best(d, stats, cell) && n < len)
        snprintf(buf + n, len - n, "*");
}

/* display width of UTF-8 text: bytes that do not continue a character */
static int text_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

static void sb_padded(nl_jbuf *b, const char *s, int width)
{
    nl_jbuf_printf(b, "%s%*s", s, width - text_width(s), "");
}

/* Scratch for one block of the table: the cells' text, the column heads, the widths. */
typedef struct table_scratch {
    char (*text)[96];                          /* [rows * cols] */
    char (*head)[NL_SWEEP_MAX_VALUE_LEN + 72]; /* [cols] */
    int *width;                                /* [cols + 1]: the row labels', then each column's */
} table_scratch;

/* The text of block blk's cells and heads, and the width of each column. */
static void block_cells(const nl_sweep_def *d, const nl_sweep_cell_stats *stats, bool utf8,
                        int *idx, int rows, int cols, table_scratch *ts)
{
    const char *corner = d->n_axes ? d->axes[0].label : "";
    ts->width[0] = text_width(corner);
    for (int r = 0; r < rows; r++) {
        const char *label = d->n_axes ? d->axes[0].values[r] : "base";
        if (text_width(label) > ts->width[0])
            ts->width[0] = text_width(label);
    }
    for (int c = 0; c < cols; c++) {
        if (d->n_axes >= 2)
            snprintf(ts->head[c], sizeof ts->head[c], "%s=%s", d->axes[1].label,
                     d->axes[1].values[c]);
        else
            snprintf(ts->head[c], sizeof ts->head[c], "val loss");
        ts->width[c + 1] = text_width(ts->head[c]);
        for (int r = 0; r < rows; r++) {
            if (d->n_axes >= 1)
                idx[0] = r;
            if (d->n_axes >= 2)
                idx[1] = c;
            char *t = ts->text[r * cols + c];
            cell_text(d, stats, nl_sweep_cell_of(d, idx), utf8, t, sizeof ts->text[0]);
            if (text_width(t) > ts->width[c + 1])
                ts->width[c + 1] = text_width(t);
        }
    }
}

/* One line of the table: label, then the columns, the last one unpadded. */
static void table_line(nl_jbuf *b, const char *label, const char *const *cells, int cols,
                       const int *width)
{
    sb_padded(b, label, width[0]);
    for (int c = 0; c < cols; c++) {
        nl_jbuf_printf(b, "  ");
        if (c == cols - 1)
            nl_jbuf_printf(b, "%s", cells[c]);
        else
            sb_padded(b, cells[c], width[c + 1]);
    }
    nl_jbuf_printf(b, "\n");
}

/* Block blk: the values of axes 2.. (blk in mixed radix) as its title, then the grid. */
static void table_block(nl_jbuf *b, const nl_sweep_def *d, const nl_sweep_cell_stats *stats,
                        bool utf8, int blk, int rows, int cols, table_scratch *ts,
                        const char **line)
{
    int idx[NL_SWEEP_MAX_AXES] = {0};
    for (int a = d->n_axes - 1, rest = blk; a >= 2; a--) {
        idx[a] = rest % d->axes[a].n;
        rest /= d->axes[a].n;
    }
    nl_jbuf_printf(b, "\n");
    if (d->n_axes >= 3) {
        for (int a = 2; a < d->n_axes; a++)
            nl_jbuf_printf(b, "%s%s=%s", a > 2 ? " " : "", d->axes[a].label,
                           d->axes[a].values[idx[a]]);
        nl_jbuf_printf(b, "\n");
    }
    block_cells(d, stats, utf8, idx, rows, cols, ts);
    for (int c = 0; c < cols; c++)
        line[c] = ts->head[c];
    table_line(b, d->n_axes ? d->axes[0].label : "", line, cols, ts->width);
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++)
            line[c] = ts->text[r * cols + c];
        table_line(b, d->n_axes ? d->axes[0].values[r] : "base", line, cols, ts->width);
    }
}

char *nl_sweep_table(const nl_sweep_def *d, const nl_sweep_cell_stats *stats, bool utf8)
{
    int rows = d->n_axes >= 1 ? d->axes[0].n : 1;
    int cols = d->n_axes >= 2 ? d->axes[1].n : 1;
    int blocks = nl_sweep_cells(d) / (rows * cols);
    nl_jbuf b = {0};
    nl_jbuf_printf(&b,
                   "final validation loss, mean %s sd over %d seed%s; (k div): k seeds diverged, "
                   "left out of the mean; * best in its column\n",
                   utf8 ? "\xc2\xb1" : "+-", d->seeds, d->seeds == 1 ? "" : "s");
    table_scratch ts = {calloc((size_t)(rows * cols), sizeof *ts.text),
                        calloc((size_t)cols, sizeof *ts.head),
                        calloc((size_t)cols + 1, sizeof(int))};
    const char **line = calloc((size_t)cols, sizeof *line);
    bool ok = ts.text && ts.head && ts.width && line;
    for (int blk = 0; ok && blk < blocks; blk++)
        table_block(&b, d, stats, utf8, blk, rows, cols, &ts, line);
    free(ts.text);
    free(ts.head);
    free(ts.width);
    free(line);
    if (!ok) {
        nl_jbuf_free(&b);
        return NULL;
    }
    return nl_jbuf_take(&b);
}
