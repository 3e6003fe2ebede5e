/* `normlab report`: one self-contained HTML page comparing runs: the loss curves with the
 * validation points, the per-layer gradient-norm heatmaps, the residual-stream RMS per
 * layer, what differs between the runs' configs, and for a sweep its table. Inline SVG and
 * CSS only: no script, no font or image fetched, so it opens offline, prints, and pastes
 * into notes. What could not be read (a missing file, a run without metrics yet, a run
 * still going, an unreadable line) is said in the page's notes, and on the notes stream.
 * The file is written to a temporary name next to it and renamed into place. */
#ifndef UI_REPORT_H
#define UI_REPORT_H

#include <stdio.h>

#include "engine/error.h"

#define REPORT_MAX_RUNS 64 /* runs in one report; more are named in the notes and left out */

typedef struct report_opts {
    const char *title; /* NULL: made from what is compared */
    FILE *notes;       /* each note is printed here as "normlab report: ..."; NULL: quiet */
} report_opts;

/* The report of the run directories dirs[0..n) (each holds config.yaml, metrics.csv,
 * events.log) written to out. *n_notes (may be NULL) gets the number of notes. Returns 0,
 * or NL_ERR_USAGE (no directory given) / NL_ERR_IO (out could not be written) with err set. */
int report_write_runs(const char *const *dirs, int n, const char *out, const report_opts *o,
                      int *n_notes, nl_error *err);

/* The same for a sweep directory (sweep.yaml, sweep.csv, one directory per run): the
 * sweep's table, and every run's curves in its cell's style. */
int report_write_sweep(const char *dir, const char *out, const report_opts *o, int *n_notes,
                       nl_error *err);

/* The lab's key: the report of the race whose run directories are dirs, written as
 * report.html in the directory that holds them (./report.html when they do not share one).
 * path gets the file written. Returns 0 or an error as above. */
int report_save_race(const char *const *dirs, int n, char *path, int pathlen, int *n_notes,
                     nl_error *err);

#endif
