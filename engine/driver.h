/* The run driver: the one owner of a run's lifecycle outside nl_run_step itself. Every
 * caller that trains a run goes through it: `normlab train`, a sweep's child process,
 * `normlab bench`, and the lab's session worker (which drives several in lockstep, one
 * nl_driver_step at a time). It steps the run (checkpoint cadence, evaluation and divergence
 * stay in nl_run_step), keeps the latest metrics row and the best loss, times the steps for
 * the ETA (the one ETA of a run: nl_driver_eta), and stops a run on request with its final
 * checkpoint. Not thread-safe: one thread drives a run. */
#ifndef NL_DRIVER_H
#define NL_DRIVER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "metrics.h"
#include "run.h"

typedef struct nl_driver {
    nl_run *run;     /* not owned */
    float best_loss; /* lowest finite step loss seen while driving; NAN before */
    /* The ETA's clock: the time between consecutive steps, summed. The time before the first
     * step after the driver began or resumed is not counted (a resumed run starts late, a
     * first step carries one-time costs such as a GPU library's initialisation, a pause is
     * not step time). */
    double busy_s;     /* seconds of counted step intervals */
    int64_t busy_steps; /* steps those seconds bought */
    double mark;        /* monotonic seconds at the end of the previous step; 0 = none */
    /* train.threads 0 (auto) on the CPU: the threads follow the cores that other programs
     * leave free, looked at about once a second (nl_auto_threads); 0 = a fixed count. */
    int auto_cores;    /* the cores this process may use */
    int auto_threads;  /* the threads in use now */
    double auto_next;  /* monotonic seconds of the next look */
} nl_driver;

/* Threads for `cores` cores when `others` other programs are running: one per core they
 * leave free, at least one. */
int nl_auto_threads(int cores, int others);

/* threads 0 (auto) runs a step of fewer model FLOPs than this (GFLOP, forward and backward) on
 * one thread: each of a step's hundreds of parallel regions hands work to the waiting threads,
 * which so small a step does not earn back. Measured on 2 cores with the threads' short spin
 * (backend.c; `normlab bench --threads 1` against 2): a step of 0.05 GFLOP ran 24% faster on
 * one thread; steps of 0.36, 0.72 and 1.6 GFLOP ran 20%, 40% and 80% faster on two. (With
 * passive waiting the line lay near 3 GFLOP.) */
#define NL_AUTO_ONE_THREAD_GFLOP 0.15

/* Threads of other programs competing for the cores now: the fewest of a few looks at
 * /proc/stat's procs_running a millisecond apart, less the caller's thread, and where that
 * finds any, only those runnable at a nice value under ours + 10; -1 where /proc cannot be
 * read. */
int nl_others_running(void);

void nl_driver_init(nl_driver *d, nl_run *r);

/* One step (nl_run_step), then the bookkeeping above. Returns the run's state after it. */
nl_run_state nl_driver_step(nl_driver *d, nl_error *err);

/* The run is paused (or about to wait): the time until its next step is not step time. */
void nl_driver_pause(nl_driver *d);

/* Seconds until train.steps at the rate of the counted steps: 0 once finished, NAN while
 * unknown (kept through a pause). */
double nl_driver_eta(const nl_driver *d);

/* The latest step's metrics (nl_run_last_row); NULL before the first step. */
const nl_metrics_row *nl_driver_last(const nl_driver *d);

/* Is the run still to be stepped (ready, running or paused)? */
bool nl_run_state_active(nl_run_state st);

typedef struct nl_drive_opts {
    /* Checked before every step; nonzero stops the loop (a signal handler sets it). Under
     * mpirun (dist.h) the ranks agree: every rank stops at the step where any had it set. */
    const volatile sig_atomic_t *stop;
    int64_t max_steps; /* > 0: return after this many steps (bench's timed windows) */
    /* Called after every step (st: the state after it). */
    void (*progress)(void *ctx, const nl_driver *d, nl_run_state st);
    void *ctx;
} nl_drive_opts;

/* Step until the run finishes, diverges or fails, *stop is set, or max_steps are taken.
 * Returns the state the loop ended in: FINISHED, DIVERGED, FAILED (err set), or RUNNING when
 * stopped by the flag or max_steps (the caller decides: nl_driver_stop, or more steps). */
nl_run_state nl_driver_run(nl_driver *d, const nl_drive_opts *o, nl_error *err);

/* Stop the run: state STOPPED, then with checkpoint a final checkpoint (when the run has a
 * directory and has taken a step; its path into path_out, may be NULL), and `why` (e.g.
 * "stopped by signal 2 at step 40") in events.log. When the checkpoint fails the run is
 * FAILED, events.log (and nl_run_message) say "failed: WHY, but the checkpoint failed: ...",
 * err holds the checkpoint's error, and the call returns nonzero. */
int nl_driver_stop(nl_driver *d, bool checkpoint, const char *why, char *path_out, int path_len,
                   nl_error *err);

#endif
