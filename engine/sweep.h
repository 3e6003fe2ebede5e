/* Sweeps: the cross product of varied config keys x seeds, the files of a sweep directory,
 * and the summary table. app/sweep.c runs a sweep; `normlab watch SWEEP_DIR` reads one back
 * with nl_sweep_def_load, nl_sweep_csv_read and nl_sweep_summarise.
 *
 * A sweep directory DIR holds
 *   DIR/sweep.yaml   the definition: preset (informative), seeds, vary: {key: [values]}
 *   DIR/base.yaml    the resolved base config (preset, --set, --steps), loadable as a preset
 *   DIR/sweep.csv    one row per finished run, appended (and fsync'ed) as each run finishes
 *   DIR/RUN/         each run's own run directory (config.yaml, metrics.csv, events.log, ...),
 *                    RUN = nl_sweep_run_name(cell, seed), e.g. "post_layers12_warmup0-s1"
 *
 * sweep.csv columns: one per varied key (named by the key, in --vary order), then
 *   seed,train_loss,val_loss,best_loss,diverged,diverged_step,steps,tok_s,run_dir
 * seed is the seed index s (the run's train.seed is the base's train.seed + s); train_loss is
 * the last step's loss, best_loss the lowest finite step loss, val_loss the validation loss
 * after the last step (empty for a diverged run), diverged is yes|no, diverged_step the step
 * at which it was detected (empty when not), steps the steps trained, tok_s tokens/s over the
 * whole run, run_dir relative to DIR.
 *
 * Cells are numbered 0..cells-1 in mixed radix over the axes, the first axis slowest. The
 * runs of a sweep are ordered seed-major: run i is cell i % cells with seed i / cells, so
 * every cell gets its first seed before any cell gets its second. */
#ifndef NL_SWEEP_H
#define NL_SWEEP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "driver.h"
#include "error.h"

#define NL_SWEEP_MAX_AXES 8
#define NL_SWEEP_MAX_VALUES 32
#define NL_SWEEP_MAX_VALUE_LEN 128
#define NL_SWEEP_MAX_RUNS 4096
#define NL_SWEEP_MAX_SEEDS 100

typedef struct nl_sweep_axis {
    char key[64];
    /* short name for cell names and table headings: the key's last component, or the whole
     * key when two axes share that component */
    char label[64];
    bool bare; /* an enum key: cell names show the value alone ("post", not "placementpost") */
    int n;
    char values[NL_SWEEP_MAX_VALUES][NL_SWEEP_MAX_VALUE_LEN];
} nl_sweep_axis;

typedef struct nl_sweep_def {
    char preset[512]; /* as given on the command line; informative only */
    int seeds;
    int n_axes;
    nl_sweep_axis axes[NL_SWEEP_MAX_AXES];
} nl_sweep_def;

/* An empty definition: no axes, one seed. */
void nl_sweep_def_init(nl_sweep_def *d);

/* Add an axis from "KEY=V1,V2,...". Each value is checked against the key alone (combinations
 * are checked by nl_sweep_run_config). Errors name the key or value at fault. */
int nl_sweep_add_axis(nl_sweep_def *d, const char *spec, nl_error *err);

int nl_sweep_cells(const nl_sweep_def *d); /* product of the axis sizes (1 with no axes) */
int nl_sweep_runs(const nl_sweep_def *d);  /* cells x seeds */

/* Cell <-> per-axis value indices (idx has n_axes entries). */
void nl_sweep_cell_index(const nl_sweep_def *d, int cell, int *idx);
int nl_sweep_cell_of(const nl_sweep_def *d, const int *idx);

/* "pre_layers6_warmup0" (a directory-safe name), and the run's "pre_layers6_warmup0-s2".
 * With no axes the cell is named "base". */
void nl_sweep_cell_name(const nl_sweep_def *d, int cell, char *buf, int len);
void nl_sweep_run_name(const nl_sweep_def *d, int cell, int seed, char *buf, int len);

/* The config of (cell, seed): base with the cell's values set, train.seed = base's + seed,
 * name = the run name; validated. Errors start with the run name. */
int nl_sweep_run_config(const nl_sweep_def *d, const nl_config *base, int cell, int seed,
                        nl_config *out, nl_error *err);

/* sweep.yaml: written text (malloc'ed, caller frees) and loading it back. */
char *nl_sweep_def_yaml(const nl_sweep_def *d);
int nl_sweep_def_load(const char *path, nl_sweep_def *d, nl_error *err);
/* Same seeds and the same axes (keys and values, in order)? When not, why (may be NULL)
 * receives e.g. "vary model.layers: 2,6 there, 2,6,12 now". */
bool nl_sweep_def_same(const nl_sweep_def *there, const nl_sweep_def *now, char *why, int len);

/* One finished run: a row of sweep.csv. */
typedef struct nl_sweep_result {
    int cell, seed;
    float train_loss, val_loss, best_loss; /* NAN when unknown */
    bool diverged;
    int64_t diverged_step; /* 0 when not diverged */
    int64_t steps;
    float tok_s;
    char run_dir[256]; /* relative to the sweep directory */
} nl_sweep_result;

/* The one encoding of a result: its sweep.csv row, ending in '\n' (malloc'ed, caller frees;
 * NULL when out of memory), and such a row parsed back (the newline optional; errors name
 * `where`). A sweep's child process reports its result to the parent as this row. */
char *nl_sweep_result_line(const nl_sweep_def *d, const nl_sweep_result *r);
int nl_sweep_result_parse(const nl_sweep_def *d, const char *line, const char *where,
                          nl_sweep_result *r, nl_error *err);

/* Append one row to sweep.csv at path (the header first when the file is new or empty; a
 * torn last line from a crash is cut off first), then fflush and fsync. */
int nl_sweep_csv_append(const char *path, const nl_sweep_def *d, const nl_sweep_result *r,
                        nl_error *err);
/* Read sweep.csv: *rows (malloc'ed, caller frees) gets one entry per line, in file order;
 * a missing file is 0 rows. The header must name d's keys; values must be d's values.
 * A last line without its newline (a write cut short) is ignored. */
int nl_sweep_csv_read(const char *path, const nl_sweep_def *d, nl_sweep_result **rows, int *n,
                      nl_error *err);

/* A sweep directory in one call: DIR/sweep.yaml into d, DIR/sweep.csv into *rows (caller
 * frees; 0 rows before the first run finishes). For `normlab watch SWEEP_DIR`, which can call
 * it again to pick up rows as runs finish; a directory without sweep.yaml is an NL_ERR_IO. */
int nl_sweep_load_dir(const char *dir, nl_sweep_def *d, nl_sweep_result **rows, int *n,
                      nl_error *err);

/* ---- the sweep directory (sweep_dir.c) ---- */

/* Create DIR with sweep.yaml and base.yaml, or check that DIR holds this same sweep (same
 * axes and seeds, same base config); a non-empty DIR without sweep.yaml is refused. */
int nl_sweep_dir_prepare(const char *dir, const nl_sweep_def *d, const nl_config *base,
                         nl_error *err);
/* done[run] (nl_sweep_runs entries): whether DIR/sweep.csv has a row for the run. */
int nl_sweep_dir_done(const char *dir, const nl_sweep_def *d, bool *done, nl_error *err);

/* ---- runs trained elsewhere (sweep_collect.c) ---- */

/* Where a run of a sweep stands, as nl_sweep_collect finds it. */
typedef enum nl_sweep_run_status {
    NL_SWEEP_RUN_IN_CSV,    /* sweep.csv already had its row */
    NL_SWEEP_RUN_COLLECTED, /* finished (or diverged) in DIR/RUN; its row appended now */
    NL_SWEEP_RUN_MISSING,   /* not started: DIR/RUN has no events.log */
    NL_SWEEP_RUN_STARTED,   /* started, not finished: running, or killed without a word */
    NL_SWEEP_RUN_STOPPED,   /* stopped (interrupted) */
    NL_SWEEP_RUN_FAILED     /* failed; DIR/RUN/events.log says why */
} nl_sweep_run_status;

/* Add to DIR/sweep.csv every run that finished or diverged in its run directory (trained by
 * `normlab train` of DIR/RUN/config.yaml into DIR/RUN, e.g. as a Slurm array task) and has no
 * row yet: events.log's last lifecycle event says whether it finished, metrics.csv's last row
 * gives the losses, steps and tok/s, and the validation loss is the last row's or, when the
 * run did not evaluate at its last step, its final checkpoint's (evaluated as the local sweep
 * does, nothing written). status[run] (nl_sweep_runs entries) receives where each run
 * stands. Holds a lock on DIR/collect.lock meanwhile, so collectors never add a row twice.
 * Returns 0 when status is filled; a run that finished but whose files cannot be read is
 * marked FAILED, counted in *unreadable, and the first one's error left in err (the others
 * are still collected). Nonzero when the directory itself fails (the lock, sweep.csv). */
int nl_sweep_collect(const char *dir, const nl_sweep_def *d, nl_sweep_run_status *status,
                     int *unreadable, nl_error *err);

typedef struct nl_sweep_train_opts {
    int threads;                       /* train.threads of the run */
    const volatile sig_atomic_t *stop; /* nonzero: stop before the next step */
    /* after every step (nl_driver_run's hook; driver.h) */
    void (*progress)(void *ctx, const nl_driver *d, nl_run_state st);
    void *ctx;
} nl_sweep_train_opts;

/* Train run `index` (seed-major: cell index % cells, seed index / cells) of the sweep in DIR
 * into DIR/RUN, from the start (the checkpoints of an earlier, interrupted attempt removed),
 * through the run driver. Returns 0 with *out filled when the run finished or diverged; with
 * *stopped set when *stop ended it early (events.log says it starts over next time); else an
 * NL_ERR_* code with err naming the run. DIR/base.yaml must still be base's. */
int nl_sweep_train_run(const nl_sweep_def *d, const nl_config *base, const char *dir, int index,
                       const nl_sweep_train_opts *o, nl_sweep_result *out, bool *stopped,
                       nl_error *err);

/* Per cell, over its rows (the last row of each (cell, seed) counts): runs, how many diverged,
 * and the mean and sample sd (n-1; 0 for one run) of val_loss over the runs that did not
 * diverge. mean is NAN when no run of the cell finished without diverging. */
typedef struct nl_sweep_cell_stats {
    int runs, ok, diverged;
    double mean, sd;
} nl_sweep_cell_stats;
void nl_sweep_summarise(const nl_sweep_def *d, const nl_sweep_result *rows, int n,
                        nl_sweep_cell_stats *stats /* [cells] */);

/* Is cell the best of its table column: the fewest diverged seeds (as a fraction of its
 * runs), then the lowest mean? A column is the cells that share every axis value but the
 * first's. False for a cell with no finite mean. */
bool nl_sweep_is_best(const nl_sweep_def *d, const nl_sweep_cell_stats *stats, int cell);

/* The summary table as text (malloc'ed, caller frees): rows = the first axis's values,
 * columns = the second's, one block per combination of the remaining axes. A cell reads
 * "2.871±0.012", with " (1 div)" when seeds diverged, "[2/3]" when seeds are missing, "*"
 * when nl_sweep_is_best; "-" stands for the mean when every run diverged and "not run" when
 * the cell has no rows. utf8 false writes "+-" for "±". */
char *nl_sweep_table(const nl_sweep_def *d, const nl_sweep_cell_stats *stats, bool utf8);

#endif
