/* The dashboard as a screen of the main loop (ui/loop.h): dash_draw over the runs of the
 * loop's run source, its keys (ui/keys.c, CTX_DASH), and what it opens: two panes drawn over
 * its lower panels that take the keys they need before the dashboard does (the message
 * pane, `m`; a lesson's pane, `L`), and the overlays help, teaching panel, config diff and
 * the question before stopping runs. The same screen serves the lab (a live session) and
 * `normlab watch` (files): a source without live runs refuses the live keys. */
#ifndef UI_DASHSCREEN_H
#define UI_DASHSCREEN_H

#include "dash.h"
#include "loop.h"
#include "overlay.h"

typedef struct dash_screen dash_screen;

/* A pane over the dashboard: a screen of its own, owned by the dashboard, which offers it
 * keys first and draws it after itself. */
typedef struct dash_pane {
    ui_screen base;
    dash_screen *dash;
    int shown, scroll;
} dash_pane;

struct dash_screen {
    ui_screen base;
    ui_source *src;
    dash_view dv;
    plot_layout loss_layout; /* where the top plot was drawn (the cursor moves a column) */
    char title[96];
    dash_pane msgs;   /* the message pane (m) */
    dash_pane lesson; /* the lesson pane (L) */
    ui_help help;
    ui_teach teach;
    ui_diff diff;
    ui_confirm confirm;
};

/* The dashboard over src's runs; title for the top bar ("lab", "watch"). */
void dash_screen_init(dash_screen *d, ui_source *src, const char *title);
/* The top bar's title ("lesson NAME"); copied. */
void dash_screen_title(dash_screen *d, const char *title);
/* The source's runs were replaced (a start): keep the selection in range. */
void dash_screen_runs_changed(dash_screen *d);
/* Show or hide the lesson pane. */
void dash_screen_show_lesson(dash_screen *d, int shown);
/* What v needs from the loop for a frame: glyphs, colour, the top bar's message, the load. */
void dash_view_frame(dash_view *v, ui_loop *l);

#endif
