/* normlab sweep: train the cross product of varied config keys x seeds, each run in its own
 * process (this binary re-executed with the hidden option --child RUN), record every finished
 * run in DIR/sweep.csv, and print the summary table. engine/sweep.h holds the file formats. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../engine/backend.h"
#include "../engine/clock.h"
#include "../engine/driver.h"
#include "../engine/run.h"
#include "../engine/sweep.h"
#include "commands.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    g_stop = sig;
}

static const char *SWEEP_USAGE =
    "usage: normlab sweep PRESET --vary KEY=V1,V2,... [--vary ...] [options]\n"
    "\n"
    "Train every combination of the varied values, each with N seeds, headless, and print a\n"
    "table of the final validation loss. PRESET is a YAML file or a shipped preset name.\n"
    "\n"
    "options:\n"
    "  --vary KEY=V1,V2,...  a config key and its values (repeatable; the first varied key\n"
    "                        gives the table's rows, the second its columns, the others one\n"
    "                        table each), e.g. --vary model.placement=pre,post,hybrid\n"
    "  --set KEY=VALUE       override a key of the preset for every run (repeatable)\n"
    "  --steps N             same as --set train.steps=N\n"
    "  --seeds N             seeds per cell (default 1); seed s trains with train.seed + s\n"
    "  --out DIR             the sweep directory (default sweeps/NAME, NAME from the preset)\n"
    "  --jobs N              runs trained at once, each in its own process (default 1), at\n"
    "                        most one per core; each gets cores / N threads\n"
    "  --max-runs K          start at most K runs this time (run the command again to go on)\n"
    "\n"
    "Writes DIR/sweep.yaml (the definition), DIR/base.yaml (the resolved base config),\n"
    "DIR/sweep.csv (a row per finished run, written as each finishes) and a run directory per\n"
    "run, DIR/CELL-sS. Running the same command again skips the runs already in sweep.csv;\n"
    "a different sweep in the same DIR is refused. Ctrl-C stops the runs in progress (they\n"
    "start over next time) and keeps the finished rows.\n"
    "\n"
    "Table: mean +- sd of the final validation loss over the seeds that did not diverge,\n"
    "'(k div)' when k seeds diverged, '*' on the best cell of each column (fewest diverged\n"
    "seeds, then lowest mean), '[n/N]' when only n of N seeds have run.\n"
    "exit status: 0 done (diverged runs included), 1 a run failed, 2 bad usage or input,\n"
    "130 interrupted.\n";

typedef struct sweep_opts {
    const char *preset, *out;
    const char **sets;
    int n_sets;
    long seeds, jobs, steps, max_runs, child;
    int at_once, threads; /* runs trained at once (jobs, at most one per core), threads each */
    bool help;
} sweep_opts;

static int parse_opts(int argc, char **argv, sweep_opts *o, nl_sweep_def *d)
{
    nl_error err = {0};
    o->seeds = 1;
    o->jobs = 1;
    o->steps = -1;
    o->max_runs = 0;
    o->child = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL, *kv;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            o->help = true;
            return 0;
        } else if (!strcmp(a, "--vary") && v) {
            if (nl_sweep_add_axis(d, argv[++i], &err))
                return nl_app_error(2, "%s", err.msg);
        } else if (!strncmp(a, "--vary=", 7)) {
            if (nl_sweep_add_axis(d, a + 7, &err))
                return nl_app_error(2, "%s", err.msg);
        } else if ((kv = nl_app_set_arg(argc, argv, &i))) {
            o->sets[o->n_sets++] = kv;
        } else if (!strcmp(a, "--out") && v) {
            o->out = argv[++i];
        } else if (!strcmp(a, "--seeds") && v) {
            if (nl_app_int("--seeds", argv[++i], 1, NL_SWEEP_MAX_SEEDS, &o->seeds))
                return 2;
        } else if (!strcmp(a, "--jobs") && v) {
            if (nl_app_int("--jobs", argv[++i], 1, 256, &o->jobs))
                return 2;
        } else if (!strcmp(a, "--steps") && v) {
            if (nl_app_int("--steps", argv[++i], 1, 1000000000L, &o->steps))
                return 2;
        } else if (!strcmp(a, "--max-runs") && v) {
            if (nl_app_int("--max-runs", argv[++i], 1, NL_SWEEP_MAX_RUNS, &o->max_runs))
                return 2;
        } else if (!strcmp(a, "--child") && v) {
            if (nl_app_int("--child", argv[++i], 0, NL_SWEEP_MAX_RUNS - 1, &o->child))
                return 2;
        } else if (a[0] == '-') {
            return nl_app_error(2,
                                "sweep: unknown or incomplete option '%s' (see normlab sweep "
                                "--help)",
                                a);
        } else if (!o->preset) {
            o->preset = a;
        } else {
            return nl_app_error(2, "sweep: more than one preset given ('%s', '%s')", o->preset, a);
        }
    }
    if (!o->preset)
        return nl_app_error(2, "sweep: no preset given (see normlab sweep --help)");
    if (d->n_axes == 0)
        return nl_app_error(2, "sweep: nothing to vary; give at least one --vary KEY=V1,V2,...");
    for (int a = 0; a < d->n_axes; a++)
        if (!strcmp(d->axes[a].key, "train.threads"))
            return nl_app_error(2, "--vary train.threads: threads are set by --jobs "
                                   "(cores / runs at a time)");
    /* never more busy threads than cores: at most one run per core, the cores shared out */
    int cores = nl_backend_cores();
    o->at_once = o->jobs < cores ? (int)o->jobs : cores;
    o->threads = cores / o->at_once;
    d->seeds = (int)o->seeds;
    if ((long)nl_sweep_cells(d) * o->seeds > NL_SWEEP_MAX_RUNS)
        return nl_app_error(2, "sweep: %d cells x %ld seeds is more than %d runs",
                            nl_sweep_cells(d), o->seeds, NL_SWEEP_MAX_RUNS);
    snprintf(d->preset, sizeof d->preset, "%s", o->preset);
    return 0;
}

/* The base config: the preset, --set, --steps. Prints and returns 2 on error. */
static int base_config(const sweep_opts *o, nl_config *c)
{
    if (nl_app_load_preset(o->preset, c))
        return 2;
    if (c->n_runs > 0)
        return nl_app_error(2,
                            "%s: a race preset (with a runs: list) cannot be swept; use a "
                            "preset without runs: and --vary the keys instead",
                            o->preset);
    return nl_app_configure(c, o->sets, o->n_sets, o->steps, -1, NULL);
}

/* ---- one run, in a child process ---- */

typedef struct child_progress {
    double last_report;
} child_progress;

/* The driver's hook in the child: "P STEP TOTAL LOSS" on stdout a few times a second. */
static void child_on_step(void *ctx, const nl_driver *d, nl_run_state st)
{
    child_progress *p = ctx;
    double t = nl_clock_s();
    if (t - p->last_report <= 0.25 && st == NL_RUN_RUNNING)
        return;
    const nl_metrics_row *row = nl_driver_last(d);
    printf("P %lld %lld %.6g\n", (long long)nl_run_step_index(d->run),
           (long long)nl_run_total_steps(d->run), row ? (double)row->loss : 0.0);
    fflush(stdout);
    p->last_report = t;
}

/* Train run `index` of the sweep into DIR/RUN. Talks to the parent on stdout:
 *   P STEP TOTAL LOSS   progress, a few times a second
 *   R ROW               the result, last: its sweep.csv row (nl_sweep_result_line)
 * Returns the exit code: 0 finished or diverged, 1 failed, 2 bad input, 130 stopped. */
static int run_child(const sweep_opts *o, const nl_sweep_def *d, const nl_config *base,
                     const char *dir, int index)
{
    child_progress cp = {0};
    nl_sweep_train_opts to = {
        .threads = o->threads, .stop = &g_stop, .progress = child_on_step, .ctx = &cp};
    nl_sweep_result res;
    bool stopped = false;
    nl_error err = {0};
    int rc = nl_sweep_train_run(d, base, dir, index, &to, &res, &stopped, &err);
    if (rc)
        return nl_app_error(nl_app_exit_code(rc), "%s", err.msg);
    if (stopped)
        return 130;
    char *line = nl_sweep_result_line(d, &res);
    if (!line)
        return nl_app_error(1, "out of memory");
    printf("R %s", line);
    fflush(stdout);
    free(line);
    return 0;
}

/* ---- the parent: scheduling children, progress, the table ---- */

typedef struct child {
    pid_t pid;
    int fd, run;
    char buf[2048];
    int len;
    int64_t step, total;
    bool have_result;
    nl_sweep_result res;
} child;

typedef struct sweep_state {
    const nl_sweep_def *d;
    const char *dir;
    bool tty;
    int total_runs, done; /* rows in sweep.csv */
    int finished_here, failed, stopped, diverged_here;
    double *weight; /* per run: steps x (layers + 1), for the ETA */
    double weight_left, weight_done;
    double t0, last_draw;
    char live[512];
} sweep_state;

static pid_t launch(const char *exe, int argc, char **argv, int run, int *fd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC))
        return -1;
    char idx[16];
    snprintf(idx, sizeof idx, "%d", run);
    char **av = calloc((size_t)argc + 4, sizeof *av);
    if (!av) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    av[0] = (char *)exe;
    av[1] = "sweep";
    for (int i = 1; i < argc; i++)
        av[i + 1] = argv[i];
    av[argc + 1] = "--child";
    av[argc + 2] = idx;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        dup2(p[1], 1);
        dup2(p[1], 2);
        execv(exe, av);
        dprintf(2, "normlab: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    close(p[1]);
    free(av);
    if (pid < 0) {
        close(p[0]);
        return -1;
    }
    *fd = p[0];
    return pid;
}

static void clear_live(sweep_state *s)
{
    if (s->tty && s->live[0]) {
        fputs("\r\033[K", stderr);
        s->live[0] = '\0';
    }
}

static void draw_live(sweep_state *s, const child *ch, int running)
{
    double now = nl_clock_s();
    if (!s->tty || now - s->last_draw < 0.2)
        return;
    s->last_draw = now;
    struct winsize ws;
    int cols = ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 ? ws.ws_col : 80;
    double done_w = s->weight_done;
    for (int i = 0; i < running; i++)
        if (ch[i].total > 0)
            done_w += s->weight[ch[i].run] * (double)ch[i].step / (double)ch[i].total;
    double el = now - s->t0, f = s->weight_left > 0 ? done_w / s->weight_left : 1;
    char eta[32];
    nl_fmt_eta(f > 0.01 ? el * (1 - f) / f : NAN, eta, sizeof eta);
    char line[1024];
    int n = snprintf(line, sizeof line, "sweep %d/%d done, ETA %s", s->done, s->total_runs, eta);
    for (int i = 0; i < running && n < (int)sizeof line; i++) {
        char name[512];
        nl_sweep_run_name(s->d, ch[i].run % nl_sweep_cells(s->d), ch[i].run / nl_sweep_cells(s->d),
                          name, sizeof name);
        n += snprintf(line + n, sizeof line - (size_t)n, " | %s %lld/%lld", name,
                      (long long)ch[i].step, (long long)ch[i].total);
    }
    if (n >= cols)
        line[cols - 1] = '\0';
    snprintf(s->live, sizeof s->live, "%s", line);
    fprintf(stderr, "\r\033[K%s", s->live);
    fflush(stderr);
}

/* A line of a child's own output (its errors), shown under the run's name. */
static void child_output(sweep_state *s, const child *c, const char *line)
{
    char name[512];
    nl_sweep_run_name(s->d, c->run % nl_sweep_cells(s->d), c->run / nl_sweep_cells(s->d), name,
                      sizeof name);
    clear_live(s);
    fprintf(stderr, "normlab: [%s] %s\n", name, line);
}

/* Handle one line from a child. */
static void child_line(sweep_state *s, child *c, const char *line)
{
    long long a, b;
    if (line[0] == 'P' && sscanf(line, "P %lld %lld", &a, &b) == 2) {
        c->step = a;
        c->total = b;
    } else if (!strncmp(line, "R ", 2)) {
        nl_error err = {0};
        if (nl_sweep_result_parse(s->d, line + 2, "sweep run result", &c->res, &err) == 0)
            c->have_result = true;
        else
            child_output(s, c, err.msg);
    } else if (line[0]) {
        child_output(s, c, line);
    }
}

/* Read what a child wrote; returns 1 at end of file. */
static int child_read(sweep_state *s, child *c)
{
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - (size_t)c->len);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : 1;
    if (n == 0 && c->len > 0) {
        c->buf[c->len] = '\0';
        child_line(s, c, c->buf);
        c->len = 0;
    }
    if (n == 0)
        return 1;
    c->len += (int)n;
    c->buf[c->len] = '\0';
    char *p = c->buf, *nl;
    while ((nl = strchr(p, '\n'))) {
        *nl = '\0';
        child_line(s, c, p);
        p = nl + 1;
    }
    c->len = (int)strlen(p);
    memmove(c->buf, p, (size_t)c->len + 1);
    if (c->len == (int)sizeof c->buf - 1) { /* an overlong line: show it and go on */
        child_line(s, c, c->buf);
        c->len = 0;
    }
    return 0;
}

/* A child has exited: record its row, or count it as stopped or failed. */
static void child_done(sweep_state *s, child *c, int status)
{
    char name[512];
    int cells = nl_sweep_cells(s->d);
    nl_sweep_run_name(s->d, c->run % cells, c->run / cells, name, sizeof name);
    bool exited0 = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    clear_live(s);
    if (exited0 && c->have_result) {
        char csv[PATH_MAX + 32];
        snprintf(csv, sizeof csv, "%s/sweep.csv", s->dir);
        nl_error err = {0};
        if (nl_sweep_csv_append(csv, s->d, &c->res, &err)) {
            nl_app_error(1, "%s", err.msg);
            s->failed++;
            return;
        }
        s->done++;
        s->finished_here++;
        s->weight_done += s->weight[c->run];
        const nl_sweep_result *r = &c->res;
        if (r->diverged) {
            s->diverged_here++;
            fprintf(stderr, "normlab: sweep %d/%d %s: diverged at step %lld (loss %.4f)\n", s->done,
                    s->total_runs, name, (long long)r->diverged_step, (double)r->train_loss);
        } else {
            fprintf(stderr,
                    "normlab: sweep %d/%d %s: val %.4f, train %.4f (best %.4f), %.0f tok/s\n",
                    s->done, s->total_runs, name, (double)r->val_loss, (double)r->train_loss,
                    (double)r->best_loss, (double)r->tok_s);
        }
    } else if (g_stop &&
               ((WIFEXITED(status) && WEXITSTATUS(status) == 130) || WIFSIGNALED(status))) {
        s->stopped++;
    } else {
        s->failed++;
        if (WIFSIGNALED(status))
            nl_app_error(1, "sweep run %s was killed by signal %d", name, WTERMSIG(status));
        else
            nl_app_error(1, "sweep run %s failed (exit status %d)", name,
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    fflush(stderr);
}

static int print_table(const nl_sweep_def *d, const char *dir)
{
    char csv[PATH_MAX + 32];
    snprintf(csv, sizeof csv, "%s/sweep.csv", dir);
    nl_sweep_result *rows = NULL;
    int n = 0;
    nl_error err = {0};
    if (nl_sweep_csv_read(csv, d, &rows, &n, &err))
        return nl_app_error(1, "%s", err.msg);
    if (n == 0) {
        free(rows);
        return 0;
    }
    nl_sweep_cell_stats *st = calloc((size_t)nl_sweep_cells(d), sizeof *st);
    if (!st) {
        free(rows);
        return nl_app_error(1, "out of memory");
    }
    nl_sweep_summarise(d, rows, n, st);
    setlocale(LC_CTYPE, "");
    const char *cs = nl_langinfo(CODESET);
    bool utf8 = cs && (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "utf8"));
    char *table = nl_sweep_table(d, st, utf8);
    if (table)
        fputs(table, stdout);
    fflush(stdout);
    free(table);
    free(st);
    free(rows);
    return 0;
}

static int run_parent(int argc, char **argv, const sweep_opts *o, const nl_sweep_def *d,
                      const nl_config *base, const char *dir)
{
    int runs = nl_sweep_runs(d), cells = nl_sweep_cells(d);
    nl_error err = {0};
    sweep_state s = {.d = d, .dir = dir, .tty = isatty(2), .total_runs = runs};
    s.weight = calloc((size_t)runs, sizeof(double));
    bool *done = calloc((size_t)runs, sizeof(bool));
    int *pending = calloc((size_t)runs, sizeof(int));
    child *ch = calloc((size_t)o->jobs, sizeof *ch);
    struct pollfd *pf = calloc((size_t)o->jobs, sizeof *pf);
    int code = 0;
    if (!s.weight || !done || !pending || !ch || !pf) {
        code = nl_app_error(2, "out of memory");
        goto out;
    }
    /* every run's config must be valid before anything starts */
    for (int i = 0; i < runs; i++) {
        nl_config c;
        if (nl_sweep_run_config(d, base, i % cells, i / cells, &c, &err)) {
            code = nl_app_error(2, "%s", err.msg);
            goto out;
        }
        s.weight[i] = (double)c.train.steps * (c.model.layers + 1);
    }
    if (nl_sweep_dir_prepare(dir, d, base, &err) || nl_sweep_dir_done(dir, d, done, &err)) {
        code = nl_app_error(2, "%s", err.msg);
        goto out;
    }
    char csv[PATH_MAX + 32];
    snprintf(csv, sizeof csv, "%s/sweep.csv", dir);
    int n_pending = 0;
    for (int i = 0; i < runs; i++) {
        if (done[i])
            s.done++;
        else {
            pending[n_pending++] = i;
            s.weight_left += s.weight[i];
        }
    }
    char exe[PATH_MAX];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (el <= 0) {
        code = nl_app_error(2, "sweep: cannot find this program's path (/proc/self/exe)");
        goto out;
    }
    exe[el] = '\0';
    if (o->jobs > o->at_once)
        fprintf(stderr, "normlab: --jobs %ld: this process may use %d core%s; %d runs at a time\n",
                o->jobs, o->at_once, o->at_once == 1 ? "" : "s", o->at_once);
    fprintf(stderr,
            "normlab: sweep %s: %d cells x %d seeds = %d runs, %d already done; "
            "%d at a time, threads per run: %d -> %s\n",
            base->name, cells, d->seeds, runs, s.done, o->at_once, o->threads, dir);
    fflush(stderr);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns on a signal */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    s.t0 = nl_clock_s();
    int next = 0, running = 0, launched = 0;
    bool forwarded = false;
    while (1) {
        while (!g_stop && running < o->at_once && next < n_pending &&
               (o->max_runs <= 0 || launched < o->max_runs)) {
            child *c = &ch[running];
            memset(c, 0, sizeof *c);
            c->run = pending[next++];
            c->pid = launch(exe, argc, argv, c->run, &c->fd);
            if (c->pid < 0) {
                clear_live(&s);
                nl_app_error(1, "sweep: cannot start a run: %s", strerror(errno));
                s.failed++;
                continue;
            }
            launched++;
            running++;
        }
        if (running == 0)
            break;
        if (g_stop && !forwarded) {
            for (int i = 0; i < running; i++)
                kill(ch[i].pid, SIGINT);
            forwarded = true;
        }
        nfds_t nfd = 0;
        for (int i = 0; i < running; i++)
            pf[nfd++] = (struct pollfd){.fd = ch[i].fd, .events = POLLIN};
        int pr = poll(pf, nfd, 200);
        for (int i = running - 1; pr > 0 && i >= 0; i--) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (!child_read(&s, &ch[i]))
                continue;
            close(ch[i].fd);
            int status = 0;
            while (waitpid(ch[i].pid, &status, 0) < 0 && errno == EINTR)
                ;
            child_done(&s, &ch[i], status);
            ch[i] = ch[running - 1];
            running--;
        }
        draw_live(&s, ch, running);
    }
    clear_live(&s);
    int left = runs - s.done;
    if (g_stop)
        fprintf(stderr,
                "normlab: interrupted: %d of %d runs are in %s; run the same command "
                "again to continue\n",
                s.done, runs, csv);
    else if (left > 0 && s.failed == 0)
        fprintf(stderr,
                "normlab: stopped after %d runs (--max-runs); %d of %d runs left; run the "
                "same command again to continue\n",
                launched, left, runs);
    else
        fprintf(stderr,
                "normlab: sweep %s: %d of %d runs done (%d trained now, %d diverged), "
                "%d failed\n",
                dir, s.done, runs, s.finished_here, s.diverged_here, s.failed);
    int tc = print_table(d, dir);
    code = g_stop ? 130 : (s.failed || tc) ? 1 : 0;
out:
    free(s.weight);
    free(done);
    free(pending);
    free(ch);
    free(pf);
    return code;
}

int nl_cmd_sweep(int argc, char **argv)
{
    sweep_opts o = {0};
    o.sets = calloc((size_t)argc + 1, sizeof(char *));
    nl_sweep_def *d = malloc(sizeof *d);
    nl_config *base = malloc(sizeof *base);
    int code = 0;
    if (!o.sets || !d || !base) {
        code = nl_app_error(2, "out of memory");
        goto out;
    }
    nl_sweep_def_init(d);
    if ((code = parse_opts(argc, argv, &o, d)))
        goto out;
    if (o.help) {
        fputs(SWEEP_USAGE, stdout);
        goto out;
    }
    if ((code = base_config(&o, base)))
        goto out;
    char dir[PATH_MAX];
    if (o.out)
        snprintf(dir, sizeof dir, "%s", o.out);
    else
        snprintf(dir, sizeof dir, "sweeps/%s", base->name[0] ? base->name : "sweep");
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dir[--dl] = '\0';
    if (o.child >= 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        code = run_child(&o, d, base, dir, (int)o.child);
    } else {
        code = run_parent(argc, argv, &o, d, base, dir);
    }
out:
    free(o.sets);
    free(d);
    free(base);
    return code;
}
