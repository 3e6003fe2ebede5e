/* The UI's main loop, shared by the lab and `normlab watch`: waits in get_wch with a
 * timeout, takes in new metrics (from the session or the files), and redraws at most ten
 * times a second and only when something changed. The UI thread never steps a model: it
 * reads snapshots (nl_session_status, nl_metrics_pop) and sends nl_session_command. */
#ifndef UI_APP_H
#define UI_APP_H

#include "engine/config.h"
#include "term.h"

typedef struct ui_lab_opts {
    ui_term_opts term;
    const char *preset;      /* the preset's path, NULL = the embedded default */
    const char *presets_dir; /* shipped presets, for loading by name */
    const char *out_dir;     /* where runs go: OUT/lab-YYYYmmdd-HHMMSS/RUN; NULL = "runs" */
    int lesson_start;        /* start cfg's runs at once, paused at step 0, lesson pane shown */
} ui_lab_opts;

/* `normlab watch` follows up to this many run directories (a lab race has at most
 * NL_MAX_RACE runs). */
#define UI_MAX_RUNS 64

/* The lab on cfg (setup screen first). Returns the exit code. */
int ui_lab_main(const nl_config *cfg, const ui_lab_opts *o);
/* The dashboard over run directories; note (may be NULL) is shown in the top bar at start.
 * Returns the exit code. */
int ui_watch_main(char **dirs, int n, const ui_term_opts *t, const char *note);
/* The grid of the sweep in dir (it holds sweep.yaml) over the curves of a selected row.
 * Returns the exit code (2 when dir is not a readable sweep). */
int ui_sweep_main(const char *dir, const ui_term_opts *t);

#endif
