#include "widgets.h"

#include <stdio.h>
#include <string.h>

#include "keys.h"

int ui_draw_wrapped(ui_grid *g, ui_rect r, int role, const char *text)
{
    int row = 0;
    const char *p = text;
    while (*p && row < r.h) {
        /* one line: up to r.w cells, broken at the last space, or at a newline */
        int cells = 0, brk = -1, i = 0;
        const unsigned char *s = (const unsigned char *)p;
        while (s[i] && s[i] != '\n' && cells < r.w) {
            if (s[i] == ' ')
                brk = i;
            i++;
            while ((s[i] & 0xc0) == 0x80)
                i++;
            cells++;
        }
        int len = i;
        if (s[i] && s[i] != '\n' && cells >= r.w && brk > 0)
            len = brk;
        char line[1024];
        int k = len < (int)sizeof line - 1 ? len : (int)sizeof line - 1;
        memcpy(line, p, (size_t)k);
        line[k] = '\0';
        grid_text(g, r.x, r.y + row, r.w, role, 0, line);
        row++;
        p += len;
        if (*p == '\n' || *p == ' ')
            p++;
    }
    return row;
}

int ui_wrapped_rows(const char *text, int w)
{
    ui_grid tmp;
    if (w < 1 || grid_init(&tmp, w, 64))
        return 1;
    int n = ui_draw_wrapped(&tmp, (ui_rect){0, 0, w, 64}, ROLE_NORMAL, text);
    grid_free(&tmp);
    return n;
}

void ui_text_fit(ui_grid *g, int x, int y, int w, int role, int attr, const char *text,
                 ui_glyphs glyphs)
{
    if (w < 1)
        return;
    grid_text(g, x, y, w, role, attr, text);
    if (text_cells(text) > w)
        grid_put(g, x + w - 1, y, glyphs == UI_GLYPH_ASCII ? L'~' : L'…', role, attr);
}

void ui_panel_title(ui_grid *g, ui_rect r, const char *text, int focused, ui_glyphs glyphs)
{
    wchar_t hz = glyphs == UI_GLYPH_ASCII ? L'-' : L'─';
    for (int x = r.x; x < r.x + r.w; x++)
        grid_put(g, x, r.y, hz, ROLE_AXIS, 0);
    grid_put(g, r.x + 1, r.y, L' ', ROLE_NORMAL, 0);
    int n = grid_text(g, r.x + 2, r.y, r.w - 4, focused ? ROLE_FOCUS : ROLE_TITLE, UI_A_BOLD, text);
    grid_put(g, r.x + 2 + n, r.y, L' ', ROLE_NORMAL, 0);
}

int ui_draw_topbar(ui_grid *g, const char *title)
{
    for (int x = 0; x < g->w; x++)
        grid_put(g, x, 0, L' ', ROLE_NORMAL, UI_A_REVERSE);
    return grid_textf(g, 0, 0, g->w, ROLE_TITLE, UI_A_REVERSE | UI_A_BOLD, " normlab %s ", title);
}

void ui_draw_too_small(ui_grid *g, const char *msg, unsigned ctx, int watch)
{
    int H = g->h;
    ui_draw_wrapped(g, (ui_rect){0, 0, g->w, H > 1 ? H - 1 : H}, ROLE_ERROR, msg);
    if (H > 1)
        ui_draw_footer(g, H - 1, ctx, watch, 0);
}

/* Whether binding b is left out of the footer and help: a live-run key while watching, the
 * MoE and lesson keys where `shown` does not have them. */
static int binding_hidden(const ui_binding *b, int shown)
{
    return (!(shown & UI_FOOTER_MOE) && b->act == ACT_EXPERTS) ||
           (!(shown & UI_FOOTER_LESSON) && (b->act == ACT_LESSON || b->act == ACT_LESSON_PAGE));
}

/* The cells help and quit take at the footer's right end. */
static int footer_tail(const ui_binding *t, int n)
{
    int tail = 0;
    for (int i = 0; i < n; i++)
        if (t[i].act == ACT_HELP || t[i].act == ACT_QUIT)
            tail += text_cells(t[i].label) -
                    (int)(strchr(t[i].label, ' ') ? strlen(strchr(t[i].label, ' ')) : 0) + 1 +
                    text_cells(t[i].footer) + 2;
    return tail;
}

void ui_draw_footer(ui_grid *g, int y, unsigned ctx, int watch, int shown)
{
    int n, x = 0, W = g->w;
    const ui_binding *t = keys_table(&n);
    for (int i = 0; i < W; i++)
        grid_put(g, i, y, L' ', ROLE_NORMAL, UI_A_REVERSE);
    /* help and quit always show, at the right */
    int limit = W - footer_tail(t, n);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++) {
            const ui_binding *b = &t[i];
            if (!b->footer || !(b->ctx & ctx))
                continue;
            int is_tail = b->act == ACT_HELP || b->act == ACT_QUIT;
            if (is_tail != pass)
                continue;
            if ((watch && b->live) || binding_hidden(b, shown))
                continue;
            char key[24];
            snprintf(key, sizeof key, "%s", b->label);
            char *sp = strchr(key, ' ');
            if (sp)
                *sp = '\0';
            int w = text_cells(key) + 1 + text_cells(b->footer);
            if (!pass && x + w > limit)
                continue;
            if (pass && x + w > W)
                break;
            x += grid_text(g, x, y, w, ROLE_KEY, UI_A_REVERSE, key);
            x++;
            x += grid_text(g, x, y, W - x, ROLE_NORMAL, UI_A_REVERSE, b->footer);
            x += 2;
        }
        if (!pass && x < limit)
            x = limit;
    }
}

void ui_draw_dialog(ui_grid *g, const char *title, const char *text, ui_glyphs glyphs)
{
    int tw = text_cells(text), w = tw + 6;
    if (w < text_cells(title) + 8)
        w = text_cells(title) + 8;
    if (w > g->w - 2)
        w = g->w - 2;
    int lines = (tw + (w - 4) - 1) / (w - 4);
    int h = lines + 4;
    ui_rect r = {(g->w - w) / 2, (g->h - h) / 2, w, h};
    grid_fill(g, r, L' ', ROLE_NORMAL, 0);
    grid_box(g, r, title, ROLE_TITLE, glyphs);
    ui_draw_wrapped(g, (ui_rect){r.x + 2, r.y + 2, r.w - 4, lines}, ROLE_NORMAL, text);
}

int ui_scroll_copy(ui_grid *g, int y, int inner, int x0, int x1, const ui_grid *all, int total,
                   int *scroll)
{
    int top = scroll ? *scroll : 0;
    if (top > total - inner)
        top = total - inner;
    if (top < 0)
        top = 0;
    if (scroll)
        *scroll = top;
    for (int row = 0; row < inner && top + row < total; row++)
        for (int x = x0; x < x1; x++)
            g->cells[(size_t)(y + row) * g->w + x] = all->cells[(size_t)(top + row) * all->w + x];
    return top;
}

static const char *help_note(unsigned ctx)
{
    if (ctx == CTX_SETUP)
        return "Typing a number starts editing it; Esc cancels an edit. Any other key closes this "
               "help.";
    if (ctx == CTX_SWEEP)
        return "Cells: mean final val loss (* best in column, ! diverged, - not run). Any other "
               "key closes this help.";
    if (ctx == CTX_OVERLAY)
        return "One curve per run of the sweep, a colour per cell (its seeds share it); the run "
               "lines under the plot read the cursor's step. Any other key closes this help.";
    return "The setup screen has its own keys (? there). Any other key closes this help.";
}

static const char *help_title(unsigned ctx, int watch)
{
    return ctx == CTX_SETUP     ? "Keys: setup screen"
           : ctx == CTX_SWEEP   ? "Keys: sweep grid (watching a sweep directory)"
           : ctx == CTX_OVERLAY ? "Keys: every row of the sweep on one plot"
           : watch              ? "Keys: dashboard (watching run files)"
                                : "Keys: dashboard";
}

/* Every binding of ctx, then the note, into the tall grid `all`; returns the rows used. */
static int help_rows(ui_grid *all, unsigned ctx, int watch, int shown)
{
    int n, y = 0, tw = all->w - 17;
    const ui_binding *t = keys_table(&n);
    for (int i = 0; i < n && y < all->h - 10; i++) {
        const ui_binding *b = &t[i];
        if (!(b->ctx & ctx) || binding_hidden(b, shown))
            continue;
        int off = watch && b->live;
        grid_text(all, 2, y, 12, off ? ROLE_DIM : ROLE_KEY, 0, b->label);
        char text[256];
        const char *help = b->help;
        if (watch && b->act == ACT_QUIT)
            help = "quit; the runs are another program's and go on (this only stops watching)";
        snprintf(text, sizeof text, "%s%s", help, off ? " (live runs only)" : "");
        y += ui_draw_wrapped(all, (ui_rect){15, y, tw, all->h - y}, off ? ROLE_DIM : ROLE_NORMAL,
                             text);
    }
    y++;
    y += ui_draw_wrapped(all, (ui_rect){2, y, all->w - 4, all->h - y}, ROLE_DIM, help_note(ctx));
    return y;
}

void ui_draw_help(ui_grid *g, unsigned ctx, int watch, int shown, ui_glyphs glyphs, int *scroll)
{
    grid_clear(g);
    /* every row into a tall grid first, then the rows that fit, from *scroll */
    ui_grid all;
    if (g->w - 17 < 10 || grid_init(&all, g->w, 400))
        return;
    int total = help_rows(&all, ctx, watch, shown), inner = g->h - 2;
    int top = ui_scroll_copy(g, 1, inner, 0, g->w, &all, total, scroll);
    grid_free(&all);
    grid_box(g, (ui_rect){0, 0, g->w, g->h}, help_title(ctx, watch), ROLE_TITLE, glyphs);
    if (total > inner) {
        char more[96];
        snprintf(more, sizeof more, " rows %d-%d of %d%s · Up/Down PgUp/PgDn scroll ", top + 1,
                 top + inner < total ? top + inner : total, total,
                 top + inner < total ? ", more below" : "");
        int mw = text_cells(more);
        grid_text(g, g->w - 2 - mw, g->h - 1, mw, ROLE_DIM, 0, more);
    }
}
