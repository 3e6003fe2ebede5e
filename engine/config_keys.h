/* The key table of engine/config.c and the helpers over it, shared by config.c,
 * config_suggest.c, config_write.c and config_check.c. Internal to engine/config*.c. */
#ifndef NL_CONFIG_KEYS_H
#define NL_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

typedef enum {
    T_INT,    /* int */
    T_U64,    /* uint64_t, any non-negative integer */
    T_FLOAT,  /* float, finite, in a range */
    T_BOOL,   /* bool */
    T_ENUM,   /* an enum stored as int; value = index in choices */
    T_TRI,    /* int: auto = -1, true = 1, false = 0 */
    T_NAME,   /* char array: a run name (also a directory name) */
    T_SOURCE, /* char array: markov | prose | text:PATH | tokens:PATH */
} key_type;

enum { B_NONE = 0, B_IN, B_EX }; /* a range bound: absent, inclusive, exclusive */

typedef struct key_spec {
    const char *key;
    key_type type;
    size_t off;  /* offsetof(nl_config, ...) */
    size_t size; /* char arrays: their size */
    double lo, hi;
    unsigned char lo_b, hi_b;
    const char *choices;
    const char *help;
} key_spec;

extern const key_spec nl_config_key_table[]; /* config.c */
extern const int nl_config_key_count;

const key_spec *nl_config_find_key(const char *key);
void nl_config_choice_at(const char *choices, int i, char *buf, size_t len);
bool nl_config_valid_name(const char *v, size_t size);
bool nl_config_valid_source(const char *v, size_t size);

#endif
