/* The line plot: series drawn with braille dots (2x4 a cell), block quadrants (2x2) or plain
 * ASCII markers (1x1), axes with ticks and labels, linear or log y, a legend, a horizontal
 * reference line (the entropy floor) and point series (validation losses).
 *
 * Layout inside the rect: [legend row] / plot area with the y labels on its left / x axis
 * line / x tick labels. Each dot column of a line series is drawn as the span from the
 * lowest to the highest value that falls in it (min/max envelopes included) joined to the
 * column before, so a one-step spike stays visible however many steps share a column. */
#ifndef UI_PLOT_H
#define UI_PLOT_H

#include "grid.h"

typedef struct plot_series {
    const char *label; /* legend text; NULL or "" = not in the legend */
    int role;          /* colour role */
    int marker;        /* which ASCII marker ("*+ox#@%&") */
    int n;
    const double *x, *y;     /* n points, x ascending; y NAN = missing */
    const double *ylo, *yhi; /* optional envelope of each point (min/max of a bucket) */
    int points;              /* 1: separate markers (validation points), 0: a line */
} plot_series;

typedef struct plot_spec {
    ui_glyphs glyphs;
    int logy;
    const char *xcaption;  /* under the y labels, e.g. "step" */
    double xmin, xmax;     /* NAN = from the data */
    double ref_y;          /* NAN = no reference line */
    const char *ref_label; /* legend text of the reference line */
    int legend;
    int nseries;
    const plot_series *series;
    int stable;   /* ranges rounded out (x to the next tenth, y to a fine step), so a growing
                     series leaves the axes and the drawn cells in place between updates */
    int mono;     /* no colour: each line series draws with its own marker glyph
                     (plot_marker_glyph), so curves and legend entries stay apart */
    double yfrac; /* 0 or 1: the y range fits the data; 0 < yfrac < 1: only its lower
                     yfrac (in plotted units), to look under an early spike */
    int cursor;   /* draw a vertical cursor line at cursor_x */
    double cursor_x;
    int legend_more; /* entries left out of the legend elsewhere (hidden runs): "+N" */
} plot_spec;

/* Where things landed, for tests and for callers that annotate the plot. */
typedef struct plot_layout {
    ui_rect area;      /* the cells of the plot area */
    int sx, sy;        /* dots per cell */
    double xmin, xmax; /* data range of the x axis */
    double ymin, ymax; /* y range, log10 units when logy */
    int has_data;
} plot_layout;

void plot_draw(ui_grid *g, ui_rect r, const plot_spec *p, plot_layout *out);

/* "Nice" ticks (1, 2, 5 times a power of ten) within [lo, hi]; at most max_ticks written
 * to out. Returns the count. */
int plot_ticks_linear(double lo, double hi, int max_ticks, double *out);
/* Ticks for a log axis over [lo, hi] (values, not logs): powers of ten, with 2 and 5
 * between them when there is room, or linear ticks inside one decade. */
int plot_ticks_log(double lo, double hi, int max_ticks, double *out);
/* span rounded up to the next multiple of a nice step about a tenth of it. */
double plot_nice_ceil(double span);
/* Short number: 3 significant digits, k/M/G suffixes for counts. */
void plot_fmt_count(double v, char *buf, int len);
void plot_fmt_value(double v, char *buf, int len);

/* A series' own mark, for the legend, the status lines and monochrome curves: ASCII
 * "*+ox#@%&" in ASCII mode, else "━" in colour and distinct shapes without colour. */
wchar_t plot_marker_glyph(ui_glyphs glyphs, int mono, int marker);

/* The glyph of a cell whose dots are `bits` (braille: 8 bits, block: 4 bits). */
wchar_t plot_dots_glyph(ui_glyphs glyphs, unsigned bits);

#endif
