/* The heatmap: a matrix of positive values (layers down, time across) drawn one colour per
 * cell on a log scale, cold to hot. With colour it is a block in one of UI_HEAT_LEVELS
 * ramp colours (ROLE_HEAT0 + level); without colour the same levels are characters of
 * increasing density. Rows and columns are resampled to the rect (max of what falls in a
 * cell, so a spike is never averaged away). */
#ifndef UI_HEATMAP_H
#define UI_HEATMAP_H

#include "grid.h"

typedef struct heatmap_spec {
    int rows, cols;
    const float *v; /* (rows, cols); NAN or <= 0 = no data */
    ui_glyphs glyphs;
    int mono;               /* no colour: density characters carry the level */
    const char *row_prefix; /* row labels "L0", "L1", ... */
    int scale;              /* a last row with the colour scale and its range */
    int snap;               /* range rounded out to quarter decades, so colours hold still
                               while new values arrive inside it */
} heatmap_spec;

/* The level of v in [0, UI_HEAT_LEVELS) between lo and hi on a log scale; -1 for no data. */
int heat_level(double v, double lo, double hi);
/* The glyph of a level: a block with colour, a density character without. */
wchar_t heat_glyph(int level, ui_glyphs glyphs, int mono);
/* Range of the positive values of v (n of them); returns 0 when there are none. */
int heat_range(const float *v, int n, double *lo, double *hi);
/* lo down and hi up to quarter decades (10^(k/4)). */
void heat_snap(double *lo, double *hi);

void heatmap_draw(ui_grid *g, ui_rect r, const heatmap_spec *s);

#endif
