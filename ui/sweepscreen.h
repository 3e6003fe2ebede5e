/* `normlab watch SWEEP_DIR`: the sweep directory as the loop's run source (sweep.yaml and
 * sweep.csv read again every second, the selected row's runs at the refresh period) and the
 * sweep grid over the selected row's curves (ui/sweepview.h) as its screen, or (o) the
 * overlay of every row's runs, which takes the dashboard's plot keys (ui/dashkeys.h). */
#ifndef UI_SWEEPSCREEN_H
#define UI_SWEEPSCREEN_H

#include "loop.h"
#include "overlay.h"
#include "sweepview.h"

typedef struct sweep_screen {
    ui_screen base;
    ui_source src; /* the sweep directory */
    sweep_view sv;
    dash_view dv;       /* smoothing, log y, x axis of the curves; the overlay's view */
    plot_layout layout; /* where the overlay's plot was drawn (the cursor moves a column) */
    double reload_at, poll_at;
    ui_help help;
} sweep_screen;

/* Reads dir (it holds sweep.yaml); loop l gets the source and the screen. Returns 0, or -1
 * with msg set. */
int sweep_screen_open(sweep_screen *s, ui_loop *l, const char *dir, char *msg, int msglen);
void sweep_screen_close(sweep_screen *s);

#endif
