/* The heatmap: a matrix of positive values (layers down, time across) drawn one colour per
 * cell on a log scale, cold to hot. With colour it is a block in one of UI_HEAT_LEVELS
 * ramp colours (ROLE_HEAT0 + level); without colour the same levels are characters of
 * increasing density. Rows and columns are resampled to the rect (max of what falls in a
 * cell, so a spike is never averaged away).
 *
 * With `vanish` set (gradient norms), a value that is exactly 0 or under UI_VANISHED_REL of
 * the largest value of its column (the same step) has vanished: it is drawn as a '×' in
 * ROLE_VANISHED, kept out of the colour range, and named on the scale row, while a cell
 * with no data (NAN) stays blank. */
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
    int vanish;             /* 0 and ~0 cells are vanished (see above), not no data */
} heatmap_spec;

/* Below this fraction of the largest value it is compared with, a gradient norm has
 * vanished: float32 training cannot bring it back, and on a log colour scale it would
 * squeeze every other value into a few colours. */
#define UI_VANISHED_REL 1e-6

/* Has v vanished against ref, the largest value it is compared with? Exactly 0, or
 * finite and under UI_VANISHED_REL * ref. NAN (no data) has not. */
int heat_vanished(double v, double ref);

/* The level of v in [0, UI_HEAT_LEVELS) between lo and hi on a log scale; -1 for no data. */
int heat_level(double v, double lo, double hi);
/* The glyph of a level: a block with colour, a density character without. */
wchar_t heat_glyph(int level, ui_glyphs glyphs, int mono);
/* Range of the positive values of v (n of them); returns 0 when there are none. */
int heat_range(const float *v, int n, double *lo, double *hi);
/* The same, leaving out the values that vanished against the largest of v. */
int heat_range_live(const float *v, int n, double *lo, double *hi);
/* The colour range heatmap_draw uses for s: heat_range, or with s->vanish the positive
 * values that have not vanished against their column's largest. 0 when there are none. */
int heatmap_range(const heatmap_spec *s, double *lo, double *hi);
/* lo down and hi up to quarter decades (10^(k/4)). */
void heat_snap(double *lo, double *hi);

void heatmap_draw(ui_grid *g, ui_rect r, const heatmap_spec *s);

#endif
