/* The keys of a loss plot's view (ui/keys.c): smoothing, log y, the x axis, zoom and pan of
 * the x window, the cursor, the y range. The dashboard and the sweep's overlay of every row
 * share them, so the same keys do the same thing on both. */
#ifndef UI_DASHKEYS_H
#define UI_DASHKEYS_H

#include "dash.h"
#include "keys.h"
#include "loop.h"

/* Acts on v for act (key: the key pressed, for the cursor's direction) over runs[0..n); lay
 * is where the plot was last drawn (the cursor moves a column). Messages go to l. Returns 0
 * when act is none of these keys. */
int dash_view_key(dash_view *v, ui_loop *l, ui_action act, int key, const ui_run *runs, int n,
                  const plot_layout *lay);

#endif
