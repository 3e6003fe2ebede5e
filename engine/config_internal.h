/* Shared by engine/config.c (keys, values, checks) and engine/config_yaml.c (the YAML loader).
 * Not part of the engine's API: nothing outside engine/config*.c includes this. */
#ifndef NL_CONFIG_INTERNAL_H
#define NL_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* What a dotted path names. Sections are the proper prefixes of keys ("model", "model.moe"). */
typedef enum {
    NL_PATH_UNKNOWN = 0,
    NL_PATH_KEY,       /* a settable scalar key (nl_config_keys) */
    NL_PATH_SECTION,   /* a map of keys */
    NL_PATH_OVERRIDES, /* model.custom.layers: a list of per-layer overrides (YAML only) */
    NL_PATH_RUNS,      /* runs: the race list (YAML only) */
    NL_PATH_LESSON,    /* lesson: the lesson map (YAML only) */
} nl_path_class;

nl_path_class nl_config_path_class(const char *path);

/* The expected form of a key's value, e.g. "an integer in [1, 256]" (empty for unknown keys). */
void nl_config_expected(const char *key, char *buf, size_t len);

/* "unknown key 'model.layerz' (did you mean 'model.layers'?)" */
void nl_config_unknown_key(const char *path, char *buf, size_t len);

/* The candidate closest to `word` by edit distance, or NULL when none is close enough. */
const char *nl_config_suggest(const char *word, const char *const *candidates, int n);

/* true|false|yes|no|on|off|1|0 (any case). Returns 0, or -1 when s is none of these. */
int nl_config_parse_bool(const char *s, bool *out);

/* A whole, finite number. Returns 0 or -1. */
int nl_config_parse_number(const char *s, double *out);

/* What a failed check is about, so the YAML loader can point at the line that set it: up to
 * two keys (most relevant first) and, for an override problem, the override's index. */
typedef struct nl_config_fault {
    const char *keys[2];
    int override_index; /* -1 when none */
} nl_config_fault;

/* nl_config_validate, also telling which keys the failure is about (fault may be NULL). */
int nl_config_check(const nl_config *c, nl_error *err, nl_config_fault *fault);

/* Race entry i of base applied to out (name set, race list cleared), not yet validated.
 * On a bad setting returns NL_ERR_USAGE with *bad_set = its index in the entry. */
int nl_config_apply_race_sets(const nl_config *base, int i, nl_config *out, int *bad_set,
                              nl_error *err);

/* The `lesson:` map of a preset (engine/lesson_yaml.c); doc and node are libyaml's. Errors
 * are "FILE:LINE:COL: message" at the key or value at fault. out->name stays empty when the
 * map gives none (the loader then takes the preset's name). */
struct yaml_document_s;
struct yaml_node_s;
int nl_lesson_from_yaml(struct yaml_document_s *doc, struct yaml_node_s *node, const char *file,
                        nl_lesson *out, nl_error *err);

/* Append l as a `lesson:` block (nothing when l has no name), re-loadable by the above. */
struct nl_jbuf;
void nl_lesson_to_yaml(struct nl_jbuf *b, const nl_lesson *l);

#endif
