/* The one main loop of the terminal UI, and the two small interfaces it drives.
 *
 * A screen (ui_screen) is anything that draws and takes keys: the setup form, the dashboard,
 * the sweep grid, and the overlays over them (help, a question, the config diff, the
 * teaching panel). The loop holds a stack of them: the base screen at the bottom, overlays
 * above. A key goes to the top screen first, and down the stack while a screen passes it on;
 * a frame draws the stack from the lowest opaque screen up.
 *
 * A run source (ui_source) is where the runs come from: the lab's in-process session
 * (ui/labrun.c), run directories followed on disk, or a sweep directory (ui/watchsrc.c). The
 * loop polls it every pass; the dashboard reads its runs and sends the live commands to it.
 *
 * The loop waits in get_wch with a timeout, takes in new metrics, and redraws at most ten
 * times a second and only when something changed. It never steps a model. The lab, `normlab
 * watch` and a sweep's grid are configurations of it (ui/app.c): a source and a base screen. */
#ifndef UI_LOOP_H
#define UI_LOOP_H

#include <stdio.h>

#include "engine/session.h"
#include "msglog.h"
#include "runview.h"
#include "term.h"

typedef struct ui_loop ui_loop;
typedef struct ui_screen ui_screen;
typedef struct ui_source ui_source;

typedef struct ui_screen_ops {
    const char *name;
    /* A key: 1 when the screen took it, 0 to pass it to the screen under it. */
    int (*key)(ui_screen *s, ui_loop *l, int key);
    /* Draw into g, over what the screens under it drew. */
    void (*draw)(ui_screen *s, ui_loop *l, ui_grid *g);
    /* Every pass of the loop (about every 100 ms); NULL when there is nothing to do. */
    void (*tick)(ui_screen *s, ui_loop *l);
} ui_screen_ops;

/* Each kind of screen embeds this first. */
struct ui_screen {
    const ui_screen_ops *ops;
    int opaque; /* draws every cell: the screens under it are not drawn */
    int pinned; /* stays on top: screens pushed later go under it ("Please wait") */
};

/* What follows stopping the runs (ui_source_ops.finish). */
enum { UI_NEXT_QUIT = 1, UI_NEXT_SETUP, UI_NEXT_RESTART };

typedef struct ui_source_ops {
    /* Take in what is new (ui_loop_changed, ui_loop_stale, ui_loop_msg). */
    void (*poll)(ui_source *s, ui_loop *l);
    /* Stop the runs (final checkpoints), then do next (UI_NEXT_*). NULL: nothing runs here,
     * so quitting quits at once and the rest are refused before they get here. */
    void (*finish)(ui_source *s, ui_loop *l, int next);
    /* Runs are going (a quit asks first). NULL: never. */
    int (*active)(ui_source *s);
    /* The source is busy stopping its runs: keys wait. NULL: never. */
    int (*busy)(ui_source *s);
    /* A command to run i (-1: every run). NULL on a source without live runs. */
    void (*command)(ui_source *s, int run, nl_cmd cmd);
} ui_source_ops;

struct ui_source {
    const ui_source_ops *ops;
    ui_run *runs; /* the runs shown (NULL for a sweep: its screen reads its own) */
    int nruns;
    int live; /* the runs are this process's: the live keys work */
};

int ui_source_active(ui_source *s);
int ui_source_busy(ui_source *s);
/* A run's new event (checkpoint written, checkpoint failed, ...) to the top bar, once. */
void ui_source_event(ui_loop *l, ui_run *r, const nl_run_status *st);

/* `normlab watch` follows up to this many run directories (a lab race has at most
 * NL_MAX_RACE runs). */
#define UI_MAX_RUNS 64

#define UI_MAX_LAYERS 8

struct ui_loop {
    ui_term term;
    ui_source *src;
    ui_screen *layers[UI_MAX_LAYERS]; /* [0] the base screen, then overlays, the top last */
    int nlayers;
    /* the top bar's message, and every message for the message pane */
    char msg[256];
    int msg_role;
    double msg_until;
    ui_msglog log;
    int dirty;         /* something to draw within a frame (a key, a state change) */
    int stale;         /* new metrics to draw within refresh_ms */
    double refresh_ms; /* new metrics are drawn at most this often */
    double last_draw;
    int quit;
    /* stats: NORMLAB_UI_STATS=FILE gets a line every 5 s */
    FILE *stats;
    double stats_t0, stats_cpu0;
    int stats_frames;
};

/* How a screen configuration ended, for app/ to report: ui/ prints nothing and picks no
 * exit code. */
typedef enum {
    UI_OK = 0,    /* the user quit */
    UI_BAD_INPUT, /* not a terminal, a directory that cannot be shown, ... (msg says) */
    UI_FAILED     /* out of memory */
} ui_status;

typedef struct ui_result {
    ui_status status;
    int signal; /* a signal (SIGINT, SIGTERM, SIGHUP) asked to quit: end by it */
    char msg[768];
} ui_result;

void ui_result_set(ui_result *r, ui_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Zeroes l and sets the refresh period (t->refresh_ms, else the default). */
void ui_loop_init(ui_loop *l, const ui_term_opts *t);
/* The terminal. Returns 0, or -1 with msg set. */
int ui_loop_open(ui_loop *l, const ui_term_opts *t, char *msg, int msglen);
/* The terminal restored; the screens and the source are their owners' to free. */
void ui_loop_close(ui_loop *l);
/* Until a screen or the source quits; returns the signal that asked to quit, or 0. */
int ui_loop_run(ui_loop *l);

/* The base screen (closing the overlays). */
void ui_loop_set_base(ui_loop *l, ui_screen *s);
ui_screen *ui_loop_base(const ui_loop *l);
/* An overlay on top (under a pinned one); pop takes s off wherever it is. */
void ui_loop_push(ui_loop *l, ui_screen *s);
void ui_loop_pop(ui_loop *l, ui_screen *s);

/* A message in the top bar for a few seconds, and in the message log. */
void ui_loop_msg(ui_loop *l, int role, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Draw within a frame (a state changed) / within the refresh period (new metrics). */
void ui_loop_changed(ui_loop *l);
void ui_loop_stale(ui_loop *l);
void ui_loop_quit(ui_loop *l);
/* The top bar's message while it shows, else NULL. */
const char *ui_loop_message(const ui_loop *l);

#endif
