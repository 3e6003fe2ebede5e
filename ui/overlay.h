/* The overlays of the main loop (ui/loop.h), each a screen pushed over another and popped
 * when done: the help (every binding of a context, scrolling), the teaching panel, the
 * config diff, a yes/no question before stopping runs, and "Please wait" while they stop.
 * The owner embeds them and fills in their fields before pushing. */
#ifndef UI_OVERLAY_H
#define UI_OVERLAY_H

#include "dash.h"
#include "loop.h"

typedef struct ui_help {
    ui_screen base;
    unsigned ctx; /* CTX_SETUP, CTX_DASH, CTX_SWEEP, CTX_OVERLAY */
    int scroll;
} ui_help;

/* The teaching panel explains v's selected run of the loop's source; Up/Down still select. */
typedef struct ui_teach {
    ui_screen base;
    dash_view *v;
} ui_teach;

typedef struct ui_diff {
    ui_screen base;
    int scroll;
} ui_diff;

/* "Stop the runs?": y hands `next` (UI_NEXT_*) to the source's finish. */
typedef struct ui_confirm {
    ui_screen base;
    int next;
} ui_confirm;

/* "Please wait" while the source is busy; pinned on top, keys pass under it, and it pops
 * itself when the source is done. */
typedef struct ui_busy {
    ui_screen base;
} ui_busy;

void ui_help_init(ui_help *h, unsigned ctx);
void ui_teach_init(ui_teach *t, dash_view *v);
void ui_diff_init(ui_diff *d);
void ui_confirm_init(ui_confirm *c);
void ui_busy_init(ui_busy *b);

/* Push h from its top row. */
void ui_help_open(ui_help *h, ui_loop *l);
/* Ask before next: pushes c. */
void ui_confirm_ask(ui_confirm *c, ui_loop *l, int next);
/* Do next (UI_NEXT_*) now: through the source's finish, or quit where nothing runs. */
void ui_finish(ui_loop *l, int next);

/* The teaching panel of run r over g (r may be NULL). */
void ui_draw_teach(ui_grid *g, const dash_view *v, const ui_run *r);
/* What differs between the runs' configs: one line per key that differs, the value of each
 * run. Draws a box over g; returns the keys that differ (-1 when no run has a config). */
int ui_draw_config_diff(ui_grid *g, const ui_run *runs, int n, ui_glyphs glyphs, int *scroll);

#endif
