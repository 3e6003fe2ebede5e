/* The expert-load map of a Mixture-of-Experts run: MoE layers down, experts across, each cell
 * coloured by the fraction of that layer's routed slots its expert took at one step. The
 * colour is linear from 0 to twice the even share 2/E, so an even split sits in the middle
 * of the ramp and anything above 2/E is the hottest colour. Cells wide enough carry the
 * percentage as text; the router entropy of each layer (nats) is in a column at the right;
 * a last row gives the scale. Without colour the percentages (or density characters when
 * cells are narrow) carry the level. Many experts or layers share a cell: it shows their
 * maximum, so a hot expert is never averaged away. */
#ifndef UI_LOADMAP_H
#define UI_LOADMAP_H

#include "grid.h"

typedef struct loadmap_spec {
    int layers, experts;
    const float *frac;    /* (layers, experts); NAN = no data */
    const float *entropy; /* (layers) nats; NULL = no column */
    ui_glyphs glyphs;
    int mono;
} loadmap_spec;

/* The ramp level of a fraction of the routed slots with E experts: [0, UI_HEAT_LEVELS),
 * UI_HEAT_LEVELS / 2 for exactly 1/E; -1 for no data. */
int loadmap_level(double frac, int experts);

void loadmap_draw(ui_grid *g, ui_rect r, const loadmap_spec *s);

#endif
