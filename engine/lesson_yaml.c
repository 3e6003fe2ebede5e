/* The `lesson:` map of a preset, YAML -> nl_lesson and back. Every value is text: a lesson
 * file writes the long ones as folded blocks (`>`), so a paragraph is one line and a blank
 * line starts the next; a run's config.yaml writes them back as literal blocks (`|-`), which
 * keep that text exactly. Errors are "FILE:LINE:COL: message" at the key or value at fault. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "config.h"
#include "config_internal.h"
#include "json_text.h"

typedef struct field {
    const char *key;
    size_t off, size;
    int required;
    const char *what; /* for "missing" messages */
} field;

#define FIELD(k, req, what)                                                                        \
    {                                                                                              \
#k, offsetof(nl_lesson, k), sizeof(((nl_lesson *)0)->k), req, what                         \
    }
static const field FIELDS[] = {
    FIELD(name, 0, "the lesson's name"),
    FIELD(title, 1, "one line naming the lesson"),
    FIELD(question, 1, "the question for the class"),
    FIELD(look, 1, "which panel to look at, with which key"),
    FIELD(expect, 1, "what the class should see"),
    FIELD(why, 1, "the mechanism, in a few sentences"),
    FIELD(source, 0, "where the mechanism comes from"),
    FIELD(next, 0, "what to try next"),
};
#define N_FIELDS ((int)(sizeof FIELDS / sizeof FIELDS[0]))

static int fail_at(nl_error *err, const char *file, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(nl_error *err, const char *file, yaml_mark_t m, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nl_fail(err, NL_ERR_USAGE, "%s:%zu:%zu: %s", file, m.line + 1, m.column + 1, msg);
}

static const char *text_of(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static const char *kind_of(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE ? "a map" : n->type == YAML_SEQUENCE_NODE ? "a list" : "";
}

/* s with the white space at both ends dropped and tabs turned into spaces, into out (cap
 * bytes). Returns its length, or -1 when it does not fit. */
static long clean_copy(const char *s, char *out, size_t cap)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n > 0 && strchr(" \t\n\r", s[n - 1]))
        n--;
    if (n >= cap)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = s[i] == '\t' ? ' ' : s[i];
    out[n] = '\0';
    return (long)n;
}

/* The byte offset in s of the first character a lesson's text may not hold, or -1: control
 * characters (all but newline and tab), and the few others that YAML does not let a block of
 * text hold as they are (NEL, the line and paragraph separators, a byte-order mark, U+FFFE/F).
 * A double-quoted value can spell any of them with an escape; the text is shown on a
 * terminal, and a run's config.yaml must be able to write it back. s is valid UTF-8 (the
 * YAML reader has checked it). */
static long bad_char_at(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    for (long i = 0; u[i]; i++) {
        unsigned c = u[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
            return i;
        if (c == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f) /* C1 controls, NEL */
            return i;
        if (c == 0xe2 && u[i + 1] == 0x80 && (u[i + 2] == 0xa8 || u[i + 2] == 0xa9))
            return i;
        if (c == 0xef && ((u[i + 1] == 0xbb && u[i + 2] == 0xbf) ||
                          (u[i + 1] == 0xbf && (u[i + 2] == 0xbe || u[i + 2] == 0xbf))))
            return i;
    }
    return -1;
}

static int valid_name(const char *s)
{
    if (!*s || *s == '.')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._-+=,", *s)))
            return 0;
    return 1;
}

/* One key and its value into out; seen[] marks where each field was given. */
static int load_field(yaml_document_t *doc, yaml_node_pair_t *p, const char *file, nl_lesson *out,
                      yaml_mark_t *seen, int *given, nl_error *err)
{
    yaml_node_t *k = yaml_document_get_node(doc, p->key);
    yaml_node_t *v = yaml_document_get_node(doc, p->value);
    if (k->type != YAML_SCALAR_NODE)
        return fail_at(err, file, k->start_mark, "lesson: expected a key name, got %s", kind_of(k));
    const char *key = text_of(k);
    int f = -1;
    for (int i = 0; i < N_FIELDS; i++)
        if (!strcmp(key, FIELDS[i].key))
            f = i;
    if (f < 0) {
        const char *names[N_FIELDS];
        for (int i = 0; i < N_FIELDS; i++)
            names[i] = FIELDS[i].key;
        const char *s = nl_config_suggest(key, names, N_FIELDS);
        if (s)
            return fail_at(err, file, k->start_mark,
                           "unknown key 'lesson.%s' (did you mean 'lesson.%s'?)", key, s);
        return fail_at(err, file, k->start_mark,
                       "unknown key 'lesson.%s' (expected name, title, question, look, expect, "
                       "why, source or next)",
                       key);
    }
    if (given[f])
        return fail_at(err, file, k->start_mark,
                       "duplicate key 'lesson.%s' (first given at %zu:%zu)", key, seen[f].line + 1,
                       seen[f].column + 1);
    given[f] = 1;
    seen[f] = k->start_mark;
    if (v->type != YAML_SCALAR_NODE)
        return fail_at(err, file, v->start_mark, "lesson.%s: expected text, got %s", key,
                       kind_of(v));
    char *dst = (char *)out + FIELDS[f].off;
    long bad = bad_char_at(text_of(v));
    if (bad >= 0) {
        const unsigned char *u = (const unsigned char *)text_of(v) + bad;
        unsigned cp = u[0] < 0x80 ? u[0]
                      : u[0] < 0xe0 ? ((u[0] & 0x1fu) << 6 | (u[1] & 0x3fu))
                                    : ((u[0] & 0x0fu) << 12 | (u[1] & 0x3fu) << 6 | (u[2] & 0x3fu));
        return fail_at(err, file, v->start_mark,
                       "lesson.%s: holds the character U+%04X (a control or line-separator "
                       "character) at byte %ld of its text; lesson text is shown on a terminal: "
                       "write it without that character",
                       key, cp, bad + 1);
    }
    long n = clean_copy(text_of(v), dst, FIELDS[f].size);
    if (n < 0)
        return fail_at(err, file, v->start_mark,
                       "lesson.%s: too long (%zu bytes; at most %zu): say less, or move the rest "
                       "to docs/",
                       key, strlen(text_of(v)), FIELDS[f].size - 1);
    if (n == 0)
        return fail_at(err, file, v->start_mark, "lesson.%s: empty (expected %s)", key,
                       FIELDS[f].what);
    if (!strcmp(key, "title") && strchr(dst, '\n'))
        return fail_at(err, file, v->start_mark, "lesson.title: expected one line");
    if (!strcmp(key, "name") && !valid_name(dst))
        return fail_at(err, file, v->start_mark,
                       "lesson.name: expected letters, digits and . _ - + = , (got '%.60s')", dst);
    return 0;
}

int nl_lesson_from_yaml(struct yaml_document_s *doc, struct yaml_node_s *node, const char *file,
                        nl_lesson *out, nl_error *err)
{
    memset(out, 0, sizeof *out);
    if (node->type == YAML_SCALAR_NODE && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (!*text_of(node) || !strcmp(text_of(node), "~") || !strcmp(text_of(node), "null")))
        return 0; /* `lesson:` with nothing: no lesson */
    if (node->type != YAML_MAPPING_NODE) {
        char got[80];
        if (node->type == YAML_SCALAR_NODE)
            snprintf(got, sizeof got, "'%.60s'", text_of(node));
        else
            snprintf(got, sizeof got, "%s", kind_of(node));
        return fail_at(err, file, node->start_mark,
                       "lesson: expected a map of title, question, look, expect, why, source "
                       "and next, got %s",
                       got);
    }
    yaml_mark_t seen[N_FIELDS];
    int given[N_FIELDS] = {0};
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++)
        if (load_field(doc, p, file, out, seen, given, err))
            return NL_ERR_USAGE;
    for (int i = 0; i < N_FIELDS; i++)
        if (FIELDS[i].required && !given[i])
            return fail_at(err, file, node->start_mark, "lesson: missing '%s' (%s)", FIELDS[i].key,
                           FIELDS[i].what);
    return 0;
}

/* Can s be written as a folded block (`>-`) and read back the same? Only when no line starts
 * or ends with a space and no two spaces meet: there, folding would add or keep a line break. */
static int foldable(const char *s)
{
    for (const char *p = s; *p; p++) {
        int line_start = p == s || p[-1] == '\n';
        if (*p == ' ' && (line_start || p[1] == ' ' || p[1] == '\n' || !p[1]))
            return 0;
    }
    return 1;
}

/* One paragraph (no newline in it) as indented lines of at most WRAP characters, broken at
 * single spaces (a folded block reads each break back as one space). */
#define WRAP 92
static void put_folded_line(struct nl_jbuf *b, const char *s, size_t n)
{
    while (n > WRAP) {
        size_t cut = WRAP;
        while (cut > 0 && s[cut] != ' ')
            cut--;
        if (cut == 0) /* one word longer than a line: up to the next space */
            for (cut = WRAP; cut < n && s[cut] != ' '; cut++)
                ;
        if (cut >= n)
            break;
        nl_jbuf_printf(b, "    %.*s\n", (int)cut, s);
        s += cut + 1;
        n -= cut + 1;
    }
    nl_jbuf_printf(b, "    %.*s\n", (int)n, s);
}

void nl_lesson_to_yaml(struct nl_jbuf *b, const nl_lesson *l)
{
    if (!l->name[0])
        return;
    nl_jbuf_printf(b, "lesson:\n  name: \"%s\"\n", l->name); /* quoted: "yes" stays a name */
    for (int i = 1; i < N_FIELDS; i++) {
        const char *s = (const char *)l + FIELDS[i].off;
        if (!*s)
            continue;
        /* folded: paragraphs wrapped, a blank line per newline; literal: the lines as they are
         * (a blank line stays blank, with no indent) */
        int fold = foldable(s);
        nl_jbuf_printf(b, "  %s: %s\n", FIELDS[i].key, fold ? ">-" : "|-");
        for (;;) {
            size_t n = strcspn(s, "\n");
            if (fold && n)
                put_folded_line(b, s, n);
            else if (n)
                nl_jbuf_printf(b, "    %.*s\n", (int)n, s);
            else if (!fold)
                nl_jbuf_puts(b, "\n");
            s += n;
            if (!*s)
                break;
            s++; /* the newline */
            if (fold)
                nl_jbuf_puts(b, "\n");
        }
    }
}
