#include "tail.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "term.h"

#define TAIL_READ_MAX (8 << 20) /* bytes of metrics.csv taken in per poll */

int tail_open(run_tail *t, const char *dir, ui_run *rv, char *msg, int msglen)
{
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "%s", dir);
    size_t n = strlen(t->dir);
    while (n > 1 && t->dir[n - 1] == '/')
        t->dir[--n] = '\0';
    struct stat st;
    if (stat(t->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(msg, (size_t)msglen, "%s: not a run directory (%s)", dir,
                 errno ? strerror(errno) : "not a directory");
        return -1;
    }
    const char *base = strrchr(t->dir, '/');
    runview_init(rv, base ? base + 1 : t->dir, 0);
    snprintf(rv->st.dir, sizeof rv->st.dir, "%s", t->dir);
    rv->st.state = NL_RUN_RUNNING;
    char path[600];
    snprintf(path, sizeof path, "%s/config.yaml", t->dir);
    nl_config *c = malloc(sizeof *c);
    nl_error err = {0};
    if (c && access(path, R_OK) == 0) {
        nl_config_defaults(c);
        if (nl_config_load_file(c, path, &err) == 0) {
            runview_set_config(rv, c);
            rv->st.total = c->train.steps;
            rv->st.layers = c->model.layers;
            t->cfg_layers = c->model.layers;
            t->cfg_experts = c->model.moe_experts;
            t->cfg_moe_layers = c->model.moe_experts > 0 && c->model.moe_every > 0
                                    ? c->model.layers / c->model.moe_every
                                    : 0;
            runview_reference_levels(c, &rv->st.entropy_floor, &rv->st.unigram_level);
        } else {
            snprintf(rv->st.message, sizeof rv->st.message, "config.yaml: %.240s", err.msg);
        }
    }
    free(c);
    return 0;
}

void tail_close(run_tail *t)
{
    free(t->line);
    free(t->arrays);
    t->line = NULL;
    t->arrays = NULL;
}

/* rv->warn from what was skipped so far. */
static void set_warning(run_tail *t, ui_run *rv)
{
    if (t->header_bad)
        snprintf(rv->warn, sizeof rv->warn, "metrics.csv: bad header (%s); %d rows not shown",
                 t->header_note, t->bad_lines);
    else if (t->bad_lines && t->header_note[0])
        snprintf(rv->warn, sizeof rv->warn, "metrics.csv: %s; %d bad lines skipped (%s)",
                 t->header_note, t->bad_lines, t->first_bad);
    else if (t->bad_lines)
        snprintf(rv->warn, sizeof rv->warn, "metrics.csv: %d bad line%s skipped (%s)", t->bad_lines,
                 t->bad_lines > 1 ? "s" : "", t->first_bad);
    else if (t->header_note[0])
        snprintf(rv->warn, sizeof rv->warn, "metrics.csv: %s", t->header_note);
    else
        rv->warn[0] = '\0';
    if (rv->warn[0])
        snprintf(rv->st.message, sizeof rv->st.message, "%s", rv->warn);
}

static int header_line(run_tail *t, ui_run *rv, const char *line)
{
    nl_error err = {0};
    int L, M, E;
    if (nl_metrics_csv_parse_header(line, &L, &M, &E, &err)) {
        t->header_bad = 1;
        snprintf(t->header_note, sizeof t->header_note, "line %lld: %.90s", t->line_no, err.msg);
        set_warning(t, rv);
        return -1;
    }
    if (t->cfg_layers > 0 &&
        (L != t->cfg_layers || M != t->cfg_moe_layers || (M > 0 && E != t->cfg_experts)))
        snprintf(t->header_note, sizeof t->header_note, "header has %d layers%s, config.yaml %d%s",
                 L, M ? " (MoE)" : "", t->cfg_layers, t->cfg_moe_layers ? " (MoE)" : "");
    size_t need = (size_t)3 * L + (size_t)M * E + 3 * (size_t)M + 1;
    float *a = malloc(need * sizeof *a);
    if (!a || runview_set_layers(rv, L) || runview_set_moe(rv, M, E)) {
        free(a);
        return -1;
    }
    free(t->arrays);
    t->arrays = a;
    t->layers = L;
    t->moe_layers = M;
    t->experts = E;
    t->have_header = 1;
    rv->st.layers = L;
    rv->st.moe_layers = M;
    rv->st.experts = E;
    set_warning(t, rv);
    return 0;
}

static void data_line(run_tail *t, ui_run *rv, const char *line)
{
    nl_metrics_row row;
    memset(&row, 0, sizeof row);
    int L = t->layers, M = t->moe_layers, E = t->experts;
    row.gn_attn = t->arrays;
    row.gn_ffn = t->arrays + L;
    row.rms = t->arrays + 2 * L;
    if (M > 0) {
        row.expert_frac = t->arrays + 3 * L;
        row.router_entropy = row.expert_frac + (size_t)M * E;
        row.gn_router = row.router_entropy + M;
        row.gn_experts = row.gn_router + M;
    }
    nl_error err = {0};
    if (nl_metrics_csv_parse(line, &row, L, M, E, &err)) {
        if (t->bad_lines++ == 0)
            snprintf(t->first_bad, sizeof t->first_bad, "line %lld: %.90s", t->line_no, err.msg);
        set_warning(t, rv);
        return;
    }
    double prev_time = rv->last_time_s;
    int64_t prev_step = rv->last_step;
    runview_ingest(rv, &row);
    rv->st.step = row.step;
    rv->st.loss = row.loss;
    rv->st.lr = row.lr;
    rv->st.grad_norm = row.grad_norm;
    rv->st.tok_s = row.tok_s;
    if (rv->st.total > row.step && row.step > prev_step && row.time_s > prev_time &&
        prev_step > 0) {
        double per_step = (row.time_s - prev_time) / (double)(row.step - prev_step);
        rv->st.eta_s = per_step * (double)(rv->st.total - row.step);
    } else if (rv->st.total > 0 && row.step >= rv->st.total) {
        rv->st.eta_s = 0;
    }
}

static void take_line(run_tail *t, ui_run *rv, char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
        line[--n] = '\0';
    t->line_no++;
    if (n == 0)
        return;
    if (t->header_bad) { /* rows under a header that did not parse cannot be read */
        t->bad_lines++;
        set_warning(t, rv);
        return;
    }
    if (!t->have_header) {
        header_line(t, rv, line);
        return;
    }
    data_line(t, rv, line);
}

/* Feed bytes; complete lines are parsed, the rest waits in t->line. */
static void feed(run_tail *t, ui_run *rv, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (t->line_len + 1 >= t->line_cap) {
            size_t cap = t->line_cap ? t->line_cap * 2 : 4096;
            char *p = realloc(t->line, cap);
            if (!p)
                return;
            t->line = p;
            t->line_cap = cap;
        }
        if (buf[i] == '\n') {
            t->line[t->line_len] = '\0';
            take_line(t, rv, t->line);
            t->line_len = 0;
        } else {
            t->line[t->line_len++] = buf[i];
        }
    }
}

static int poll_csv(run_tail *t, ui_run *rv)
{
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.csv", t->dir);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    struct stat st;
    int changed = 0;
    if (fstat(fd, &st) == 0 && st.st_size < t->csv_off) {
        /* rewritten (a resume cuts it back): start over */
        t->csv_off = 0;
        t->line_len = 0;
        t->have_header = 0;
        t->header_bad = t->bad_lines = 0;
        t->line_no = 0;
        t->header_note[0] = t->first_bad[0] = '\0';
        runview_reset(rv);
        rv->warn[0] = '\0';
        changed = 1;
    }
    static char buf[1 << 16];
    long long taken = 0;
    for (;;) {
        ssize_t k = pread(fd, buf, sizeof buf, (off_t)t->csv_off);
        if (k <= 0)
            break;
        feed(t, rv, buf, (size_t)k);
        t->csv_off += k;
        taken += k;
        changed = 1;
        if (taken >= TAIL_READ_MAX)
            break;
    }
    close(fd);
    if (taken)
        t->last_row_ms = term_now_ms();
    return changed;
}

static int poll_events(run_tail *t, ui_run *rv)
{
    char path[600];
    snprintf(path, sizeof path, "%s/events.log", t->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int changed = 0;
    if (fseek(f, t->ev_off, SEEK_SET) == 0) {
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            size_t n = strlen(line);
            if (n == 0 || line[n - 1] != '\n')
                break; /* a line still being written */
            t->ev_off += (long long)n;
            line[n - 1] = '\0';
            long long step;
            const char *msg = nl_event_message(line, &step);
            snprintf(rv->st.message, sizeof rv->st.message, "%s", msg);
            long long at = step;
            switch (nl_event_kind_of(msg, &at)) {
            case NL_EVENT_DIVERGED:
                t->diverged = 1;
                t->diverged_step = at;
                break;
            case NL_EVENT_FINISHED:
                t->finished = 1;
                break;
            case NL_EVENT_STOPPED:
                t->stopped = 1;
                break;
            case NL_EVENT_FAILED:
                t->failed = 1;
                break;
            case NL_EVENT_RESUMED:
                t->finished = t->stopped = t->diverged = t->failed = 0;
                break;
            default:
                break;
            }
            changed = 1;
        }
    }
    fclose(f);
    return changed;
}

int tail_poll(run_tail *t, ui_run *rv)
{
    int changed = poll_csv(t, rv);
    changed |= poll_events(t, rv);
    nl_run_state s = t->diverged   ? NL_RUN_DIVERGED
                     : t->failed   ? NL_RUN_FAILED
                     : t->finished ? NL_RUN_FINISHED
                     : t->stopped  ? NL_RUN_STOPPED
                                   : NL_RUN_RUNNING;
    if (s != rv->st.state)
        changed = 1;
    rv->st.state = s;
    rv->st.diverged_step = t->diverged ? t->diverged_step : 0;
    if (s != NL_RUN_RUNNING)
        rv->st.eta_s = NAN;
    return changed;
}
