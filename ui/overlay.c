#include "overlay.h"

#include <ncursesw/curses.h>
#include <stdio.h>
#include <string.h>

#include "keys.h"
#include "teach.h"
#include "widgets.h"

void ui_finish(ui_loop *l, int next)
{
    if (l->src && l->src->ops->finish)
        l->src->ops->finish(l->src, l, next);
    else if (next == UI_NEXT_QUIT)
        ui_loop_quit(l);
}

/* ---- help --------------------------------------------------------------------------------- */

static int help_key(ui_screen *s, ui_loop *l, int key)
{
    ui_help *h = (ui_help *)s;
    /* Up/Down and PgUp/PgDn scroll a help taller than the screen; any other key closes */
    int page = l->term.h > 4 ? l->term.h - 3 : 1;
    if (key == UI_KEY(KEY_DOWN) || key == 'j')
        h->scroll++;
    else if (key == UI_KEY(KEY_UP) || key == 'k')
        h->scroll = h->scroll > 0 ? h->scroll - 1 : 0;
    else if (key == UI_KEY(KEY_NPAGE) || key == ' ')
        h->scroll += page;
    else if (key == UI_KEY(KEY_PPAGE))
        h->scroll = h->scroll > page ? h->scroll - page : 0;
    else
        ui_loop_pop(l, s);
    return 1;
}

static void help_draw(ui_screen *s, ui_loop *l, ui_grid *g)
{
    ui_help *h = (ui_help *)s;
    int watch = h->ctx == CTX_SWEEP || h->ctx == CTX_OVERLAY || (h->ctx == CTX_DASH && !(l->src && l->src->live));
    int shown = 0;
    if (h->ctx == CTX_DASH && l->src)
        shown = dash_help_shown(l->src->runs, l->src->nruns);
    ui_draw_help(g, h->ctx, watch, shown, l->term.glyphs, &h->scroll);
}

static const ui_screen_ops help_ops = {"help", help_key, help_draw, NULL};

void ui_help_init(ui_help *h, unsigned ctx)
{
    memset(h, 0, sizeof *h);
    h->base.ops = &help_ops;
    h->base.opaque = 1;
    h->ctx = ctx;
}

void ui_help_open(ui_help *h, ui_loop *l)
{
    h->scroll = 0;
    ui_loop_push(l, &h->base);
}

/* ---- the teaching panel ------------------------------------------------------------------- */

static const ui_run *teach_run(const ui_teach *t, const ui_loop *l)
{
    int n = l->src ? l->src->nruns : 0;
    return n ? &l->src->runs[t->v->sel < n ? t->v->sel : 0] : NULL;
}

static int teach_key(ui_screen *s, ui_loop *l, int key)
{
    ui_teach *t = (ui_teach *)s;
    if (key == 'i' || key == 27 || key == 'q' || key == '\r' || key == ' ') {
        ui_loop_pop(l, s);
        return 1;
    }
    /* Up/Down still select the run the panel explains */
    const ui_binding *b = keys_find(key, CTX_DASH);
    int n = l->src ? l->src->nruns : 0;
    if (b && (b->act == ACT_NEXT_RUN || b->act == ACT_PREV_RUN) && n)
        t->v->sel = (t->v->sel + (b->act == ACT_NEXT_RUN ? 1 : n - 1)) % n;
    return 1;
}

static void teach_draw(ui_screen *s, ui_loop *l, ui_grid *g)
{
    ui_teach *t = (ui_teach *)s;
    ui_draw_teach(g, t->v, teach_run(t, l));
}

static const ui_screen_ops teach_ops = {"teaching panel", teach_key, teach_draw, NULL};

void ui_teach_init(ui_teach *t, dash_view *v)
{
    memset(t, 0, sizeof *t);
    t->base.ops = &teach_ops;
    t->v = v;
}

/* ---- the config diff ---------------------------------------------------------------------- */

static int diff_key(ui_screen *s, ui_loop *l, int key)
{
    ui_diff *d = (ui_diff *)s;
    if (key == UI_KEY(KEY_DOWN) || key == 'j')
        d->scroll++;
    else if (key == UI_KEY(KEY_UP) || key == 'k')
        d->scroll = d->scroll > 0 ? d->scroll - 1 : 0;
    else
        ui_loop_pop(l, s);
    return 1;
}

static void diff_draw(ui_screen *s, ui_loop *l, ui_grid *g)
{
    ui_diff *d = (ui_diff *)s;
    ui_draw_config_diff(g, l->src ? l->src->runs : NULL, l->src ? l->src->nruns : 0,
                        l->term.glyphs, &d->scroll);
}

static const ui_screen_ops diff_ops = {"config diff", diff_key, diff_draw, NULL};

void ui_diff_init(ui_diff *d)
{
    memset(d, 0, sizeof *d);
    d->base.ops = &diff_ops;
}

/* ---- the question before stopping runs ---------------------------------------------------- */

static int confirm_key(ui_screen *s, ui_loop *l, int key)
{
    ui_confirm *c = (ui_confirm *)s;
    if (key == 'y' || key == 'Y') {
        ui_loop_pop(l, s);
        ui_finish(l, c->next);
    } else if (key == 'n' || key == 'N' || key == 27 || key == 'q') {
        ui_loop_pop(l, s);
    }
    return 1;
}

static void confirm_draw(ui_screen *s, ui_loop *l, ui_grid *g)
{
    ui_confirm *c = (ui_confirm *)s;
    const char *q =
        c->next == UI_NEXT_QUIT
            ? "Runs are going. Stop them (each saves a final checkpoint) and quit?  y / n"
        : c->next == UI_NEXT_SETUP
            ? "Runs are going. Stop them (final checkpoints) and go back to setup?  y / n"
            : "Runs are going. Stop them (final checkpoints) and start them again?  y / n";
    ui_draw_dialog(g, "Stop the runs?", q, l->term.glyphs);
}

static const ui_screen_ops confirm_ops = {"question", confirm_key, confirm_draw, NULL};

void ui_confirm_init(ui_confirm *c)
{
    memset(c, 0, sizeof *c);
    c->base.ops = &confirm_ops;
}

void ui_confirm_ask(ui_confirm *c, ui_loop *l, int next)
{
    c->next = next;
    ui_loop_push(l, &c->base);
}

/* ---- please wait -------------------------------------------------------------------------- */

static int busy_key(ui_screen *s, ui_loop *l, int key)
{
    return 0; /* the screen under it says why it waits */
}

static void busy_draw(ui_screen *s, ui_loop *l, ui_grid *g)
{
    ui_draw_dialog(g, "Please wait", "Stopping the runs: each writes a final checkpoint...",
                   l->term.glyphs);
}

static void busy_tick(ui_screen *s, ui_loop *l)
{
    if (!ui_source_busy(l->src))
        ui_loop_pop(l, s);
}

static const ui_screen_ops busy_ops = {"please wait", busy_key, busy_draw, busy_tick};

void ui_busy_init(ui_busy *b)
{
    memset(b, 0, sizeof *b);
    b->base.ops = &busy_ops;
    b->base.pinned = 1;
}

/* ---- drawing the teaching panel ----------------------------------------------------------- */

/* The equations and what to expect of placement p from row *y; returns the section that did
 * not fit, or NULL. */
static const char *teach_expectation(ui_grid *g, ui_rect in, int *y, nl_placement p,
                                     const teach_text *t, int obs_rows)
{
    int bottom = in.y + in.h, tw = in.w - 2;
    char expect[2048];
    const char *cut = NULL;
    teach_expect_text(p, expect, sizeof expect);
    grid_text(g, in.x, (*y)++, in.w, ROLE_TITLE, UI_A_BOLD, "Equations");
    *y += ui_draw_wrapped(g, (ui_rect){in.x + 2, *y, tw, bottom - *y}, ROLE_NORMAL, t->equations);
    int room = bottom - *y - obs_rows - 1; /* rows left for the expectation */
    int want = ui_wrapped_rows(expect, tw);
    int spaced = room >= want + 3;
    *y += spaced;
    if (room >= 2) {
        grid_text(g, in.x, (*y)++, in.w, ROLE_TITLE, UI_A_BOLD, "What to expect");
        *y += ui_draw_wrapped(g, (ui_rect){in.x + 2, *y, tw, room - 1 - spaced}, ROLE_NORMAL,
                              expect);
        if (want > room - 1 - spaced)
            cut = "What to expect";
    } else {
        cut = "What to expect";
    }
    *y += spaced;
    return cut;
}

void ui_draw_teach(ui_grid *g, const dash_view *v, const ui_run *r)
{
    /* small screens get every row; the observations are never the part that is cut */
    ui_rect box = {0, 0, g->w, g->h};
    if (g->w > 100)
        box = (ui_rect){(g->w - 98) / 2, 1, 98, g->h - 2};
    grid_fill(g, box, L' ', ROLE_NORMAL, 0);
    nl_placement p = r && r->has_cfg ? r->cfg->model.placement : NL_PLACE_COUNT;
    const teach_text *t = teach_placement(p);
    char title[160];
    if (p == NL_PLACE_COUNT)
        snprintf(title, sizeof title, "Placement unknown (no config.yaml)");
    else
        snprintf(title, sizeof title, "%s · %s", t->title, r->name);
    grid_box(g, box, title, ROLE_TITLE, v->glyphs);
    ui_rect in = {box.x + 2, box.y + 1, box.w - 4, box.h - 2};
    int y = in.y, bottom = in.y + in.h, tw = in.w - 2;
    char obs[TEACH_MAX_LINES][TEACH_LINE];
    const char *cut = NULL; /* a section that did not fit */
    int n = r ? teach_observe(r, v->heat_ffn, obs, TEACH_MAX_LINES) : 0;
    int obs_rows = 1;
    for (int i = 0; i < n; i++)
        obs_rows += ui_wrapped_rows(obs[i], tw);
    if (p != NL_PLACE_COUNT)
        cut = teach_expectation(g, in, &y, p, t, obs_rows);
    if (y < bottom)
        grid_text(g, in.x, y++, in.w, ROLE_TITLE, UI_A_BOLD, "What this run shows");
    else
        cut = "What this run shows";
    for (int i = 0; i < n; i++) {
        if (y + ui_wrapped_rows(obs[i], tw) > bottom) {
            cut = "What this run shows";
            break;
        }
        y += ui_draw_wrapped(g, (ui_rect){in.x + 2, y, tw, bottom - y}, ROLE_OK, obs[i]);
    }
    if (cut) {
        /* say so on the bottom edge, with what would show it all */
        char note[120];
        snprintf(note, sizeof note, " %s cut, enlarge ", cut);
        grid_text(g, box.x + 1, box.y + box.h - 1, box.w - 17, ROLE_ERROR, 0, note);
    }
    grid_text(g, box.x + box.w - 16, box.y + box.h - 1, 14, ROLE_DIM, 0, " i/Esc closes ");
}

/* ---- drawing the config diff -------------------------------------------------------------- */

/* Whether key k differs between the runs with a config (ref: run first's value). */
static int key_differs(const ui_run *runs, int n, int first, const char *key, char *ref, int len)
{
    nl_error err = {0};
    if (!strcmp(key, "name") || nl_config_get(runs[first].cfg, key, ref, (size_t)len, &err))
        return 0;
    int differs = 0;
    for (int i = 0; i < n; i++) {
        char val[256];
        if (runs[i].has_cfg && !nl_config_get(runs[i].cfg, key, val, sizeof val, &err))
            differs |= strcmp(val, ref) != 0;
    }
    return differs;
}

/* The header row and a row per differing key into the tall grid `all`; returns the rows. */
static int diff_rows(ui_grid *all, const ui_run *runs, int n, int first, int ncfg, int *ndiff)
{
    int nk, W = all->w;
    const nl_config_key_info *keys = nl_config_keys(&nk);
    /* key column, then one column per run with a config */
    int keyw = 22, colw = (W - 4 - keyw) / ncfg;
    if (colw < 8)
        colw = 8;
    int y = 0, x = 2 + keyw;
    grid_text(all, 2, y, keyw, ROLE_TITLE, UI_A_BOLD, "key");
    for (int i = 0; i < n; i++)
        if (runs[i].has_cfg) {
            grid_text(all, x, y, colw - 1, ROLE_SERIES0 + runs[i].colour % UI_SERIES_COLOURS,
                      UI_A_BOLD, runs[i].name);
            x += colw;
        }
    y++;
    *ndiff = 0;
    for (int k = 0; k < nk && y < all->h - 2; k++) {
        char ref[256];
        if (!key_differs(runs, n, first, keys[k].key, ref, sizeof ref))
            continue;
        (*ndiff)++;
        grid_text(all, 2, y, keyw - 1, ROLE_NORMAL, 0, keys[k].key);
        x = 2 + keyw;
        for (int i = 0; i < n; i++) {
            char val[256];
            nl_error err = {0};
            if (!runs[i].has_cfg)
                continue;
            if (!nl_config_get(runs[i].cfg, keys[k].key, val, sizeof val, &err))
                grid_text(all, x, y, colw - 1, strcmp(val, ref) ? ROLE_SELECT : ROLE_NORMAL, 0,
                          val);
            x += colw;
        }
        y++;
    }
    if (!*ndiff)
        grid_text(all, 2, y++, W - 4, ROLE_OK, 0, "the runs' configs are the same (but their names)");
    return y;
}

int ui_draw_config_diff(ui_grid *g, const ui_run *runs, int n, ui_glyphs glyphs, int *scroll)
{
    int W = g->w, H = g->h;
    ui_rect box = {0, 1, W, H - 2};
    grid_fill(g, box, L' ', ROLE_NORMAL, 0);
    int ncfg = 0, first = -1;
    for (int i = 0; i < n; i++)
        if (runs[i].has_cfg) {
            ncfg++;
            if (first < 0)
                first = i;
        }
    if (ncfg < 2) {
        grid_box(g, box, "Config diff · D closes", ROLE_TITLE, glyphs);
        grid_text(g, 2, 2, W - 4, ROLE_DIM, 0,
                  ncfg ? "one run has a config: nothing to compare"
                       : "no run has a config (no config.yaml)");
        return ncfg ? 0 : -1;
    }
    ui_grid all;
    if (grid_init(&all, W, 600))
        return -1;
    int ndiff, y = diff_rows(&all, runs, n, first, ncfg, &ndiff), inner = box.h - 2;
    int top = ui_scroll_copy(g, box.y + 1, inner, 1, W - 1, &all, y, scroll);
    grid_free(&all);
    char title[96];
    snprintf(title, sizeof title, "Config diff · %d key%s differ%s · D closes", ndiff,
             ndiff == 1 ? "" : "s", ndiff == 1 ? "s" : "");
    grid_box(g, box, title, ROLE_TITLE, glyphs);
    if (y > inner) {
        char more[64];
        snprintf(more, sizeof more, " rows %d-%d of %d · Up/Down ", top + 1,
                 top + inner < y ? top + inner : y, y);
        grid_text(g, W - 2 - text_cells(more), box.y + box.h - 1, text_cells(more), ROLE_DIM, 0,
                  more);
    }
    return ndiff;
}
