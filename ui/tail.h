/* `normlab watch`: follows a run directory written by `normlab train` (or the lab). New
 * lines of metrics.csv go into the run's history (header: nl_metrics_csv_parse_header,
 * rows: nl_metrics_csv_parse); events.log gives the state ("diverged", "finished",
 * "stopped" in its lines) and the last message; config.yaml, when it loads, gives the
 * total steps, the placement and the entropy floor. Reads are bounded per poll, so a
 * huge metrics.csv is taken in over several polls without stalling the UI. Lines that
 * cannot be shown are counted and named in rv->warn, never dropped in silence. */
#ifndef UI_TAIL_H
#define UI_TAIL_H

#include <stdint.h>

#include "runview.h"

typedef struct run_tail {
    char dir[512];
    long long csv_off; /* bytes of metrics.csv consumed */
    char *line;        /* a partial line carried to the next poll */
    size_t line_len, line_cap;
    int have_header;
    int layers, moe_layers, experts;
    float *arrays; /* storage behind the parsed row's per-layer arrays */
    long long ev_off;
    int finished, stopped, diverged, failed;
    int64_t diverged_step;
    double last_row_ms; /* when the last row arrived (monotonic ms) */
    /* what could not be shown, said in the run's status line (rv->warn): rows that do not
     * parse, a header that does not parse (then no row is shown) or that disagrees with
     * config.yaml */
    int bad_lines;
    long long line_no; /* lines of metrics.csv taken so far */
    int header_bad;    /* the header does not parse: every row is skipped */
    int cfg_layers;    /* from config.yaml; 0 = unknown */
    int cfg_moe_layers, cfg_experts;
    char first_bad[120];   /* "line N: why" of the first skipped line */
    char header_note[120]; /* the header's problem, "" when none */
} run_tail;

/* Checks that dir exists and reads config.yaml when there is one. Returns 0, or -1 with
 * msg set. */
int tail_open(run_tail *t, const char *dir, ui_run *rv, char *msg, int msglen);
/* Read what was appended since the last poll. Returns 1 when anything changed. */
int tail_poll(run_tail *t, ui_run *rv);
void tail_close(run_tail *t);

#endif
