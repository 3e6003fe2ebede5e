/* A small, strict JSON reader (RFC 8259: no comments, no trailing commas, no leading zeros,
 * strings of valid UTF-8 with every escape checked, \uXXXX surrogate pairs joined) and the
 * string escaping a writer needs, and the growing text buffer the engine's writers share
 * (safetensors headers, config YAML, sweep files). Private to the engine. */
#ifndef NL_JSON_TEXT_H
#define NL_JSON_TEXT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    NL_JSON_NULL,
    NL_JSON_BOOL,
    NL_JSON_NUMBER,
    NL_JSON_STRING,
    NL_JSON_ARRAY,
    NL_JSON_OBJECT,
} nl_json_kind;

typedef struct nl_json nl_json;
struct nl_json {
    nl_json_kind kind;
    size_t offset;     /* byte offset of the value's first character in the text */
    char *key;         /* when a member of an object: its key, decoded and NUL-terminated */
    size_t key_len;    /* bytes of key (it may hold a NUL written as \u0000) */
    size_t key_offset; /* byte offset of the key's opening quote */
    int boolean;       /* BOOL */
    int is_int;        /* NUMBER written without fraction or exponent, within int64 */
    int64_t i;         /* NUMBER when is_int */
    char *str;         /* STRING, decoded and NUL-terminated */
    size_t len;        /* STRING: bytes of str; ARRAY / OBJECT: number of items */
    nl_json *items;    /* ARRAY / OBJECT: the values, in text order */
};

/* Parse text[0..n) as one JSON value, optionally followed by whitespace. On failure returns
 * nonzero, sets *err_offset to the byte at fault and writes a reason to msg; *out is then
 * empty. */
int nl_json_parse(const char *text, size_t n, nl_json *out, size_t *err_offset, char *msg,
                  size_t msg_cap);
void nl_json_free(nl_json *v);
/* The first member of an object named key, or NULL. */
const nl_json *nl_json_member(const nl_json *obj, const char *key);

/* Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 when it is not valid UTF-8
 * (overlong forms, surrogates and code points past U+10FFFF are invalid). */
size_t nl_utf8_seq_len(const unsigned char *s, size_t n);

/* A growing text buffer; a failed allocation sets oom and later appends do nothing. */
typedef struct nl_jbuf {
    char *p;
    size_t n, cap;
    int oom;
} nl_jbuf;

void nl_jbuf_put(nl_jbuf *b, const char *s, size_t n);
void nl_jbuf_puts(nl_jbuf *b, const char *s);
void nl_jbuf_printf(nl_jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s[0..n) as a JSON string literal, quotes included. s must be valid UTF-8. */
void nl_jbuf_put_string(nl_jbuf *b, const char *s, size_t n);
void nl_jbuf_free(nl_jbuf *b);
/* The text, NUL-terminated ("" when nothing was appended), now owned by the caller; NULL
 * (and the buffer freed) after a failed allocation. */
char *nl_jbuf_take(nl_jbuf *b);

#endif
