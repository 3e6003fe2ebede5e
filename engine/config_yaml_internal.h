/* Internal to the preset loader (config_yaml.c, config_yaml_node.c, config_yaml_lists.c):
 * the loader's state and the helpers its pieces share. */
#ifndef NL_CONFIG_YAML_INTERNAL_H
#define NL_CONFIG_YAML_INTERNAL_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config.h"
#include "config_internal.h"
#include "xalloc.h"

#define MAX_FILE_BYTES (16u << 20)
#define MAX_SETS 32 /* settings per race entry (nl_race_entry) */

typedef struct seen_key {
    char path[64];
    yaml_mark_t key_mark, value_mark;
} seen_key;

typedef struct loader {
    const char *file;
    yaml_document_t *doc;
    nl_config *c;
    nl_error *err;
    int n_seen;
    seen_key seen[192];
    yaml_mark_t root_mark;
    yaml_mark_t override_mark[NL_MAX_OVERRIDES];
    yaml_mark_t run_mark[NL_MAX_RACE];
    yaml_mark_t run_set_mark[NL_MAX_RACE][MAX_SETS];
} loader;

/* config_yaml_node.c */
int nl_yaml_fail_at(loader *L, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
yaml_node_t *nl_yaml_node_at(loader *L, int index);
const char *nl_yaml_scalar_text(const yaml_node_t *n);
bool nl_yaml_is_null(const yaml_node_t *n);
void nl_yaml_describe(const yaml_node_t *n, char *buf, size_t len);
void nl_yaml_join(char *out, size_t len, const char *prefix, const char *key);
int nl_yaml_check_map_keys(loader *L, yaml_node_t *map, const char *prefix);
seen_key *nl_yaml_find_seen(loader *L, const char *path);
int nl_yaml_note_key(loader *L, const char *path, yaml_node_t *k, yaml_node_t *v);
int nl_yaml_expect_map(loader *L, yaml_node_t *v, const char *path, const char *what);
int nl_yaml_fail_not_scalar(loader *L, yaml_node_t *v, const char *where, const char *path);
int nl_yaml_fail_unknown(loader *L, yaml_node_t *k, const char *where, const char *path);

/* config_yaml_lists.c */
int nl_yaml_load_overrides(loader *L, yaml_node_t *v);
int nl_yaml_load_runs(loader *L, yaml_node_t *v);

#endif
