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

/* What the command line asks for. */
typedef struct report_args {
    const char *out, *title;
    const char *sweep; /* the first argument that is a sweep directory */
    char **dirs;       /* every run given (the report takes the first REPORT_MAX_RUNS) */
    int n, args;       /* runs found; directory arguments */
} report_args;

enum { REPORT_CAP = 4096 };

/* One directory argument a: its runs into ra->dirs. Returns 0, or the exit status after
 * printing why it is refused. */
static int add_dir_arg(report_args *ra, const char *a)
{
    char path[4200];
    snprintf(path, sizeof path, "%s", a);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        /* RUN_DIR/metrics.csv (or config.yaml, events.log) stands for RUN_DIR */
        char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        if (strcmp(base, "metrics.csv") && strcmp(base, "config.yaml") &&
            strcmp(base, "events.log"))
            return nl_app_error(2, "report: %s: not a run directory (a file)", a);
        if (slash)
            *slash = '\0';
        else
            snprintf(path, sizeof path, ".");
    }
    if (stat(path, &st) != 0)
        return nl_app_error(2, "report: %s: no such run directory", a);
    if (!S_ISDIR(st.st_mode))
        return nl_app_error(2, "report: %s: not a directory", a);
    ra->args++;
    if (exists(path, "sweep.yaml") && !ra->sweep)
        ra->sweep = a;
    if (is_run_dir(path)) {
        if (ra->n < REPORT_CAP)
            ra->dirs[ra->n++] = strdup(path);
        return 0;
    }
    int k = runs_inside(path, ra->dirs, &ra->n, REPORT_CAP);
    if (k < 0)
        return nl_app_error(2, "report: %s: cannot read the directory", a);
    if (k == 0 && !exists(path, "sweep.yaml"))
        return nl_app_error(2,
                            "report: %s: neither a run directory (no metrics.csv, "
                            "config.yaml or events.log) nor a directory of runs",
                            a);
    return 0;
}

/* The options and directories. Returns 0, -1 after --help (exit 0), or the exit status
 * after printing what is wrong. */
static int parse_args(report_args *ra, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(REPORT_USAGE, stdout);
            return -1;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out")) {
            if (i + 1 >= argc)
                return nl_app_error(2, "report: %s needs a file name", a);
            ra->out = argv[++i];
        } else if (!strncmp(a, "--out=", 6)) {
            ra->out = a + 6;
        } else if (!strcmp(a, "--title")) {
            if (i + 1 >= argc)
                return nl_app_error(2, "report: --title needs a text");
            ra->title = argv[++i];
        } else if (!strncmp(a, "--title=", 8)) {
            ra->title = a + 8;
        } else if (a[0] == '-') {
            fputs(REPORT_USAGE, stderr);
            return nl_app_error(2, "report: unknown option '%s'", a);
        } else if ((rc = add_dir_arg(ra, a)) != 0) {
            return rc;
        }
    }
    if (ra->args == 0) {
        fputs(REPORT_USAGE, stderr);
        return nl_app_error(2, "report needs a run or sweep directory");
    }
    if (!ra->out) {
        fputs(REPORT_USAGE, stderr);
        return nl_app_error(2, "report: -o FILE.html is required");
    }
    return 0;
}

/* The page: the sweep's when a sweep directory is the only argument, else the runs'. */
static int write_report(const report_args *ra)
{
    report_opts o = {ra->title, stderr};
    nl_error err = {0};
    int notes = 0;
    if (ra->sweep && ra->args == 1) {
        if (report_write_sweep(ra->sweep, ra->out, &o, &notes, &err))
            return nl_app_error(2, "%s", err.msg);
        printf("wrote %s: sweep %s, %d note%s\n", ra->out, ra->sweep, notes, notes == 1 ? "" : "s");
        return 0;
    }
    if (ra->n == 0)
        return nl_app_error(2, "report: no run directory found");
    if (report_write_runs((const char *const *)ra->dirs, ra->n, ra->out, &o, &notes, &err))
        return nl_app_error(2, "%s", err.msg);
    printf("wrote %s: %d run%s, %d note%s\n", ra->out,
           ra->n > REPORT_MAX_RUNS ? REPORT_MAX_RUNS : ra->n, ra->n == 1 ? "" : "s", notes,
           notes == 1 ? "" : "s");
    return 0;
}

int nl_cmd_report(int argc, char **argv)
{
    report_args ra = {0};
    ra.dirs = calloc(REPORT_CAP, sizeof *ra.dirs);
    if (!ra.dirs)
        return nl_app_error(2, "report: out of memory");
    int rc = parse_args(&ra, argc, argv);
    if (rc == 0)
        rc = write_report(&ra);
    else if (rc < 0)
        rc = 0; /* --help */
    for (int i = 0; i < ra.n; i++)
        free(ra.dirs[i]);
    free(ra.dirs);
    return rc;
}
