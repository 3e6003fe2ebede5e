#include "setup.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "setup_internal.h"

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

int setup_key_is_moe(const char *key)
{
    return !strncmp(key, "model.moe.", 10);
}

int setup_key_is_custom(const char *key)
{
    return !strncmp(key, "model.custom.", 13);
}

/* A key that does nothing with the current setup: shown dimmed, still editable. */
int setup_key_unused(const setup_state *s, const char *key)
{
    if (setup_key_is_custom(key))
        return s->cfg.model.placement != NL_PLACE_CUSTOM;
    if (setup_key_is_moe(key) && strcmp(key, "model.moe.experts"))
        return s->cfg.model.moe_experts == 0;
    return 0;
}

void setup_revalidate(setup_state *s)
{
    nl_error err = {0};
    s->invalid[0] = '\0';
    if (nl_config_validate(&s->cfg, &err))
        snprintf(s->invalid, sizeof s->invalid, "%s", err.msg);
}

void setup_set_msg(setup_state *s, int role, const char *fmt, ...)
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
                setup_set_msg(s, ROLE_ERROR, "race entry %d: %s", i, err.msg);
                continue;
            }
            snprintf(s->race[s->nrace].name, sizeof s->race[s->nrace].name, "%s",
                     cfg->runs[i].name);
            s->race[s->nrace].n_runs = 0;
            s->nrace++;
        }
        s->cfg.n_runs = 0;
    }
    setup_revalidate(s);
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
        setup_set_msg(s, ROLE_ERROR, "%s", err.msg);
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
        setup_set_msg(s, ROLE_OK, "loaded %s%s", full, s->nrace ? " (with its race)" : "");
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

void setup_race_add(setup_state *s)
{
    if (s->entry >= 0 && s->entry < s->nrace) {
        /* the entry loaded into the form goes back in place, under its own name */
        if (s->invalid[0]) {
            setup_set_msg(s, ROLE_ERROR, "not saved: %s", s->invalid);
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
        setup_set_msg(s, ROLE_OK, "updated %s in place (a again adds the form as a new run)",
                s->race[i].name);
        return;
    }
    if (s->nrace >= NL_MAX_RACE) {
        setup_set_msg(s, ROLE_ERROR, "the race is full (%d runs)", NL_MAX_RACE);
        return;
    }
    if (s->invalid[0]) {
        setup_set_msg(s, ROLE_ERROR, "not added: %s", s->invalid);
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
        setup_set_msg(s, ROLE_ERROR, "%s", err.msg);
        return;
    }
    s->race_sel = s->nrace;
    s->nrace++;
    setup_set_msg(s, ROLE_OK, "added %s to the race (%d/%d); F5 starts the race", name, s->nrace,
            NL_MAX_RACE);
}

/* The form's value of field k into every run of the race. */
void setup_race_apply(setup_state *s, const nl_config_key_info *k)
{
    if (!k || s->race_focus) {
        setup_set_msg(s, ROLE_ERROR, "select a field in the form first");
        return;
    }
    if (s->nrace == 0) {
        setup_set_msg(s, ROLE_ERROR, "the race is empty: a adds the current setup");
        return;
    }
    if (!strcmp(k->key, "name")) {
        setup_set_msg(s, ROLE_ERROR, "runs keep their own names");
        return;
    }
    char val[512];
    nl_error err = {0};
    if (nl_config_get(&s->cfg, k->key, val, sizeof val, &err)) {
        setup_set_msg(s, ROLE_ERROR, "%s", err.msg);
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
        setup_set_msg(s, ROLE_ERROR, "%s = %s set in %d of %d runs; not in %s", k->key, val, done,
                s->nrace, bad);
    else
        setup_set_msg(s, ROLE_OK, "%s = %s in every run of the race (%d)", k->key, val, done);
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

void setup_save_race(setup_state *s, const char *path)
{
    char *y = setup_race_yaml(s);
    FILE *f = y ? fopen(path, "w") : NULL;
    if (!f) {
        setup_set_msg(s, ROLE_ERROR, "cannot write %s: %s", path, y ? strerror(errno) : "out of memory");
        free(y);
        return;
    }
    int ok = fputs(y, f) >= 0;
    ok &= fclose(f) == 0;
    free(y);
    if (!ok) {
        setup_set_msg(s, ROLE_ERROR, "cannot write %s: %s", path, strerror(errno));
        return;
    }
    if (s->nrace)
        setup_set_msg(s, ROLE_OK, "saved the setup and its race of %d to %s (o opens it)", s->nrace,
                path);
    else
        setup_set_msg(s, ROLE_OK, "saved the setup to %s (o opens it)", path);
}

void setup_race_del(setup_state *s)
{
    if (s->nrace == 0) {
        setup_set_msg(s, ROLE_ERROR, "the race is empty");
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
    setup_set_msg(s, ROLE_OK, "removed %s from the race", name);
}

int setup_runs(setup_state *s, nl_config *out)
{
    nl_error err = {0};
    if (s->nrace > 0) {
        for (int i = 0; i < s->nrace; i++) {
            if (nl_config_validate(&s->race[i], &err)) {
                setup_set_msg(s, ROLE_ERROR, "%s: %s", s->race[i].name, err.msg);
                return -1;
            }
            out[i] = s->race[i];
        }
        return s->nrace;
    }
    if (s->invalid[0]) {
        setup_set_msg(s, ROLE_ERROR, "cannot start: %s", s->invalid);
        return -1;
    }
    out[0] = s->cfg;
    out[0].n_runs = 0;
    char name[64];
    setup_run_name(&s->cfg, s->name_edited, NULL, 0, name, sizeof name);
    if (nl_config_set(&out[0], "name", name, &err)) {
        setup_set_msg(s, ROLE_ERROR, "%s", err.msg);
        return -1;
    }
    return 1;
}

const nl_config_key_info *setup_cur_key(const setup_state *s)
{
    if (s->cur < 0 || s->cur >= s->nrows || s->rows[s->cur].key < 0)
        return NULL;
    return &s->keys[s->rows[s->cur].key];
}

void setup_move_cur(setup_state *s, int delta)
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
