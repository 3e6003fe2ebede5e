/* `normlab watch SWEEP_DIR`: the sweep as a grid (sweepgrid.h) over the overlaid train-loss
 * curves of the selected row's runs, read from each run directory's metrics.csv (tail.h).
 * sweep.yaml and sweep.csv are read again with nl_sweep_load_dir as the sweep goes on;
 * runs that have not started yet join the curves when their directory appears. */
#ifndef UI_SWEEPVIEW_H
#define UI_SWEEPVIEW_H

#include "dash.h"
#include "engine/sweep.h"
#include "runview.h"
#include "tail.h"

/* Curves drawn for one row at most (columns x seeds beyond it are left out). */
#define SWEEPVIEW_MAX_RUNS 64
/* History budget of each curve's run (the full dashboard's is larger). */
#define SWEEPVIEW_HISTORY_BYTES (256u << 10)

typedef struct sweep_view {
    char dir[512];
    nl_sweep_def def;
    nl_sweep_result *rows; /* sweep.csv (nrows) */
    int nrows;
    nl_sweep_cell_stats *stats; /* [cells] */
    int cells;
    int sel;       /* selected grid row */
    char msg[320]; /* a problem reading the sweep, "" when none */
    /* the selected row's runs: grid column and seed of each, open when its directory is */
    int nruns, total_runs; /* total_runs: of the row, before SWEEPVIEW_MAX_RUNS */
    int col[SWEEPVIEW_MAX_RUNS], seed[SWEEPVIEW_MAX_RUNS], open[SWEEPVIEW_MAX_RUNS];
    ui_run runs[SWEEPVIEW_MAX_RUNS];
    run_tail tails[SWEEPVIEW_MAX_RUNS];
} sweep_view;

/* Reads DIR/sweep.yaml and sweep.csv. Returns 0, or -1 with msg set (no sweep.yaml). */
int sweepview_open(sweep_view *sv, const char *dir, char *msg, int msglen);
void sweepview_free(sweep_view *sv);
/* Read sweep.yaml and sweep.csv again; returns 1 when the grid changed. */
int sweepview_reload(sweep_view *sv);
/* Take in what the selected row's run directories gained; returns 1 when anything did. */
int sweepview_poll(sweep_view *sv);
/* Select grid row `row` (clamped); its runs replace the previous row's. */
void sweepview_select(sweep_view *sv, int row);

/* The whole screen: top bar, grid, curves, a line on the row's runs, footer. v gives the
 * glyphs, colour, smoothing, log y, x axis and the top-bar message. */
void sweepview_draw(ui_grid *g, const sweep_view *sv, const dash_view *v);

#endif
