#include "setup.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <ncursesw/curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "widgets.h"
#include "engine/memest.h"
#include "keys.h"
#include "plot.h"
#include "term.h"

static const char *section_of(const char *key, char *buf, int len)
{
    const char *dot = strrchr(key, '.');
    if (!dot) {
        snprintf(buf, (size_t)len, "general");
        return buf;
    }
    snprintf(buf, (size_t)len, "%.*s", (int)(dot - key), key);
    return buf;
}

static int key_is_moe(const char *key)
{
    return !strncmp(key, "model.moe.", 10);
}
static int key_is_custom(const char *key)
{
    return !strncmp(key, "model.custom.", 13);
}

/* A key that does nothing with the current setup: shown dimmed, still editable. */
static int key_unused(const setup_state *s, const char *key)
{
    if (key_is_custom(key))
        return s->cfg.model.placement != NL_PLACE_CUSTOM;
    if (key_is_moe(key) && strcmp(key, "model.moe.experts"))
        return s->cfg.model.moe_experts == 0;
    return 0;
}

static void revalidate(setup_state *s)
{
    nl_error err = {0};
    s->invalid[0] = '\0';
    if (nl_config_validate(&s->cfg, &err))
        snprintf(s->invalid, sizeof s->invalid, "%s", err.msg);
}

static void set_msg(setup_state *s, int role, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_msg(setup_state *s, int role, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    va_end(ap);
    s->msg_role = role;
}

int setup_init(setup_state *s, const nl_config *cfg, const char *preset, const char *presets_dir)
{
    memset(s, 0, sizeof *s);
    s->entry = -1;
    s->cfg = *cfg;
    snprintf(s->preset, sizeof s->preset, "%s", preset ? preset : "");
    snprintf(s->presets_dir, sizeof s->presets_dir, "%s", presets_dir ? presets_dir : "presets");
    s->keys = nl_config_keys(&s->nkeys);
    s->rows = calloc((size_t)(2 * s->nkeys + 1), sizeof *s->rows);
    s->race = calloc(NL_MAX_RACE, sizeof *s->race);
    if (!s->rows || !s->race) {
        setup_free(s);
        return -1;
    }
    char prev[128] = "", sec[128];
    for (int i = 0; i < s->nkeys; i++) {
        section_of(s->keys[i].key, sec, sizeof sec);
        if (strcmp(sec, prev)) {
            s->rows[s->nrows].key = -1;
            snprintf(s->rows[s->nrows].label, sizeof s->rows[s->nrows].label, "%.47s", sec);
            s->nrows++;
            snprintf(prev, sizeof prev, "%s", sec);
        }
        const char *dot = strrchr(s->keys[i].key, '.');
        s->rows[s->nrows].key = i;
        snprintf(s->rows[s->nrows].label, sizeof s->rows[s->nrows].label, "%s",
                 dot ? dot + 1 : s->keys[i].key);
        s->nrows++;
    }
    /* start on the placement: the point of the lab */
    s->cur = 0;
    for (int r = 0; r < s->nrows; r++)
        if (s->rows[r].key >= 0 &&
            (s->cur == 0 || !strcmp(s->keys[s->rows[r].key].key, "model.placement"))) {
            s->cur = r;
            if (!strcmp(s->keys[s->rows[r].key].key, "model.placement"))
                break;
        }
    if (cfg->n_runs > 0) {
        for (int i = 0; i < cfg->n_runs && s->nrace < NL_MAX_RACE; i++) {
            nl_error err = {0};
            if (nl_config_race_entry(cfg, i, &s->race[s->nrace], &err)) {
                set_msg(s, ROLE_ERROR, "race entry %d: %s", i, err.msg);
                continue;
            }
            snprintf(s->race[s->nrace].name, sizeof s->race[s->nrace].name, "%s",
                     cfg->runs[i].name);
            s->race[s->nrace].n_runs = 0;
            s->nrace++;
        }
        s->cfg.n_runs = 0;
    }
    revalidate(s);
    return 0;
}

void setup_free(setup_state *s)
{
    free(s->rows);
    free(s->race);
    s->rows = NULL;
    s->race = NULL;
}

int setup_load(setup_state *s, const char *path)
{
    char full[1024];
    snprintf(full, sizeof full, "%s", path);
    if (access(full, R_OK) != 0 && !strchr(path, '/')) {
        snprintf(full, sizeof full, "%s/%s%s", s->presets_dir, path,
                 strstr(path, ".yaml") ? "" : ".yaml");
    }
    nl_config *c = malloc(sizeof *c);
    if (!c)
        return -1;
    nl_error err = {0};
    nl_config_defaults(c);
    if (nl_config_load_file(c, full, &err)) {
        set_msg(s, ROLE_ERROR, "%s", err.msg);
        free(c);
        return -1;
    }
    int keep_cur = s->cur, keep_top = s->top;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", s->presets_dir);
    setup_free(s);
    int rc = setup_init(s, c, full, dir);
    free(c);
    if (rc)
        return -1;
    s->cur = keep_cur;
    s->top = keep_top;
    if (!s->msg[0])
        set_msg(s, ROLE_OK, "loaded %s%s", full, s->nrace ? " (with its race)" : "");
    return 0;
}

void setup_run_name(const nl_config *c, int own_name, char taken[][64], int n, char *out, int len)
{
    char base[64];
    if (own_name && c->name[0])
        snprintf(base, sizeof base, "%s", c->name);
    else if (c->model.moe_experts > 0)
        snprintf(base, sizeof base, "%s-L%d-moe%d", nl_placement_name(c->model.placement),
                 c->model.layers, c->model.moe_experts);
    else
        snprintf(base, sizeof base, "%s-L%d", nl_placement_name(c->model.placement),
                 c->model.layers);
    for (int k = 1;; k++) {
        char cand[64];
        if (k == 1)
            snprintf(cand, sizeof cand, "%s", base);
        else
            snprintf(cand, sizeof cand, "%.50s-%d", base, k % 1000);
        int used = 0;
        for (int i = 0; i < n; i++)
            used |= !strcmp(taken[i], cand);
        if (!used) {
            snprintf(out, (size_t)len, "%s", cand);
            return;
        }
    }
}

static void race_add(setup_state *s)
{
    if (s->entry >= 0 && s->entry < s->nrace) {
        /* the entry loaded into the form goes back in place, under its own name */
        if (s->invalid[0]) {
            set_msg(s, ROLE_ERROR, "not saved: %s", s->invalid);
            return;
        }
        int i = s->entry;
        char name[64];
        snprintf(name, sizeof name, "%s", s->race[i].name);
        s->race[i] = s->cfg;
        s->race[i].n_runs = 0;
        if (!s->name_edited)
            snprintf(s->race[i].name, sizeof s->race[i].name, "%s", name);
        s->race_sel = i;
        s->entry = -1;
        set_msg(s, ROLE_OK, "updated %s in place (a again adds the form as a new run)",
                s->race[i].name);
        return;
    }
    if (s->nrace >= NL_MAX_RACE) {
        set_msg(s, ROLE_ERROR, "the race is full (%d runs)", NL_MAX_RACE);
        return;
    }
    if (s->invalid[0]) {
        set_msg(s, ROLE_ERROR, "not added: %s", s->invalid);
        return;
    }
    char taken[NL_MAX_RACE][64], name[64];
    for (int i = 0; i < s->nrace; i++)
        snprintf(taken[i], 64, "%s", s->race[i].name);
    nl_config *c = &s->race[s->nrace];
    *c = s->cfg;
    c->n_runs = 0;
    setup_run_name(c, s->name_edited, taken, s->nrace, name, sizeof name);
    nl_error err = {0};
    if (nl_config_set(c, "name", name, &err)) {
        set_msg(s, ROLE_ERROR, "%s", err.msg);
        return;
    }
    s->race_sel = s->nrace;
    s->nrace++;
    set_msg(s, ROLE_OK, "added %s to the race (%d/%d); F5 starts the race", name, s->nrace,
            NL_MAX_RACE);
}

/* The form's value of field k into every run of the race. */
static void race_apply(setup_state *s, const nl_config_key_info *k)
{
    if (!k || s->race_focus) {
        set_msg(s, ROLE_ERROR, "select a field in the form first");
        return;
    }
    if (s->nrace == 0) {
        set_msg(s, ROLE_ERROR, "the race is empty: a adds the current setup");
        return;
    }
    if (!strcmp(k->key, "name")) {
        set_msg(s, ROLE_ERROR, "runs keep their own names");
        return;
    }
    char val[512];
    nl_error err = {0};
    if (nl_config_get(&s->cfg, k->key, val, sizeof val, &err)) {
        set_msg(s, ROLE_ERROR, "%s", err.msg);
        return;
    }
    int done = 0;
    char bad[600] = "";
    for (int i = 0; i < s->nrace; i++) {
        nl_config c = s->race[i];
        if (nl_config_set(&c, k->key, val, &err) || nl_config_validate(&c, &err)) {
            if (!bad[0])
                snprintf(bad, sizeof bad, "%s: %.500s", c.name, err.msg);
            continue;
        }
        s->race[i] = c;
        done++;
    }
    if (bad[0])
        set_msg(s, ROLE_ERROR, "%s = %s set in %d of %d runs; not in %s", k->key, val, done,
                s->nrace, bad);
    else
        set_msg(s, ROLE_OK, "%s = %s in every run of the race (%d)", k->key, val, done);
}

/* A YAML scalar: plain when it is safe so, else double-quoted. */
static void yaml_scalar(char *out, size_t len, const char *v)
{
    int plain = *v && !strchr("-?:,[]{}#&*!|>'\"%@` ", *v);
    for (const char *p = v; *p && plain; p++)
        plain = isalnum((unsigned char)*p) || strchr("._+-/=", *p) ||
                (*p == ':' && p[1] && p[1] != ' ');
    if (plain) {
        snprintf(out, len, "%s", v);
        return;
    }
    size_t n = 0;
    out[n++] = '"';
    for (const char *p = v; *p && n + 3 < len; p++) {
        if (*p == '"' || *p == '\\')
            out[n++] = '\\';
        out[n++] = *p;
    }
    out[n++] = '"';
    out[n] = '\0';
}

char *setup_race_yaml(const setup_state *s)
{
    nl_config base = s->cfg;
    base.n_runs = 0;
    char *head = nl_config_to_yaml(&base);
    if (!head)
        return NULL;
    size_t cap = strlen(head) + 256 + (size_t)s->nrace * 4096, n = 0;
    char *out = malloc(cap);
    if (!out) {
        free(head);
        return NULL;
    }
    n += (size_t)snprintf(out, cap, "%s", head);
    free(head);
    if (s->nrace > 0)
        n += (size_t)snprintf(out + n, cap - n, "runs:\n");
    for (int i = 0; i < s->nrace && n < cap; i++) {
        char name[160];
        yaml_scalar(name, sizeof name, s->race[i].name);
        n += (size_t)snprintf(out + n, cap - n, "  - name: %s\n    set: {", name);
        int first = 1;
        for (int j = 0; j < s->nkeys && n < cap; j++) {
            const char *key = s->keys[j].key;
            char a[512], b[512], q[600];
            nl_error err = {0};
            if (!strcmp(key, "name") || nl_config_get(&s->race[i], key, a, sizeof a, &err) ||
                nl_config_get(&base, key, b, sizeof b, &err) || !strcmp(a, b))
                continue;
            yaml_scalar(q, sizeof q, a);
            n += (size_t)snprintf(out + n, cap - n, "%s%s: %s", first ? "" : ", ", key, q);
            first = 0;
        }
        if (n < cap)
            n += (size_t)snprintf(out + n, cap - n, "}\n");
    }
    if (n >= cap) {
        free(out);
        return NULL;
    }
    return out;
}

static void save_race(setup_state *s, const char *path)
{
    char *y = setup_race_yaml(s);
    FILE *f = y ? fopen(path, "w") : NULL;
    if (!f) {
        set_msg(s, ROLE_ERROR, "cannot write %s: %s", path, y ? strerror(errno) : "out of memory");
        free(y);
        return;
    }
    int ok = fputs(y, f) >= 0;
    ok &= fclose(f) == 0;
    free(y);
    if (!ok) {
        set_msg(s, ROLE_ERROR, "cannot write %s: %s", path, strerror(errno));
        return;
    }
    if (s->nrace)
        set_msg(s, ROLE_OK, "saved the setup and its race of %d to %s (o opens it)", s->nrace,
                path);
    else
        set_msg(s, ROLE_OK, "saved the setup to %s (o opens it)", path);
}

static void race_del(setup_state *s)
{
    if (s->nrace == 0) {
        set_msg(s, ROLE_ERROR, "the race is empty");
        return;
    }
    int i = s->race_sel < s->nrace ? s->race_sel : s->nrace - 1;
    char name[64];
    snprintf(name, sizeof name, "%s", s->race[i].name);
    memmove(&s->race[i], &s->race[i + 1], (size_t)(s->nrace - i - 1) * sizeof *s->race);
    s->nrace--;
    if (s->entry == i)
        s->entry = -1;
    else if (s->entry > i)
        s->entry--;
    if (s->race_sel >= s->nrace)
        s->race_sel = s->nrace > 0 ? s->nrace - 1 : 0;
    if (s->nrace == 0)
        s->race_focus = 0;
    set_msg(s, ROLE_OK, "removed %s from the race", name);
}

int setup_runs(setup_state *s, nl_config *out)
{
    nl_error err = {0};
    if (s->nrace > 0) {
        for (int i = 0; i < s->nrace; i++) {
            if (nl_config_validate(&s->race[i], &err)) {
                set_msg(s, ROLE_ERROR, "%s: %s", s->race[i].name, err.msg);
                return -1;
            }
            out[i] = s->race[i];
        }
        return s->nrace;
    }
    if (s->invalid[0]) {
        set_msg(s, ROLE_ERROR, "cannot start: %s", s->invalid);
        return -1;
    }
    out[0] = s->cfg;
    out[0].n_runs = 0;
    char name[64];
    setup_run_name(&s->cfg, s->name_edited, NULL, 0, name, sizeof name);
    if (nl_config_set(&out[0], "name", name, &err)) {
        set_msg(s, ROLE_ERROR, "%s", err.msg);
        return -1;
    }
    return 1;
}

static const nl_config_key_info *cur_key(const setup_state *s)
{
    if (s->cur < 0 || s->cur >= s->nrows || s->rows[s->cur].key < 0)
        return NULL;
    return &s->keys[s->rows[s->cur].key];
}

static void move_cur(setup_state *s, int delta)
{
    int r = s->cur, steps = delta < 0 ? -delta : delta, dir = delta < 0 ? -1 : 1;
    while (steps > 0) {
        int n = r + dir;
        while (n >= 0 && n < s->nrows && s->rows[n].key < 0)
            n += dir;
        if (n < 0 || n >= s->nrows)
            break;
        r = n;
        steps--;
    }
    s->cur = r;
}

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
        revalidate(s);
        set_msg(s, ROLE_OK, "%s = %s", key, value);
        if (s->invalid[0])
            set_msg(s, ROLE_ERROR, "%s", s->invalid);
    } else {
        set_msg(s, ROLE_ERROR, "%s", err.msg);
    }
    free(tmp);
    return rc;
}

/* The engine's verdict on the value being typed, without keeping it. */
static void check_edit(setup_state *s)
{
    const nl_config_key_info *k = cur_key(s);
    nl_error err = {0};
    nl_config *tmp = malloc(sizeof *tmp);
    if (!k || !tmp) {
        free(tmp);
        return;
    }
    *tmp = s->cfg;
    s->edit_bad = nl_config_set(tmp, k->key, s->edit, &err) != 0;
    if (s->edit_bad)
        set_msg(s, ROLE_ERROR, "%s", err.msg);
    else if (nl_config_validate(tmp, &err)) /* fine alone; another field must change too */
        set_msg(s, ROLE_ERROR, "%s = %s would leave: %s", k->key, s->edit, err.msg);
    else
        set_msg(s, ROLE_OK, "%s = %s (Enter keeps it, Esc cancels)", k->key, s->edit);
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
    const nl_config_key_info *k = cur_key(s);
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
        set_msg(s, ROLE_OK, "editing %s: Enter keeps, Esc cancels", k->key);
    }
}

static int edit_key(setup_state *s, int key)
{
    const nl_config_key_info *k = cur_key(s);
    size_t n = strlen(s->edit);
    if (key == 27) { /* Esc */
        s->editing = 0;
        set_msg(s, ROLE_NORMAL, "edit cancelled");
        return 1;
    }
    if (key == '\r' || key == '\n' || key == UI_KEY(KEY_ENTER) || key == UI_KEY(KEY_UP) ||
        key == UI_KEY(KEY_DOWN) || key == '\t') {
        if (k && apply(s, k->key, s->edit) == 0) {
            s->editing = 0;
            if (key == UI_KEY(KEY_UP))
                move_cur(s, -1);
            if (key == UI_KEY(KEY_DOWN) || key == '\t')
                move_cur(s, 1);
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
        set_msg(s, ROLE_NORMAL, "cancelled");
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
            set_msg(s, ROLE_ERROR, "no field matches '%s'", s->prompt_buf);
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
        set_msg(s, ROLE_ERROR, "%s exists: y replaces it, any other key keeps it", s->prompt_buf);
        return;
    }
    save_race(s, s->prompt_buf);
}

static int prompt_key(setup_state *s, int key)
{
    size_t n = strlen(s->prompt_buf);
    if (key == 27) {
        s->prompt = PROMPT_NONE;
        set_msg(s, ROLE_NORMAL, "cancelled");
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

setup_result setup_key(setup_state *s, int key)
{
    if (s->confirm_save) {
        s->confirm_save = 0;
        if (key == 'y' || key == 'Y')
            save_race(s, s->prompt_buf);
        else
            set_msg(s, ROLE_NORMAL, "not saved: %s kept as it was", s->prompt_buf);
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
    const nl_config_key_info *k = cur_key(s);
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
    switch (b->act) {
    case ACT_QUIT:
        return SETUP_QUIT;
    case ACT_HELP:
        return SETUP_HELP;
    case ACT_START:
        return SETUP_START;
    case ACT_FIELD_UP:
        s->msg[0] = '\0';
        if (s->race_focus)
            s->race_sel = s->race_sel > 0 ? s->race_sel - 1 : 0;
        else
            move_cur(s, -1);
        break;
    case ACT_FIELD_DOWN:
        s->msg[0] = '\0';
        if (s->race_focus)
            s->race_sel = s->race_sel + 1 < s->nrace ? s->race_sel + 1 : s->race_sel;
        else
            move_cur(s, 1);
        break;
    case ACT_PAGE_UP:
        move_cur(s, -(s->page > 2 ? s->page - 2 : 1));
        break;
    case ACT_PAGE_DOWN:
        move_cur(s, s->page > 2 ? s->page - 2 : 1);
        break;
    case ACT_PREV_CHOICE:
    case ACT_NEXT_CHOICE:
        if (s->race_focus || !k)
            break;
        cycle_choice(s, k, b->act == ACT_NEXT_CHOICE ? 1 : -1);
        break;
    case ACT_EDIT:
        if (s->race_focus) {
            if (s->nrace > 0) {
                s->cfg = s->race[s->race_sel];
                s->entry = s->race_sel;
                revalidate(s);
                set_msg(s, ROLE_OK, "editing %s: change fields, then a saves it back in place",
                        s->cfg.name);
                s->race_focus = 0;
            }
            break;
        }
        if (!k)
            break;
        if (!strcmp(k->kind, "enum") || !strcmp(k->kind, "bool"))
            cycle_choice(s, k, 1);
        else
            start_edit(s, NULL);
        break;
    case ACT_RACE_ADD:
        race_add(s);
        break;
    case ACT_RACE_DEL:
        race_del(s);
        break;
    case ACT_RACE_FOCUS:
        if (s->nrace > 0)
            s->race_focus = !s->race_focus;
        else
            set_msg(s, ROLE_NORMAL, "the race is empty: a adds the current setup");
        break;
    case ACT_LOAD:
        s->prompt = PROMPT_LOAD;
        s->prompt_buf[0] = '\0';
        break;
    case ACT_FIND:
        s->prompt = PROMPT_FIND;
        s->prompt_buf[0] = '\0';
        break;
    case ACT_RACE_APPLY:
        race_apply(s, k);
        break;
    case ACT_SAVE_PRESET:
        s->confirm_save = 0;
        s->prompt = PROMPT_SAVE;
        snprintf(s->prompt_buf, sizeof s->prompt_buf, "%s.yaml",
                 s->cfg.name[0] ? s->cfg.name : "setup");
        break;
    default:
        break;
    }
    return SETUP_NONE;
}

/* ---- drawing ---------------------------------------------------------------------------- */

static void draw_field_help(ui_grid *g, ui_rect r, setup_state *s, ui_glyphs glyphs)
{
    const nl_config_key_info *k = cur_key(s);
    grid_box(g, r, k ? k->key : "", ROLE_TITLE, glyphs);
    if (!k)
        return;
    ui_rect in = rect_inset(r, 1);
    in.x++;
    in.w--;
    int y = in.y, bottom = in.y + in.h;
    y += ui_draw_wrapped(g, (ui_rect){in.x, y, in.w, bottom - y}, ROLE_NORMAL, k->help ? k->help : "");
    if (key_is_custom(k->key) && key_unused(s, k->key) && y < bottom)
        y += ui_draw_wrapped(g, (ui_rect){in.x, y, in.w, bottom - y}, ROLE_DIM,
                          "Used when placement is custom.");
    else if (key_is_moe(k->key) && key_unused(s, k->key) && y < bottom)
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
        ui_draw_wrapped(g, (ui_rect){0, 0, W, H > 1 ? H - 1 : H}, ROLE_ERROR, msg);
        if (H > 1)
            ui_draw_footer(g, H - 1, CTX_SETUP, 0, 0);
        return;
    }
    /* top bar */
    for (int x = 0; x < W; x++)
        grid_put(g, x, 0, L' ', ROLE_NORMAL, UI_A_REVERSE);
    int x = grid_text(g, 0, 0, W, ROLE_TITLE, UI_A_REVERSE | UI_A_BOLD, " normlab setup ");
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
    ui_draw_footer(g, H - 1, CTX_SETUP, 0, 0);

    int FW = W >= 110 ? W * 55 / 100 : W >= 80 ? W - 34 : W - 26;
    int top = 1, FH = H - 3;
    s->page = FH;
    /* keep the cursor (and its section header) in view */
    if (s->cur < s->top)
        s->top = s->cur > 0 && s->rows[s->cur - 1].key < 0 ? s->cur - 1 : s->cur;
    if (s->cur >= s->top + FH)
        s->top = s->cur - FH + 1;
    if (s->top < 0)
        s->top = 0;
    int LW = FW >= 44 ? 17 : 13; /* narrow: shorter labels, so values keep their room */
    for (int i = 0; i < FH && s->top + i < s->nrows; i++) {
        int r = s->top + i, y = top + i;
        const setup_row *row = &s->rows[r];
        if (row->key < 0) {
            wchar_t hz = glyphs == UI_GLYPH_ASCII ? L'-' : L'─';
            for (int xx = 0; xx < FW; xx++)
                grid_put(g, xx, y, hz, ROLE_AXIS, 0);
            grid_textf(g, 1, y, FW - 2, ROLE_TITLE, UI_A_BOLD, " %s ", row->label);
            continue;
        }
        const nl_config_key_info *k = &s->keys[row->key];
        int sel = r == s->cur;
        int dim = key_unused(s, k->key);
        int role = sel && !s->race_focus ? ROLE_SELECT : dim ? ROLE_DIM : ROLE_NORMAL;
        if (sel && !s->race_focus)
            for (int xx = 0; xx < FW; xx++)
                grid_put(g, xx, y, L' ', ROLE_SELECT, 0);
        grid_put(g, 0, y, sel ? (glyphs == UI_GLYPH_ASCII ? L'>' : L'▶') : L' ', role, UI_A_BOLD);
        ui_text_fit(g, 2, y, LW, role, 0, row->label, glyphs);
        int vx = 2 + LW + 1, vw = FW - vx - 1;
        if (sel && s->editing) {
            char buf[600];
            snprintf(buf, sizeof buf, "%s_", s->edit);
            int n = text_cells(buf);
            const char *shown = buf;
            while (n > vw && *shown) {
                shown++;
                n--;
            }
            for (int xx = vx; xx < vx + vw; xx++)
                grid_put(g, xx, y, L' ', s->edit_bad ? ROLE_ERROR : ROLE_EDIT,
                         UI_A_REVERSE * s->edit_bad);
            grid_text(g, vx, y, vw, s->edit_bad ? ROLE_ERROR : ROLE_EDIT,
                      s->edit_bad ? UI_A_REVERSE : 0, shown);
        } else {
            char val[512] = "";
            nl_error err = {0};
            if (nl_config_get(&s->cfg, k->key, val, sizeof val, &err))
                snprintf(val, sizeof val, "?");
            int is_choice = !strcmp(k->kind, "enum") || !strcmp(k->kind, "bool");
            if (sel && is_choice && !dim)
                grid_textf(g, vx, y, vw, role, UI_A_BOLD, "%s %s %s",
                           glyphs == UI_GLYPH_ASCII ? "<" : "◀", val,
                           glyphs == UI_GLYPH_ASCII ? ">" : "▶");
            else
                ui_text_fit(g, vx, y, vw, role, sel ? UI_A_BOLD : 0, val, glyphs);
        }
    }
    /* scroll hints */
    if (s->top > 0)
        grid_put(g, FW - 1, top, glyphs == UI_GLYPH_ASCII ? L'^' : L'▲', ROLE_DIM, 0);
    if (s->top + FH < s->nrows)
        grid_put(g, FW - 1, top + FH - 1, glyphs == UI_GLYPH_ASCII ? L'v' : L'▼', ROLE_DIM, 0);

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

    /* message line */
    int my = H - 2;
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
        snprintf(buf, sizeof buf, "%s%s",
                 s->msg[0] ? "" : "not valid yet: ", s->msg[0] ? s->msg : s->invalid);
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
