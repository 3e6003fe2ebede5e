#include <ctype.h>
#include <math.h>
#include <ncursesw/curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "setup_internal.h"
#include "term.h"

/* Set key to value on the form; on failure the engine's message goes to the message line. */
static int apply(setup_state *s, const char *key, const char *value)
{
    nl_error err = {0};
    nl_config *tmp = malloc(sizeof *tmp);
    if (!tmp)
        return -1;
    *tmp = s->cfg;
    int rc = nl_config_set(tmp, key, value, &err);
    if (rc == 0) {
        s->cfg = *tmp;
        if (!strcmp(key, "name"))
            s->name_edited = 1;
        setup_revalidate(s);
        setup_set_msg(s, ROLE_OK, "%s = %s", key, value);
        if (s->invalid[0])
            setup_set_msg(s, ROLE_ERROR, "%s", s->invalid);
    } else {
        setup_set_msg(s, ROLE_ERROR, "%s", err.msg);
    }
    free(tmp);
    return rc;
}

/* The engine's verdict on the value being typed, without keeping it. */
static void check_edit(setup_state *s)
{
    const nl_config_key_info *k = setup_cur_key(s);
    nl_error err = {0};
    nl_config *tmp = malloc(sizeof *tmp);
    if (!k || !tmp) {
        free(tmp);
        return;
    }
    *tmp = s->cfg;
    s->edit_bad = nl_config_set(tmp, k->key, s->edit, &err) != 0;
    if (s->edit_bad)
        setup_set_msg(s, ROLE_ERROR, "%s", err.msg);
    else if (nl_config_validate(tmp, &err)) /* fine alone; another field must change too */
        setup_set_msg(s, ROLE_ERROR, "%s = %s would leave: %s", k->key, s->edit, err.msg);
    else
        setup_set_msg(s, ROLE_OK, "%s = %s (Enter keeps it, Esc cancels)", k->key, s->edit);
    free(tmp);
}

static void cycle_choice(setup_state *s, const nl_config_key_info *k, int dir)
{
    char cur[256];
    nl_error err = {0};
    if (nl_config_get(&s->cfg, k->key, cur, sizeof cur, &err))
        return;
    if (!strcmp(k->kind, "bool")) {
        apply(s, k->key, !strcmp(cur, "true") ? "false" : "true");
        return;
    }
    if (!strcmp(k->kind, "int") || !strcmp(k->kind, "float")) {
        char v[64];
        double x = atof(cur);
        long long step = 1;
        if (!strcmp(k->key, "model.d_model")) {
            /* to the next width the heads divide (evenly, with rope's even head_dim) */
            step = s->cfg.model.heads > 0 ? s->cfg.model.heads : 1;
            if (s->cfg.model.pos == NL_POS_ROPE)
                step *= 2;
        }
        long long xi = llround(x), nx = dir > 0 ? (xi / step + 1) * step : ((xi - 1) / step) * step;
        if (nx < step)
            nx = step;
        if (!strcmp(k->kind, "int"))
            snprintf(v, sizeof v, "%lld", step > 1 ? nx : xi + dir);
        else
            snprintf(v, sizeof v, "%.6g", dir > 0 ? (x > 0 ? x * 2 : 1e-3) : x / 2);
        apply(s, k->key, v);
        return;
    }
    if (!k->choices)
        return;
    /* the choices "a|b|c" */
    char list[512];
    snprintf(list, sizeof list, "%s", k->choices);
    char *opt[64];
    int n = 0, at = -1;
    for (char *tok = strtok(list, "|"); tok && n < 64; tok = strtok(NULL, "|")) {
        if (!strcmp(tok, cur))
            at = n;
        opt[n++] = tok;
    }
    if (n == 0)
        return;
    int next = at < 0 ? 0 : ((at + dir) % n + n) % n;
    apply(s, k->key, opt[next]);
}

static void start_edit(setup_state *s, const char *initial)
{
    const nl_config_key_info *k = setup_cur_key(s);
    if (!k)
        return;
    s->editing = 1;
    s->edit_bad = 0;
    if (initial) {
        snprintf(s->edit, sizeof s->edit, "%s", initial);
        check_edit(s);
    } else {
        nl_error err = {0};
        if (nl_config_get(&s->cfg, k->key, s->edit, sizeof s->edit, &err))
            s->edit[0] = '\0';
        setup_set_msg(s, ROLE_OK, "editing %s: Enter keeps, Esc cancels", k->key);
    }
}

static int edit_key(setup_state *s, int key)
{
    const nl_config_key_info *k = setup_cur_key(s);
    size_t n = strlen(s->edit);
    if (key == 27) { /* Esc */
        s->editing = 0;
        setup_set_msg(s, ROLE_NORMAL, "edit cancelled");
        return 1;
    }
    if (key == '\r' || key == '\n' || key == UI_KEY(KEY_ENTER) || key == UI_KEY(KEY_UP) ||
        key == UI_KEY(KEY_DOWN) || key == '\t') {
        if (k && apply(s, k->key, s->edit) == 0) {
            s->editing = 0;
            if (key == UI_KEY(KEY_UP))
                setup_move_cur(s, -1);
            if (key == UI_KEY(KEY_DOWN) || key == '\t')
                setup_move_cur(s, 1);
        } else {
            s->edit_bad = 1;
        }
        return 1;
    }
    if (key == UI_KEY(KEY_BACKSPACE) || key == 127 || key == 8) {
        if (n > 0)
            s->edit[n - 1] = '\0';
        check_edit(s);
        return 1;
    }
    if (key == 21) { /* ^U */
        s->edit[0] = '\0';
        check_edit(s);
        return 1;
    }
    if (key >= 32 && key < 127 && n + 1 < sizeof s->edit) {
        s->edit[n] = (char)key;
        s->edit[n + 1] = '\0';
        check_edit(s);
        return 1;
    }
    return 1; /* other keys do nothing while editing */
}

static void prompt_run(setup_state *s)
{
    setup_prompt p = s->prompt;
    s->prompt = PROMPT_NONE;
    if (!s->prompt_buf[0]) {
        setup_set_msg(s, ROLE_NORMAL, "cancelled");
        return;
    }
    if (p == PROMPT_LOAD) {
        setup_load(s, s->prompt_buf);
        return;
    }
    if (p == PROMPT_FIND) {
        /* an exact last part first ("layers" is model.layers, not data.order's neighbours) */
        int hit = -1;
        for (int pass = 0; pass < 2 && hit < 0; pass++)
            for (int r = 0; r < s->nrows && hit < 0; r++) {
                if (s->rows[r].key < 0)
                    continue;
                const char *k = s->keys[s->rows[r].key].key;
                if (pass == 0
                        ? !strcmp(s->rows[r].label, s->prompt_buf) || !strcmp(k, s->prompt_buf)
                        : strstr(k, s->prompt_buf) != NULL)
                    hit = r;
            }
        if (hit < 0) {
            setup_set_msg(s, ROLE_ERROR, "no field matches '%s'", s->prompt_buf);
        } else {
            s->cur = hit;
            s->race_focus = 0;
            s->msg[0] = '\0';
        }
        return;
    }
    if (access(s->prompt_buf, F_OK) == 0) {
        /* ask first: the next key y replaces it */
        s->confirm_save = 1;
        setup_set_msg(s, ROLE_ERROR, "%s exists: y replaces it, any other key keeps it", s->prompt_buf);
        return;
    }
    setup_save_race(s, s->prompt_buf);
}

static int prompt_key(setup_state *s, int key)
{
    size_t n = strlen(s->prompt_buf);
    if (key == 27) {
        s->prompt = PROMPT_NONE;
        setup_set_msg(s, ROLE_NORMAL, "cancelled");
    } else if (key == '\r' || key == '\n' || key == UI_KEY(KEY_ENTER)) {
        prompt_run(s);
    } else if (key == UI_KEY(KEY_BACKSPACE) || key == 127 || key == 8) {
        if (n > 0)
            s->prompt_buf[n - 1] = '\0';
    } else if (key == 21) {
        s->prompt_buf[0] = '\0';
    } else if (key >= 32 && key < 127 && n + 1 < sizeof s->prompt_buf) {
        s->prompt_buf[n] = (char)key;
        s->prompt_buf[n + 1] = '\0';
    }
    return 1;
}

/* Enter: the race entry under the cursor into the form; on a field, its next choice or an
 * edit. */
static void key_enter(setup_state *s, const nl_config_key_info *k)
{
    if (s->race_focus) {
        if (s->nrace > 0) {
            s->cfg = s->race[s->race_sel];
            s->entry = s->race_sel;
            setup_revalidate(s);
            setup_set_msg(s, ROLE_OK, "editing %s: change fields, then a saves it back in place",
                          s->cfg.name);
            s->race_focus = 0;
        }
        return;
    }
    if (!k)
        return;
    if (!strcmp(k->kind, "enum") || !strcmp(k->kind, "bool"))
        cycle_choice(s, k, 1);
    else
        start_edit(s, NULL);
}

/* Moving in the form or the race list, changing a field. */
static void key_form(setup_state *s, ui_action act, const nl_config_key_info *k)
{
    switch (act) {
    case ACT_FIELD_UP:
        s->msg[0] = '\0';
        if (s->race_focus)
            s->race_sel = s->race_sel > 0 ? s->race_sel - 1 : 0;
        else
            setup_move_cur(s, -1);
        break;
    case ACT_FIELD_DOWN:
        s->msg[0] = '\0';
        if (s->race_focus)
            s->race_sel = s->race_sel + 1 < s->nrace ? s->race_sel + 1 : s->race_sel;
        else
            setup_move_cur(s, 1);
        break;
    case ACT_PAGE_UP:
        setup_move_cur(s, -(s->page > 2 ? s->page - 2 : 1));
        break;
    case ACT_PAGE_DOWN:
        setup_move_cur(s, s->page > 2 ? s->page - 2 : 1);
        break;
    case ACT_PREV_CHOICE:
    case ACT_NEXT_CHOICE:
        if (!s->race_focus && k)
            cycle_choice(s, k, act == ACT_NEXT_CHOICE ? 1 : -1);
        break;
    case ACT_EDIT:
        key_enter(s, k);
        break;
    default:
        break;
    }
}

/* The race, and the prompts (load, find, save). */
static void key_race(setup_state *s, ui_action act, const nl_config_key_info *k)
{
    switch (act) {
    case ACT_RACE_ADD:
        setup_race_add(s);
        break;
    case ACT_RACE_DEL:
        setup_race_del(s);
        break;
    case ACT_RACE_FOCUS:
        if (s->nrace > 0)
            s->race_focus = !s->race_focus;
        else
            setup_set_msg(s, ROLE_NORMAL, "the race is empty: a adds the current setup");
        break;
    case ACT_RACE_APPLY:
        setup_race_apply(s, k);
        break;
    case ACT_LOAD:
    case ACT_FIND:
        s->prompt = act == ACT_LOAD ? PROMPT_LOAD : PROMPT_FIND;
        s->prompt_buf[0] = '\0';
        break;
    case ACT_SAVE_PRESET:
        s->confirm_save = 0;
        s->prompt = PROMPT_SAVE;
        snprintf(s->prompt_buf, sizeof s->prompt_buf, "%s.yaml",
                 s->cfg.name[0] ? s->cfg.name : "setup");
        break;
    default:
        key_form(s, act, k);
        break;
    }
}

setup_result setup_key(setup_state *s, int key)
{
    if (s->confirm_save) {
        s->confirm_save = 0;
        if (key == 'y' || key == 'Y')
            setup_save_race(s, s->prompt_buf);
        else
            setup_set_msg(s, ROLE_NORMAL, "not saved: %s kept as it was", s->prompt_buf);
        return SETUP_NONE;
    }
    if (s->prompt) {
        prompt_key(s, key);
        return SETUP_NONE;
    }
    if (s->editing) {
        edit_key(s, key);
        return SETUP_NONE;
    }
    const nl_config_key_info *k = setup_cur_key(s);
    const ui_binding *b = keys_find(key, CTX_SETUP);
    if (!b) {
        /* typing a number into a numeric field starts editing it */
        if (k && (isdigit(key) || key == '.') && key < 128 &&
            (!strcmp(k->kind, "int") || !strcmp(k->kind, "float"))) {
            char init[2] = {(char)key, 0};
            start_edit(s, init);
        }
        return SETUP_NONE;
    }
    if (b->act == ACT_QUIT)
        return SETUP_QUIT;
    if (b->act == ACT_HELP)
        return SETUP_HELP;
    if (b->act == ACT_START)
        return SETUP_START;
    key_race(s, b->act, k);
    return SETUP_NONE;
}
