/* The lab: the setup screen and the dashboard over an in-process session, which is the
 * loop's run source (ui/loop.h). Starting from the setup screen adds the runs to the session
 * and shows the dashboard; stopping them (quit, back to setup, restart) winds the session
 * down on a helper thread, so the screen keeps drawing "Please wait" meanwhile. */
#ifndef UI_LAB_H
#define UI_LAB_H

#include <pthread.h>
#include <stdatomic.h>

#include "dashscreen.h"
#include "engine/session.h"
#include "loop.h"
#include "overlay.h"
#include "setup.h"

/* The setup form as a screen: setup_key and setup_draw (ui/setup.h), its help, and a start
 * handed to the lab. */
typedef struct setup_screen {
    ui_screen base;
    struct lab *lab;
    setup_state *st;
    char seen[1024]; /* the form's message last logged */
    ui_help help;
} setup_screen;

typedef struct lab {
    ui_source src; /* the session's runs */
    ui_loop *loop;
    const char *out_dir; /* runs go to OUT/lab-YYYYmmdd-HHMMSS/RUN; NULL = "runs" */
    nl_session *sess;
    nl_config *run_cfg; /* (NL_MAX_RACE) the configs of the current runs, for a restart */
    ui_run runs[NL_MAX_RACE];
    int pause_starts; /* a lesson's race starts paused at step 0 */
    setup_screen setup;
    dash_screen dash;
    ui_busy busy;
    /* the session winding down on a helper thread (stop + final checkpoints + join) */
    pthread_t op_thread;
    int op_busy, op_next;
    atomic_int op_done;
} lab;

/* A lab on cfg over loop l, opening on the setup screen. Returns 0, or -1 when out of
 * memory. */
int lab_init(lab *b, ui_loop *l, const nl_config *cfg, const char *preset, const char *presets_dir,
             const char *out_dir);
void lab_free(lab *b);
/* `normlab lesson NAME`: cfg's race created and paused at step 0, the lesson pane shown. */
void lab_start_lesson(lab *b, const nl_config *cfg);

#endif
