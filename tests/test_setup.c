/* The setup form, driven by keys and drawn into the off-screen grid: the editor, the race,
 * cross-field problems, the MoE fields, and the size estimate in its top bar. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ncursesw/curses.h>

#include "engine/config.h"
#include "engine/memest.h"
#include "t.h"
#include "ui/bars.h"
#include "ui/dash.h"
#include "ui/grid.h"
#include "ui/heatmap.h"
#include "ui/history.h"
#include "ui/keys.h"
#include "ui/loadmap.h"
#include "ui/plot.h"
#include "ui/runview.h"
#include "ui/setup.h"
#include "ui/sweepgrid.h"
#include "ui/tail.h"
#include "ui/teach.h"
#include "ui/term.h"
#include "ui/widgets.h"

#include "grid_t.h"

static void keys_in(setup_state *s, const char *text)
{
    for (const char *p = text; *p; p++)
        setup_key(s, *p == '\n' ? '\r' : *p);
}

static const char *cur_key_name(const setup_state *s)
{
    return s->rows[s->cur].key >= 0 ? s->keys[s->rows[s->cur].key].key : "(header)";
}

/* The form's editor: find a key, a bad value kept in the editor, Esc, a good value. */
static void form_edit(setup_state *s)
{
    nl_error err = {0};
    keys_in(s, "/layers\n");
    T_CHECK(!strcmp(cur_key_name(s), "model.layers"), "find jumped to %s", cur_key_name(s));
    keys_in(s, "999");
    T_CHECK(s->editing && s->edit_bad && strstr(s->msg, "model.layers") && strstr(s->msg, "999"),
            "bad value while typing: '%s'", s->msg);
    setup_key(s, '\r');
    T_CHECK(s->editing, "Enter keeps a bad value in the editor");
    setup_key(s, 27);
    char buf[64];
    nl_config_get(&s->cfg, "model.layers", buf, sizeof buf, &err);
    T_CHECK(!s->editing && !strcmp(buf, "4"), "Esc leaves layers at %s", buf);
    keys_in(s, "6\n");
    T_CHECK(s->cfg.model.layers == 6, "layers %d", s->cfg.model.layers);
}

/* The race: runs added with 'a' up to the limit, named after their setup, one deleted. */
static void form_race(setup_state *s)
{
    keys_in(s, "/placement\n");
    setup_key(s, UI_KEY(KEY_LEFT));
    T_CHECK(s->cfg.model.placement == NL_PLACE_POST, "Left goes pre -> post");
    setup_key(s, 'a');
    setup_key(s, UI_KEY(KEY_RIGHT));
    setup_key(s, 'a');
    T_CHECK(s->nrace == 2 && !strcmp(s->race[0].name, "post-L6") &&
                !strcmp(s->race[1].name, "pre-L6"),
            "race of %d: %s, %s", s->nrace, s->race[0].name, s->race[1].name);
    for (int i = 0; i < 7; i++)
        setup_key(s, 'a');
    T_CHECK(s->nrace == NL_MAX_RACE && strstr(s->msg, "full"), "the race stops at %d: '%s'",
            s->nrace, s->msg);
    T_CHECK(!strcmp(s->race[2].name, "pre-L6-2"), "a repeated setup gets a new name: %s",
            s->race[2].name);
    setup_key(s, '\t');
    for (int i = 0; i < 10; i++)
        setup_key(s, UI_KEY(KEY_UP));
    setup_key(s, UI_KEY(KEY_DOWN));
    setup_key(s, 'd');
    T_CHECK(s->nrace == NL_MAX_RACE - 1 && !strcmp(s->race[1].name, "pre-L6-2"),
            "deleted the second run");
}

/* A cross-field problem is reported with the engine's message and blocks a start. */
static void form_cross_field(setup_state *s, nl_config *runs)
{
    setup_key(s, '\t');
    keys_in(s, "/heads\n5\n");
    T_CHECK(s->cfg.model.heads == 5 && strstr(s->invalid, "divisible"), "invalid: '%s'",
            s->invalid);
    int keep = s->nrace;
    s->nrace = 0;
    T_CHECK(setup_runs(s, runs) < 0 && strstr(s->msg, "divisible"), "start refused: '%s'", s->msg);
    keys_in(s, "\n");
    setup_key(s, 21);
    keys_in(s, "4\n");
    T_CHECK(setup_runs(s, runs) == 1 && !strcmp(runs[0].name, "pre-L6"), "a single run: %s",
            runs[0].name);
    s->nrace = keep;
    T_CHECK(setup_runs(s, runs) == keep, "the race");
}

/* MoE fields: the others are dimmed while experts is 0; experts=4 is taken; top_k above it
 * is flagged while typed, and refused at the start. */
static void form_moe(setup_state *s, nl_config *runs)
{
    keys_in(s, "/renorm\n");
    T_CHECK(!strcmp(cur_key_name(s), "model.moe.renorm"), "found %s", cur_key_name(s));
    {
        ui_grid g;
        grid_init(&g, 80, 24);
        setup_draw(&g, s, UI_GLYPH_BRAILLE);
        int dim = 0;
        for (int y = 0; y < 24; y++)
            if (row_has(&g, y, "  every ") || row_has(&g, y, "  aux_loss "))
                dim += grid_at(&g, 2, y)->role == ROLE_DIM;
        T_CHECK(dim == 2, "unused MoE fields dimmed (%d)", dim);
        grid_free(&g);
    }
    keys_in(s, "/experts\n");
    T_CHECK(!strcmp(cur_key_name(s), "model.moe.experts"), "found %s", cur_key_name(s));
    keys_in(s, "4");
    T_CHECK(s->editing && !s->edit_bad && strstr(s->msg, "model.moe.experts = 4"),
            "experts=4 while typed: '%s'", s->msg);
    keys_in(s, "\n");
    T_CHECK(!s->editing && s->cfg.model.moe_experts == 4 && !s->invalid[0], "experts %d",
            s->cfg.model.moe_experts);
    keys_in(s, "x");
    T_CHECK(!s->editing, "a letter does not start an edit");
    setup_key(s, UI_KEY(KEY_DOWN));
    keys_in(s, "9");
    T_CHECK(s->editing && !s->edit_bad && strstr(s->msg, "must be <= model.moe.experts (4)"),
            "top_k=9 flagged while typed: '%s'", s->msg);
    keys_in(s, "\n");
    int keep = s->nrace;
    s->nrace = 0;
    T_CHECK(setup_runs(s, runs) < 0 && strstr(s->msg, "top_k"), "start refused: '%s'", s->msg);
    setup_key(s, '\r');
    setup_key(s, 21);
    keys_in(s, "2\n");
    T_CHECK(setup_runs(s, runs) == 1 && runs[0].model.moe_experts == 4 &&
                !strcmp(runs[0].name, "pre-L6-moe4"),
            "an MoE run: %s", runs[0].name);
    s->nrace = keep;
}

static void test_setup_form(void)
{
    nl_config *c = malloc(sizeof *c);
    nl_error err = {0};
    nl_config_defaults(c);
    int rc = nl_config_load_string(c, nl_default_preset_yaml, nl_default_preset_yaml_len, "default",
                                   &err);
    T_CHECK(rc == 0, "default preset: %s", err.msg);
    setup_state *s = malloc(sizeof *s);
    T_CHECK(setup_init(s, c, NULL, "presets") == 0, "setup_init");
    T_CHECK(!strcmp(cur_key_name(s), "model.placement"), "starts on the placement, not %s",
            cur_key_name(s));
    nl_config *runs = malloc(NL_MAX_RACE * sizeof *runs);
    form_edit(s);
    form_race(s);
    form_cross_field(s, runs);
    form_moe(s, runs);

    ui_grid g;
    grid_init(&g, 80, 24);
    setup_draw(&g, s, UI_GLYPH_BRAILLE);
    dump(__func__, &g);
    int race = 0, moe_on = 0;
    for (int y = 0; y < 24; y++) {
        race |= row_has(&g, y, "Race 8/8") || row_has(&g, y, "Race 7/8");
        if (row_has(&g, y, "  every "))
            moe_on = grid_at(&g, 2, y)->role == ROLE_NORMAL;
    }
    T_CHECK(race, "race box");
    T_CHECK(moe_on, "MoE fields no longer dimmed with experts=4");
    T_CHECK(row_has(&g, 0, "MoE 4 experts"), "top bar");
    T_CHECK(row_has(&g, 23, "F5") && row_has(&g, 23, "q quit"), "footer");
    grid_free(&g);
    setup_free(s);
    free(s);
    free(runs);
    free(c);
}

/* The setup form's top bar gives the parameter count and the memory estimate as the config
 * is edited, from engine/memest.c, and turns to the error colour past the free memory. */
static void test_setup_size(void)
{
    nl_config *c = malloc(sizeof *c);
    nl_config_defaults(c);
    nl_config_load_string(c, nl_default_preset_yaml, nl_default_preset_yaml_len, "default", NULL);
    setup_state *s = malloc(sizeof *s);
    T_CHECK(setup_init(s, c, NULL, "presets") == 0, "setup_init");
    char want[96], p[24], m[24], text[96];
    nl_mem_estimate e;
    for (int round = 0; round < 2; round++) {
        nl_mem_estimate_config(&s->cfg, nl_config_vocab(&s->cfg), false, &e);
        plot_fmt_count(e.params, p, sizeof p);
        nl_mem_format(e.total, m, sizeof m);
        snprintf(want, sizeof want, "%s params · ~%s", p, m);
        ui_grid g;
        grid_init(&g, 140, 30);
        setup_draw(&g, s, UI_GLYPH_BRAILLE);
        dump(__func__, &g);
        T_CHECK(row_has(&g, 0, want), "round %d: top bar lacks '%s'", round, want);
        grid_free(&g);
        keys_in(s, "/layers\n");
        keys_in(s, "12\n"); /* typing replaces the value */
    }
    T_CHECK(s->cfg.model.layers == 12, "layers %d", s->cfg.model.layers);
    keys_in(s, "/d_model\n8192\n/heads\n64\n/layers\n256\n");
    int role = setup_size_text(s, text, sizeof text);
    T_CHECK(role == ROLE_ERROR && strstr(text, "more than the"), "too large: %d '%s'", role, text);
    setup_free(s);
    free(s);
    free(c);
}

int main(void)
{
    (void)t_skip; /* every case here runs everywhere */
    T_RUN(test_setup_size);
    T_RUN(test_setup_form);
    T_END();
}
