/* Helpers for tests that draw into a ui_grid: look at a row's text, dump a grid by eye. */
#ifndef NL_GRID_T_H
#define NL_GRID_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui/grid.h"

/* NL_TEST_DUMP=1 prints every grid a case checks, to look at the widgets by eye. */
__attribute__((unused)) static void dump(const char *what, const ui_grid *g)
{
    if (!getenv("NL_TEST_DUMP"))
        return;
    char *d = grid_dump(g);
    fprintf(stderr, "-- %s\n%s", what, d ? d : "");
    free(d);
}

/* Whether row y of g contains s. */
__attribute__((unused)) static int row_has(const ui_grid *g, int y, const char *s)
{
    char buf[2048];
    grid_row_utf8(g, y, buf, sizeof buf);
    return strstr(buf, s) != NULL;
}

/* Whether the cell at (x, y) holds a mark (not blank, not an empty braille cell). */
__attribute__((unused)) static int cell_dotted(ui_grid *g, int x, int y)
{
    ui_cell *c = grid_at(g, x, y);
    return c && c->ch != L' ' && c->ch != 0x2800;
}

#endif
