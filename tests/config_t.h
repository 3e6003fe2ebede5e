/* Helpers of the configuration tests (test_config.c, test_config_yaml.c): comparing configs,
 * reading a file, finding the repository root. */
#ifndef NL_CONFIG_T_H
#define NL_CONFIG_T_H

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/config.h"

__attribute__((unused)) static int config_equal(const nl_config *a, const nl_config *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

/* The first key whose value differs, for a readable failure. */
__attribute__((unused)) static const char *first_difference(const nl_config *a, const nl_config *b)
{
    int n;
    const nl_config_key_info *keys = nl_config_keys(&n);
    static char diff[256];
    for (int i = 0; i < n; i++) {
        char va[600], vb[600];
        nl_config_get(a, keys[i].key, va, sizeof va, NULL);
        nl_config_get(b, keys[i].key, vb, sizeof vb, NULL);
        if (strcmp(va, vb) != 0) {
            snprintf(diff, sizeof diff, "%s: '%.100s' vs '%.100s'", keys[i].key, va, vb);
            return diff;
        }
    }
    if (a->model.n_overrides != b->model.n_overrides)
        return "model.custom.layers count";
    return "bytes outside the keys (overrides, race list or padding)";
}

__attribute__((unused)) static nl_config *new_config(void)
{
    nl_config *c = malloc(sizeof *c);
    if (!c)
        abort();
    nl_config_defaults(c);
    return c;
}

__attribute__((unused)) static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

/* Find the repository root from the binary's place (build/tests or build/san/tests). */
__attribute__((unused)) static void go_to_root(const char *argv0)
{
    if (access("presets/default.yaml", R_OK) == 0 && access("tests/yaml", R_OK) == 0)
        return;
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", argv0);
    char *dir = dirname(buf);
    if (chdir(dir) != 0)
        return;
    for (int up = 0; up < 4; up++) {
        if (access("presets/default.yaml", R_OK) == 0 && access("tests/yaml", R_OK) == 0)
            return;
        if (chdir("..") != 0)
            return;
    }
}

#endif
