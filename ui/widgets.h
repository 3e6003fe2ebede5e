/* The chrome every screen shares: the top bar, the footer and the help (both printed from the
 * binding table, ui/keys.c), a question box, wrapped text, panel titles, and a tall text
 * scrolled into a box. They draw into a grid like every widget. */
#ifndef UI_WIDGETS_H
#define UI_WIDGETS_H

#include "grid.h"

/* Keys the footer and help show only where they apply: the MoE panel's key when a run is
 * MoE, the lesson pane's keys when the runs have a lesson. */
enum { UI_FOOTER_MOE = 1, UI_FOOTER_LESSON = 2 };

/* Lines of wrapped text in r (broken at spaces and newlines); returns the rows used. */
int ui_draw_wrapped(ui_grid *g, ui_rect r, int role, const char *text);
/* Rows text takes when wrapped to width w. */
int ui_wrapped_rows(const char *text, int w);
/* Text cut to w cells, ending in "…" ("~" in ASCII) when it is longer. */
void ui_text_fit(ui_grid *g, int x, int y, int w, int role, int attr, const char *text,
                 ui_glyphs glyphs);

/* A panel's title row over r: a rule with the title in it (ROLE_FOCUS when focused). */
void ui_panel_title(ui_grid *g, ui_rect r, const char *text, int focused, ui_glyphs glyphs);
/* Row 0 in reverse video, " normlab TITLE " at its left; returns the cells used. */
int ui_draw_topbar(ui_grid *g, const char *title);
/* A message at the right end of the top bar, from column `from` at the earliest; one too
 * long ends in "…". */
void ui_topbar_message(ui_grid *g, int from, int role, const char *msg, ui_glyphs glyphs);
/* The screen is smaller than `what` needs: the message over the screen, and the footer. */
void ui_draw_too_small(ui_grid *g, const char *msg, unsigned ctx, int watch);

/* The footer: the bindings of ctx that have a footer word, as many as fit, then help and
 * quit. watch leaves out the live-run ones; the MoE and lesson keys only where `shown` says
 * (UI_FOOTER_*). */
void ui_draw_footer(ui_grid *g, int y, unsigned ctx, int watch, int shown);
/* Every binding of ctx over the whole grid; as in the footer, the MoE and lesson keys only
 * where `shown` says. Scrolls: *scroll is the first row shown (clamped); the bottom edge says
 * when more rows are above or below. scroll may be NULL (row 0). */
void ui_draw_help(ui_grid *g, unsigned ctx, int watch, int shown, ui_glyphs glyphs, int *scroll);
/* A centred box with a question (and its answers) over whatever is drawn. */
void ui_draw_dialog(ui_grid *g, const char *title, const char *text, ui_glyphs glyphs);

/* Rows [*scroll, *scroll + inner) of the tall grid `all` (total rows used) into g's rows
 * from y, columns [x0, x1); *scroll is clamped (NULL: row 0). Returns the first row shown. */
int ui_scroll_copy(ui_grid *g, int y, int inner, int x0, int x1, const ui_grid *all, int total,
                   int *scroll);

#endif
