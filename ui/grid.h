/* An off-screen screen: a rectangle of cells, each one wide character with a colour role and
 * attributes. Widgets draw into a grid and know nothing of ncurses; term.c copies a grid to
 * the terminal. That keeps every widget testable without a terminal. */
#ifndef UI_GRID_H
#define UI_GRID_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <wchar.h>

/* How plots and bars are drawn: braille (2x4 dots a cell), block elements (2x2 quadrants,
 * eighth bars), or plain ASCII. */
typedef enum { UI_GLYPH_BRAILLE = 0, UI_GLYPH_BLOCK, UI_GLYPH_ASCII } ui_glyphs;

/* Colour roles: what a cell is, not which colour it gets. palette.c maps roles to colour
 * pairs and attributes for 256 colours, 8 colours and monochrome. */
enum {
    ROLE_NORMAL = 0,
    ROLE_DIM,    /* greyed out (disabled form fields, hints) */
    ROLE_TITLE,  /* panel titles, the top bar */
    ROLE_FOCUS,  /* the title of the focused panel */
    ROLE_AXIS,   /* axis lines and tick labels */
    ROLE_SELECT, /* the selected form row / list item */
    ROLE_EDIT,   /* a field being edited */
    ROLE_ERROR,  /* error messages */
    ROLE_OK,     /* confirmations */
    ROLE_KEY,    /* a key name in the footer or help */
    ROLE_FLOOR,  /* the entropy-floor reference line */
    ROLE_VAL,    /* validation points */
    ROLE_READY,  /* run states */
    ROLE_RUNNING,
    ROLE_PAUSED,
    ROLE_FINISHED,
    ROLE_DIVERGED,
    ROLE_STOPPED,
    ROLE_FAILED,
    ROLE_SERIES0,                      /* ROLE_SERIES0 + i: the colour of run i of a race */
    ROLE_FAINT0 = ROLE_SERIES0 + 8,    /* ROLE_FAINT0 + i: run i's colour, dimmed (raw loss) */
    ROLE_HEAT0 = ROLE_FAINT0 + 8,      /* ROLE_HEAT0 + level: the heat ramp, cold to hot */
    ROLE_HEATBG0 = ROLE_HEAT0 + 16,    /* ROLE_HEATBG0 + level: text on a cell of that colour */
    ROLE_CELL_DIV = ROLE_HEATBG0 + 16, /* a table cell with a diverged run (red) */
    ROLE_CELL_EMPTY,                   /* a table cell with nothing yet (grey) */
    ROLE_VANISHED,                     /* a gradient that vanished (0, or ~0 against the rest) */
    ROLE_COUNT
};
#define UI_SERIES_COLOURS 8
#define UI_HEAT_LEVELS 16

enum { UI_A_BOLD = 1, UI_A_REVERSE = 2, UI_A_UNDERLINE = 4, UI_A_DIM = 8 };

typedef struct ui_cell {
    wchar_t ch;
    uint8_t role;
    uint8_t attr;
} ui_cell;

typedef struct ui_grid {
    int w, h;
    ui_cell *cells; /* h rows of w cells */
} ui_grid;

typedef struct ui_rect {
    int x, y, w, h;
} ui_rect;

/* Returns 0, or -1 when out of memory. A grid of 0x0 is valid. */
int grid_init(ui_grid *g, int w, int h);
int grid_resize(ui_grid *g, int w, int h);
void grid_free(ui_grid *g);
void grid_clear(ui_grid *g);

/* Cells outside the grid are ignored, so widgets may clip by drawing past an edge. */
void grid_put(ui_grid *g, int x, int y, wchar_t ch, int role, int attr);
ui_cell *grid_at(ui_grid *g, int x, int y); /* NULL outside */
void grid_fill(ui_grid *g, ui_rect r, wchar_t ch, int role, int attr);

/* UTF-8 text at (x, y), at most maxw cells (maxw < 0: to the right edge). Bytes that are not
 * valid UTF-8 show as '?'. Returns the number of cells written. */
int grid_text(ui_grid *g, int x, int y, int maxw, int role, int attr, const char *utf8);
int grid_textf(ui_grid *g, int x, int y, int maxw, int role, int attr, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* Number of cells UTF-8 text takes. */
int text_cells(const char *utf8);

/* The ASCII look-alike of a character of the interface ('?' when there is none), for
 * terminals without UTF-8. */
wchar_t grid_ascii_fold(wchar_t c);

/* Row y as UTF-8 (trailing blanks dropped) into buf; for tests and captures. */
void grid_row_utf8(const ui_grid *g, int y, char *buf, size_t len);
/* Every row, newline-separated, malloc'ed (caller frees). */
char *grid_dump(const ui_grid *g);

/* A frame: a box around r with a title on its top edge; the inside is r shrunk by one. */
void grid_box(ui_grid *g, ui_rect r, const char *title, int title_role, ui_glyphs glyphs);
ui_rect rect_inset(ui_rect r, int d);

#endif
