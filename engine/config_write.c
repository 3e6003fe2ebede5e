/* Getting values and writing a config as YAML (config.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "config_keys.h"
#include "fsutil.h"
#include "json_text.h"

/* ---- getting values ---------------------------------------------------------------------- */

/* The shortest %g form (6 to 9 digits) that reads back as the same float. */
static void format_float(float v, char *buf, size_t len)
{
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, len, "%.*g", p, (double)v);
        if ((float)strtod(buf, NULL) == v)
            return;
    }
}

static void get_value(const nl_config *c, const key_spec *s, char *buf, size_t len)
{
    const char *field = (const char *)c + s->off;
    switch (s->type) {
    case T_INT:
        snprintf(buf, len, "%d", *(const int *)field);
        break;
    case T_U64:
        snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)field);
        break;
    case T_FLOAT: {
        float f;
        memcpy(&f, field, sizeof f);
        format_float(f, buf, len);
        break;
    }
    case T_BOOL:
        snprintf(buf, len, "%s", *(const bool *)field ? "true" : "false");
        break;
    case T_ENUM:
        nl_config_choice_at(s->choices, *(const int *)field, buf, len);
        break;
    case T_TRI: {
        int v = *(const int *)field;
        snprintf(buf, len, "%s", v < 0 ? "auto" : v ? "true" : "false");
        break;
    }
    case T_NAME:
    case T_SOURCE:
        snprintf(buf, len, "%.*s", (int)s->size, field);
        break;
    }
}

int nl_config_get(const nl_config *c, const char *key, char *buf, int buflen, nl_error *err)
{
    const key_spec *s = key ? nl_config_find_key(key) : NULL;
    if (!s) {
        char msg[512];
        nl_config_unknown_key(key ? key : "", msg, sizeof msg);
        return nl_fail(err, NL_ERR_USAGE, "%s", msg);
    }
    if (buflen <= 0)
        return nl_fail(err, NL_ERR_USAGE, "%s: no room for the value", key);
    get_value(c, s, buf, (size_t)buflen);
    return 0;
}

int nl_config_diff(const nl_config *a, const nl_config *b, bool (*skip)(const char *key), char *buf,
                   size_t len)
{
    int changed = 0;
    size_t at = 0;
    if (len > 0)
        buf[0] = '\0';
    for (int i = 0; i < nl_config_key_count; i++) {
        const key_spec *s = &nl_config_key_table[i];
        const char *key = s->key;
        char va[320], vb[320];
        if ((skip && skip(key)) ||
            (strcmp(key, "model.vocab") == 0 && nl_config_vocab(a) == nl_config_vocab(b)))
            continue;
        get_value(a, s, va, sizeof va);
        get_value(b, s, vb, sizeof vb);
        if (strcmp(va, vb) == 0)
            continue;
        if (at < len) {
            int w = snprintf(buf + at, len - at, "%s%s %s -> %s", changed ? ", " : "", key, va, vb);
            at = w < 0 || (size_t)w >= len - at ? len : at + (size_t)w;
            if (at == len && len > 4) /* cut: say so at the end */
                snprintf(buf + len - 5, 5, " ...");
        }
        changed++;
    }
    return changed;
}

/* ---- writing YAML ------------------------------------------------------------------------ */

/* A string as a plain scalar when it cannot be read as anything else, else double-quoted. */
static void sb_string(nl_jbuf *b, const char *s)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on",
                                        "off",  "null",  "y",   "n"};
    bool plain = isalpha((unsigned char)s[0]) || s[0] == '/' || s[0] == '_';
    for (const char *p = s; plain && *p; p++)
        plain = isalnum((unsigned char)*p) || strchr("_./:+-=,@", *p);
    for (size_t i = 0; plain && i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(s, words[i]) == 0)
            plain = false;
    if (plain) {
        nl_jbuf_printf(b, "%s", s);
        return;
    }
    nl_jbuf_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            nl_jbuf_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            nl_jbuf_printf(b, "\\x%02x", *p);
        else
            nl_jbuf_printf(b, "%c", *p);
    }
    nl_jbuf_printf(b, "\"");
}

static void sb_flags(nl_jbuf *b, const nl_sublayer_flags *f, bool attn)
{
    char a[32];
    format_float(f->alpha, a, sizeof a);
    nl_jbuf_printf(b, "{pre: %s, peri: %s, post: %s, res_from_normed: %s",
                   f->pre ? "true" : "false", f->peri ? "true" : "false",
                   f->post ? "true" : "false", f->res_from_normed ? "true" : "false");
    if (attn)
        nl_jbuf_printf(b, ", qk: %s, v: %s", f->qk ? "true" : "false", f->v ? "true" : "false");
    nl_jbuf_printf(b, ", alpha: %s}", a);
}

static void sb_overrides(nl_jbuf *b, const nl_model_config *m, int indent)
{
    if (m->n_overrides <= 0) {
        nl_jbuf_printf(b, "%*slayers: []\n", indent, "");
        return;
    }
    nl_jbuf_printf(b, "%*slayers:\n", indent, "");
    for (int i = 0; i < m->n_overrides && i < NL_MAX_OVERRIDES; i++) {
        const nl_layer_override *o = &m->overrides[i];
        nl_jbuf_printf(b, "%*s  - layer: %d\n", indent, "", o->layer);
        if (o->has_attn) {
            nl_jbuf_printf(b, "%*s    attn: ", indent, "");
            sb_flags(b, &o->attn, true);
            nl_jbuf_printf(b, "\n");
        }
        if (o->has_ffn) {
            nl_jbuf_printf(b, "%*s    ffn: ", indent, "");
            sb_flags(b, &o->ffn, false);
            nl_jbuf_printf(b, "\n");
        }
    }
}

/* The dotted key's sections: "model.custom.attn.pre" -> [model, custom, attn]. */
static int split_sections(const char *key, char sec[4][32])
{
    int n = 0;
    const char *p = key;
    for (const char *dot = strchr(p, '.'); dot && n < 4; dot = strchr(p, '.')) {
        snprintf(sec[n++], 32, "%.*s", (int)(dot - p), p);
        p = dot + 1;
    }
    return n;
}

static bool is_custom_key(const char *key)
{
    return strncmp(key, "model.custom.", 13) == 0;
}

char *nl_config_to_yaml(const nl_config *c)
{
    nl_jbuf b = {0};
    char prev[4][32] = {{0}};
    int n_prev = 0;
    for (int i = 0; i < nl_config_key_count; i++) {
        const key_spec *s = &nl_config_key_table[i];
        if (i > 0 && is_custom_key(nl_config_key_table[i - 1].key) && !is_custom_key(s->key))
            sb_overrides(&b, &c->model, 4);
        char sec[4][32];
        int n = split_sections(s->key, sec);
        int same = 0;
        while (same < n && same < n_prev && strcmp(sec[same], prev[same]) == 0)
            same++;
        for (int d = same; d < n; d++)
            nl_jbuf_printf(&b, "%*s%s:\n", 2 * d, "", sec[d]);
        memcpy(prev, sec, sizeof prev);
        n_prev = n;

        const char *leaf = strrchr(s->key, '.');
        leaf = leaf ? leaf + 1 : s->key;
        char v[600];
        get_value(c, s, v, sizeof v);
        nl_jbuf_printf(&b, "%*s%s: ", 2 * n, "", leaf);
        if (s->type == T_NAME || s->type == T_SOURCE)
            sb_string(&b, v);
        else
            nl_jbuf_printf(&b, "%s", v);
        nl_jbuf_printf(&b, "\n");
    }
    nl_lesson_to_yaml(&b, &c->lesson);
    return nl_jbuf_take(&b);
}

int nl_config_save_file(const nl_config *c, const char *path, nl_error *err)
{
    char *text = nl_config_to_yaml(c);
    if (!text)
        return nl_fail(err, NL_ERR_IO, "%s: out of memory writing the config", path);
    int rc = nl_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}
