/* `normlab watch RUN_DIR...`: the dashboard over run directories written by `normlab train`
 * or the lab, live or finished. Controls that need a live run are off. A single directory
 * holding sweep.yaml is shown as the sweep's grid instead. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "lab.h"
#include "ui/app.h"

static const char *WATCH_USAGE =
    "usage: normlab watch RUN_DIR... [--ascii] [--no-color] [--glyphs G] [--colors C] [--refresh "
    "MS]\n"
    "       normlab watch SWEEP_DIR [options]\n"
    "  follows each run directory's metrics.csv and events.log (up to 64 runs); a directory\n"
    "  of runs (a lab race) stands for the runs in it; a sweep directory (with sweep.yaml)\n"
    "  alone shows the sweep's grid and the curves of a selected row (o: every row's runs\n"
    "  on one plot); a run's file (r1/metrics.csv) stands for its directory\n";

static int is_run_dir(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/metrics.csv", dir);
    if (access(p, R_OK) == 0)
        return 1;
    snprintf(p, sizeof p, "%s/config.yaml", dir);
    return access(p, R_OK) == 0;
}

static int is_sweep_dir(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/sweep.yaml", dir);
    return access(p, R_OK) == 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The run directories inside dir (sorted), appended to list; returns how many were found. */
static int runs_inside(const char *dir, char **list, int *n, int cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    char *found[256] = {NULL};
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d)) && k < 256) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode) && is_run_dir(p))
            found[k++] = strdup(p);
    }
    closedir(d);
    qsort(found, (size_t)k, sizeof *found, by_name);
    for (int i = 0; i < k; i++) {
        if (*n < cap)
            list[(*n)++] = found[i];
        else
            free(found[i]);
    }
    return k;
}

/* The directory an argument names into *dir: itself, or for a run's file (metrics.csv,
 * config.yaml, events.log) its directory (copied into parent). Returns 0, or the exit code
 * after printing why the argument is refused. */
static int arg_dir(const char *a, char *parent, size_t cap, const char **dir)
{
    struct stat st;
    *dir = a;
    if (stat(a, &st) == 0 && S_ISREG(st.st_mode)) {
        snprintf(parent, cap, "%s", a);
        char *slash = strrchr(parent, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(parent, cap, ".");
        if (!is_run_dir(parent))
            return nl_app_error(2,
                                "%s: a file, and its directory %s is not a run directory (no "
                                "metrics.csv or config.yaml)",
                                a, parent);
        *dir = parent[0] ? parent : "/";
    } else if (stat(a, &st) != 0) {
        return nl_app_error(2, "%s: no such run directory", a);
    } else if (!S_ISDIR(st.st_mode)) {
        return nl_app_error(2, "%s: not a run directory", a);
    }
    return 0;
}

int nl_cmd_watch(int argc, char **argv)
{
    ui_term_opts t;
    memset(&t, 0, sizeof t);
    char *dirs[UI_MAX_RUNS];
    int n = 0, total = 0, rc, args = 0;
    char sweep_buf[4096] = "";
    const char *sweep = NULL;
    for (int i = 1; i < argc; i++) {
        char msg[256];
        int r = term_parse_opt(&t, argc, argv, &i, msg, sizeof msg);
        if (r < 0)
            return nl_app_error(2, "%s", msg);
        if (r > 0)
            continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(WATCH_USAGE, stdout);
            return 0;
        }
        if (argv[i][0] == '-') {
            fputs(WATCH_USAGE, stderr);
            return nl_app_error(2, "unknown option '%s'", argv[i]);
        }
        char parent[4096];
        const char *arg = argv[i];
        if ((rc = arg_dir(argv[i], parent, sizeof parent, &arg)))
            return rc;
        args++;
        if (is_sweep_dir(arg) && !sweep)
            sweep = snprintf(sweep_buf, sizeof sweep_buf, "%s", arg) >= 0 ? sweep_buf : arg;
        if (is_run_dir(arg)) {
            if (n < UI_MAX_RUNS)
                dirs[n++] = strdup(arg);
            total++;
        } else {
            int k = runs_inside(arg, dirs, &n, UI_MAX_RUNS);
            if (k == 0)
                return nl_app_error(2,
                                    "%s: neither a run directory (no metrics.csv or config.yaml) "
                                    "nor a directory of runs",
                                    arg);
            total += k;
        }
    }
    if (sweep && args == 1) {
        for (int i = 0; i < n; i++)
            free(dirs[i]);
        ui_result res = ui_sweep_main(sweep, &t);
        return nl_lab_exit(&res);
    }
    if (n == 0) {
        fputs(WATCH_USAGE, stderr);
        return nl_app_error(2, "watch needs a run directory");
    }
    char note[128] = "";
    if (total > n)
        snprintf(note, sizeof note, "showing the first %d of %d runs", n, total);
    ui_result res = ui_watch_main(dirs, n, &t, note[0] ? note : NULL);
    rc = nl_lab_exit(&res);
    for (int i = 0; i < n; i++)
        free(dirs[i]);
    return rc;
}
