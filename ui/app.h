/* The terminal UI's three configurations of the main loop (ui/loop.h), which app/ calls:
 * the lab (setup screen and dashboard over an in-process session), `normlab watch` (the
 * dashboard over run directories on disk) and a sweep's grid (a sweep directory). Each
 * returns a ui_result; app/ prints its message and picks the exit code. */
#ifndef UI_APP_H
#define UI_APP_H

#include "engine/config.h"
#include "loop.h"
#include "term.h"

typedef struct ui_lab_opts {
    ui_term_opts term;
    const char *preset;      /* the preset's path, NULL = the embedded default */
    const char *presets_dir; /* shipped presets, for loading by name */
    const char *out_dir;     /* where runs go: OUT/lab-YYYYmmdd-HHMMSS/RUN; NULL = "runs" */
    int lesson_start;        /* start cfg's runs at once, paused at step 0, lesson pane shown */
} ui_lab_opts;

/* The lab on cfg (setup screen first). */
ui_result ui_lab_main(const nl_config *cfg, const ui_lab_opts *o);
/* The dashboard over run directories (at most UI_MAX_RUNS); note (may be NULL) is shown in
 * the top bar at start. */
ui_result ui_watch_main(char **dirs, int n, const ui_term_opts *t, const char *note);
/* The grid of the sweep in dir (it holds sweep.yaml) over the curves of a selected row;
 * UI_BAD_INPUT when dir is not a readable sweep. */
ui_result ui_sweep_main(const char *dir, const ui_term_opts *t);

#endif
