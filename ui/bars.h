/* The bar strip: one vertical bar per item (a layer), height by value (linear from zero, or
 * log between the smallest and largest value), drawn with eighth blocks or '#' in ASCII.
 * Bars may take the heat colour of their value so the strip reads like the heatmap's last
 * column. Labels: the item index under every few bars, the largest value at the top. */
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
} bars_spec;

void bars_draw(ui_grid *g, ui_rect r, const bars_spec *s);

#endif
