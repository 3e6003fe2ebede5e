#include "json_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define JSON_MAX_DEPTH 64

typedef struct jparser {
    const unsigned char *s;
    size_t n, pos;
    int depth;
    size_t err_offset;
    char *msg;
    size_t msg_cap;
} jparser;

static int jfail(jparser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int jfail(jparser *p, size_t at, const char *fmt, ...)
{
    p->err_offset = at;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, p->msg_cap, fmt, ap);
    va_end(ap);
    return -1;
}

/* Describes the byte at p->pos for an error message. */
static const char *jwhat(const jparser *p, char buf[32])
{
    if (p->pos >= p->n)
        return "the end of the text";
    unsigned c = p->s[p->pos];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, 32, "'%c'", (char)c);
    else
        snprintf(buf, 32, "byte 0x%02x", c);
    return buf;
}

static void skip_ws(jparser *p)
{
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                             p->s[p->pos] == '\r'))
        p->pos++;
}

size_t nl_utf8_seq_len(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0; /* continuation byte, overlong lead (C0, C1) or past U+10FFFF (F5..FF) */
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* ---- text buffer ------------------------------------------------------------------------- */

void nl_jbuf_put(nl_jbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *grown = nl_realloc(b->p, cap);
        if (!grown) {
            b->oom = 1;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void nl_jbuf_puts(nl_jbuf *b, const char *s)
{
    nl_jbuf_put(b, s, strlen(s));
}

void nl_jbuf_printf(nl_jbuf *b, const char *fmt, ...)
{
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)k < sizeof small) {
        nl_jbuf_put(b, small, (size_t)k);
        return;
    }
    char *big = nl_malloc((size_t)k + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    nl_jbuf_put(b, big, (size_t)k);
    free(big);
}

void nl_jbuf_put_string(nl_jbuf *b, const char *s, size_t n)
{
    nl_jbuf_put(b, "\"", 1);
    size_t run = 0; /* bytes copied as they are, flushed before each escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char hex[8];
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        default:
            if (c < 0x20) {
                snprintf(hex, sizeof hex, "\\u%04x", c);
                esc = hex;
            }
        }
        if (!esc) {
            run++;
            continue;
        }
        nl_jbuf_put(b, s + i - run, run);
        run = 0;
        nl_jbuf_puts(b, esc);
    }
    nl_jbuf_put(b, s + n - run, run);
    nl_jbuf_put(b, "\"", 1);
}

void nl_jbuf_free(nl_jbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

char *nl_jbuf_take(nl_jbuf *b)
{
    if (!b->oom && !b->p)
        nl_jbuf_put(b, "", 0);
    if (b->oom) {
        nl_jbuf_free(b);
        return NULL;
    }
    char *p = b->p;
    memset(b, 0, sizeof *b);
    return p;
}

/* ---- parsing ----------------------------------------------------------------------------- */

static int parse_value(jparser *p, nl_json *v);

static int hex4(jparser *p, uint32_t *out)
{
    if (p->n - p->pos < 4)
        return jfail(p, p->pos, "\\u needs four hex digits");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p->s[p->pos + (size_t)i];
        int d = c >= '0' && c <= '9'   ? (int)(c - '0')
                : c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10)
                : c >= 'A' && c <= 'F' ? (int)(c - 'A' + 10)
                                       : -1;
        if (d < 0)
            return jfail(p, p->pos + (size_t)i, "\\u needs four hex digits");
        v = v * 16 + (uint32_t)d;
    }
    p->pos += 4;
    *out = v;
    return 0;
}

static void put_utf8(nl_jbuf *b, uint32_t cp)
{
    char u[4];
    size_t k;
    if (cp < 0x80) {
        u[0] = (char)cp, k = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), k = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)), k = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), k = 4;
    }
    nl_jbuf_put(b, u, k);
}

/* After "\u" (at is where the backslash was): the code point, a surrogate pair joined. */
static int parse_unicode_escape(jparser *p, size_t at, uint32_t *out)
{
    uint32_t cp;
    if (hex4(p, &cp))
        return -1;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return jfail(p, at, "\\u%04X is a low surrogate with no high surrogate before it", cp);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t lo;
        if (p->n - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
            return jfail(p, at, "\\u%04X is a high surrogate with no low surrogate after it", cp);
        p->pos += 2;
        if (hex4(p, &lo))
            return -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return jfail(p, at, "\\u%04X is a high surrogate with no low surrogate after it", cp);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    *out = cp;
    return 0;
}

/* The single character an escape letter e stands for, or NULL (\u or unknown). */
static const char *simple_escape(unsigned e)
{
    switch (e) {
    case '"':
        return "\"";
    case '\\':
        return "\\";
    case '/':
        return "/";
    case 'b':
        return "\b";
    case 'f':
        return "\f";
    case 'n':
        return "\n";
    case 'r':
        return "\r";
    case 't':
        return "\t";
    default:
        return NULL;
    }
}

/* At a backslash inside a string: decode the escape into b. A backslash at the end of the
 * text is left for the caller to report as an unterminated string. */
static int parse_escape(jparser *p, nl_jbuf *b)
{
    size_t at = p->pos++;
    if (p->pos >= p->n)
        return 0;
    unsigned e = p->s[p->pos++];
    const char *simple = simple_escape(e);
    if (simple) {
        nl_jbuf_put(b, simple, 1);
        return 0;
    }
    if (e != 'u')
        return jfail(p, at, "unknown escape \\%c", e >= 0x20 && e < 0x7f ? (char)e : '?');
    uint32_t cp = 0;
    if (parse_unicode_escape(p, at, &cp))
        return -1;
    put_utf8(b, cp);
    return 0;
}

/* One character of a string at p->pos (not the closing quote) into b. */
static int parse_string_char(jparser *p, nl_jbuf *b)
{
    unsigned c = p->s[p->pos];
    if (c < 0x20)
        return jfail(p, p->pos, "control character 0x%02x in a string (write it escaped)", c);
    if (c == '\\')
        return parse_escape(p, b);
    size_t k = nl_utf8_seq_len(p->s + p->pos, p->n - p->pos);
    if (k == 0)
        return jfail(p, p->pos, "invalid UTF-8 in a string");
    nl_jbuf_put(b, (const char *)p->s + p->pos, k);
    p->pos += k;
    return 0;
}

/* At an opening quote: decode the string into *out (malloc'd, NUL-terminated). */
static int parse_string(jparser *p, char **out, size_t *out_len)
{
    size_t start = p->pos++;
    nl_jbuf b = {0};
    nl_jbuf_put(&b, "", 0);
    for (;;) {
        if (p->pos >= p->n) {
            nl_jbuf_free(&b);
            return jfail(p, start, "string never ends");
        }
        if (p->s[p->pos] == '"') {
            p->pos++;
            break;
        }
        if (parse_string_char(p, &b)) {
            nl_jbuf_free(&b);
            return -1;
        }
    }
    if (b.oom) {
        nl_jbuf_free(&b);
        return jfail(p, start, "out of memory");
    }
    *out = b.p;
    *out_len = b.n;
    return 0;
}

static int is_digit(unsigned c)
{
    return c >= '0' && c <= '9';
}

static int parse_number(jparser *p, nl_json *v)
{
    size_t start = p->pos;
    int neg = 0;
    if (p->s[p->pos] == '-') {
        neg = 1;
        p->pos++;
    }
    if (p->pos >= p->n || !is_digit(p->s[p->pos]))
        return jfail(p, p->pos, "a number needs digits");
    uint64_t mag = 0;
    int fits = 1;
    if (p->s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->n && is_digit(p->s[p->pos]))
            return jfail(p, start, "numbers may not have leading zeros");
    } else {
        for (; p->pos < p->n && is_digit(p->s[p->pos]); p->pos++) {
            unsigned d = p->s[p->pos] - '0';
            if (mag > (UINT64_MAX - d) / 10)
                fits = 0;
            else
                mag = mag * 10 + d;
        }
    }
    int integral = 1;
    if (p->pos < p->n && p->s[p->pos] == '.') {
        integral = 0;
        p->pos++;
        if (p->pos >= p->n || !is_digit(p->s[p->pos]))
            return jfail(p, p->pos, "a decimal point needs digits after it");
        while (p->pos < p->n && is_digit(p->s[p->pos]))
            p->pos++;
    }
    if (p->pos < p->n && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        integral = 0;
        p->pos++;
        if (p->pos < p->n && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->n || !is_digit(p->s[p->pos]))
            return jfail(p, p->pos, "an exponent needs digits");
        while (p->pos < p->n && is_digit(p->s[p->pos]))
            p->pos++;
    }
    v->kind = NL_JSON_NUMBER;
    if (integral && fits && mag <= (uint64_t)INT64_MAX + (uint64_t)neg) {
        v->is_int = 1;
        v->i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    }
    return 0;
}

static int parse_literal(jparser *p, nl_json *v, const char *word, nl_json_kind kind, int boolean)
{
    size_t k = strlen(word);
    if (p->n - p->pos < k || memcmp(p->s + p->pos, word, k) != 0) {
        char buf[32];
        return jfail(p, p->pos, "unexpected %s", jwhat(p, buf));
    }
    p->pos += k;
    v->kind = kind;
    v->boolean = boolean;
    return 0;
}

/* Append a zeroed item to v->items; returns NULL when out of memory. */
static nl_json *push_item(nl_json *v, size_t *cap)
{
    if (v->len == *cap) {
        size_t ncap = *cap ? 2 * *cap : 4;
        nl_json *grown = nl_realloc(v->items, ncap * sizeof *grown);
        if (!grown)
            return NULL;
        v->items = grown;
        *cap = ncap;
    }
    nl_json *it = &v->items[v->len++];
    memset(it, 0, sizeof *it);
    return it;
}

static int parse_container(jparser *p, nl_json *v, int object)
{
    char close = object ? '}' : ']';
    size_t cap = 0;
    v->kind = object ? NL_JSON_OBJECT : NL_JSON_ARRAY;
    if (++p->depth > JSON_MAX_DEPTH)
        return jfail(p, p->pos, "nested deeper than %d", JSON_MAX_DEPTH);
    p->pos++;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return 0;
    }
    for (;;) {
        nl_json *it = push_item(v, &cap);
        if (!it)
            return jfail(p, p->pos, "out of memory");
        char buf[32];
        if (object) {
            skip_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != '"')
                return jfail(p, p->pos, "expected a quoted key, found %s", jwhat(p, buf));
            it->key_offset = p->pos;
            if (parse_string(p, &it->key, &it->key_len))
                return -1;
            skip_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != ':')
                return jfail(p, p->pos, "expected ':' after a key, found %s", jwhat(p, buf));
            p->pos++;
        }
        if (parse_value(p, it))
            return -1;
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->n && p->s[p->pos] == close) {
            p->pos++;
            p->depth--;
            return 0;
        }
        return jfail(p, p->pos, "expected ',' or '%c', found %s", close, jwhat(p, buf));
    }
}

static int parse_value(jparser *p, nl_json *v)
{
    skip_ws(p);
    v->offset = p->pos;
    char buf[32];
    if (p->pos >= p->n)
        return jfail(p, p->pos, "unexpected end of the text");
    switch (p->s[p->pos]) {
    case '{':
        return parse_container(p, v, 1);
    case '[':
        return parse_container(p, v, 0);
    case '"':
        v->kind = NL_JSON_STRING;
        return parse_string(p, &v->str, &v->len);
    case 't':
        return parse_literal(p, v, "true", NL_JSON_BOOL, 1);
    case 'f':
        return parse_literal(p, v, "false", NL_JSON_BOOL, 0);
    case 'n':
        return parse_literal(p, v, "null", NL_JSON_NULL, 0);
    default:
        if (p->s[p->pos] == '-' || is_digit(p->s[p->pos]))
            return parse_number(p, v);
        return jfail(p, p->pos, "unexpected %s", jwhat(p, buf));
    }
}

int nl_json_parse(const char *text, size_t n, nl_json *out, size_t *err_offset, char *msg,
                  size_t msg_cap)
{
    jparser p = {(const unsigned char *)text, n, 0, 0, 0, msg, msg_cap};
    memset(out, 0, sizeof *out);
    int rc = parse_value(&p, out);
    if (!rc) {
        skip_ws(&p);
        if (p.pos < p.n) {
            char buf[32];
            rc = jfail(&p, p.pos, "unexpected %s after the value", jwhat(&p, buf));
        }
    }
    if (rc) {
        nl_json_free(out);
        *err_offset = p.err_offset;
    }
    return rc;
}

static void json_free_inner(nl_json *v)
{
    for (size_t i = 0; v->items && i < v->len; i++) {
        free(v->items[i].key);
        json_free_inner(&v->items[i]);
    }
    free(v->items);
    free(v->str);
}

void nl_json_free(nl_json *v)
{
    if (!v)
        return;
    json_free_inner(v);
    free(v->key);
    memset(v, 0, sizeof *v);
}

const nl_json *nl_json_member(const nl_json *obj, const char *key)
{
    if (obj->kind != NL_JSON_OBJECT)
        return NULL;
    size_t k = strlen(key);
    for (size_t i = 0; i < obj->len; i++)
        if (obj->items[i].key_len == k && memcmp(obj->items[i].key, key, k) == 0)
            return &obj->items[i];
    return NULL;
}
