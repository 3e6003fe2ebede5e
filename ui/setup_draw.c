#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/memest.h"
#include "keys.h"
#include "plot.h"
#include "setup_internal.h"
#include "widgets.h"

static void draw_field_help(ui_grid *g, ui_rect r, setup_state *s, ui_glyphs glyphs)
{
    const nl_config_key_info *k = setup_cur_key(s);
    grid_box(g, r, k ? k->key : "", ROLE_TITLE, glyphs);
    if (!k)
        return;
    ui_rect in = rect_inset(r, 1);
    in.x++;
    in.w--;
    int y = in.y, bottom = in.y + in.h;
    y += ui_draw_wrapped(g, (ui_rect){in.x, y, in.w, bottom - y}, ROLE_NORMAL, k->help ? k->help : "");
    if (setup_key_is_custom(k->key) && setup_key_unused(s, k->key) && y < bottom)
        y += ui_draw_wrapped(g, (ui_rect){in.x, y, in.w, bottom - y}, ROLE_DIM,
                          "Used when placement is custom.");
    else if (setup_key_is_moe(k->key) && setup_key_unused(s, k->key) && y < bottom)
        y += ui_draw_wrapped(g, (ui_rect){in.x, y, in.w, bottom - y}, ROLE_DIM,
                          "Used when experts > 0.");
    else if (!strcmp(k->key, "model.moe.experts") && y < bottom)
        y += ui_draw_wrapped(g, (ui_rect){in.x, y, in.w, bottom - y}, ROLE_DIM,
                          s->cfg.model.moe_experts > 0
                              ? "The FFN of every `every`-th block is this many experts; the "
                                "dashboard shows their load."
                              : "0: dense FFNs. Type a number of experts for MoE.");
    if (k->choices && y < bottom) {
        char cur[256] = "";
        nl_error err = {0};
        nl_config_get(&s->cfg, k->key, cur, sizeof cur, &err);
        char list[512];
        snprintf(list, sizeof list, "%s", k->choices);
        int x = in.x;
        for (char *tok = strtok(list, "|"); tok && y < bottom; tok = strtok(NULL, "|")) {
            int w = text_cells(tok);
            if (x + w > in.x + in.w) {
                x = in.x;
                y++;
                if (y >= bottom)
                    break;
            }
            int on = !strcmp(tok, cur);
            grid_text(g, x, y, w, on ? ROLE_SELECT : ROLE_DIM, on ? UI_A_BOLD : 0, tok);
            x += w + 1;
        }
        y++;
    } else if (y < bottom) {
        grid_textf(g, in.x, y++, in.w, ROLE_DIM, 0, "%s", k->kind);
    }
    if (!strcmp(k->key, "model.placement") && y < bottom)
        ui_draw_wrapped(g, (ui_rect){in.x, y, in.w, bottom - y}, ROLE_OK,
                     nl_placement_summary(s->cfg.model.placement));
}

static void draw_race(ui_grid *g, ui_rect r, setup_state *s, ui_glyphs glyphs)
{
    char title[64];
    snprintf(title, sizeof title, "Race %d/%d", s->nrace, NL_MAX_RACE);
    grid_box(g, r, title, s->race_focus ? ROLE_FOCUS : ROLE_TITLE, glyphs);
    ui_rect in = rect_inset(r, 1);
    in.x++;
    in.w--;
    if (s->nrace == 0) {
        ui_draw_wrapped(g, in, ROLE_DIM,
                     "Empty. a adds the current setup; F5 starts the setup alone.");
        return;
    }
    int namew = 4;
    for (int i = 0; i < s->nrace; i++)
        if ((int)strlen(s->race[i].name) > namew)
            namew = (int)strlen(s->race[i].name);
    if (namew > 14)
        namew = 14;
    /* the rows that fit, kept around the selected run; "+N more" for the others */
    int rows = in.h, first = 0;
    if (s->nrace > rows && rows > 1) {
        rows--;
        first = s->race_sel - rows / 2;
        if (first > s->nrace - rows)
            first = s->nrace - rows;
        if (first < 0)
            first = 0;
    }
    for (int k = 0; k < rows && first + k < s->nrace; k++) {
        int i = first + k;
        const nl_config *c = &s->race[i];
        int sel = s->race_focus && i == s->race_sel;
        grid_put(g, in.x, in.y + k, glyphs == UI_GLYPH_ASCII ? L'*' : L'━',
                 ROLE_SERIES0 + i % UI_SERIES_COLOURS, UI_A_BOLD);
        char moe[24] = "", line[256];
        if (c->model.moe_experts > 0)
            snprintf(moe, sizeof moe, " E%d", c->model.moe_experts);
        snprintf(line, sizeof line, "%-*s %s L%d%s lr %g d%d%s", namew, c->name,
                 nl_placement_name(c->model.placement), c->model.layers, moe, c->train.lr,
                 c->model.d_model, i == s->entry ? " (in the form)" : "");
        ui_text_fit(g, in.x + 2, in.y + k, in.w - 2, sel ? ROLE_SELECT : ROLE_NORMAL, 0, line, glyphs);
    }
    if (s->nrace > in.h && in.h > 1)
        grid_textf(g, in.x + 2, in.y + in.h - 1, in.w - 2, ROLE_DIM, 0, "+%d more (Tab, Up/Down)",
                   s->nrace - rows);
}

static void draw_presets_hint(ui_grid *g, ui_rect r, setup_state *s, ui_glyphs glyphs)
{
    grid_box(g, r, "Presets", ROLE_TITLE, glyphs);
    ui_rect in = rect_inset(r, 1);
    in.x++;
    in.w--;
    int y = in.y;
    y += ui_draw_wrapped(g, (ui_rect){in.x, y, in.w, 2}, ROLE_DIM,
                      "A path, or a shipped preset's name:");
    DIR *d = opendir(s->presets_dir);
    if (!d)
        return;
    char names[64][64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".yaml"))
            snprintf(names[n++], 64, "%.*s", (int)(len - 5), e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    int x = in.x;
    for (int i = 0; i < n && y < in.y + in.h; i++) {
        int w = text_cells(names[i]);
        if (x + w > in.x + in.w) {
            x = in.x;
            y++;
            if (y >= in.y + in.h)
                break;
        }
        grid_text(g, x, y, w, ROLE_NORMAL, 0, names[i]);
        x += w + 2;
    }
}

int setup_size_text(const setup_state *s, char *buf, int len)
{
    buf[0] = '\0';
    int V = nl_config_vocab(&s->cfg);
    if (s->invalid[0] || V <= 0) /* tokens: sources know their vocabulary only when opened */
        return ROLE_NORMAL;
    nl_mem_estimate e;
    nl_mem_estimate_config(&s->cfg, V, false, &e);
    char p[24], m[24], a[24];
    plot_fmt_count(e.params, p, sizeof p);
    nl_mem_format(e.total, m, sizeof m);
    double avail = nl_mem_available(NULL);
    if (avail > 0 && e.total > avail) {
        nl_mem_format(avail, a, sizeof a);
        snprintf(buf, (size_t)len, " · %s params · ~%s: more than the %s free ", p, m, a);
        return ROLE_ERROR;
    }
    snprintf(buf, (size_t)len, " · %s params · ~%s ", p, m);
    return ROLE_NORMAL;
}

/* The top bar: the preset, the setup in brief, its size. */
static void draw_topbar(ui_grid *g, setup_state *s)
{
    int W = g->w;
    int x = ui_draw_topbar(g, "setup");
    char moe[32] = "";
    if (s->cfg.model.moe_experts > 0)
        snprintf(moe, sizeof moe, " · MoE %d experts", s->cfg.model.moe_experts);
    x += grid_textf(
        g, x, 0, W - x, ROLE_NORMAL, UI_A_REVERSE, "· preset %s · %s · %d layers%s · d %d%s",
        s->preset[0] ? s->preset : "default (built in)", nl_placement_name(s->cfg.model.placement),
        s->cfg.model.layers, moe, s->cfg.model.d_model, s->nrace ? " · race ready" : "");
    char size[96];
    int size_role = setup_size_text(s, size, sizeof size);
    if (size[0])
        grid_text(g, x, 0, W - x, size_role, UI_A_REVERSE, size);
}

/* The value being typed at (vx, y), vw cells: its end in view. */
static void draw_edit(ui_grid *g, int vx, int y, int vw, const setup_state *s)
{
    char buf[600];
    snprintf(buf, sizeof buf, "%s_", s->edit);
    int n = text_cells(buf);
    const char *shown = buf;
    while (n > vw && *shown) {
        shown++;
        n--;
    }
    int role = s->edit_bad ? ROLE_ERROR : ROLE_EDIT;
    for (int xx = vx; xx < vx + vw; xx++)
        grid_put(g, xx, y, L' ', role, UI_A_REVERSE * s->edit_bad);
    grid_text(g, vx, y, vw, role, s->edit_bad ? UI_A_REVERSE : 0, shown);
}

/* Row r of the form at screen row y, FW cells wide. */
static void draw_row(ui_grid *g, setup_state *s, int r, int y, int FW, ui_glyphs glyphs)
{
    const setup_row *row = &s->rows[r];
    if (row->key < 0) {
        wchar_t hz = glyphs == UI_GLYPH_ASCII ? L'-' : L'─';
        for (int xx = 0; xx < FW; xx++)
            grid_put(g, xx, y, hz, ROLE_AXIS, 0);
        grid_textf(g, 1, y, FW - 2, ROLE_TITLE, UI_A_BOLD, " %s ", row->label);
        return;
    }
    const nl_config_key_info *k = &s->keys[row->key];
    int sel = r == s->cur;
    int dim = setup_key_unused(s, k->key);
    int role = sel && !s->race_focus ? ROLE_SELECT : dim ? ROLE_DIM : ROLE_NORMAL;
    if (sel && !s->race_focus)
        for (int xx = 0; xx < FW; xx++)
            grid_put(g, xx, y, L' ', ROLE_SELECT, 0);
    grid_put(g, 0, y, sel ? (glyphs == UI_GLYPH_ASCII ? L'>' : L'▶') : L' ', role, UI_A_BOLD);
    int LW = FW >= 44 ? 17 : 13; /* narrow: shorter labels, so values keep their room */
    ui_text_fit(g, 2, y, LW, role, 0, row->label, glyphs);
    int vx = 2 + LW + 1, vw = FW - vx - 1;
    if (sel && s->editing) {
        draw_edit(g, vx, y, vw, s);
        return;
    }
    char val[512] = "";
    nl_error err = {0};
    if (nl_config_get(&s->cfg, k->key, val, sizeof val, &err))
        snprintf(val, sizeof val, "?");
    int is_choice = !strcmp(k->kind, "enum") || !strcmp(k->kind, "bool");
    if (sel && is_choice && !dim)
        grid_textf(g, vx, y, vw, role, UI_A_BOLD, "%s %s %s", glyphs == UI_GLYPH_ASCII ? "<" : "◀",
                   val, glyphs == UI_GLYPH_ASCII ? ">" : "▶");
    else
        ui_text_fit(g, vx, y, vw, role, sel ? UI_A_BOLD : 0, val, glyphs);
}

/* The form in the FH rows from row top, FW cells wide, kept around the cursor. */
static void draw_form(ui_grid *g, setup_state *s, int top, int FW, int FH, ui_glyphs glyphs)
{
    s->page = FH;
    /* keep the cursor (and its section header) in view */
    if (s->cur < s->top)
        s->top = s->cur > 0 && s->rows[s->cur - 1].key < 0 ? s->cur - 1 : s->cur;
    if (s->cur >= s->top + FH)
        s->top = s->cur - FH + 1;
    if (s->top < 0)
        s->top = 0;
    for (int i = 0; i < FH && s->top + i < s->nrows; i++)
        draw_row(g, s, s->top + i, top + i, FW, glyphs);
    /* scroll hints */
    if (s->top > 0)
        grid_put(g, FW - 1, top, glyphs == UI_GLYPH_ASCII ? L'^' : L'▲', ROLE_DIM, 0);
    if (s->top + FH < s->nrows)
        grid_put(g, FW - 1, top + FH - 1, glyphs == UI_GLYPH_ASCII ? L'v' : L'▼', ROLE_DIM, 0);
}

/* The line above the footer: a prompt, a message (up to three rows), or a hint. */
static void draw_message(ui_grid *g, setup_state *s)
{
    int W = g->w, H = g->h, my = H - 2;
    if (s->prompt) {
        const char *q = s->prompt == PROMPT_LOAD   ? "Load preset: "
                        : s->prompt == PROMPT_SAVE ? "Save preset as: "
                                                   : "Find field: ";
        int n = grid_text(g, 0, my, W, ROLE_KEY, 0, q);
        for (int xx = n; xx < W; xx++)
            grid_put(g, xx, my, L' ', ROLE_EDIT, 0);
        char buf[600];
        snprintf(buf, sizeof buf, "%s_", s->prompt_buf);
        grid_text(g, n, my, W - n - 24, ROLE_EDIT, 0, buf);
        grid_text(g, W - 23, my, 23, ROLE_EDIT, 0, " Enter: ok · Esc: cancel");
    } else if (s->msg[0] || s->invalid[0]) {
        /* a long message takes up to three rows above the footer, never cut silently */
        char buf[1100];
        snprintf(buf, sizeof buf, "%s%s", s->msg[0] ? "" : "not valid yet: ",
                 s->msg[0] ? s->msg : s->invalid);
        int rows = (text_cells(buf) + W - 1) / W;
        if (rows > 3)
            rows = 3;
        if (rows < 1)
            rows = 1;
        ui_rect mr = {0, H - 1 - rows, W, rows};
        grid_fill(g, mr, L' ', ROLE_NORMAL, 0);
        ui_draw_wrapped(g, mr, s->msg[0] ? s->msg_role : ROLE_ERROR, buf);
    } else {
        grid_text(g, 0, my, W, ROLE_DIM, 0,
                  "Enter edits · Left/Right choose · a adds to the race · F5 or g starts · ? help");
    }
}

void setup_draw(ui_grid *g, setup_state *s, ui_glyphs glyphs)
{
    grid_clear(g);
    int W = g->w, H = g->h;
    if (W < 60 || H < 14) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "Terminal %dx%d is too small: the setup needs 60x14. Enlarge the window (q "
                 "quits).",
                 W, H);
        ui_draw_too_small(g, msg, CTX_SETUP, 0);
        return;
    }
    draw_topbar(g, s);
    ui_draw_footer(g, H - 1, CTX_SETUP, 0, 0);
    int FW = W >= 110 ? W * 55 / 100 : W >= 80 ? W - 34 : W - 26;
    int top = 1, FH = H - 3;
    draw_form(g, s, top, FW, FH, glyphs);
    /* right column: the field's help, then the race (or the preset list while loading) */
    int RX = FW + 1, RW = W - RX;
    int help_h = FH / 2 + 1;
    if (help_h > 11)
        help_h = 11;
    draw_field_help(g, (ui_rect){RX, top, RW, help_h}, s, glyphs);
    ui_rect lower = {RX, top + help_h, RW, FH - help_h};
    if (s->prompt == PROMPT_LOAD)
        draw_presets_hint(g, lower, s, glyphs);
    else
        draw_race(g, lower, s, glyphs);
    draw_message(g, s);
}
