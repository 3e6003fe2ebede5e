/* The message log: every status message, run event (checkpoint, divergence, failure,
 * warning) and refusal the dashboard and the setup screen show, kept in order with the time
 * it came, so nothing that flashed by in the top bar is lost (`m` shows them). A fixed ring:
 * the oldest entries go first. */
#ifndef UI_MSGLOG_H
#define UI_MSGLOG_H

#include <time.h>

#include "grid.h"

#define MSGLOG_CAP 256
#define MSGLOG_TEXT 240

typedef struct ui_msg {
    time_t when;
    int role; /* ROLE_OK, ROLE_ERROR, ROLE_DIVERGED, ... */
    char text[MSGLOG_TEXT];
} ui_msg;

typedef struct ui_msglog {
    ui_msg m[MSGLOG_CAP];
    int head;   /* where the next message goes */
    int count;  /* messages held (<= MSGLOG_CAP) */
    long total; /* messages ever added */
} ui_msglog;

void msglog_add(ui_msglog *l, int role, const char *text);
/* Message i, 0 = the oldest held; NULL when out of range. */
const ui_msg *msglog_at(const ui_msglog *l, int i);

/* The log in a box over r: the newest messages at the bottom, `scroll` rows back from the
 * newest (clamped). A message wraps onto the rows it needs. */
void msglog_draw(ui_grid *g, ui_rect r, const ui_msglog *l, int *scroll, ui_glyphs glyphs);

#endif
