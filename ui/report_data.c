/* `normlab report`: the text buffer, the notes, and reading a run directory back
 * (config.yaml, metrics.csv, events.log) the way `normlab watch` does, but all of it at once
 * and keeping every row. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/metrics.h"
#include "engine/run.h"
#include "report_internal.h"
#include "runview.h"

/* ---- text ---- */

static int grow(rp_buf *b, size_t more)
{
    if (b->oom)
        return -1;
    if (b->n + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->n + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void rp_printf(rp_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (k < 0 || grow(b, (size_t)k))
        return;
    if ((size_t)k < sizeof small) {
        memcpy(b->p + b->n, small, (size_t)k + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
        va_end(ap);
    }
    b->n += (size_t)k;
}

void rp_puts(rp_buf *b, const char *s)
{
    size_t k = strlen(s);
    if (grow(b, k))
        return;
    memcpy(b->p + b->n, s, k + 1);
    b->n += k;
}

void rp_html(rp_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            rp_puts(b, "&amp;");
            break;
        case '<':
            rp_puts(b, "&lt;");
            break;
        case '>':
            rp_puts(b, "&gt;");
            break;
        case '"':
            rp_puts(b, "&quot;");
            break;
        case '\'':
            rp_puts(b, "&#39;");
            break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') {
                rp_puts(b, "\xEF\xBF\xBD"); /* a control byte from a damaged file: U+FFFD */
            } else if (!grow(b, 1)) {
                b->p[b->n++] = *s;
                b->p[b->n] = '\0';
            }
        }
    }
}

void rp_buf_free(rp_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- notes ---- */

void rp_note(rp_notes *ns, const char *fmt, ...)
{
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (ns->echo)
        fprintf(ns->echo, "normlab report: %s\n", line);
    if (ns->n >= RP_MAX_NOTES) {
        ns->dropped++;
        return;
    }
    char *t = strdup(line);
    if (t)
        ns->text[ns->n++] = t;
    else
        ns->dropped++;
}

void rp_notes_free(rp_notes *ns)
{
    for (int i = 0; i < ns->n; i++)
        free(ns->text[i]);
    ns->n = ns->dropped = 0;
}

/* ---- runs ---- */

const char *rp_state_name(rp_state s)
{
    switch (s) {
    case RP_NO_METRICS:
        return "no metrics yet";
    case RP_IN_PROGRESS:
        return "in progress";
    case RP_FINISHED:
        return "finished";
    case RP_STOPPED:
        return "stopped";
    case RP_DIVERGED:
        return "diverged";
    case RP_FAILED:
        return "failed";
    }
    return "?";
}

void rp_run_free(rp_run *r)
{
    free(r->cfg);
    free(r->step);
    free(r->time_s);
    free(r->loss);
    free(r->val_loss);
    free(r->lr);
    free(r->grad_norm);
    free(r->tok_s);
    free(r->gn_attn);
    free(r->gn_ffn);
    free(r->rms);
    memset(r, 0, sizeof *r);
}

/* Room for one more row. */
static int reserve_row(rp_run *r)
{
    if (r->n < r->cap)
        return 0;
    int64_t cap = r->cap ? 2 * r->cap : 256;
    size_t L = (size_t)r->layers;
#define GROW(field, count)                                                                         \
    do {                                                                                           \
        void *p_ = realloc(r->field, (size_t)(count) * sizeof *r->field);                          \
        if (!p_)                                                                                   \
            return -1;                                                                             \
        r->field = p_;                                                                             \
    } while (0)
    GROW(step, cap);
    GROW(time_s, cap);
    GROW(loss, cap);
    GROW(val_loss, cap);
    GROW(lr, cap);
    GROW(grad_norm, cap);
    GROW(tok_s, cap);
    GROW(gn_attn, (size_t)cap * L + 1);
    GROW(gn_ffn, (size_t)cap * L + 1);
    GROW(rms, (size_t)cap * L + 1);
#undef GROW
    r->cap = cap;
    return 0;
}

static void load_config(rp_run *r, rp_notes *ns)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/config.yaml", r->dir);
    if (access(path, F_OK) != 0) {
        rp_note(ns, "%s: no config.yaml, so the run is left out of the config diff", r->dir);
        return;
    }
    nl_config *c = malloc(sizeof *c);
    nl_error err = {0};
    if (!c)
        return;
    if (nl_config_load_file(c, path, &err)) {
        rp_note(ns, "%s (left out of the config diff)", err.msg);
        free(c);
        return;
    }
    r->cfg = c;
    double floor_, unigram;
    runview_reference_levels(c, &floor_, &unigram);
    r->ref_y = runview_reference_line(floor_, unigram, &r->ref_label);
}

/* Skipped lines are named up to this many per run; the rest are only counted. */
#define NAMED_BAD_LINES 3

/* Reading one metrics.csv. */
typedef struct csv_reader {
    const char *path;
    long lineno;
    int have_header, moe, experts;
    float *moe_scratch; /* a row's MoE figures (read, not kept) */
    int64_t last_step;
} csv_reader;

/* The header line: the layers and the MoE columns. Returns 0, 1 when it cannot be read (a
 * note says why; the run has no curves), -1 when out of memory. */
static int metrics_header(rp_run *r, csv_reader *cr, const char *line, rp_notes *ns)
{
    nl_error err = {0};
    int L = 0;
    if (nl_metrics_csv_parse_header(line, &L, &cr->moe, &cr->experts, &err)) {
        rp_note(ns, "%s line 1: %s; the run is left out of the plots", cr->path, err.msg);
        return 1;
    }
    r->layers = L;
    size_t extra = (size_t)cr->moe * (size_t)cr->experts + 3 * (size_t)cr->moe + 1;
    cr->moe_scratch = malloc(extra * sizeof *cr->moe_scratch);
    if (!cr->moe_scratch)
        return -1;
    cr->have_header = 1;
    return 0;
}

/* One row into r, or skipped with a note (the first NAMED_BAD_LINES) when it cannot be read
 * or its step does not increase. Returns -1 when out of memory. */
static int metrics_row(rp_run *r, csv_reader *cr, const char *line, rp_notes *ns)
{
    if (reserve_row(r))
        return -1;
    size_t L = (size_t)r->layers, i = (size_t)r->n;
    nl_metrics_row row;
    memset(&row, 0, sizeof row);
    row.gn_attn = r->gn_attn + i * L;
    row.gn_ffn = r->gn_ffn + i * L;
    row.rms = r->rms + i * L;
    if (cr->moe > 0) {
        row.expert_frac = cr->moe_scratch;
        row.router_entropy = cr->moe_scratch + (size_t)cr->moe * (size_t)cr->experts;
        row.gn_router = row.router_entropy + cr->moe;
        row.gn_experts = row.gn_router + cr->moe;
    }
    nl_error err = {0};
    const char *why = NULL;
    if (nl_metrics_csv_parse(line, &row, r->layers, cr->moe, cr->experts, &err))
        why = err.msg;
    else if (row.step <= cr->last_step)
        why = "step does not increase";
    if (why) {
        if (++r->bad_lines <= NAMED_BAD_LINES)
            rp_note(ns, "%s line %ld skipped: %s", cr->path, cr->lineno, why);
        return 0;
    }
    cr->last_step = row.step;
    r->step[i] = row.step;
    r->time_s[i] = row.time_s;
    r->loss[i] = row.loss;
    r->val_loss[i] = row.val_loss;
    r->lr[i] = row.lr;
    r->grad_norm[i] = row.grad_norm;
    r->tok_s[i] = row.tok_s;
    r->n++;
    return 0;
}

static int load_metrics(rp_run *r, rp_notes *ns)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/metrics.csv", r->dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            rp_note(ns, "%s: no metrics.csv yet, so no curves", r->dir);
        else
            rp_note(ns, "%s: %s, so no curves", path, strerror(errno));
        return 0;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    csv_reader cr = {.path = path};
    while ((len = getline(&line, &cap, f)) > 0) {
        cr.lineno++;
        int complete = line[len - 1] == '\n';
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!complete) {
            /* a row still being written (or a write cut short): not a row yet */
            rp_note(ns, "%s line %ld: incomplete last line (%s), left out", path, cr.lineno,
                    r->state == RP_IN_PROGRESS ? "still being written" : "cut short");
            break;
        }
        if (len == 0)
            continue;
        int got = cr.have_header ? metrics_row(r, &cr, line, ns) : metrics_header(r, &cr, line, ns);
        if (got) {
            rc = got < 0 ? -1 : 0;
            break;
        }
    }
    if (r->bad_lines > NAMED_BAD_LINES)
        rp_note(ns, "%s: %ld unreadable lines skipped in all", path, r->bad_lines);
    if (rc == 0 && cr.have_header && r->n == 0)
        rp_note(ns, "%s: no step recorded yet, so no curves", path);
    else if (rc == 0 && cr.lineno == 0)
        rp_note(ns, "%s: empty (no header yet), so no curves", path);
    free(cr.moe_scratch);
    free(line);
    fclose(f);
    return rc;
}

/* The state from events.log: its last final event ("finished", "stopped", "diverged",
 * "failed"), cleared by a later "resumed"; none means the run is still going (or was
 * killed without a word). */
static void load_events(rp_run *r)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/events.log", r->dir);
    FILE *f = fopen(path, "r");
    r->state = RP_IN_PROGRESS;
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n')
            break;
        long long step;
        const char *msg = nl_event_message(line, &step);
        long long at = step;
        switch (nl_event_kind_of(msg, &at)) {
        case NL_EVENT_DIVERGED:
            r->state = RP_DIVERGED;
            r->diverged_step = at;
            break;
        case NL_EVENT_FINISHED:
            r->state = RP_FINISHED;
            break;
        case NL_EVENT_STOPPED:
            r->state = RP_STOPPED;
            break;
        case NL_EVENT_FAILED:
            r->state = RP_FAILED;
            break;
        case NL_EVENT_RESUMED:
            r->state = RP_IN_PROGRESS;
            break;
        default:
            break;
        }
    }
    fclose(f);
}

int rp_run_load(rp_run *r, const char *dir, rp_notes *ns)
{
    memset(r, 0, sizeof *r);
    r->cell = r->seed = -1;
    r->ref_y = NAN;
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    size_t n = strlen(r->dir);
    while (n > 1 && r->dir[n - 1] == '/')
        r->dir[--n] = '\0';
    const char *base = strrchr(r->dir, '/');
    snprintf(r->name, sizeof r->name, "%s", base ? base + 1 : r->dir);
    load_config(r, ns);
    load_events(r);
    if (load_metrics(r, ns))
        return -1;
    if (r->n == 0)
        r->state = RP_NO_METRICS;
    return 0;
}

int64_t rp_last_step(const rp_run *r)
{
    return r->n ? r->step[r->n - 1] : 0;
}

int rp_has_data(const rp_run *r)
{
    return r->n > 0 && r->layers >= 0;
}

/* The runs that stand for the comparison in the diff and heatmaps: every run, or for a
 * sweep the first run with data of each cell. */
int rp_representatives(const report *rp, rp_run **out, int max)
{
    int k = 0;
    if (!rp->is_sweep) {
        for (int i = 0; i < rp->n && k < max; i++)
            out[k++] = &rp->runs[i];
        return k;
    }
    for (int c = 0; c < rp->cells && k < max; c++) {
        rp_run *pick = NULL;
        for (int i = 0; i < rp->n; i++)
            if (rp->runs[i].cell == c &&
                (!pick || (!rp_has_data(pick) && rp_has_data(&rp->runs[i]))))
                pick = &rp->runs[i];
        if (pick)
            out[k++] = pick;
    }
    return k;
}
