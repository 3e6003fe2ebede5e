/* Helpers shared by the sub-commands: preset lookup and error printing. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

int nl_app_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("normlab: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

const char *nl_app_presets_dir(void)
{
    static char dir[PATH_MAX + 32];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(dir, sizeof dir, "%s/presets", exe);
        if (access(dir, R_OK) == 0)
            return dir;
        snprintf(dir, sizeof dir, "%s/../share/normlab/presets", exe);
        if (access(dir, R_OK) == 0)
            return dir;
    }
    return "presets";
}

int nl_app_load_preset(const char *preset, nl_config *c)
{
    nl_error err = {0};
    nl_config_defaults(c);
    if (!preset) {
        if (nl_config_load_string(c, nl_default_preset_yaml, nl_default_preset_yaml_len,
                                  "default.yaml (embedded)", &err))
            return nl_app_error(2, "%s", err.msg);
        return 0;
    }
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s", preset);
    if (access(path, R_OK) != 0 && !strchr(preset, '/')) {
        /* a shipped preset by name: "post" or "post.yaml" */
        const char *ext = strstr(preset, ".yaml") ? "" : ".yaml";
        snprintf(path, sizeof path, "%s/%s%s", nl_app_presets_dir(), preset, ext);
        if (access(path, R_OK) != 0)
            return nl_app_error(2, "%s: no such preset file (and no shipped preset of that name; "
                                   "see `normlab presets`)", preset);
    }
    if (nl_config_load_file(c, path, &err))
        return nl_app_error(2, "%s", err.msg);
    return 0;
}

int nl_app_int(const char *opt, const char *val, long lo, long hi, long *out)
{
    if (!val)
        return nl_app_error(2, "%s needs a value", opt);
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end || v < lo || v > hi)
        return nl_app_error(2, "%s: expected an integer in [%ld, %ld], got '%s'", opt, lo, hi, val);
    *out = v;
    return 0;
}
