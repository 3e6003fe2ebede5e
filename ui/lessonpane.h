/* The lesson pane: a lesson's question, the race, where to look, what to expect, why, its
 * source and what to try next, drawn over the dashboard's panels so that the runs' status
 * lines and the footer stay in view. It scrolls when the text is taller than the pane. Draws
 * into a grid like every widget, so it is testable without a terminal. */
#ifndef UI_LESSONPANE_H
#define UI_LESSONPANE_H

#include "dash.h"
#include "grid.h"
#include "runview.h"

/* The lesson of the runs: that of the first run whose config has one, or NULL. */
const nl_lesson *lessonpane_lesson(const ui_run *runs, int n);

/* The pane's rectangle over a dashboard of n runs drawn on g (the rows between the top bar
 * and the status lines; the right half on wide screens). h = 0 when there is no room. */
ui_rect lessonpane_rect(const ui_grid *g, int n);

/* Draw lesson l over the dashboard. *scroll (rows of text skipped) is clamped to what the
 * text needs, so callers may add or subtract freely. */
void lessonpane_draw(ui_grid *g, const dash_view *v, const nl_lesson *l, const ui_run *runs, int n,
                     int *scroll);

#endif
