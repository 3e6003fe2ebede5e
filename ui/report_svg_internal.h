/* Internal to the SVG figures (report_svg.c: styles, axes, plots; report_svg_heat.c: heatmaps):
 * the axes they share. */
#ifndef UI_REPORT_SVG_INTERNAL_H
#define UI_REPORT_SVG_INTERNAL_H

#include <stddef.h>

#include "report_internal.h"

/* ---- axes ---- */

typedef struct axis {
    double lo, hi;
    int log;
    double ticks[32];
    int n_ticks;
    double step; /* linear tick spacing, for the labels' decimals */
} axis;

void rp_axis_linear(axis *a, double lo, double hi, int target, int integer, int pinned);
void rp_axis_log(axis *a, double lo, double hi);
void rp_log_label(char *buf, size_t n, double v);
void rp_tick_label(char *buf, size_t n, const axis *a, double v);

#endif
