#include "watch.h"

#include <string.h>

static void watch_poll(ui_source *src, ui_loop *l)
{
    watch_source *w = (watch_source *)src;
    for (int i = 0; i < w->src.nruns; i++) {
        /* the first poll also logs what the files said before the loop ran (a run that had
         * diverged or failed already), so the message pane has it */
        if (tail_poll(&w->tails[i], &w->runs[i]) || !w->logged) {
            ui_loop_stale(l);
            ui_source_event(l, &w->runs[i], &w->runs[i].st);
        }
    }
    w->logged = 1;
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
