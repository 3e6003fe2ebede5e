/* A session: one worker thread that owns every run of the lab and steps them in turn. A race
 * steps its runs in lockstep (step s of every run before step s+1 of any), on identical
 * batches (same data config and seed). The UI thread talks to it only through this API:
 * commands go in through a mutex-protected queue, run metrics come out through each run's
 * metrics store (single producer: the worker; single consumer: the UI), and a small status
 * snapshot per run is copied under the mutex. */
#ifndef NL_SESSION_H
#define NL_SESSION_H

#include "config.h"
#include "error.h"
#include "metrics.h"
#include "run.h"

typedef struct nl_session nl_session;

typedef enum {
    NL_CMD_PAUSE = 0,
    NL_CMD_RESUME,
    NL_CMD_TOGGLE_PAUSE,
    NL_CMD_STEP,     /* one step of a paused run */
    NL_CMD_STOP,     /* stop with a final checkpoint */
    NL_CMD_SAVE,     /* checkpoint now */
    NL_CMD_SET_LR_SCALE
} nl_cmd;

typedef struct nl_run_status {
    char name[64];
    nl_run_state state;
    int64_t step, total;
    float loss, lr, grad_norm, tok_s; /* latest */
    double eta_s;                     /* NAN when unknown */
    double entropy_floor;             /* NAN when unknown */
    double unigram_level;             /* text, prose: loss at byte frequencies; else NAN */
    int layers, moe_layers, experts;
    char message[256];                /* last event or error */
    char dir[512];                    /* run directory, "" when none */
    int64_t diverged_step;            /* 0 unless diverged */
} nl_run_status;

/* device/threads: the backend for every run of the session. */
nl_session *nl_session_create(const char *device, int threads, nl_error *err);
/* Stops the worker (every running run is stopped with a final checkpoint) and frees all. */
void nl_session_free(nl_session *s);

/* Add a run (created on the worker thread when the session is started, or now when it is
 * already running). out_dir may be NULL. Returns the run index or -1 with err set.
 * Up to NL_MAX_RACE runs. */
int nl_session_add(nl_session *s, const nl_config *c, const char *out_dir, nl_error *err);
int nl_session_count(nl_session *s);
/* Start (or restart after nl_session_clear) the worker; runs begin RUNNING. */
int nl_session_start(nl_session *s, nl_error *err);
/* Stop every run (final checkpoint), join the worker, and remove all runs. */
void nl_session_clear(nl_session *s);

/* Send a command to run i (-1 = every run). Acted on before the worker's next step. */
void nl_session_command(nl_session *s, int i, nl_cmd cmd, double arg);
/* Copy run i's status. Returns 0, or -1 when i is out of range. */
int nl_session_status(nl_session *s, int i, nl_run_status *out);
/* Run i's metrics store (consumer side; owned by the session). NULL until created. */
nl_metrics_store *nl_session_metrics(nl_session *s, int i);
/* True while any run is RUNNING or PAUSED. */
int nl_session_active(nl_session *s);

#endif
