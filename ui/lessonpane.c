#include "lessonpane.h"

#include <stdio.h>
#include <string.h>

#include "widgets.h"

#define TEXT_ROWS 800 /* the most rows a lesson's text can take at the narrowest pane */

const nl_lesson *lessonpane_lesson(const ui_run *runs, int n)
{
    for (int i = 0; i < n; i++)
        if (runs[i].has_cfg && runs[i].cfg && runs[i].cfg->lesson.name[0])
            return &runs[i].cfg->lesson;
    return NULL;
}

ui_rect lessonpane_rect(const ui_grid *g, int n)
{
    int status = n > 8 ? 8 : n;
    int top = 1, bottom = g->h - 1 - status; /* the top bar above, status lines and footer below */
    if (g->w < 60 || g->h < 16 || bottom - top < 5)
        return (ui_rect){0, 0, 0, 0};
    int w = g->w >= 140 ? g->w / 2 : g->w; /* wide screens keep the panels on the left */
    return (ui_rect){g->w - w, top, w, bottom - top};
}

/* A run in one line: what sets it apart in a race (placement, block, depth, lr, warmup). */
static void describe_run(const ui_run *r, char *buf, size_t len)
{
    if (!r->has_cfg || !r->cfg) {
        snprintf(buf, len, "(no config.yaml)");
        return;
    }
    const nl_model_config *m = &r->cfg->model;
    const nl_train_config *t = &r->cfg->train;
    char block[96] = "";
    if (m->norm != NL_NORM_LAYERNORM)
        snprintf(block + strlen(block), sizeof block - strlen(block), ", %s",
                 nl_norm_name(m->norm));
    if (m->ffn != NL_FFN_GELU)
        snprintf(block + strlen(block), sizeof block - strlen(block), ", %s", nl_ffn_name(m->ffn));
    if (m->pos != NL_POS_LEARNED)
        snprintf(block + strlen(block), sizeof block - strlen(block), ", %s", nl_pos_name(m->pos));
    if (m->init != NL_INIT_NORMAL)
        snprintf(block + strlen(block), sizeof block - strlen(block), ", %s init",
                 nl_init_name(m->init));
    snprintf(buf, len, "%s%s, %d layers, lr %g, warmup %d", nl_placement_name(m->placement), block,
             m->layers, (double)t->lr, t->warmup);
}

/* A heading and its text at row y of the text grid; returns the next free row. */
static int section(ui_grid *t, int y, const char *heading, const char *text)
{
    if (!text || !*text)
        return y;
    grid_text(t, 0, y++, t->w, ROLE_TITLE, UI_A_BOLD, heading);
    y += ui_draw_wrapped(t, (ui_rect){2, y, t->w - 2, t->h - y}, ROLE_NORMAL, text);
    return y + 1;
}

/* The whole text of the pane into t (its width is the pane's); returns the rows used. */
static int compose(ui_grid *t, const nl_lesson *l, const ui_run *runs, int n)
{
    int y = ui_draw_wrapped(t, (ui_rect){0, 0, t->w, t->h}, ROLE_TITLE, l->title);
    for (int x = 0; x < t->w; x++)
        for (int r = 0; r < y; r++)
            if (grid_at(t, x, r))
                grid_at(t, x, r)->attr |= UI_A_BOLD;
    y++;
    y = section(t, y, "Question", l->question);
    if (n > 0) {
        grid_text(t, 0, y++, t->w, ROLE_TITLE, UI_A_BOLD, "The race");
        int namew = 4;
        for (int i = 0; i < n; i++)
            if (text_cells(runs[i].name) > namew)
                namew = text_cells(runs[i].name);
        if (namew > 16)
            namew = 16;
        for (int i = 0; i < n && y < t->h; i++) {
            char d[200];
            describe_run(&runs[i], d, sizeof d);
            grid_text(t, 2, y, namew, ROLE_SERIES0 + runs[i].colour % UI_SERIES_COLOURS, UI_A_BOLD,
                      runs[i].name);
            y += ui_draw_wrapped(t, (ui_rect){3 + namew, y, t->w - 3 - namew, t->h - y}, ROLE_NORMAL,
                              d);
        }
        y++;
    }
    y = section(t, y, "Look at", l->look);
    y = section(t, y, "What you should see", l->expect);
    y = section(t, y, "Why", l->why);
    y = section(t, y, "Source", l->source);
    y = section(t, y, "Try next", l->next);
    return y > 0 ? y - 1 : 0; /* no blank row after the last section */
}

void lessonpane_draw(ui_grid *g, const dash_view *v, const nl_lesson *l, const ui_run *runs, int n,
                     int *scroll)
{
    ui_rect r = lessonpane_rect(g, n);
    if (!l || r.h < 3)
        return;
    ui_grid t;
    if (grid_init(&t, r.w - 4, TEXT_ROWS))
        return;
    int rows = compose(&t, l, runs, n);
    int view = r.h - 2;
    int max_scroll = rows > view ? rows - view : 0;
    if (*scroll > max_scroll)
        *scroll = max_scroll;
    if (*scroll < 0)
        *scroll = 0;

    grid_fill(g, r, L' ', ROLE_NORMAL, 0);
    char title[96];
    snprintf(title, sizeof title, "Lesson · %s", l->name);
    grid_box(g, r, title, ROLE_TITLE, v->glyphs);
    for (int y = 0; y < view; y++)
        for (int x = 0; x < t.w; x++) {
            const ui_cell *c = grid_at(&t, x, *scroll + y);
            if (c && c->ch != L' ')
                grid_put(g, r.x + 2 + x, r.y + 1 + y, c->ch, c->role, c->attr);
        }
    grid_free(&t);

    /* the bottom edge: where the text stands, and the keys (Space while the race waits) */
    int waiting = n > 0 && !v->watch;
    for (int i = 0; i < n; i++)
        waiting &= runs[i].st.state == NL_RUN_PAUSED && runs[i].last_step == 0;
    const char *keys = waiting ? "Space starts · L hides" : "L hides";
    char hint[128];
    if (max_scroll > 0)
        snprintf(hint, sizeof hint, " rows %d-%d of %d%s · PgDn PgUp · %s ", *scroll + 1,
                 *scroll + view, rows, *scroll < max_scroll ? ", more below" : "", keys);
    else
        snprintf(hint, sizeof hint, " %s ", keys);
    int hw = text_cells(hint);
    if (hw > r.w - 4) {
        snprintf(hint, sizeof hint, " %s · %s ", *scroll < max_scroll ? "more: PgDn" : "end", keys);
        hw = text_cells(hint);
    }
    grid_text(g, r.x + r.w - 2 - hw, r.y + r.h - 1, hw, ROLE_DIM, 0, hint);
}
