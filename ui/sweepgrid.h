/* The grid of a sweep, as `normlab watch SWEEP_DIR` shows it: rows are the values of the first
 * varied key, columns the combinations of the others (last key fastest, as cells are
 * numbered), one header line per column key. Each cell is coloured by its mean final
 * validation loss on a ramp from the lowest mean of the grid (cold) to the highest (warm),
 * red when any seed diverged, grey when nothing has run yet, and reads the mean where it
 * fits, "*" for the best cell of its column (nl_sweep_is_best) and "!" for a diverged seed.
 * Without colour the text carries it all (density characters for cells too narrow). A last
 * line gives the scale and the marks. */
#ifndef UI_SWEEPGRID_H
#define UI_SWEEPGRID_H

#include "engine/sweep.h"
#include "grid.h"

/* The loss ramp stops short of the red end, which is kept for divergence. */
#define SWEEPGRID_LEVELS 13

typedef struct sweepgrid_spec {
    const nl_sweep_def *def;
    const nl_sweep_cell_stats *stats; /* [nl_sweep_cells(def)] */
    int sel;                          /* the selected row, -1 = none */
    ui_glyphs glyphs;
    int mono;
} sweepgrid_spec;

/* Where the cells landed, for tests and for callers. */
typedef struct sweepgrid_layout {
    int x0, y0; /* the top-left cell (first shown row, column 0) */
    int cw;     /* cells per grid column, the gap included */
    int first;  /* the first grid row shown */
    int shown;  /* grid rows shown */
    int cols_shown;
} sweepgrid_layout;

int sweepgrid_rows(const nl_sweep_def *d); /* values of the first key (1 with no keys) */
int sweepgrid_cols(const nl_sweep_def *d); /* cells / rows */
/* The lines the whole grid takes: header lines, rows, the scale line. */
int sweepgrid_height(const nl_sweep_def *d);
/* The ramp level [0, SWEEPGRID_LEVELS) of a mean loss m between the grid's lo and hi. */
int sweepgrid_level(double m, double lo, double hi);
/* The value of column axis a (1..n_axes-1) in grid column col. */
const char *sweepgrid_col_value(const nl_sweep_def *d, int col, int a);

void sweepgrid_draw(ui_grid *g, ui_rect r, const sweepgrid_spec *s, sweepgrid_layout *out);

#endif
