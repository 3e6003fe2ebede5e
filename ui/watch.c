#include "watch.h"

#include <stdio.h>
#include <string.h>

/* The runs' latest messages, from the files read before the loop ran (a run that had
 * diverged or failed already), into the message log once, leaving the top bar as it was
 * (its standing alert, or the note it was opened with). */
static void log_first(watch_source *w, ui_loop *l)
{
    char msg[sizeof l->msg];
    snprintf(msg, sizeof msg, "%s", l->msg);
    int role = l->msg_role;
    double until = l->msg_until;
    for (int i = 0; i < w->src.nruns; i++)
        ui_source_event(l, &w->runs[i], &w->runs[i].st);
    snprintf(l->msg, sizeof l->msg, "%s", msg);
    l->msg_role = role;
    l->msg_until = until;
    w->logged = 1;
}

static void watch_poll(ui_source *src, ui_loop *l)
{
    watch_source *w = (watch_source *)src;
    if (!w->logged)
        log_first(w, l);
    for (int i = 0; i < w->src.nruns; i++) {
        if (tail_poll(&w->tails[i], &w->runs[i])) {
            ui_loop_stale(l);
            ui_source_event(l, &w->runs[i], &w->runs[i].st);
        }
    }
}

static const ui_source_ops watch_ops = {watch_poll, NULL, NULL, NULL, NULL};

int watch_source_open(watch_source *w, char **dirs, int n, char *msg, int msglen)
{
    memset(w, 0, sizeof *w);
    w->src.ops = &watch_ops;
    w->src.runs = w->runs;
    for (int i = 0; i < n; i++) {
        if (tail_open(&w->tails[i], dirs[i], &w->runs[i], msg, msglen)) {
            watch_source_close(w);
            return -1;
        }
        w->runs[i].colour = i;
        w->src.nruns = i + 1;
    }
    for (int i = 0; i < n; i++)
        tail_poll(&w->tails[i], &w->runs[i]);
    return 0;
}

void watch_source_close(watch_source *w)
{
    for (int i = 0; i < w->src.nruns; i++) {
        runview_free(&w->runs[i]);
        tail_close(&w->tails[i]);
    }
    w->src.nruns = 0;
}
