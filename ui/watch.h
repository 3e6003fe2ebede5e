/* `normlab watch RUN_DIR...`: run directories followed on disk (ui/tail.h) as the loop's run
 * source (ui/loop.h), shown by the dashboard. The runs belong to another program: the source
 * has no live commands, and quitting only stops watching. */
#ifndef UI_WATCH_H
#define UI_WATCH_H

#include "loop.h"
#include "tail.h"

typedef struct watch_source {
    ui_source src;
    ui_run runs[UI_MAX_RUNS];
    run_tail tails[UI_MAX_RUNS];
    int logged; /* the runs' latest messages went to the message log (the first poll) */
} watch_source;

/* Opens dirs[0..n) (n <= UI_MAX_RUNS) and reads what they hold. Returns 0, or -1 with msg
 * set (a directory that cannot be read). */
int watch_source_open(watch_source *w, char **dirs, int n, char *msg, int msglen);
void watch_source_close(watch_source *w);

#endif
