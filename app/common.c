/* Helpers shared by the sub-commands: preset lookup, error printing, the config overrides
 * of the command line, exit codes and time. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "../engine/lesson.h"
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
    if (!strncmp(preset, "lesson:", 7))
        return nl_app_load_lesson(preset + 7, c);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s", preset);
    if (access(path, R_OK) != 0 && !strchr(preset, '/')) {
        /* a shipped preset by name: "post" or "post.yaml" */
        const char *ext = strstr(preset, ".yaml") ? "" : ".yaml";
        snprintf(path, sizeof path, "%s/%s%s", nl_app_presets_dir(), preset, ext);
        if (access(path, R_OK) != 0)
            return nl_app_error(2,
                                "%s: no such preset file (and no shipped preset of that name; "
                                "see `normlab presets`)",
                                preset);
    }
    if (nl_config_load_file(c, path, &err))
        return nl_app_error(2, "%s", err.msg);
    return 0;
}

int nl_app_load_lesson(const char *lesson, nl_config *c)
{
    nl_error err = {0};
    if (nl_lesson_find(lesson) || access(lesson, R_OK) != 0) {
        if (nl_lesson_load(lesson, c, &err))
            return nl_app_error(2, "%s", err.msg);
        return 0;
    }
    nl_config_defaults(c);
    if (nl_config_load_file(c, lesson, &err))
        return nl_app_error(2, "%s", err.msg);
    if (!c->lesson.name[0])
        return nl_app_error(2, "%s: not a lesson (it has no `lesson:` map; see lessons/*.yaml)",
                            lesson);
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

const char *nl_app_set_arg(int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (!strcmp(a, "--set") && *i + 1 < argc)
        return argv[++*i];
    if (!strncmp(a, "--set=", 6))
        return a + 6;
    return NULL;
}

int nl_app_configure(nl_config *c, const char *const *sets, int n_sets, long steps, long threads,
                     const char *device)
{
    nl_error err = {0};
    for (int i = 0; i < n_sets; i++)
        if (nl_config_set_kv(c, sets[i], &err))
            return nl_app_error(2, "--set %s: %s", sets[i], err.msg);
    char num[32];
    if (steps > 0) {
        snprintf(num, sizeof num, "%ld", steps);
        if (nl_config_set(c, "train.steps", num, &err))
            return nl_app_error(2, "--steps: %s", err.msg);
    }
    if (threads >= 0) {
        snprintf(num, sizeof num, "%ld", threads);
        if (nl_config_set(c, "train.threads", num, &err))
            return nl_app_error(2, "--threads: %s", err.msg);
    }
    if (device && nl_config_set(c, "train.device", device, &err))
        return nl_app_error(2, "--device: %s", err.msg);
    if (nl_config_validate(c, &err))
        return nl_app_error(2, "%s", err.msg);
    return 0;
}

int nl_app_exit_code(int err_code)
{
    return err_code == NL_ERR_RUN ? 1 : 2;
}

int nl_app_term_columns(int fd)
{
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    long v = c ? strtol(c, NULL, 10) : 0;
    return v >= 10 && v < 10000 ? (int)v : 80;
}
