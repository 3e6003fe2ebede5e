/* The teaching panel's text: a placement's equations in plain text, the gradient and
 * activation profile it should show, and observations computed from the run's own data. */
#ifndef UI_TEACH_H
#define UI_TEACH_H

#include "runview.h"

typedef struct teach_text {
    const char *title;     /* "Post-Norm (Vaswani et al. 2017)" */
    const char *equations; /* lines separated by '\n' */
    const char *expect;    /* a paragraph */
} teach_text;

const teach_text *teach_placement(nl_placement p);

/* Observations from the run's latest metrics and its first recorded step, one per line
 * (at most max_lines of out, each up to 200 bytes). heat_ffn picks the FFN gradient norms
 * instead of attention's. Returns the number of lines. */
int teach_observe(const ui_run *r, int heat_ffn, char out[][200], int max_lines);

#endif
