/* The bar strip: one vertical bar per item (a layer), height by value (linear from zero, or
 * log between the smallest and largest value), drawn with eighth blocks or '#' in ASCII.
 * Bars may take the heat colour of their value so the strip reads like the heatmap's last
 * column. Labels: the item index under every few bars; on the top row the scale, how many
 * items vanished, and the largest over the smallest value, so a level strip and a steep one
 * never look alike. */
#ifndef UI_BARS_H
#define UI_BARS_H

#include "grid.h"

typedef struct bars_spec {
    int n;
    const float *v; /* n values; NAN = none */
    ui_glyphs glyphs;
    int logv;
    int role; /* bar colour when not heat-coloured */
    int heat; /* colour each bar by heat_level(v, heat_lo, heat_hi) */
    double heat_lo, heat_hi;
    int mono;
    int vanish; /* values that vanished against the largest (heat_vanished) show a '×' at the
                   foot of their bar, in ROLE_VANISHED, instead of no bar */
} bars_spec;

void bars_draw(ui_grid *g, ui_rect r, const bars_spec *s);

#endif
