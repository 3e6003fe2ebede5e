/* Internal to `normlab sweep` (sweep.c: options, the child; sweep_parent.c: the parent;
 * sweep_slurm.c: --slurm and --collect). */
#ifndef NL_APP_SWEEP_INTERNAL_H
#define NL_APP_SWEEP_INTERNAL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../engine/backend.h"
#include "../engine/clock.h"
#include "../engine/driver.h"
#include "../engine/run.h"
#include "../engine/sweep.h"
#include "commands.h"

typedef struct sweep_opts {
    const char *preset, *out;
    const char **sets;
    int n_sets;
    long seeds, jobs, steps, max_runs, child;
    int at_once, threads; /* runs trained at once (jobs, at most one per core), threads each */
    bool help, slurm;
    const char *sbatch_args; /* --sbatch-args: more options for sbatch, split as a shell does */
    const char *collect;     /* --collect DIR */
} sweep_opts;

/* sweep.c: the signal that stops the sweep (0: none), and its handler */
extern volatile sig_atomic_t nl_cmd_sweep_stop;
void nl_cmd_sweep_on_signal(int sig);

/* sweep_parent.c: schedules the runs as children, shows progress, prints the table */
int nl_cmd_sweep_run_parent(int argc, char **argv, const sweep_opts *o, const nl_sweep_def *d,
                            const nl_config *base, const char *dir);

/* Check that every run's config is valid; weight (NULL or nl_sweep_runs entries) receives
 * each run's steps x (layers + 1), for the ETA. Prints and returns 2 on error. */
int nl_cmd_sweep_check_runs(const nl_sweep_def *d, const nl_config *base, double *weight);
/* Print DIR/sweep.csv's summary table on stdout (nothing when it has no rows). Returns 0, or 1
 * after printing the error. */
int nl_cmd_sweep_print_table(const nl_sweep_def *d, const char *dir);

/* sweep_slurm.c: --slurm writes a job array script for the runs not finished and submits it */
int nl_cmd_sweep_slurm(const sweep_opts *o, const nl_sweep_def *d, const nl_config *base,
                       const char *dir);
/* sweep_slurm.c: --collect DIR adds the runs finished in their run directories to sweep.csv,
 * says where the others stand, and prints the table */
int nl_cmd_sweep_collect(const char *dir);

#endif
