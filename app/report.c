/* `normlab report RUN_DIR...|SWEEP_DIR -o FILE.html`: arguments and exit codes; the page
 * itself is ui/report.c. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "ui/report.h"

static const char *REPORT_USAGE =
    "usage: normlab report RUN_DIR... -o FILE.html [--title TEXT]\n"
    "       normlab report SWEEP_DIR -o FILE.html [--title TEXT]\n"
    "\n"
    "Writes one self-contained HTML page (inline SVG and CSS; no script, nothing fetched)\n"
    "comparing the runs: train loss curves with validation points, per-layer gradient-norm\n"
    "heatmaps (attention and FFN), the residual-stream RMS per layer, the settings that\n"
    "differ between the runs' config.yaml, and for a sweep directory its table of results\n"
    "with every run's curve. A directory of runs (a lab race, `train --out DIR` of a race)\n"
    "stands for the runs in it; RUN_DIR/metrics.csv stands for RUN_DIR. Runs still going\n"
    "are shown as far as they got. What is skipped (no metrics yet, unreadable lines, a\n"
    "missing config) is listed in the page and printed on stderr. The file is written to a\n"
    "temporary name and renamed, so FILE.html is never half written.\n"
    "\n"
    "  -o, --out FILE.html   where to write the report (required)\n"
    "  --title TEXT          the page's title (default: what is compared)\n"
    "\n"
    "exit status: 0 written (notes or not), 2 bad usage, a missing or unreadable directory,\n"
    "or FILE.html not writable.\n";

static int exists(const char *dir, const char *file)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return access(p, F_OK) == 0;
}

static int is_run_dir(const char *dir)
{
    return exists(dir, "metrics.csv") || exists(dir, "config.yaml") || exists(dir, "events.log");
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The run directories inside dir, sorted, appended to list (up to cap); returns how many
 * were found (-1 when dir cannot be read). */
static int runs_inside(const char *dir, char **list, int *n, int cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    char **found = NULL;
    int k = 0, fcap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode) || !is_run_dir(p))
            continue;
        if (k == fcap) {
            fcap = fcap ? 2 * fcap : 16;
            char **f2 = realloc(found, (size_t)fcap * sizeof *f2);
            if (!f2)
                break;
            found = f2;
        }
        found[k++] = strdup(p);
    }
    closedir(d);
    if (k)
        qsort(found, (size_t)k, sizeof *found, by_name);
    for (int i = 0; i < k; i++) {
        if (found[i] && *n < cap)
            list[(*n)++] = found[i];
        else
            free(found[i]);
    }
    free(found);
    return k;
}

int nl_cmd_report(int argc, char **argv)
{
    const char *out = NULL, *title = NULL;
    /* every run given (the report itself takes the first REPORT_MAX_RUNS and says so) */
    enum { CAP = 4096 };
    char **dirs = calloc(CAP, sizeof *dirs);
    const char *sweep = NULL;
    int n = 0, args = 0, rc = 0;
    if (!dirs)
        return nl_app_error(2, "report: out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(REPORT_USAGE, stdout);
            goto done;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out")) {
            if (i + 1 >= argc) {
                rc = nl_app_error(2, "report: %s needs a file name", a);
                goto done;
            }
            out = argv[++i];
        } else if (!strncmp(a, "--out=", 6)) {
            out = a + 6;
        } else if (!strcmp(a, "--title")) {
            if (i + 1 >= argc) {
                rc = nl_app_error(2, "report: --title needs a text");
                goto done;
            }
            title = argv[++i];
        } else if (!strncmp(a, "--title=", 8)) {
            title = a + 8;
        } else if (a[0] == '-') {
            fputs(REPORT_USAGE, stderr);
            rc = nl_app_error(2, "report: unknown option '%s'", a);
            goto done;
        } else {
            char path[4200];
            snprintf(path, sizeof path, "%s", a);
            struct stat st;
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                /* RUN_DIR/metrics.csv (or config.yaml, events.log) stands for RUN_DIR */
                char *slash = strrchr(path, '/');
                const char *base = slash ? slash + 1 : path;
                if (strcmp(base, "metrics.csv") && strcmp(base, "config.yaml") &&
                    strcmp(base, "events.log")) {
                    rc = nl_app_error(2, "report: %s: not a run directory (a file)", a);
                    goto done;
                }
                if (slash)
                    *slash = '\0';
                else
                    snprintf(path, sizeof path, ".");
            }
            if (stat(path, &st) != 0) {
                rc = nl_app_error(2, "report: %s: no such run directory", a);
                goto done;
            }
            if (!S_ISDIR(st.st_mode)) {
                rc = nl_app_error(2, "report: %s: not a directory", a);
                goto done;
            }
            args++;
            if (exists(path, "sweep.yaml") && !sweep)
                sweep = a;
            if (is_run_dir(path)) {
                if (n < CAP)
                    dirs[n++] = strdup(path);
            } else {
                int k = runs_inside(path, dirs, &n, CAP);
                if (k < 0) {
                    rc = nl_app_error(2, "report: %s: cannot read the directory", a);
                    goto done;
                }
                if (k == 0 && !exists(path, "sweep.yaml")) {
                    rc = nl_app_error(2,
                                      "report: %s: neither a run directory (no metrics.csv, "
                                      "config.yaml or events.log) nor a directory of runs",
                                      a);
                    goto done;
                }
            }
        }
    }
    if (args == 0) {
        fputs(REPORT_USAGE, stderr);
        rc = nl_app_error(2, "report needs a run or sweep directory");
        goto done;
    }
    if (!out) {
        fputs(REPORT_USAGE, stderr);
        rc = nl_app_error(2, "report: -o FILE.html is required");
        goto done;
    }
    report_opts o = {title, stderr};
    nl_error err = {0};
    int notes = 0;
    if (sweep && args == 1) {
        if (report_write_sweep(sweep, out, &o, &notes, &err)) {
            rc = nl_app_error(2, "%s", err.msg);
            goto done;
        }
        printf("wrote %s: sweep %s, %d note%s\n", out, sweep, notes, notes == 1 ? "" : "s");
        goto done;
    }
    if (n == 0) {
        rc = nl_app_error(2, "report: no run directory found");
        goto done;
    }
    if (report_write_runs((const char *const *)dirs, n, out, &o, &notes, &err)) {
        rc = nl_app_error(2, "%s", err.msg);
        goto done;
    }
    printf("wrote %s: %d run%s, %d note%s\n", out, n > REPORT_MAX_RUNS ? REPORT_MAX_RUNS : n,
           n == 1 ? "" : "s", notes, notes == 1 ? "" : "s");
done:
    for (int i = 0; i < n; i++)
        free(dirs[i]);
    free(dirs);
    return rc;
}
