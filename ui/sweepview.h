/* `normlab watch SWEEP_DIR`: the sweep as a grid (sweepgrid.h) over the overlaid train-loss
 * curves of the selected row's runs, read from each run directory's metrics.csv (tail.h);
 * or, in the overlay (sweepview_overlay), the curves of every row's runs on one plot, drawn
 * as the dashboard draws its loss plot (zoom, pan, cursor, y range and hidden runs).
 * sweep.yaml and sweep.csv are read again with nl_sweep_load_dir as the sweep goes on;
 * runs that have not started yet join the curves when their directory appears. */
#ifndef UI_SWEEPVIEW_H
#define UI_SWEEPVIEW_H

#include "dash.h"
#include "engine/sweep.h"
#include "runview.h"
#include "tail.h"

/* Curves drawn for one row, or in the overlay, at most (columns x seeds beyond it are left out). */
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
    int all;       /* the overlay: every row's runs, not the selected row's */
    int osel;      /* the overlay's selected run (index into runs) */
    char msg[320]; /* a problem reading the sweep, "" when none */
    /* the runs shown (the selected row's, or every row's in the overlay): cell, grid column
     * and seed of each, open when its directory is */
    int nruns, total_runs; /* total_runs: of the row (or sweep), before SWEEPVIEW_MAX_RUNS */
    int cell[SWEEPVIEW_MAX_RUNS], col[SWEEPVIEW_MAX_RUNS], seed[SWEEPVIEW_MAX_RUNS];
    int open[SWEEPVIEW_MAX_RUNS];
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
/* on: the overlay of every row's runs; 0: back to the grid and the selected row's runs. */
void sweepview_overlay(sweep_view *sv, int on);
/* The open runs, copied (shallow) into out[0..SWEEPVIEW_MAX_RUNS) in run order, with the
 * index in sv->runs of each in idx; returns how many. */
int sweepview_open_runs(const sweep_view *sv, ui_run *out, int *idx);

/* The whole screen: top bar, grid, curves, a line on the row's runs, footer. v gives the
 * glyphs, colour, smoothing, log y, x axis and the top-bar message. */
void sweepview_draw(ui_grid *g, const sweep_view *sv, const dash_view *v);
/* The overlay's screen (sweepoverlay.c): top bar, the loss plot of every open run, their
 * status lines (the cursor's read-out), footer. */
void sweepview_draw_overlay(ui_grid *g, const sweep_view *sv, const dash_view *v);
/* The top bar of either screen; what = "" or " · overlay of every row" and the like. */
void sweepview_topbar(ui_grid *g, const sweep_view *sv, const dash_view *v, const char *what);

#endif
