/* What the dashboard's files share among themselves (not used outside dash*.c). */
#ifndef UI_DASH_INTERNAL_H
#define UI_DASH_INTERNAL_H

#include "dash.h"

/* The x of history entry i of r (the middle of what it covers) in v's units. */
double dash_entry_x(const dash_view *v, const ui_run *r, int i, const hist_entry *e);

/* The panels (dash_panels.c), each in r with its title row; focused titles are highlighted. */
void dash_draw_layer_curves(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *run,
                            int focused);
/* The heatmap; *lo, *hi get its colour range for the bars (NAN when none). */
void dash_draw_heat(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *run, int focused,
                    double *lo, double *hi);
void dash_draw_bars(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *run, int rms,
                    int focused, double lo, double hi);
void dash_draw_experts(ui_grid *g, ui_rect r, const dash_view *v, const ui_run *run,
                       int focused);

/* One run's line at (x0, y), w cells (dash_status.c). */
void dash_draw_status(ui_grid *g, int x0, int y, int w, const dash_view *v, const ui_run *r,
                      int selected, int namew);

#endif
